"""The harness behind the ``faultproxy`` fixture, used directly (``fronting``): settled views."""

from __future__ import annotations

from pathlib import Path

import httpx

from faultproxy.faults import parse_cli_fault
from faultproxy.pytest_plugin import fronting


def read_ids(url: str) -> list[str]:
    with httpx.stream("GET", url, timeout=10) as response:
        return [line[3:].strip() for line in response.iter_lines() if line.startswith("id:")]


def test_sent_is_settled_after_an_early_end(tmp_path: Path) -> None:
    """The server logs an event just after writing it, on its own thread: read at once, the log
    could lack the last event the client already has. ``sent`` waits for the server to finish."""
    for run in range(15):
        with fronting({"events": 6, "interval_ms": 1}, faults=[parse_cli_fault("early_end:after_events=3")],
                      capture=tmp_path / f"c{run}.jsonl") as harness:
            received = read_ids(harness.url)
            sent = [e.id for e in harness.sent]
            assert received == ["1", "2", "3"]
            assert sent[:3] == received, f"run {run}: the server's log {sent} lacks what the client got"
            assert not harness.server.busy


def test_settle_gives_up_after_its_timeout(tmp_path: Path) -> None:
    with fronting({"events": 3, "interval_ms": 2000}, capture=tmp_path / "c.jsonl") as harness:
        with httpx.stream("GET", harness.url, timeout=10) as response:
            next(response.iter_lines())  # the head is in; the server is still streaming
            assert harness.settle(timeout=0.05) is False
