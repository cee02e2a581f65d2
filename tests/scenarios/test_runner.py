"""``faultproxy run``: scenarios × clients end to end, its exit code and the four report files."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import platform
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from scenario_support import assert_valid

from faultproxy.scenarios import load_text
from faultproxy.scenarios.runner import Cell, run_cell

SCHEMA = json.loads((Path(__file__).parents[2] / "faultproxy" / "report" / "schema.json").read_text())

SUITE = """
scenarios:
  - name: healthy
    server: {kind: sse, events: 5, interval_ms: 2}
    clients: [raw, httpx-sse]
    expectations: [all_events_in_order]
    timeouts: {deadline_ms: 15000}
  - name: cut
    server: {kind: sse, events: 8, interval_ms: 2}
    faults:
      - {type: sse_disconnect, attributes: {after_events: 3}}
    clients: [raw, httpx-sse]
    expectations: [no_silent_loss, error_raised]
    timeouts: {deadline_ms: 15000}
  - name: resumed
    server: {kind: sse, events: 8, interval_ms: 2}
    faults:
      - {type: sse_disconnect, attributes: {after_events: 3}, connections: [1]}
    clients: [raw]
    reconnect: {max: 3, delay_ms: 20}
    expectations: [resumed]
    timeouts: {deadline_ms: 15000}
"""

KNOWN_LOSS = """
name: dropped
server: {kind: sse, events: 6, interval_ms: 2}
faults:
  - {type: sse_drop, attributes: {event_index: 2}}
clients: [raw]
expectations: [all_events_in_order]
known:
  raw: {outcome: %s, why: an event dropped in flight cannot be seen without checking ids}
timeouts: {deadline_ms: 15000}
"""


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faultproxy", "run", "--out", str(tmp_path / "reports"), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_passing_suite_writes_every_report(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    done = run(tmp_path, str(suite), "-j", "3")
    assert done.returncode == 0, done.stdout + done.stderr
    latest = tmp_path / "reports" / "latest"
    report = json.loads((latest / "report.json").read_text())
    jsonschema.validate(report, SCHEMA)
    outcomes = {(r["scenario"], r["client"]): r["outcome"] for r in report["results"]}
    assert outcomes == {
        ("healthy", "raw"): "ok",
        ("healthy", "httpx-sse"): "ok",
        ("cut", "raw"): "error",
        ("cut", "httpx-sse"): "error",
        ("resumed", "raw"): "resumed",
    }
    cases = ET.parse(latest / "junit.xml").getroot().iter("testcase")
    assert len(list(cases)) == 5
    assert "| `healthy` | ✅ OK | ✅ OK |" in (latest / "summary.md").read_text()
    assert "<svg" in (latest / "index.html").read_text()
    # every cell kept its own capture, with the fault's evidence in it
    cut_capture = next((latest / "cells" / "cut").glob("raw-*/capture.jsonl")).read_text()
    assert '"type":"fault"' in cut_capture
    assert "5 of 5 runs passed" in done.stdout
    # and it says what ran it, for whoever compares it with another run later
    env = report["environment"]
    assert env["python"] == platform.python_version() and env["jobs"] == 3 and env["loop"]
    assert f"<dt>python</dt><dd>{platform.python_version()}</dd>" in (latest / "index.html").read_text()
    assert f"python `{platform.python_version()}`" in (latest / "summary.md").read_text()


def test_a_known_behaviour_passes_and_a_changed_one_fails(tmp_path: Path) -> None:
    known = tmp_path / "known.yaml"
    known.write_text(KNOWN_LOSS % "silent_loss")
    assert run(tmp_path, str(known)).returncode == 0
    result = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())["results"][0]
    assert result["outcome"] == "silent_loss" and result["passed"] and result["known"]

    known.write_text(KNOWN_LOSS % "duplicated")
    done = run(tmp_path, str(known))
    assert done.returncode == 1
    assert "dropped / raw: silent_loss" in done.stdout


def test_a_bad_scenario_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nserver: {kind: sse}\nclients: [raw]\nexpectations: [all_events_in_orderr]\n")
    done = run(tmp_path, str(bad))
    assert done.returncode != 0
    assert f"{bad}:4" in done.stderr and "all_events_in_order" in done.stderr


CLOCKS = """
name: clocks
server: {kind: sse, events: 4, interval_ms: 5}
faults:
  - {name: lose, type: sse_drop, attributes: {event_index: 1}}
clients: [raw]
timeouts: {deadline_ms: 20000}
"""
STAMP = re.compile(r" *(?P<ms>\d+\.\d+) ms  #(?P<conn>\S+) (?P<mark>\S) (?P<rest>.*)")


def wire_lines(excerpt: str) -> list[tuple[float, str, str, str]]:
    """(t in seconds, connection, arrow or ·, text) of each stamped line of a capture excerpt."""
    found = (STAMP.fullmatch(line) for line in excerpt.splitlines())
    return [(float(m["ms"]) / 1000, m["conn"], m["mark"], m["rest"]) for m in found if m]


def test_one_cell_shows_a_moment_at_the_same_time_in_tables_wire_and_timeline(tmp_path: Path) -> None:
    """A real cell (server, proxy with a capture, the raw client in its own process): the attempts
    tables, the wire excerpt and the timeline count from one zero, so a moment two of them show is
    at one t. They used to count from the client's start, the capture's start and the cell's start."""
    (scenario,) = load_text(CLOCKS, "clocks.yaml")
    result = asyncio.run(run_cell(Cell(scenario, "raw", 0), 0, tmp_path / "cell")).to_dict()
    assert_valid(result)
    evidence, timeline = result["evidence"], result["timeline"]
    attempt = timeline["attempts"][0][0]
    assert evidence["attempts"][0]["t"] == pytest.approx(attempt, abs=1e-3)
    assert result["transcript"]["attempts"][0]["t"] == pytest.approx(attempt, abs=1e-3)

    wire = wire_lines(result["capture_excerpt"])
    request = next(t for t, conn, mark, _ in wire if conn == "1" and mark == "→")
    response = next(t for t, conn, mark, _ in wire if conn == "1" and mark == "←")
    first_event = result["transcript"]["events"][0]["t"]
    # causality, not a margin (it was "< 0.5 s", which a loaded machine can pass): the client cannot
    # start its attempt after the proxy read its request, nor receive an event before the proxy wrote
    # the response; clocks off by the client's start-up, as they were, break the second
    assert attempt <= request and response <= first_event
    fault = next(t for t, _, mark, text in wire if mark == "·" and text.startswith("fault "))
    assert fault == pytest.approx(timeline["faults"][0][0], abs=2e-3)
    assert fault == pytest.approx(evidence["faults_fired"][0]["t"], abs=2e-3)


def test_a_faults_evidence_has_one_set_of_names_from_the_engine_to_the_report(tmp_path: Path) -> None:
    """The fault engine's Evidence, the capture's fault record and the result's faults_fired use
    the same field names (they were type -> fault_type -> type); the cell's result is typed."""
    from faultproxy.faults.base import Evidence
    from faultproxy.scenarios import CellResult

    (scenario,) = load_text(CLOCKS, "clocks.yaml")
    result = asyncio.run(run_cell(Cell(scenario, "raw", 0), 0, tmp_path / "cell"))
    assert isinstance(result, CellResult) and result.outcome == "silent_loss"
    engine = {f.name for f in dataclasses.fields(Evidence)}
    (fired,) = result.evidence.faults_fired
    captured = [json.loads(line) for line in (tmp_path / "cell" / "capture.jsonl").read_text().splitlines()]
    (record,) = [r for r in captured if r["type"] == "fault"]
    assert (
        fired["fault_type"] == record["fault_type"] == "sse_drop"
        and fired["fault"] == record["fault"] == "lose"
    )
    assert set(fired) <= engine and set(record) - {"type"} <= engine  # "type" there is the record's kind
    reported = result.to_dict()["evidence"]["faults_fired"][0]
    assert reported == fired and "type" not in reported
