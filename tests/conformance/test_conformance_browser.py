"""The conformance report's index.html in real headless Chromium, opened from disk.

The report comes from a real (small) run: ``wire`` and ``naive`` on three cases, so the grid has
passing, failing and split squares; one result's problem text is made hostile on purpose.
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

from faultproxy.aio import run as run_loop
from faultproxy.conformance import report as rendering
from faultproxy.conformance.cases import BY_NAME
from faultproxy.conformance.runner import plan, run_cells

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
HOSTILE = "<img src=x onerror=\"document.title='owned'\"><script>document.title='owned'</script>"

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK), reason="chromium is not installed (scripts/bootstrap installs it)"
)


@pytest.fixture(scope="module")
def html_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cases = [BY_NAME["wpt-bom"], BY_NAME["ld-crlf-split"], BY_NAME["wpt-newlines"]]
    results = run_loop(run_cells(plan(cases, ["wire", "naive"]), jobs=4))
    for r in results:
        if r["client"] == "naive" and r["status"] == "fail":
            r["problems"].append(HOSTILE)
            break
    report = {
        "run_id": "browser-test",
        "started": "2026-01-01T00:00:00",
        "duration_s": 1.0,
        "chunkings": ["whole", "bytes", "eol"],
        "clients": [{"name": "wire"}, {"name": "naive"}],
        "cases": [{"name": c.name, "upstream": c.upstream, "rule": c.rule, "bytes": HOSTILE} for c in cases],
        "results": results,
    }
    return rendering.write(report, tmp_path_factory.mktemp("conformance"))["html"]


@pytest.fixture(scope="module")
def page(html_path: Path) -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        page = context.new_page()
        page.errors, page.requests = [], []
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.on("request", lambda r: page.requests.append(r.url))
        page.goto(html_path.resolve().as_uri())
        yield page
        browser.close()


def _square(page: Any, case: str, column: int) -> Any:
    return page.locator(f"#grid tr:has(th:text-is('{case}')) td").nth(column)


def test_grid_shows_each_square_coloured_by_its_verdict(page: Any, html_path: Path) -> None:
    assert page.title() == "SSE conformance browser-test"
    headers = page.locator("#grid thead th").all_inner_texts()
    assert headers == ["case", "wire", "naive"]
    assert _square(page, "ld-crlf-split", 0).inner_text() == "✓"
    assert _square(page, "ld-crlf-split", 1).inner_text() == "✗"
    green = _square(page, "ld-crlf-split", 0).evaluate("e => getComputedStyle(e).backgroundColor")
    red = _square(page, "ld-crlf-split", 1).evaluate("e => getComputedStyle(e).backgroundColor")
    assert green == "rgb(215, 245, 215)" and red == "rgb(247, 181, 181)"
    totals = page.locator("#grid tbody tr:last-child").inner_text().split()
    assert totals[:2] == ["passed", "3/3"] and totals[2].endswith("/3") and totals[2] != "3/3"


def test_a_failing_square_links_to_why_it_failed(page: Any) -> None:
    _square(page, "ld-crlf-split", 1).locator("a").click()
    row = page.locator("tr:target")
    assert row.count() == 1
    assert "event 1: data 'Hello\\r', expected 'Hello\\nWorld'" in row.inner_text()
    assert "naive" in row.inner_text()
    duplicate_ids = page.evaluate(
        "() => { const ids = [...document.querySelectorAll('[id]')].map(e => e.id);"
        " return ids.length - new Set(ids).size; }"
    )
    assert duplicate_ids == 0  # one anchor per square, however many of its chunkings failed


def test_hostile_text_is_shown_as_text_and_nothing_runs_or_loads(page: Any, html_path: Path) -> None:
    assert page.title() != "owned"
    assert page.get_by_text(HOSTILE).count() >= 1  # the markup is visible as text
    assert page.locator("img, script").count() == 0
    assert page.requests == [html_path.resolve().as_uri()]
    assert not [e for e in page.errors if "Content Security Policy" not in e]
