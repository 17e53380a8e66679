"""Entry point of the ``kastell`` command.

Command modules are imported only when their command runs (or ``--help`` lists them with their
short help taken from this table), so ``kastell --version`` and ``kastell verify --help`` stay
fast: nothing heavy is imported at start-up.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from typing import Any

import click

from kastell import __version__
from kastell.errors import ExitCode, KastellError

__all__ = ["COMMANDS", "LazyGroup", "cli", "main", "run"]

# command name -> (module under kastell.cli, attribute, one-line help for the listing)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "manifest": ("integrity", "manifest", "Write a Merkle manifest of a file or directory."),
    "keygen": ("signing", "keygen", "Generate an ECDSA P-256 or Ed25519 signing key pair."),
    "sign": ("signing", "sign", "Sign a model (OpenSSF Model Signing bundle)."),
    "verify": ("signing", "verify", "Verify a model against its signature."),
    "attest": ("provenance", "attest", "Write signed dataset, training or deployment statements."),
    "verify-chain": ("provenance", "verify_chain", "Verify deployment -> model -> datasets."),
    "canary": ("canary", "canary", "Generate canary records for training data."),
    "protect": ("protect", "protect", "Encrypt, decrypt and re-key datasets at rest."),
    "bom": ("bom", "bom", "Write a CycloneDX 1.6 ML-BOM bound to signed digests."),
    "scan": ("scan", "scan", "Scan model files for unsafe serialization and embedded code."),
    "data": ("datascan", "data", "Screen datasets for poisoning (injection, triggers, floods)."),
    "redteam": ("redteam", "redteam", "Run, compare and gate adversarial test campaigns."),
    "guard": ("guard", "guard", "Run the screening gateway in front of a model."),
    "audit": ("audit", "audit", "Verify and export the hash-chained audit log."),
    "evidence": ("comply", "evidence", "List, show and add compliance evidence."),
    "assess": ("comply", "assess", "Assess a deployment against the control catalog."),
    "verify-report": ("comply", "verify_report", "Verify a signed assessment report bundle."),
    "accept-risk": ("comply", "accept_risk", "Sign risk acceptances bound to a descriptor."),
    "incident": ("incident", "incident", "Open incidents and track their legal reporting clocks."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every registered command name, without importing any."""
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import the command's module and return the command."""
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attribute, _ = entry
        module = importlib.import_module(f"kastell.cli.{module_name}")
        command = getattr(module, attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"kastell.cli.{module_name}.{attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List commands with the help text from the table (no imports)."""
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="kastell")
@click.option(
    "--verbose", "-v", is_flag=True, envvar="KASTELL_VERBOSE", help="Show tracebacks on errors."
)
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Kastell: security evidence for LLM deployments (AI Act, NIS2, CRA).

    Exit codes: 0 clean, 1 findings or failed verification or failed gate, 2 usage error,
    3 could not check.
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return the process exit code (never raises)."""
    verbose = "--verbose" in sys.argv[1:] or "-v" in sys.argv[1:]
    try:
        result: Any = cli.main(args=argv, prog_name="kastell", standalone_mode=False)
    except KastellError as error:
        if verbose:
            traceback.print_exc()
        click.echo(f"error: {error.message}", err=True)
        click.echo(f"  what to do: {error.diagnostics()}", err=True)
        return int(error.exit_code)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as error:
        error.show()
        return ExitCode.USAGE
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return ExitCode.INCOMPLETE
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return ExitCode.INCOMPLETE
    except Exception:  # noqa: BLE001 - a bug: show it, and never let it pass as a finding (exit 1)
        traceback.print_exc()
        click.echo("error: internal error in kastell (a bug); please report it", err=True)
        return ExitCode.INCOMPLETE
    return int(result) if isinstance(result, int) else ExitCode.OK


def run() -> None:
    """Console-script wrapper: exit with ``main()``'s code."""
    sys.exit(main())


if __name__ == "__main__":
    run()
