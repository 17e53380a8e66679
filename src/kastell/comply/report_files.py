"""Writing the report files (the I/O edge of reporting): report.html, report.json, report.md."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from collections.abc import Iterable, Mapping
from typing import Any

from kastell.comply.report_html import render_report_html
from kastell.comply.report_markdown import render_report_markdown
from kastell.errors import CheckError

__all__ = ["REPORT_FILES", "write_report"]

REPORT_FILES = {"html": "report.html", "json": "report.json", "md": "report.md"}


def write_report(
    doc: Mapping[str, Any],
    out_dir: pathlib.Path,
    formats: Iterable[str],
    generated_at: dt.datetime,
) -> list[pathlib.Path]:
    """Render and write each requested format; return the written paths."""
    renderers = {
        "html": lambda: render_report_html(doc, generated_at),
        "json": lambda: json.dumps(doc, indent=2, default=str) + "\n",
        "md": lambda: render_report_markdown(doc),
    }
    written = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for fmt in formats:
            path = out_dir / REPORT_FILES[fmt]
            text = renderers[fmt]()
            temporary = path.with_suffix(path.suffix + ".tmp")
            temporary.write_text(text, encoding="utf-8")
            temporary.replace(path)
            written.append(path)
    except OSError as error:
        raise CheckError(
            f"cannot write the report to {out_dir}: {error.strerror}",
            hint="Choose a writable output directory (--output-dir).",
        ) from None
    return written
