"""Output helpers shared by the command modules.

Machine output goes to stdout, human chatter to stderr; progress bars appear only when stderr
is a terminal. Rich is imported lazily so that fast commands stay fast.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

__all__ = [
    "FORMAT_OPTION",
    "Progress",
    "emit_json",
    "format_option",
    "note",
    "progress",
]

def format_option(
    *formats: str, help: str = "Output format on stdout."  # noqa: A002 - click's own name
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The ``--format`` option (``KASTELL_FORMAT``, default ``text``) with the given choices."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(list(formats)),
        default="text",
        show_default=True,
        envvar="KASTELL_FORMAT",
        help=help,
    )


FORMAT_OPTION = format_option("text", "json")
"""The ``--format text|json`` option every command takes (commands emitting findings extend it
with ``format_option("text", "json", "sarif", ...)``)."""


def emit_json(document: Any) -> None:
    """Write one JSON document to stdout."""
    click.echo(json.dumps(document, indent=2, sort_keys=False, default=str))


def note(message: str) -> None:
    """Write a line of human chatter to stderr."""
    click.echo(message, err=True)


Progress = Callable[[int], None]
"""Callback a core function calls with the number of units (bytes, files, ...) just done."""


@contextlib.contextmanager
def progress(description: str, total: int | None) -> Iterator[Progress]:
    """A progress callback that draws a bar on a TTY and does nothing otherwise."""
    if not sys.stderr.isatty():
        yield lambda advance: None
        return
    from rich.console import Console
    from rich.progress import (  # imported here: rich is slow to import
        BarColumn,
        DownloadColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.progress import Progress as RichProgress

    with RichProgress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        transient=True,
        console=Console(stderr=True),
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda advance: bar.advance(task, advance)
