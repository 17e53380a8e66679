"""Writing the report files (the I/O edge of reporting): report.html, .json, .md and .pdf.

The optional PDF is the HTML report printed by headless Chromium (Debian ``chromium``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from typing import Any

from kastell.comply.interface import ReportWriteError
from kastell.comply.report_html import render_report_html
from kastell.comply.report_markdown import render_report_markdown

__all__ = ["REPORT_FILES", "print_pdf", "write_report"]

REPORT_FILES = {
    "html": "report.html",
    "json": "report.json",
    "md": "report.md",
    "pdf": "report.pdf",
}
_CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pdf-header-footer",
)


def _chromium() -> str:
    found = (
        os.environ.get("KASTELL_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    if not found:
        raise ReportWriteError(
            "a PDF report needs Chromium, which is not installed",
            hint="Install the Debian package chromium (or set KASTELL_CHROMIUM), or drop pdf "
            "from output.formats.",
        )
    return found


def print_pdf(html: pathlib.Path, pdf: pathlib.Path, timeout: float = 180.0) -> None:
    """Print the HTML report to PDF with headless Chromium (offline: a local file only)."""
    command = [_chromium(), *_CHROMIUM_FLAGS, f"--print-to-pdf={pdf}", html.resolve().as_uri()]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)  # noqa: S603
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
        raise ReportWriteError(f"Chromium could not print the PDF report: {error}") from None
    if not pdf.is_file() or pdf.stat().st_size == 0:
        raise ReportWriteError("Chromium wrote no PDF report")


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
        wanted = list(formats)
        for fmt in wanted:
            if fmt == "pdf":
                continue
            path = out_dir / REPORT_FILES[fmt]
            text = renderers[fmt]()
            temporary = path.with_suffix(path.suffix + ".tmp")
            temporary.write_text(text, encoding="utf-8")
            temporary.replace(path)
            written.append(path)
    except OSError as error:
        raise ReportWriteError(
            f"cannot write the report to {out_dir}: {error.strerror}",
            hint="Choose a writable output directory (--output-dir).",
        ) from None
    if "pdf" in wanted:
        html = out_dir / REPORT_FILES["html"]
        if "html" not in wanted:
            html.write_text(renderers["html"](), encoding="utf-8")
        print_pdf(html, out_dir / REPORT_FILES["pdf"])
        written.append(out_dir / REPORT_FILES["pdf"])
    return written
