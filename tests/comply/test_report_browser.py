"""Open the HTML report in headless Chromium: no console errors, summary and tree render.

Needs the Debian ``chromium`` package and the ``playwright`` Python package (never
``playwright install``: the system browser is used). Set KASTELL_UPDATE_SCREENSHOT=1 to refresh
docs/img/report.png, the screenshot used in the README; KASTELL_SCREENSHOT_REPORT=path/report.html
checks (and shoots) that report instead, e.g. the demo's demo-out/report/report.html.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil

import pytest

from kastell.comply.assess import run_assessment
from kastell.comply.descriptor import load_descriptor
from kastell.comply.evidence_store import EvidenceStore
from kastell.comply.report_document import assessment_document
from kastell.comply.report_files import write_report

from ._builders import NOW
from ._deployment import build_deployment

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"


def _need_chromium() -> None:
    """`make test` installs chromium; a missing browser is a failure, never a silent skip."""
    if not pathlib.Path(CHROMIUM).exists():
        if os.environ.get("KASTELL_ALLOW_BROWSER_SKIP") == "1":
            pytest.skip("Debian chromium is not installed (KASTELL_ALLOW_BROWSER_SKIP=1)")
        pytest.fail("Debian chromium is not installed: run `make chromium` (or apt-get install "
                    "-y chromium); set KASTELL_ALLOW_BROWSER_SKIP=1 to skip knowingly")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = pathlib.Path(__file__).resolve().parents[2] / "docs" / "img" / "report.png"


@pytest.mark.browser
def test_report_renders_in_chromium_without_console_errors(tmp_path: pathlib.Path) -> None:
    _need_chromium()
    from playwright import sync_api
    given = os.environ.get("KASTELL_SCREENSHOT_REPORT")
    if given:
        html = pathlib.Path(given).resolve()
        doc = json.loads(html.with_name("report.json").read_text())
    else:
        descriptor = load_descriptor(build_deployment(tmp_path))
        with EvidenceStore.open(tmp_path / "ev.sqlite") as store:
            doc = assessment_document(run_assessment(descriptor, store, lambda: NOW))
        (html,) = write_report(doc, tmp_path / "report", ("html",), NOW)
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1500})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(html.as_uri())
            summary = page.locator("#summary")
            assert summary.is_visible()
            assert summary.locator("tr").count() == 1 + len(doc["summary"])
            tree = page.locator("#provenance-tree")
            assert tree.is_visible()
            assert tree.locator("li").count() >= 3  # deployment, model/training, dataset
            assert "deployment" in tree.inner_text()
            assert page.locator("svg").count() >= 1
            # the verdict opens the page and agrees with the findings
            assert page.locator("#verdict").inner_text() == doc["verdict"]
            assert page.locator("#executive-summary").is_visible()
            assert page.locator("#scope").is_visible()
            open_items = [i for i in doc["findings"]["items"] if i["state"] == "open"]
            assert (doc["verdict"] == "fail") is bool(open_items)
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot))
            # phone width: the page itself never scrolls sideways (wide tables scroll inside)
            phone = browser.new_page(viewport={"width": 390, "height": 844})
            phone.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            phone.goto(html.as_uri())
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, width
            assert phone.locator("#verdict").is_visible()
            phone.screenshot(path=str(tmp_path / "report-390.png"), full_page=False)
        finally:
            browser.close()
    assert errors == []
    assert [url for url in requests if not url.startswith("file:")] == []  # offline: no fetches
    assert shot.stat().st_size > 10_000
    if os.environ.get("KASTELL_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
        shutil.copyfile(tmp_path / "report-390.png", SCREENSHOT.with_name("report-390.png"))


@pytest.mark.browser
def test_pdf_report_is_printed_by_chromium(tmp_path: pathlib.Path) -> None:
    _need_chromium()
    from kastell.comply.descriptor import parse_descriptor

    descriptor = parse_descriptor({"name": "pdf", "model": {"path": "m"}}, tmp_path)
    with EvidenceStore.open(tmp_path / "ev.sqlite") as store:
        doc = assessment_document(run_assessment(descriptor, store, lambda: NOW, steps=[]))
    (pdf,) = write_report(doc, tmp_path / "out", ("pdf",), NOW)
    assert pdf.read_bytes().startswith(b"%PDF-")


def test_pdf_without_chromium_is_a_check_error(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kastell.comply.descriptor import parse_descriptor
    from kastell.errors import CheckError

    monkeypatch.setenv("KASTELL_CHROMIUM", "")
    monkeypatch.setenv("PATH", str(tmp_path))
    descriptor = parse_descriptor({"name": "pdf", "model": {"path": "m"}}, tmp_path)
    with EvidenceStore.open(tmp_path / "ev.sqlite") as store:
        doc = assessment_document(run_assessment(descriptor, store, lambda: NOW, steps=[]))
    with pytest.raises(CheckError, match="needs Chromium") as caught:
        write_report(doc, tmp_path / "out", ("pdf",), NOW)
    assert "output.formats" in caught.value.diagnostics()
