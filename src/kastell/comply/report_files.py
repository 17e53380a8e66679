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

__all__ = ["REPORT_FILES", "evidence_href", "print_pdf", "write_evidence_files", "write_report"]

REPORT_FILES = {
    "html": "report.html",
    "json": "report.json",
    "md": "report.md",
    "pdf": "report.pdf",
    "manifest": "evidence-manifest.json",
}
MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
"""A payload larger than this is listed in the manifest but not copied into the bundle."""
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


def evidence_href(digest: str) -> str:
    """Where the payload with ``digest`` (``sha256:<hex>``) sits inside the report bundle."""
    algorithm, _, hex_digest = digest.partition(":")
    if not algorithm.isalnum() or not hex_digest.isalnum():
        raise ReportWriteError(f"not a digest: {digest[:80]!r}")
    return f"evidence/{algorithm}-{hex_digest}"


def write_evidence_files(out_dir: pathlib.Path, payloads: Mapping[str, bytes]) -> list[str]:
    """Write each payload (digest text -> bytes) under ``evidence/``; return the digests written.

    The directory is emptied first, so a bundle never carries another run's payloads.
    """
    folder = out_dir / "evidence"
    written = []
    try:
        if folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for digest, data in sorted(payloads.items()):
            if len(data) > MAX_PAYLOAD_BYTES:
                continue
            (out_dir / evidence_href(digest)).write_bytes(data)
            written.append(digest)
    except OSError as error:
        raise ReportWriteError(
            f"cannot write the report (evidence payloads) to {folder}: {error.strerror}",
            hint="Choose a writable output directory (--output-dir).",
        ) from None
    return written


def write_report(
    doc: Mapping[str, Any],
    out_dir: pathlib.Path,
    formats: Iterable[str],
    generated_at: dt.datetime,
    *,
    manifest: bool = False,
) -> list[pathlib.Path]:
    """Render and write each requested format (and the evidence manifest); return the paths."""
    renderers = {
        "html": lambda: render_report_html(doc, generated_at),
        "json": lambda: json.dumps(doc, indent=2, default=str) + "\n",
        "md": lambda: render_report_markdown(doc),
        "manifest": lambda: json.dumps(
            {"kastell_evidence_manifest": 1, "deployment": doc.get("deployment"),
             "evidence": doc.get("evidence", [])}, indent=2, default=str) + "\n",
    }  # fmt: skip
    written = []
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        wanted = list(formats)
        for fmt in [*wanted, "manifest"] if manifest else wanted:
            if fmt == "pdf":
                continue
            if fmt == "oscal":
                from kastell.comply.oscal import OSCAL_FILES, oscal_documents

                for name, text in zip(OSCAL_FILES, oscal_documents(doc), strict=True):
                    (out_dir / name).write_text(text, encoding="utf-8")
                    written.append(out_dir / name)
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
