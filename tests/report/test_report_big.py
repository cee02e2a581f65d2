"""A report the size of a real run's (70 scenarios × the default suite's 13 clients), in Chromium:
its cells load lazily, the matrix fits a 1,440 px window, and a cell opens as in a small report."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from report_sample import wide_report

from faultproxy.report import html, write_reports

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
)
expect = sync_api.expect

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    report = wide_report()
    paths = write_reports(report, tmp_path_factory.mktemp("big") / report["run_id"])
    return report, paths["html"]


def test_a_big_report_packs_its_cells(
    big: tuple[dict[str, Any], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    report, page = big
    lazy = page.read_text(encoding="utf-8")
    monkeypatch.setattr(html, "LAZY_CELLS", 10_000)
    eager = html.render_html(report)
    assert 'id="panel-data"' in lazy and 'class="detail"' not in lazy
    assert 'class="detail"' in eager and len(lazy) < 0.35 * len(eager)


@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason="chromium is not installed (scripts/bootstrap)")
def test_a_big_report_in_chromium(big: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    report, page_path = big
    result = report["results"][150]
    key = f"{result['scenario']}/{result['client']}"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(page_path.resolve().as_uri())
        # every client column is on screen: nothing to scroll sideways at 1,440 px
        box = page.evaluate("""() => { const s = document.querySelector('.matrix-scroll');
            return [s.scrollWidth, s.clientWidth]; }""")
        assert box[0] <= box[1], box
        last = page.locator("table.matrix thead th").last.bounding_box()
        assert last["x"] + last["width"] <= 1440
        # a cell opens: its panel is inflated into the page on first use
        assert page.locator("section.detail").count() == 0
        page.locator(f'td.cell[data-key="{key}"] a').click()
        panel = page.locator(f'section.detail[id="{key}"]')
        expect(panel).to_be_visible()
        assert panel.locator(".summary").inner_text() == result["evidence"]["summary"]
        if result.get("transcript"):
            panel.locator("details.transcript > summary").first.click()
            expect(panel.locator("details.transcript table.data").first).to_be_visible()
        # a deep link to another cell, then the embedded report, unpacked for saving
        other = report["results"][700]
        page.goto(page_path.resolve().as_uri() + f"#{other['scenario']}/{other['client']}")
        expect(page.locator(f'section.detail[id="{other["scenario"]}/{other["client"]}"]')).to_be_visible()
        with page.expect_download() as download:
            page.locator("#save-json").click()
        saved = tmp_path / "saved.json"
        download.value.save_as(saved)
        assert json.loads(saved.read_text(encoding="utf-8")) == report
        assert errors == []
        browser.close()
