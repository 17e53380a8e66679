from __future__ import annotations

import subprocess
import sys

import pytest

from kastell import __version__
from kastell.cli.main import COMMANDS, cli, main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_unknown_command_is_usage_error() -> None:
    assert main(["no-such-command"]) == 2


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_registered_command_loads_and_has_help(name: str) -> None:
    import click

    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    assert main([name, "--help"]) == 0


def test_version_does_not_import_heavy_modules() -> None:
    code = (
        "import sys; from kastell.cli.main import main; main(['--version']);"
        "heavy = [m for m in ('rich', 'cryptography', 'sqlalchemy', 'httpx', 'jinja2', 'pydantic')"
        " if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("[]")
