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


def test_a_server_of_your_own_is_judged_by_what_the_proxy_read_from_it(tmp_path: Path) -> None:
    from faultproxy.net.stream_server import running_in_thread
    from faultproxy.lab.sse_server import SSEServer

    with running_in_thread(SSEServer(events=5, interval=0.002)) as own:
        url = f"http://127.0.0.1:{own.port}/events"
        with fronting(url, faults=[parse_cli_fault("early_end:after_events=2")], capture=tmp_path / "c.jsonl") as harness:
            received = read_ids(harness.url)
            assert received == ["1", "2"] and harness.server is None
            assert [e.id for e in harness.sent][:2] == ["1", "2"]  # what the proxy read from the server
            verdict = harness.verdict([{"id": e.id, "data": e.data} for e in harness.sent[:2]])
            assert verdict["outcome"] == "silent_loss", verdict["evidence"]["summary"]
