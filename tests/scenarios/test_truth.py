"""Ground truth beyond a server's own log: a url: server (what the proxy read from it), a fault
that answered for the server, and responses a spec client must refuse (docs/outcomes.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from scenario_support import Capture, transcript

from faultproxy.clients.transcript import ReceivedEvent
from faultproxy.scenarios import classify as classify_cell
from faultproxy.scenarios import load_text, oracle_from_records
from faultproxy.scenarios.runner import Cell, run_cell
from faultproxy.scenarios.truth import truth_from_capture
from faultproxy.servers.sse import ReferenceSSEServer
from faultproxy.wire.sse import encode_event


def test_the_oracle_takes_no_events_from_a_500_that_carries_an_event_stream() -> None:
    cap = Capture().request(1).response(1, status=500)
    cap.chunk(1, encode_event("from an error page", id="1")).last_chunk(1)
    oracle = oracle_from_records(cap.records)
    assert oracle.events == []
    assert oracle.exchanges[0].status_problem == "status 500"


def test_a_client_that_reads_events_out_of_a_500_does_not_match_the_oracle() -> None:
    cap = Capture().request(1).response(1, status=500)
    cap.chunk(1, encode_event("x", id="1")).last_chunk(1)
    got = transcript([ReceivedEvent("message", "x", "1", 0.01)], end="completed")
    result = classify([], cap.records, got, [], ["matches_oracle"], client="sseclient-py")
    assert not result["expectations"][0]["met"]


def classify(*args, **kwargs) -> dict:
    return classify_cell(*args, **kwargs).to_dict()


def run_scenario(text: str, client: str, tmp_path: Path) -> dict:
    scenario = load_text(text)[0]
    return asyncio.run(run_cell(Cell(scenario, client, 0), 0, tmp_path)).to_dict()


async def _serve_and_run(text: str, client: str, tmp_path: Path) -> dict:
    server = ReferenceSSEServer(events=6, interval=0.005)
    await server.start()
    try:
        scenario = load_text(text.replace("PORT", str(server.port)))[0]
        return (await run_cell(Cell(scenario, client, 0), 0, tmp_path)).to_dict()
    finally:
        await server.stop()


URL_WITH_PATH = """
name: own-server
server: {url: "http://127.0.0.1:PORT/events"}
clients: [httpx-sse]
timeouts: {deadline_ms: 15000}
"""


def test_the_documented_url_form_with_a_path_runs(tmp_path: Path) -> None:
    result = asyncio.run(_serve_and_run(URL_WITH_PATH, "httpx-sse", tmp_path))
    assert result["outcome"] == "ok" and result["passed"], result["evidence"]["summary"]
    assert result["evidence"]["sent"] == 6


UNDETECTABLE_DROP = """
name: own-server-drop
server: {url: "http://127.0.0.1:PORT/events"}
faults:
  - {type: sse_drop, attributes: {event_index: 2}}
clients: [httpx-sse]
timeouts: {deadline_ms: 15000}
"""


def test_a_url_server_has_ground_truth_from_what_the_proxy_read(tmp_path: Path) -> None:
    result = asyncio.run(_serve_and_run(UNDETECTABLE_DROP, "httpx-sse", tmp_path))
    assert result["outcome"] == "silent_loss", result["evidence"]["summary"]
    assert result["evidence"]["missing"] == ["3"]
    assert not result["passed"]


CUT_AFTER_TWO = """
name: own-server-cut
server: {url: "http://127.0.0.1:PORT"}
request: {path: /events}
faults:
  - {type: early_end, attributes: {after_events: 2}}
clients: [httpx-sse]
timeouts: {deadline_ms: 15000}
"""


def test_a_clean_early_end_before_a_url_servers_last_event_is_a_loss(tmp_path: Path) -> None:
    result = asyncio.run(_serve_and_run(CUT_AFTER_TWO, "httpx-sse", tmp_path))
    assert result["outcome"] == "silent_loss", result["evidence"]["summary"]
    assert "All 2 events" not in result["evidence"]["summary"]


def test_a_cut_url_server_counts_only_the_events_really_lost(tmp_path: Path) -> None:
    """The stand-in for the rest the proxy cut off is not one event: "1 of 3 events never reached"
    read as one loss of three when the server meant six."""
    result = asyncio.run(_serve_and_run(CUT_AFTER_TWO, "httpx-sse", tmp_path))
    e = result["evidence"]
    read = e["sent"]  # the events the proxy read from the server before it cut it off
    assert read >= 2 and e["delivered"] == 2 and e["received"] == 2, e
    lost = read - 2
    summary = e["summary"]
    assert f" of {read + 1} events" not in summary and "1 of 3" not in summary, summary
    assert "the rest of the stream" in summary and "an unknown number of events" in summary, summary
    assert (f"{lost} of {read} events never reached" in summary) == bool(lost), summary


WRONG_PATH = """
name: own-server-wrong-path
server: {url: "http://127.0.0.1:PORT/nope"}
clients: [CLIENT]
timeouts: {deadline_ms: 15000}
"""


@pytest.mark.parametrize("client", ["httpx-sse", "naive"])
def test_a_404_from_a_wrong_path_never_passes(client: str, tmp_path: Path) -> None:
    result = asyncio.run(_serve_and_run(WRONG_PATH.replace("CLIENT", client), client, tmp_path))
    assert not result["passed"], result
    unmet = [e["detail"] for e in result["expectations"] if not e["met"]]
    assert any("404" in d for d in unmet), unmet


JSON_200_FOR_THE_LLM = """
name: llm-json-200
clients: [openai]
server: {kind: openai, seed: 1, tokens: 8}
request: {json: {model: gpt-4o-mini, messages: [{role: user, content: hi}], stream: true}}
faults:
  - {type: http_status, attributes: {status: 200, headers: {Content-Type: application/json}, body: '{"ok": true}'}}
timeouts: {deadline_ms: 30000}
"""


def test_a_fault_answering_for_an_llm_server_is_never_ok(tmp_path: Path) -> None:
    result = run_scenario(JSON_200_FOR_THE_LLM, "openai", tmp_path)
    assert result["outcome"] in ("silent_loss", "error"), result["evidence"]["summary"]
    assert result["outcome"] != "ok"


def test_a_swallowed_429_from_a_fault_is_a_silent_loss_for_an_llm_stream() -> None:
    """Synthetic: the mock never saw the request (a fault answered 429); the SDK said nothing."""
    cap = (
        Capture()
        .request(1)
        .response(1, status=429, headers={"Content-Type": "application/json", "Content-Length": "2"})
    )
    cap.body(1, b"{}").end(1).closed(1, "client").done(1)
    cap.records[0]["upstream_side"] = True  # the capture keeps the server's side: nothing came from it
    result = classify(
        [], cap.records, transcript([], end="completed", client="openai"), [], None, client="openai"
    )
    assert result["outcome"] == "silent_loss", result["evidence"]["summary"]


# -- a request a fault answers: in the capture, and never judged as the server's answer ------------


async def _captured(
    tmp_path: Path,
    faults: list[dict],
    *,
    gets: int = 1,
    events: int = 3,
    interval: float = 0.005,
    headers: str = "",
    midway: dict | None = None,
) -> Path:
    """GETs through a real capturing proxy in front of the reference server, one connection each,
    read to their end; ``midway``: a fault added live once three events have arrived. The capture."""
    from faultproxy.faults import parse_fault
    from faultproxy.proxy.server import Proxy

    server = ReferenceSSEServer(events=events, interval=interval)
    await server.start()
    capture = tmp_path / "capture.jsonl"
    try:
        specs = [parse_fault(f, index=i) for i, f in enumerate(faults)]
        async with Proxy(f"http://127.0.0.1:{server.port}", capture=capture, faults=specs) as proxy:
            for _ in range(gets):
                reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
                writer.write(f"GET /events HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
                await writer.drain()
                seen = b""
                while midway is not None and seen.count(b"\n\n") < 4:  # the head's blank line, 3 events
                    seen += await asyncio.wait_for(reader.read(65536), 10)
                if midway is not None:
                    proxy.faults.add(parse_fault(midway))
                while await asyncio.wait_for(reader.read(65536), 10):
                    pass
                writer.close()
    finally:
        await server.stop()
    return capture


def _answered_capture(tmp_path: Path, attributes: dict) -> Path:
    """A proxy whose http_status fault answers the request itself; one GET through it."""
    return asyncio.run(
        _captured(
            tmp_path, [{"type": "http_status", "attributes": attributes}], headers="Last-Event-ID: 7\r\n"
        )
    )


DONE_STREAM = {"status": 200, "headers": {"Content-Type": "text/event-stream"}, "body": "data: [DONE]\n\n"}


def test_a_request_a_fault_answers_is_in_the_real_capture_and_never_reached_the_server(
    tmp_path: Path,
) -> None:
    from faultproxy.scenarios.oracle import oracle_from_capture
    from faultproxy.scenarios.truth import answered_for_server, truth_from_capture, with_answers

    oracle = oracle_from_capture(_answered_capture(tmp_path, DONE_STREAM))
    [x] = oracle.exchanges
    assert (x.method, x.target, x.last_event_id, x.status) == ("GET", "/events", "7", 200)
    assert "request not in the capture" not in x.describe()
    assert answered_for_server(oracle) == [x]
    [standin] = with_answers(truth_from_capture(oracle), oracle).intended
    assert "never reached the server; the proxy answered it (status 200)" in standin.data


def test_a_refusal_a_fault_gave_is_never_called_the_servers(tmp_path: Path) -> None:
    from faultproxy.scenarios.oracle import oracle_from_capture
    from faultproxy.scenarios.truth import truth_from_capture, with_answers

    json_200 = {"status": 200, "headers": {"Content-Type": "application/json"}, "body": '{"ok": true}'}
    oracle = oracle_from_capture(_answered_capture(tmp_path, json_200))
    [standin] = with_answers(truth_from_capture(oracle), oracle).intended
    assert "the server answered" not in standin.data
    assert "the proxy answered it" in standin.data


DONE_200_FOR_THE_LLM = JSON_200_FOR_THE_LLM.replace(
    "{Content-Type: application/json}, body: '{\"ok\": true}'",
    '{Content-Type: text/event-stream}, body: "data: [DONE]\\n\\n"',
)


def test_a_fault_answering_an_llm_server_with_an_empty_event_stream_is_never_ok(tmp_path: Path) -> None:
    assert "text/event-stream" in DONE_200_FOR_THE_LLM
    result = run_scenario(DONE_200_FOR_THE_LLM, "openai", tmp_path)
    assert result["outcome"] == "silent_loss", result["evidence"]["summary"]
    assert "never reached the server" in result["evidence"]["summary"]
    assert result["attribution"] == "wire"  # every spec client gets an empty, well-formed stream


# -- an LLM end sentinel is part of what an SDK client speaks -------------------------------------


def test_an_sdk_that_ignores_a_missing_end_sentinel_is_to_blame(tmp_path: Path) -> None:
    """openai-chat-clean-early-end: the body ends cleanly without data: [DONE]. Only the sentinel
    shows the loss -- and the SDK speaks that protocol, so its silence is its own (it was blamed on
    the wire). A generic SSE client is not held to a sentinel of a protocol it does not speak."""
    from faultproxy.scenarios import load_paths
    from faultproxy.scenarios.runner import DEFAULT_SUITE

    scenario = next(s for s in load_paths([DEFAULT_SUITE]) if s.name == "openai-chat-clean-early-end")
    sdk = asyncio.run(run_cell(Cell(scenario, "openai", 0), 0, tmp_path / "sdk")).to_dict()
    assert (sdk["outcome"], sdk["attribution"]) == ("silent_loss", "client"), sdk["evidence"]["summary"]
    assert "ended without its end sentinel [DONE]" in sdk["evidence"]["summary"]
    request = scenario.request.model_copy(update={"headers": {"Authorization": "Bearer sk-test"}})
    plain = scenario.model_copy(update={"clients": ("httpx-sse",), "request": request})
    generic = asyncio.run(run_cell(Cell(plain, "httpx-sse", 0), 0, tmp_path / "generic")).to_dict()
    assert (generic["outcome"], generic["attribution"]) == ("silent_loss", "wire"), generic["evidence"][
        "summary"
    ]


# -- the server's side is kept where a fault could change it, and only there ----------------------


def test_the_servers_side_is_written_only_where_a_fault_could_change_it(tmp_path: Path) -> None:
    import json

    from faultproxy.scenarios.oracle import oracle_from_capture

    drop = {"type": "sse_drop", "attributes": {"event_index": 1}, "connections": [2]}
    capture = asyncio.run(
        _captured(tmp_path, [drop], gets=2, events=5, interval=0.002, headers="Connection: close\r\n")
    )
    records = [json.loads(line) for line in capture.read_text().splitlines()]
    upstream = {r["conn"] for r in records if r.get("dir") == "upstream"}
    assert upstream == {2}, "connection 1 had no fault: its response records are the server's bytes"
    assert [r["conn"] for r in records if r["type"] == "upstream_split"] == [2]
    oracle = oracle_from_capture(capture)
    server = oracle.upstream()
    assert [len(x.events) for x in server.exchanges] == [5, 5]  # what the server sent, on both
    assert [len(x.events) for x in oracle.exchanges] == [5, 4]  # what the client got
    assert len(truth_from_capture(oracle).intended) == 5


def test_a_fault_that_joins_a_stream_midway_keeps_the_servers_side_from_there(tmp_path: Path) -> None:
    """The response records stand for the server's bytes until the fault joins; its decoder goes on
    from there: the ground truth is the whole stream, the delivery lacks the dropped event."""
    import json

    from faultproxy.scenarios.oracle import oracle_from_capture

    drop = {"type": "sse_drop", "attributes": {"event_index": 1}}
    capture = asyncio.run(_captured(tmp_path, [], events=8, interval=0.05, midway=drop))
    records = [json.loads(line) for line in capture.read_text().splitlines()]
    split = next(i for i, r in enumerate(records) if r["type"] == "upstream_split")
    assert any(r.get("type") == "event" for r in records[:split]), "the split came after events had gone out"
    oracle = oracle_from_capture(capture)
    assert [e.id for e in truth_from_capture(oracle).intended] == [str(n) for n in range(1, 9)]
    assert len(oracle.events) == 7 and oracle.upstream().exchanges[0].end == "clean"


def test_bytes_a_fault_paces_toward_the_client_are_all_in_the_capture(tmp_path: Path) -> None:
    """bandwidth 1 KB/s: the server has sent everything and closed long before the client gets the
    last byte. The capture's view of the client's side must close when the client gets its FIN, not
    when the upstream ends -- else the response looked cut inside its head, no event was delivered,
    and every client was blamed for events "never delivered" (found by explore, review of issue 18)."""
    from faultproxy.scenarios.oracle import oracle_from_capture

    capture = asyncio.run(_captured(tmp_path, [{"type": "bandwidth", "attributes": {"rate": 1}}], events=5))
    [exchange] = oracle_from_capture(capture).exchanges
    assert (exchange.status, exchange.end, len(exchange.events)) == (200, "clean", 5), exchange.detail
