"""junit.xml: one testcase per cell and repetition, failures for the cells that did not pass."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from faultproxy.report import render_junit, validate_report
from faultproxy.report.model import build_matrix, why_failed


def _cases(path_or_bytes: Path | bytes) -> tuple[ET.Element, list[ET.Element]]:
    root = (
        ET.parse(path_or_bytes).getroot() if isinstance(path_or_bytes, Path) else ET.fromstring(path_or_bytes)
    )
    return root, root.findall("./testsuite/testcase")


def test_one_testcase_per_result_and_one_skipped_per_unavailable_cell(
    written: dict[str, Path], sample: dict[str, Any]
) -> None:
    root, cases = _cases(written["junit"])
    unavailable = [c for c in sample["clients"] if not c["available"]]
    skipped = len(unavailable) * len(sample["scenarios"])
    flaky_runs = sum(len(c.results) for c in build_matrix(sample).ran_cells() if c.flaky)
    assert len(cases) == len(sample["results"]) + skipped
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    assert int(suite.get("tests", "")) == len(cases)
    # a flaky cell's runs are neither passed nor failed: skipped, with the cell's rate
    assert flaky_runs == 2
    assert (
        int(suite.get("skipped", ""))
        == skipped + flaky_runs
        == len([c for c in cases if c.find("skipped") is not None])
    )
    flaky = [
        c.find("skipped").get("message")
        for c in cases
        if c.get("classname") == "rst-after-5" and c.get("name", "").startswith("requests-sse")
    ]
    assert flaky == [
        "flaky: passed 1 of 2 (duplicated 1, resumed 1); this run: resumed",
        "flaky: passed 1 of 2 (duplicated 1, resumed 1); this run: duplicated",
    ]
    keys = {(c.get("classname"), c.get("name")) for c in cases}
    assert len(keys) == len(cases)  # repetitions are told apart
    assert ("rst-after-5", "requests-sse #2") in keys and ("clean-stream", "httpx-sse") in keys


def test_failures_are_exactly_the_results_that_did_not_pass(
    written: dict[str, Path], sample: dict[str, Any]
) -> None:
    root, cases = _cases(written["junit"])
    matrix = build_matrix(sample)
    expected = {}
    for cell in matrix.ran_cells():
        if cell.flaky:  # neither passed nor failed
            continue
        for r in cell.results:
            name = cell.client + (f" #{r['repetition'] + 1}" if len(cell.results) > 1 else "")
            expected[(cell.scenario, name)] = r
    failed = {
        (c.get("classname"), c.get("name")): c.find("failure") for c in cases if c.find("failure") is not None
    }
    assert set(failed) == {k for k, r in expected.items() if not r["passed"]}
    assert int(root.get("failures", "")) == len(failed)
    loss = failed[("clean-end-after-8", "httpx-sse")]
    assert loss.get("type") == "silent_loss"
    result = expected[("clean-end-after-8", "httpx-sse")]
    assert loss.get("message") == f"{'; '.join(why_failed(result))} — {result['evidence']['summary']}"
    assert "missing (4): 9, 10, 11, 12" in (loss.text or "")
    assert failed[("stall-after-3", "requests-sse")].get("type") == "known_changed"


def test_known_behaviours_pass_with_a_note(written: dict[str, Path]) -> None:
    _, cases = _cases(written["junit"])
    case = next(
        c for c in cases if (c.get("classname"), c.get("name")) == ("clean-end-after-8", "sseclient-py")
    )
    assert case.find("failure") is None
    assert "passed as a recorded known behaviour" in (case.findtext("system-out") or "")


def test_control_characters_from_the_wire_do_not_break_the_xml(sample: dict[str, Any]) -> None:
    sample["results"][0]["passed"] = False
    sample["results"][0]["evidence"]["summary"] = "nul \x00 esc \x1b lone \udcff end"
    _, cases = _cases(render_junit(validate_report(sample)))
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("message").endswith("nul \\x00 esc \\x1b lone \ufffd end")
