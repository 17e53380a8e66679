"""``kastell guard``: run the screening gateway, lint its config, hash tenant API keys.

Heavy modules (uvicorn, httpx, the scanners) are imported inside the commands so that
``kastell guard --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import pathlib
import sys
from collections.abc import Iterator

import click

from kastell.cli._render import FORMAT_OPTION, emit_json, format_option, note
from kastell.errors import ExitCode, UsageError

__all__ = ["guard", "hash_key", "lint", "serve"]

_CONFIG = click.Path(path_type=pathlib.Path, dir_okay=False)


@click.group("guard")
def guard() -> None:
    """Run the screening gateway in front of a model (OpenAI-compatible)."""


@guard.command("serve")
@click.option(
    "--config",
    "-c",
    "config_path",
    type=_CONFIG,
    required=True,
    envvar="KASTELL_GUARD_CONFIG",
    help="The guard YAML config.",
)
@click.option("--host", default="127.0.0.1", show_default=True, envvar="KASTELL_GUARD_HOST")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    envvar="KASTELL_GUARD_PORT",
)
@click.option(
    "--loop",
    type=click.Choice(["auto", "asyncio", "uvloop"]),
    default="auto",
    show_default=True,
    envvar="KASTELL_GUARD_LOOP",
    help="Event loop (auto: uvloop when installed, e.g. via the guard-fast extra).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Validate the config, verify local models, open the audit log, then exit.",
)
@FORMAT_OPTION
def serve(
    config_path: pathlib.Path, host: str, port: int, loop: str, check: bool, output_format: str
) -> int:
    """Serve /v1/chat/completions, /v1/models, /healthz and /metrics (one worker)."""
    from kastell.guard.config import load_config
    from kastell.guard.service import prepared_gateway

    config = load_config(config_path)
    with prepared_gateway(config, config_dir=config_path.resolve().parent) as app:
        digests = {k: str(v) if v else None for k, v in app.runtime.served_digests.items()}
        if check:
            import asyncio

            asyncio.run(app.runtime.aclose())
            if output_format == "json":
                emit_json({"config": str(config_path), "ok": True, "served_models": digests})
            else:
                note(f"guard config {config_path} is valid; served models: {digests or 'none'}")
            return ExitCode.OK
        try:
            from kastell.guard.server import serve_gateway
        except ImportError:
            raise UsageError(
                "uvicorn is not installed", hint="Install the gateway: pip install 'kastell[guard]'"
            ) from None
        note(
            f"kastell guard listening on http://{host}:{port} (served models: {digests or 'none'})"
        )
        stops = _StopSignals()
        with stops.installed():
            started = serve_gateway(app, config, host=host, port=port, loop=loop)
        if stops.received:
            note(f"kastell guard stopped ({stops.received[0]}); audit log closed")
    return ExitCode.OK if started else ExitCode.INCOMPLETE


class _StopSignals:
    """SIGTERM/SIGINT while serving are a clean stop (exit 0), not a death by the signal.

    uvicorn shuts down gracefully on these signals and then re-raises each one into the handler
    that was installed before it started, which by default kills the process (exit 143 for
    SIGTERM). This handler only notes the signal, so ``serve`` returns normally.
    """

    def __init__(self) -> None:
        self.received: list[str] = []

    def _note(self, signum: int, _frame: object) -> None:
        import signal

        self.received.append(signal.Signals(signum).name)

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        import signal
        import threading

        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self._note) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


@guard.command("lint")
@click.argument("config_path", type=_CONFIG)
@click.option(
    "--fail-on",
    type=click.Choice(["info", "low", "medium", "high", "critical"]),
    default="high",
    show_default=True,
    envvar="KASTELL_GUARD_FAIL_ON",
    help="Exit 1 when a finding is at least this severe.",
)
@format_option("text", "json", "sarif")
def lint(config_path: pathlib.Path, fail_on: str, output_format: str) -> int:
    """Check a guard config's security posture (used by `kastell assess`)."""
    import hashlib

    from kastell import __version__
    from kastell.guard.config import load_config
    from kastell.guard.lint import lint_config
    from kastell.types import Severity

    config = load_config(config_path)
    findings = lint_config(config, str(config_path))
    threshold = Severity.parse(fail_on)
    failed = any(f.severity >= threshold for f in findings)
    if output_format == "sarif":
        from kastell.report.interface import ToolInfo
        from kastell.report.sarif import render_sarif

        emit_json(render_sarif(findings, ToolInfo("kastell-guard-lint", __version__)))
    elif output_format == "json":
        emit_json(
            {
                "config": str(config_path),
                "config_sha256": hashlib.sha256(config_path.read_bytes()).hexdigest(),
                "passed": not failed,
                "fail_on": fail_on,
                "tenants": len(config.tenants),
                "audit_log": config.audit is not None,
                "findings": [f.to_dict() for f in findings],
            }
        )
    else:
        for finding in findings:
            click.echo(
                f"{finding.severity.name.lower():8} {finding.rule_id}: {finding.message} "
                f"({finding.location})"
            )
        note(
            f"{len(findings)} finding(s); {'FAILED' if failed else 'passed'} at --fail-on {fail_on}"
        )
    return ExitCode.FAILED if failed else ExitCode.OK


@guard.command("hash-key")
@click.option("--generate", is_flag=True, help="Generate a new random API key and hash it.")
@click.option(
    "--key-env",
    metavar="VAR",
    help="Read the key from environment variable VAR (default: one line on stdin).",
)
@FORMAT_OPTION
def hash_key(generate: bool, key_env: str | None, output_format: str) -> int:
    """Print the salted hash of a tenant API key for tenants.<name>.key_hashes."""
    import os

    from kastell.guard.keys import hash_api_key, new_api_key

    if generate and key_env:
        raise UsageError(
            "give either --generate or --key-env, not both",
            hint="--generate makes a new key; --key-env hashes an existing one.",
        )
    if generate:
        key = new_api_key()
    elif key_env:
        key = os.environ.get(key_env, "")
        if not key:
            raise UsageError(
                f"environment variable {key_env} is not set or empty",
                hint=f"Export {key_env} with the API key.",
            )
    else:
        key = sys.stdin.readline().strip()
        if not key:
            raise UsageError(
                "no API key on stdin", hint="Pipe the key in, or use --key-env VAR or --generate."
            )
    if len(key) < 16:
        raise UsageError(
            "the API key is shorter than 16 characters",
            hint="Use a random key: kastell guard hash-key --generate.",
        )
    stored = hash_api_key(key)
    document = {"key_hash": stored, **({"api_key": key} if generate else {})}
    if output_format == "json":
        emit_json(document)
    else:
        click.echo(stored)
        if generate:
            note(f"new API key (give it to the tenant, it is not stored): {key}")
    return ExitCode.OK
