"""The oracle: the events a spec-exact client must have seen in the delivered bytes, and how each
body ended -- from hand-written captures with a known answer, and from a real proxy capture."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from scenario_support import Capture, data, gzip_bytes

from faultproxy.faults import parse_faults
from faultproxy.lab.sse_client import SSEClient
from faultproxy.proxy.server import Proxy
from faultproxy.scenarios import oracle_from_capture, oracle_from_records
from faultproxy.servers.sse import ReferenceSSEServer
from faultproxy.wire.sse import encode_event


def ids(oracle) -> list[str | None]:
    return [e.id for e in oracle.events]


def test_a_clean_stream_is_every_event_and_a_clean_end() -> None:
    oracle = oracle_from_records(Capture().stream(1, [1, 2, 3]).records)
    (x,) = oracle.exchanges
    assert ids(oracle) == ["1", "2", "3"] and [e.data for e in oracle.events] == [data(1), data(2), data(3)]
    assert (x.end, x.noticeable, x.framing, x.status, x.sse) == ("clean", False, "chunked", 200, True)
    assert (x.method, x.target, x.last_event_id) == ("GET", "/events", None)
    assert [e.connection for e in oracle.events] == [1, 1, 1] and [e.index for e in oracle.events] == [
        0,
        1,
        2,
    ]


def test_a_cut_between_chunks_is_noticeable_no_terminator() -> None:
    cap = Capture().request(1).response(1).event(1, 1).event(1, 2)
    cap.fault(1, "cut", "sse_disconnect", exchange=1, event_index=1).fault_close(1).closed(1, "client").done(
        1
    )
    oracle = oracle_from_records(cap.records)
    (x,) = oracle.exchanges
    assert ids(oracle) == ["1", "2"]
    assert x.end == "no_terminator" and x.noticeable and "without the last chunk" in x.detail
    assert [f["fault"] for f in oracle.fault_records] == ["cut"]


def test_a_cut_inside_a_chunk_loses_the_unfinished_event() -> None:
    cap = Capture().request(1).response(1).event(1, 1).event(1, 2, cut_after=10).fault_close(1).done(1)
    (x,) = oracle_from_records(cap.records).exchanges
    assert [e.id for e in x.events] == ["1"]  # the half event is never dispatched (the spec discards it)
    assert x.end == "cut_in_chunk" and x.noticeable
    assert "inside a chunk" in x.detail and "unfinished event (10 bytes) was discarded" in x.detail
    assert x.pending == encode_event(data(2), id="2")[:10]


def test_reset_malformed_and_upstream_cut() -> None:
    rst = Capture().request(1).response(1).event(1, 1).fault_close(1, "rst").done(1)
    assert oracle_from_records(rst.records).exchanges[0].end == "rst"
    propagated = Capture().request(1).response(1).event(1, 1).closed(1, "upstream", "rst").done(1)
    assert oracle_from_records(propagated.records).exchanges[0].end == "rst"
    bad = Capture().request(1).response(1).event(1, 1)
    bad.add(
        conn=1,
        type="malformed",
        dir="response",
        exchange=1,
        reason="chunk size is not hexadecimal: b'zz'",
        offset=124,
    )
    (x,) = oracle_from_records(bad.done(1).records).exchanges
    assert (
        x.end == "malformed"
        and x.noticeable
        and x.detail == "chunk size is not hexadecimal: b'zz' (at byte 124)"
    )
    # the capture's own note at EOF ("connection closed before the last chunk") is a cut, not malformed
    eof = Capture().request(1).response(1).event(1, 1)
    eof.add(
        conn=1,
        type="malformed",
        dir="response",
        exchange=1,
        reason="connection closed before the last chunk (no 0-size chunk)",
        offset=60,
    )
    (x,) = oracle_from_records(eof.closed(1, "upstream").records).exchanges
    assert x.end == "no_terminator" and x.detail.startswith("connection closed before the last chunk")


def test_content_length_close_delimited_client_closed_open_and_no_response() -> None:
    body = encode_event("a", id="1") + encode_event("b", id="2")
    short = (
        Capture()
        .request(1)
        .response(1, headers={"Content-Type": "text/event-stream", "Content-Length": str(len(body) + 5)})
    )
    (x,) = oracle_from_records(short.body(1, body).closed(1, "upstream").records).exchanges
    assert x.end == "short_body" and x.noticeable and f"after {len(body)} of {len(body) + 5}" in x.detail
    closing = Capture().request(1).response(1, headers={"Content-Type": "text/event-stream"})
    (x,) = oracle_from_records(closing.body(1, body).end(1).closed(1, "upstream").records).exchanges
    assert (x.framing, x.end, x.noticeable) == (
        "close",
        "close",
        False,
    )  # a FIN is how it ends: a cut looks the same
    gone = Capture().request(1).response(1).event(1, 1).closed(1, "client").closed(1, "upstream")
    (x,) = oracle_from_records(gone.records).exchanges
    assert (
        x.end == "client_closed" and "the client closed" in x.detail and "the client's doing" in x.describe()
    )
    still = Capture().request(1).response(1).event(1, 1)
    (x,) = oracle_from_records(still.records).exchanges
    assert x.end == "open" and "only by a read timeout" in x.describe()
    nothing = Capture().request(1).fault_close(1).done(1)
    (x,) = oracle_from_records(nothing.records).exchanges
    assert x.end == "no_response" and x.status is None and x.noticeable


def test_the_parser_is_spec_exact_crlf_cr_bom_comments_and_multiline() -> None:
    payload = (
        b"\xef\xbb\xbfid: 1\r\ndata: a\r\ndata: b\r\n\r\n"  # BOM, CRLF, two data lines
        b": keep-alive\r\r"  # a comment and a CR-only blank line: no event
        b"event: tick\rid: 2\rdata:c\r\r"  # CR only, no space after the colon
        b"data: d\n\n"
    )  # no id field: the last event ID stays 2
    cap = Capture().request(1).response(1)
    for piece in (payload[:7], payload[7:31], payload[31:]):  # split anywhere: same events
        cap.chunk(1, piece)
    oracle = oracle_from_records(cap.last_chunk(1).records)
    assert [(e.type, e.data, e.id) for e in oracle.events] == [
        ("message", "a\nb", "1"),
        ("tick", "c", "2"),
        ("message", "d", "2"),
    ]


def test_gzip_bodies_are_decoded_and_other_content_types_give_no_events() -> None:
    payload = encode_event("zipped", id="1") + encode_event("too", id="2")
    zipped = gzip_bytes(payload)
    cap = (
        Capture()
        .request(1)
        .response(
            1,
            headers={
                "Content-Type": "text/event-stream",
                "Content-Encoding": "gzip",
                "Transfer-Encoding": "chunked",
            },
        )
    )
    cap.chunk(1, zipped[:9]).chunk(1, zipped[9:]).last_chunk(1)
    assert [e.data for e in oracle_from_records(cap.records).events] == ["zipped", "too"]
    plain = (
        Capture()
        .request(1)
        .response(1, headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    )
    oracle = oracle_from_records(plain.chunk(1, encode_event("x")).last_chunk(1).records)
    assert oracle.events == [] and not oracle.exchanges[0].sse and oracle.exchanges[0].end == "clean"


def test_connections_keep_their_own_request_headers_and_events(tmp_path: Path) -> None:
    cap = Capture().stream(1, [1, 2], clean=False).fault_close(1).done(1)
    cap.stream(2, [3, 4, 5], last_event_id="2")
    oracle = oracle_from_capture(cap.write(tmp_path / "c.jsonl"))
    first, second = oracle.exchanges
    assert (first.end, second.end) == ("no_terminator", "clean")
    assert (first.last_event_id, second.last_event_id) == (None, "2")
    assert ids(oracle) == ["1", "2", "3", "4", "5"] and [e.connection for e in oracle.events] == [
        1,
        1,
        2,
        2,
        2,
    ]
    assert first.to_dict()["noticeable"] is True and second.to_dict()["events"] == 3


def test_a_real_capture_matches_the_capture_event_records(tmp_path: Path) -> None:
    """Proxy + reference server + lab client, cut after event 2 and resumed: the oracle's events are
    the capture's own ``event`` records, and it sees the cut and the Last-Event-ID."""
    path = tmp_path / "capture.jsonl"

    async def run() -> None:
        async with ReferenceSSEServer(events=5, interval=0.005) as server:
            faults = parse_faults(
                [{"type": "sse_disconnect", "attributes": {"after_events": 2}, "connections": [1]}]
            )
            async with Proxy(f"http://127.0.0.1:{server.port}", faults=faults, capture=path) as proxy:
                await SSEClient(proxy.url + "/events", reconnect_ms=20, max_reconnects=3).run()

    asyncio.run(run())
    oracle = oracle_from_capture(path)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    from_capture = [
        (r["conn"], r["event"]["id"], r["event"]["data"]) for r in records if r["type"] == "event"
    ]
    assert [(e.connection, e.id, e.data) for e in oracle.events] == from_capture
    assert ids(oracle) == ["1", "2", "3", "4", "5"]
    ends = [(x.conn, x.status, x.end, x.last_event_id) for x in oracle.exchanges]
    assert ends == [(1, 200, "no_terminator", None), (2, 200, "clean", "2"), (3, 204, "clean", "5")]
    assert [f["fault_type"] for f in oracle.fault_records] == ["sse_disconnect"]
