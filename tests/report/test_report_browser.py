"""index.html in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

Opened from disk (``file://``), nothing served. Screenshots go to the test's tmp dir (and,
with ``FAULTPROXY_SCREENSHOTS=DIR``, to DIR as well, to look at).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
)
expect = sync_api.expect

from report_sample import HOSTILE_DATA, HOSTILE_ID

from faultproxy.report.model import build_matrix

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SILENT_LOSS_RGB = "rgb(213, 94, 0)"  # Okabe–Ito vermillion

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK), reason="chromium is not installed (scripts/bootstrap installs it)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


class Page:
    """A page with the report open, recording console errors and every request it makes."""

    def __init__(self, browser: Any, url: str, **context: Any):
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000}, **context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url)


@pytest.fixture
def report_page(browser: Any, written: dict[str, Path]) -> Iterator[Page]:
    page = Page(browser, written["html"].resolve().as_uri())
    yield page
    page.context.close()


def _shot(page: Any, tmp_path: Path, name: str, **kw: Any) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), **kw)
    if os.environ.get("FAULTPROXY_SCREENSHOTS"):
        keep = Path(os.environ["FAULTPROXY_SCREENSHOTS"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, keep / name)
    return path


def test_the_matrix_renders_every_cell_in_its_outcome_colour(
    report_page: Page, sample: dict[str, Any], tmp_path: Path
) -> None:
    page = report_page.page
    assert _shot(page, tmp_path, "matrix.png").stat().st_size > 10_000
    matrix = build_matrix(sample)
    cells = page.locator("table.matrix td.cell")
    assert cells.count() == len(matrix.scenarios) * len(matrix.clients)
    ran = matrix.ran_cells()
    assert page.locator("td.cell[data-key]").count() == len(ran)
    for cell in ran:
        td = page.locator(f'td.cell[data-key="{cell.key}"]')
        classes = td.get_attribute("class") or ""
        assert f"o-{cell.outcome}" in classes.split(), cell.key
        assert ("flaky" if cell.flaky else "pass" if cell.passed else "fail") in classes.split(), cell.key
    assert page.locator("td.cell.na").count() == len(matrix.scenarios)  # the unavailable client's column
    loss = page.locator('td.cell[data-key="clean-end-after-8/httpx-sse"]')
    assert loss.evaluate("e => getComputedStyle(e).backgroundColor") == SILENT_LOSS_RGB
    assert loss.locator(".abbr").inner_text() == "LOSS"
    assert loss.locator(".abbr").evaluate("e => getComputedStyle(e, '::before').content") == '"⚠ "'
    ok = page.locator('td.cell[data-key="clean-stream/httpx-sse"]')
    assert ok.evaluate("e => getComputedStyle(e).backgroundColor") != SILENT_LOSS_RGB
    known = page.locator('td.cell[data-key="clean-end-after-8/sseclient-py"]')
    assert "is-known" in (known.get_attribute("class") or "") and "known" in known.inner_text()
    assert "repeating-linear-gradient" in known.evaluate("e => getComputedStyle(e).backgroundImage")
    changed = page.locator('td.cell[data-key="stall-after-3/requests-sse"]')
    assert "changed" in changed.inner_text() and "fail" in (changed.get_attribute("class") or "")
    assert page.locator(".detail:visible").count() == 0
    assert report_page.errors == []


def test_clicking_a_cell_opens_its_evidence_timeline_and_capture(
    report_page: Page, sample: dict[str, Any], tmp_path: Path
) -> None:
    page = report_page.page
    result = next(
        r for r in sample["results"] if (r["scenario"], r["client"]) == ("clean-end-after-8", "httpx-sse")
    )
    page.locator('td.cell[data-key="clean-end-after-8/httpx-sse"] a').click()
    panel = page.locator('section.detail[id="clean-end-after-8/httpx-sse"]')
    expect(panel).to_be_visible()
    assert page.url.endswith("#clean-end-after-8/httpx-sse")
    assert page.locator(".detail:visible").count() == 1
    assert panel.locator(".summary").inner_text() == result["evidence"]["summary"]
    assert panel.locator(".expectations li.unmet").count() == 2
    svg = panel.locator("svg.timeline")
    assert svg.is_visible() and svg.bounding_box()["width"] > 600
    assert svg.locator(".tl-recv").count() == len(result["timeline"]["received"]) == 8
    assert svg.locator(".tl-missing").count() == len(result["evidence"]["missing"]) == 4
    assert svg.locator(".tl-fault text").text_content() == "end-after-8"
    capture = panel.locator("pre.capture")
    assert capture.is_visible() and "0\\r\\n" in capture.inner_text()
    assert panel.locator("pre.capture .cap-fault").count() == 1
    transcript = panel.locator("details.transcript")
    assert transcript.get_attribute("open") is None  # collapsed, and filled in only when opened
    transcript.locator("summary").click()
    expect(transcript.locator("table.data").first).to_be_visible()
    assert transcript.locator("table.data").first.locator("tbody tr").count() == 8
    assert page.locator("td.cell.selected").get_attribute("data-key") == "clean-end-after-8/httpx-sse"
    _shot(panel, tmp_path, "detail-silent-loss.png")
    assert report_page.errors == []


def test_the_keyboard_opens_moves_and_closes(report_page: Page) -> None:
    page = report_page.page
    page.locator('td.cell[data-key="clean-stream/httpx-sse"] a').focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.parentNode.dataset.key") == "rst-after-5/sseclient-py"
    page.keyboard.press("Enter")
    panel = page.locator('section.detail[id="rst-after-5/sseclient-py"]')
    expect(panel).to_be_visible()
    assert panel.locator("article.result").count() == 2  # both repetitions
    assert page.evaluate("document.activeElement.id") == "rst-after-5/sseclient-py"
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    assert page.evaluate("document.activeElement.parentNode.dataset.key") == "rst-after-5/sseclient-py"


def test_a_deep_link_opens_its_panel_even_without_javascript(browser: Any, written: dict[str, Path]) -> None:
    url = written["html"].resolve().as_uri() + "#stall-after-3/requests-sse"
    for js in (True, False):
        page = Page(browser, url, java_script_enabled=js)
        try:
            panel = page.page.locator('section.detail[id="stall-after-3/requests-sse"]')
            expect(panel).to_be_visible()
            assert "Known behaviour changed" in panel.inner_text()
            assert page.page.locator(".detail:visible").count() == 1
        finally:
            page.context.close()


def test_hostile_wire_data_is_shown_as_text_and_runs_nothing(report_page: Page, tmp_path: Path) -> None:
    page = report_page.page
    for key in ("hostile-payload/httpx-sse", "hostile-payload/naive"):
        page.locator(f'td.cell[data-key="{key}"] a').click()
        panel = page.locator(f'section.detail[id="{key}"]')
        expect(panel).to_be_visible()
        panel.locator("details.transcript > summary").click()
        panel.locator("details.transcript details.raw > summary").click()  # built by the script on opening
        expect(panel.locator("details.transcript table.data").first).to_be_visible()
        assert HOSTILE_DATA in panel.inner_text()
        for svg_hover in panel.locator("svg.timeline .tl-recv").all()[:12]:
            svg_hover.hover(force=True)
    naive = page.locator('section.detail[id="hostile-payload/naive"]')
    assert "window.__pwned=1</script>' in \\x1b[31mline\\x1b[0m" in naive.locator("pre.error").inner_text()
    assert HOSTILE_ID in naive.locator(".idlist code").all_inner_texts()
    _shot(naive, tmp_path, "detail-hostile.png")
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img, iframe, object, embed").count() == 0
    assert page.locator("script").count() == 2
    assert report_page.errors == []  # no CSP violation: nothing even tried to run
    assert all(u.startswith(("file:", "data:", "blob:")) for u in report_page.requests), report_page.requests


def test_only_failing_filter_and_the_embedded_json(report_page: Page, sample: dict[str, Any]) -> None:
    page = report_page.page
    rows = page.locator("table.matrix tbody tr")
    page.locator("#only-failing").check()
    visible = [r for r in rows.all() if r.is_visible()]
    assert (
        len(visible)
        == sum(1 for r in rows.all() if "has-fail" in (r.get_attribute("class") or ""))
        < rows.count()
    )
    data = page.evaluate("JSON.parse(document.getElementById('report-data').textContent)")
    assert data["run_id"] == sample["run_id"] and len(data["results"]) == len(sample["results"])


def test_only_failing_with_no_failure_says_so(browser: Any, sample: dict[str, Any], tmp_path: Path) -> None:
    from faultproxy.report import write_reports

    sample["results"] = [r for r in sample["results"] if r["passed"]]
    page = Page(browser, write_reports(sample, tmp_path / "passing", latest=False)["html"].resolve().as_uri())
    try:
        note = page.page.locator("#none-failing")
        expect(note).to_be_hidden()
        page.page.locator("#only-failing").check()
        expect(note).to_be_visible()
        assert note.inner_text() == "No scenario has a failure: every cell passed."
        page.page.locator("#only-failing").uncheck()
        expect(note).to_be_hidden()
    finally:
        page.context.close()
