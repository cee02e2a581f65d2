"""The report files, and the HTML page as a person meets it: in a real headless Chromium.

The page is opened from disk (file://, no server, no network), the matrix is checked, a cell
is clicked, and its details must show the evidence, the timeline and the capture — while
hostile event data from the wire stays text and runs nothing.
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from report_sample import sample_report

from faultproxy.report import write_reports
from faultproxy.report.validate import ReportValidationError, load_schema

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


@pytest.fixture
def written(tmp_path: Path) -> tuple[dict, dict[str, Path]]:
    report = sample_report()
    return report, write_reports(report, tmp_path / "run")


def test_the_four_files(written) -> None:
    report, paths = written
    on_disk = json.loads(paths["json"].read_text())
    jsonschema.validate(on_disk, load_schema())
    every = list(ET.parse(paths["junit"]).getroot().iter("testcase"))
    flaky = [
        c
        for c in every
        if (c.find("skipped") is not None and c.find("skipped").get("message", "").startswith("flaky"))
    ]
    cases = [c for c in every if c.find("skipped") is None]
    assert len(cases) + len(flaky) == len(
        report["results"]
    )  # one per run; unavailable clients come as skipped
    flaky_cells = {(f["scenario"], f["client"]) for f in report.get("flaky", [])}
    failing = {(r["scenario"], r["client"]) for r in report["results"] if not r["passed"]} - flaky_cells
    assert sum(1 for c in cases if c.find("failure") is not None) == len(failing) > 0
    markdown = paths["markdown"].read_text()
    for scenario in {r["scenario"] for r in report["results"]}:
        assert f"`{scenario}`" in markdown
    assert paths["latest"].resolve() == paths["json"].parent.resolve()


def test_an_invalid_report_is_refused_with_the_path_of_the_problem(tmp_path: Path) -> None:
    report = sample_report()
    report["results"][0]["outcome"] = "fine"
    with pytest.raises(ReportValidationError, match=r"results\[0\]|results/0|outcome"):
        write_reports(report, tmp_path / "run")
    assert not (tmp_path / "run" / "report.json").exists()


def test_the_page_renders_and_a_cell_opens_in_chromium(written, tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: apt-get install chromium (scripts/bootstrap does)")
    report, paths = written
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(paths["html"].as_uri())
            cells = page.locator("td.cell[data-outcome]")
            assert cells.count() == len({(r["scenario"], r["client"]) for r in report["results"]})
            shown = set(cells.evaluate_all("els => els.map(e => e.dataset.outcome)"))
            assert {"silent_loss", "ok"} <= shown
            page.screenshot(path=str(tmp_path / "matrix.png"), full_page=True)

            loss = next(r for r in report["results"] if r["outcome"] == "silent_loss")
            cell = page.locator('td.cell[data-outcome="silent_loss"] a').first
            key = cell.evaluate("a => a.parentNode.dataset.key")
            cell.click()
            panel = page.locator(f'section.detail[id="{key}"]')
            panel.wait_for(state="visible")
            assert panel.locator("p.summary").first.inner_text().strip()
            assert panel.locator("svg.timeline").count() >= 1
            received = panel.locator("svg.timeline line.tl-recv").count()
            assert received >= 1
            assert panel.locator("h4", has_text="Evidence").count() >= 1
            page.screenshot(path=str(tmp_path / "cell.png"), full_page=False)

            # data from the wire is shown as text and executes nothing
            assert page.evaluate("() => window.__pwned") is None
            assert "onerror" in page.content()  # escaped, still visible as text
        finally:
            browser.close()
    assert (tmp_path / "matrix.png").stat().st_size > 10_000
    assert loss["evidence"]["summary"]
