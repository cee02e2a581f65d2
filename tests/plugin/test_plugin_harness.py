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
        with fronting(
            {"events": 6, "interval_ms": 1},
            faults=[parse_cli_fault("early_end:after_events=3")],
            capture=tmp_path / f"c{run}.jsonl",
        ) as harness:
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
    from faultproxy.lab.sse_server import SSEServer
    from faultproxy.net.stream_server import running_in_thread

    with running_in_thread(SSEServer(events=5, interval=0.002)) as own:
        url = f"http://127.0.0.1:{own.port}/events"
        with fronting(
            url, faults=[parse_cli_fault("early_end:after_events=2")], capture=tmp_path / "c.jsonl"
        ) as harness:
            received = read_ids(harness.url)
            assert received == ["1", "2"] and harness.server is None
            assert [e.id for e in harness.sent][:2] == ["1", "2"]  # what the proxy read from the server
            verdict = harness.verdict([{"id": e.id, "data": e.data} for e in harness.sent[:2]])
            assert verdict["outcome"] == "silent_loss", verdict["evidence"]["summary"]


def test_tls_end_to_end_the_verdict_still_sees_through_it(tmp_path: Path) -> None:
    """``tls=True``: the server serves HTTPS as its API's host, the proxy re-originates and serves
    HTTPS; a client trusting ``ca_file`` reads through it, a fault acts inside TLS, and the
    verdict (from the decrypted capture and the server's ground truth) says what happened."""
    import ssl

    import openai

    with fronting(
        {"events": 5, "interval_ms": 1},
        faults=[parse_cli_fault("early_end:after_events=2")],
        capture=tmp_path / "c.jsonl",
        tls=True,
    ) as harness:
        assert harness.url.startswith("https://127.0.0.1:") and harness.ca_file.exists()
        with httpx.stream(
            "GET", harness.url, timeout=10, verify=ssl.create_default_context(cafile=harness.ca_file)
        ) as r:
            received = [line[3:].strip() for line in r.iter_lines() if line.startswith("id:")]
        assert received == ["1", "2"]
        verdict = harness.verdict([{"id": e.id, "data": e.data} for e in harness.sent[:2]])
        assert verdict["outcome"] == "silent_loss", verdict["evidence"]["summary"]
        assert b'"type":"tls"' in harness.capture.read_bytes()
    with fronting({"kind": "openai", "tokens": 4}, capture=tmp_path / "o.jsonl", tls=True) as harness:
        trusted = ssl.create_default_context(cafile=harness.ca_file)
        with openai.OpenAI(
            base_url=harness.base_url,
            api_key="sk-x",
            max_retries=0,
            http_client=openai.DefaultHttpxClient(verify=trusted, trust_env=False),
        ) as client:
            stream = client.chat.completions.create(
                model="m", stream=True, messages=[{"role": "user", "content": "hi"}]
            )
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text and text == harness.server.responses[-1].text
        assert harness.server.log[-1].headers.get("host", "").startswith("api.openai.com:")
