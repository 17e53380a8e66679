"""Assemble a ready-to-serve gateway from a validated config (the I/O edge of the guard).

Local upstreams are verified (signature) and started here; an upstream that cannot be verified
stops the start-up with ``ModelNotTrustedError`` before any port is opened. A remote upstream's
``model_signature`` is checked here too (without the model files).
"""

from __future__ import annotations

import contextlib
import pathlib
from collections.abc import Iterator

from kastell.guard.app import GuardApp
from kastell.guard.config import GuardConfig, LocalUpstreamSettings, OpenAIUpstreamSettings
from kastell.guard.interface import GuardConfigError, Upstream
from kastell.guard.model_trust import (
    DigestSource,
    ServedModel,
    file_digest,
    pinned_remote_model,
    verify_remote_signature,
    verify_served_model,
)
from kastell.guard.runtime import build_runtime
from kastell.types import Digest

__all__ = ["gguf_file", "prepared_gateway"]


def _resolve(base: pathlib.Path, value: str) -> pathlib.Path:
    path = pathlib.Path(value).expanduser()
    return path if path.is_absolute() else base / path


def gguf_file(model_path: pathlib.Path, field: str) -> pathlib.Path:
    """The GGUF file to serve: the path itself, or the single ``*.gguf`` in a directory."""
    if model_path.is_file():
        return model_path
    candidates = sorted(model_path.glob("*.gguf")) if model_path.is_dir() else []
    if len(candidates) != 1:
        raise GuardConfigError(
            f"{model_path} is not a GGUF file or a directory with exactly one *.gguf",
            field=field,
        )
    return candidates[0]


def _local_model(
    settings: LocalUpstreamSettings, model: pathlib.Path, base: pathlib.Path
) -> ServedModel:
    if not settings.require_signature:
        return ServedModel(file_digest(gguf_file(model, "model_path")), DigestSource.HASHED_LOCAL)
    # the validator guarantees both are set when a signature is required
    signature = _resolve(base, settings.signature or "")
    public_key = _resolve(base, settings.public_key or "")
    return ServedModel(
        verify_served_model(model, signature, public_key), DigestSource.VERIFIED_LOCAL
    )


def _remote_model(
    name: str, settings: OpenAIUpstreamSettings, base: pathlib.Path
) -> ServedModel | None:
    pin = settings.model_signature
    signed = (
        verify_remote_signature(_resolve(base, pin.signature), _resolve(base, pin.public_key))
        if pin is not None
        else None
    )
    declared = settings.declared_model_digest
    return pinned_remote_model(signed, Digest.parse(declared) if declared else None, name)


@contextlib.contextmanager
def prepared_gateway(config: GuardConfig, *, config_dir: pathlib.Path) -> Iterator[GuardApp]:
    """Verify and start local models, open the audit log, and yield the ASGI app."""
    from kastell.guard.upstream import HttpUpstream

    with contextlib.ExitStack() as stack:
        upstreams: dict[str, Upstream] = {}
        served: dict[str, ServedModel] = {}
        for name, settings in config.upstreams.items():
            if isinstance(settings, OpenAIUpstreamSettings):
                remote = _remote_model(name, settings, config_dir)
                if remote is not None:
                    served[name] = remote
                continue
            from kastell.localmodel import serve_local_model, smollm2_gguf_path

            model = (
                _resolve(config_dir, settings.model_path)
                if settings.model_path
                else smollm2_gguf_path()
            )
            served[name] = _local_model(settings, model, config_dir)
            server = stack.enter_context(
                serve_local_model(
                    n_threads=settings.n_threads,
                    n_parallel=settings.n_parallel,
                    ctx_size=settings.ctx_size,
                    model_path=gguf_file(model, f"upstreams.{name}.model_path"),
                )
            )
            upstreams[name] = HttpUpstream(
                server.base_url, model=server.model, timeout_s=settings.timeout_s
            )
        audit = None
        if config.audit is not None:
            from kastell.guard.audit_sink import open_audit_sink

            full = any(p.full_text_audit for p in config.policies.values())
            url, key = config.audit.url, config.audit.signing_key
            audit_settings = config.audit.model_copy(
                update={
                    "url": url if "://" in url else str(_resolve(config_dir, url)),
                    "signing_key": str(_resolve(config_dir, key)) if key else None,
                }
            )
            audit = open_audit_sink(audit_settings, full_text=full)
        runtime = build_runtime(config, upstreams=upstreams, served_models=served, audit=audit)

        async def warm_workers() -> None:  # large inputs must not wait for a worker to start
            if runtime.screening is not None:
                runtime.screening.warm()

        yield GuardApp(runtime, on_startup=warm_workers)
