"""What ``faultproxy run`` prints where people read it: a CI log (not a terminal), a narrow terminal,
a wide one. Nothing is cut to "…"; every failure names the unmet expectation and its figure."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from faultproxy.scenarios.terminal import failure_lines, print_outcomes

SLOW = """
scenarios:
  - name: a-scenario-with-a-rather-long-name-that-a-narrow-table-would-cut
    server: {kind: sse, events: 3, interval_ms: 2}
    faults: [{type: latency, attributes: {latency: 150}}]
    clients: [raw, httpx-sse]
    expectations: [{max_time_to_first_event: 20}]
    timeouts: {deadline_ms: 20000}
"""


def test_a_ci_log_gets_a_list_and_failures_with_their_figures(tmp_path: Path) -> None:
    suite = tmp_path / "slow.yaml"
    suite.write_text(SLOW)
    done = subprocess.run(
        [sys.executable, "-m", "faultproxy", "run", str(suite), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
    )  # pipes: not a terminal
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert "…" not in out and "┃" not in out  # listed, not a table, and nothing cut
    assert "a-scenario-with-a-rather-long-name-that-a-narrow-table-would-cut\n  ✗ ok   raw, httpx-sse" in out
    figure = re.compile(
        r"✗ a-scenario-with-a-rather-long-name-that-a-narrow-table-would-cut / raw: ok — "
        r"max_time_to_first_event: time to first event (\d{3}|\d,\d{3}) ms > limit 20 ms"
    )
    assert figure.search(out), out
    assert "1/2 cells done" in done.stderr or "2/2 cells done" in done.stderr  # progress as lines, in a log


def result(
    scenario: str, client: str, outcome: str = "ok", passed: bool = True, known: str | None = None
) -> dict:
    return {
        "scenario": scenario,
        "client": client,
        "repetition": 0,
        "outcome": outcome,
        "passed": passed,
        "known": known,
        "expectations": [],
        "evidence": {"summary": "s"},
    }


RESULTS = [
    result(f"scenario-number-{s}", c)
    for s in range(3)
    for c in ("raw", "httpx-sse", "launchdarkly-eventsource", "fetch-event-source", "chromium")
]


def printed(width: int, terminal: bool) -> str:
    buffer = io.StringIO()
    report = {"scenarios": [], "clients": [], "results": RESULTS}
    print_outcomes(report, Console(file=buffer, width=width, force_terminal=terminal, color_system=None))
    return buffer.getvalue()


def test_a_wide_terminal_gets_the_table_and_a_narrow_one_the_list() -> None:
    wide = printed(200, True)
    assert "┃ scenario" in wide and "1=raw  2=httpx-sse" in wide
    narrow = printed(50, True)
    assert "┃" not in narrow and "…" not in narrow
    assert "scenario-number-0\n  ✓ ok   raw, httpx-sse, launchdarkly-eventsource,\n" in narrow
    assert all(len(line) <= 50 for line in narrow.splitlines())


def test_failure_lines_name_a_changed_known_behaviour() -> None:
    changed = {
        **result("s", "naive", "ok", False),
        "known_changed": True,
        "evidence": {"summary": "OK: all arrived.", "known_recorded": "silent_loss: splits reads"},
    }
    assert failure_lines([changed]) == [
        "✗ s / naive: ok — known behaviour changed: recorded silent_loss: splits reads; now ok",
        "    OK: all arrived.",
    ]
