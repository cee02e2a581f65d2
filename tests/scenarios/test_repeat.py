"""``faultproxy run --repeat N``: every cell N times over; a cell whose outcome varies is flaky.

The first test runs real cells twice (steady ones: the same outcome both times). The second makes
a cell's outcome alternate between its runs -- its cells really run (server, proxy, client), with
a fault for every other run -- to see a flaky cell reported with its rate in every output, and
never as a pass or a fail.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
from click.testing import CliRunner

from faultproxy.cli import main
from faultproxy.faults import parse_fault
from faultproxy.scenarios import runner

SCHEMA = json.loads((Path(__file__).parents[2] / "faultproxy" / "report" / "schema.json").read_text())

SUITE = """
scenarios:
  - name: steady
    server: {kind: sse, events: 4, interval_ms: 2}
    clients: [raw]
    expectations: [all_events_in_order]
    timeouts: {deadline_ms: 15000}
  - name: sometimes-cut
    server: {kind: sse, events: 6, interval_ms: 2}
    clients: [raw]
    expectations: [all_events_in_order]
    timeouts: {deadline_ms: 15000}
"""
CUT = {"type": "sse_disconnect", "attributes": {"after_events": 2}}


def _run(tmp_path: Path, *args: str):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    return CliRunner().invoke(main, ["run", str(suite), "--out", str(tmp_path / "reports"), "-j", "2", *args])


def test_every_cell_runs_n_times_and_steady_cells_are_not_flaky(tmp_path: Path) -> None:
    done = _run(tmp_path, "--repeat", "2", "-k", "steady")
    assert done.exit_code == 0, done.output
    report = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())
    jsonschema.validate(report, SCHEMA)
    assert report["repeat"] == 2 and report["flaky"] == []
    assert [(r["scenario"], r["repetition"], r["outcome"]) for r in report["results"]] == [
        ("steady", 0, "ok"),
        ("steady", 1, "ok"),
    ]
    assert "2 of 2 runs passed" in done.output


def test_a_cell_whose_outcome_varies_is_flaky_with_its_rate_never_a_pass_or_a_fail(
    tmp_path: Path, monkeypatch
) -> None:
    real = runner.run_cell

    async def every_other_run_cut(cell, run_seed, cell_dir, **kwargs):
        if cell.scenario.name == "sometimes-cut" and cell.repetition % 2 == 1:
            cut = cell.scenario.model_copy(update={"faults": (parse_fault(CUT),)})
            cell = runner.Cell(cut, cell.client, cell.repetition, cell.runs)
        return await real(cell, run_seed, cell_dir, **kwargs)

    monkeypatch.setattr(runner, "run_cell", every_other_run_cut)
    done = _run(tmp_path, "--repeat", "4")
    assert done.exit_code == 3, done.output  # no cell failed; one was flaky
    latest = tmp_path / "reports" / "latest"
    report = json.loads((latest / "report.json").read_text())
    jsonschema.validate(report, SCHEMA)
    rate = "passed 2 of 4 (error 2, ok 2)"  # the commoner outcome first, the worse one on a tie
    assert report["flaky"] == [
        {
            "scenario": "sometimes-cut",
            "client": "raw",
            "runs": 4,
            "passed": 2,
            "outcomes": {"ok": 2, "error": 2},
            "rate": rate,
        }
    ]
    # the terminal: listed as flaky with its rate, not among the failures
    assert f"≈ sometimes-cut / raw: flaky — {rate}" in done.output
    assert "✗ sometimes-cut" not in done.output
    assert "4 of 4 runs passed, 1 cell(s) flaky (neither passed nor failed)" in done.output
    # summary.md, the HTML page and JUnit say the same
    summary = (latest / "summary.md").read_text()
    assert (
        "🎲 **Flaky**" in summary
        and f"`sometimes-cut` × `raw` — {rate}" in summary
        and "### Failing" not in summary
    )
    html = (latest / "index.html").read_text()
    assert "FLAKY</span>" in html and f"flaky, {rate}" in html
    suite = ET.parse(latest / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and suite.get("skipped") == "4"
    skipped = [
        c.find("skipped").get("message")
        for c in suite.iter("testcase")
        if c.get("classname") == "sometimes-cut"
    ]
    assert skipped == [f"flaky: {rate}; this run: {o}" for o in ("ok", "error", "ok", "error")]
