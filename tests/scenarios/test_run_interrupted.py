"""``faultproxy run`` stopped with a real Ctrl-C, and given outputs it cannot write.

The SIGINT goes to the run's whole process group, as a terminal sends it; the moment is chosen by
what the run printed (a cell finished), never by a timer.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

GUARD = 120.0  # seconds: a hang guard, never a measurement

SUITE = """
scenarios:
  - name: quick
    server: {kind: sse, events: 3, interval_ms: 2}
    clients: [raw, httpx-sse]
    timeouts: {deadline_ms: 60000}
  - name: slow
    server: {kind: sse, events: 10000, interval_ms: 50}
    clients: [raw, httpx-sse]
    timeouts: {deadline_ms: 600000}
  - name: later
    server: {kind: sse, events: 3, interval_ms: 2}
    clients: [raw, httpx-sse]
    timeouts: {deadline_ms: 60000}
"""


def _processes_with(tag: str) -> list[str]:
    """Command lines of live processes whose environment holds ``tag`` (what the run started)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and tag.encode() in (entry / "environ").read_bytes():
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return found


def test_ctrl_c_stops_cleanly_and_writes_the_report_of_the_cells_that_finished(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    tag = f"FAULTPROXY_TEST_{uuid.uuid4().hex}"
    # two at a time: the quick cells finish, the slow ones stream, the later ones wait their turn
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "faultproxy",
            "run",
            str(suite),
            "-j",
            "2",
            "--out",
            str(tmp_path / "reports"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env={**os.environ, tag: "1"},
    )
    assert run.stderr is not None
    seen = b""
    with selectors.DefaultSelector() as selector:  # wait until two cells have finished
        selector.register(run.stderr, selectors.EVENT_READ)
        while b"2/6 cells done" not in seen:  # the CI-log progress line (stderr is not a terminal)
            assert selector.select(GUARD), seen
            chunk = os.read(run.stderr.fileno(), 65536)
            assert chunk, seen
            seen += chunk
    os.killpg(run.pid, signal.SIGINT)  # Ctrl-C, to the process group like a terminal
    out, err = run.communicate(timeout=GUARD)
    errors = (seen + err).decode()
    assert run.returncode == 130, errors
    assert "Traceback" not in errors and "Exception" not in errors and "Aborted" not in errors, errors
    assert "Interrupted (Ctrl-C) after 2 of 6 cells" in errors

    latest = tmp_path / "reports" / "latest"
    report = json.loads((latest / "report.json").read_text())
    not_run = ["slow/raw", "slow/httpx-sse", "later/raw", "later/httpx-sse"]
    assert report["interrupted"] == {"cells_planned": 6, "cells_done": 2, "not_run": not_run}
    assert sorted((r["scenario"], r["client"], r["outcome"]) for r in report["results"]) == [
        ("quick", "httpx-sse", "ok"),
        ("quick", "raw", "ok"),
    ]
    skipped = [case.find("skipped") for case in ET.parse(latest / "junit.xml").getroot().iter("testcase")]
    assert [s.get("message") for s in skipped if s is not None] == [
        "not run: the run was interrupted (Ctrl-C)"
    ] * 4
    assert "Interrupted (Ctrl-C) after 2 of 6 cells" in (latest / "summary.md").read_text()
    assert "INTERRUPTED" in (latest / "index.html").read_text()
    assert _processes_with(tag) == []  # the slow cells' clients were stopped with the run


@pytest.mark.parametrize("out", ["/dev/null", "/dev/null/reports", "/proc/faultproxy-reports", "FILE"])
def test_an_output_that_cannot_be_written_is_a_clear_error_before_any_cell_runs(
    tmp_path: Path, out: str
) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    if out == "FILE":
        out = str(suite)  # a file where the folder should be: the option's own check says so
    done = subprocess.run(
        [sys.executable, "-m", "faultproxy", "run", str(suite), "--out", out],
        capture_output=True,
        text=True,
        timeout=GUARD,
    )
    assert "Traceback" not in done.stderr and "cells" not in done.stderr, done.stderr  # nothing ran
    assert done.returncode == 2, done.stderr  # bad input (docs/cli.md)
    if out == str(suite):
        assert f"'{out}' is a file" in done.stderr
    else:
        assert done.stderr.startswith(f"Error: cannot write the report into {out}/")
