"""The ``sse`` faults, each shown as a real client sees it through the proxy, on loopback.

Upstreams: the lab SSE server (ground truth in ``.sent``), sse-starlette under uvicorn (CRLF
line endings, as real frameworks write them) and scripted servers for exact bytes. Clients: a
raw socket whose bytes are decoded with the project's own HTTP reader and SSE parser (so chunk
sizes, reads and the kind of end are all visible), and the lab's reconnecting ``SSEClient``.

Timing is only ever asserted as a lower bound the fault guarantees (an event that must wait
``d`` arrives no earlier than ``d`` after the moment it was held), or as an order against the
server's own record, never as an upper bound.

At the end, property tests drive :class:`~faultproxy.faults.pipeline.Pipeline` directly
(sans-IO) with random streams, random stacks of sse faults and random read splits: the same
seed and input give the same bytes and evidence, and what a client parses never depends on how
the input was split.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from proxy_harness import GUARD, Conn, RawClient, wait_event
from proxy_harness import SSEServer as StarletteServer

from faultproxy.faults import FaultSet, Pipeline, parse_fault
from faultproxy.faults.base import Close, Until, Wait
from faultproxy.lab.sse_client import SSEClient
from faultproxy.wire.chunked import ChunkData, ChunkHeader, encode_chunk, encode_chunked, encode_last_chunk
from faultproxy.wire.http import BodyData, EndOfMessage, HTTPReader, Response, parse_request_head
from faultproxy.wire.sse import BOM, Event, SSEParser, encode_comment, encode_event

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
EPS = 1e-6  # float slack on lower bounds computed from the same monotonic clock


# -- a client's view ---------------------------------------------------------------------------


class Watch:
    """One SSE response read through a :class:`RawClient`, as the client sees it.

    Keeps each event with its arrival time, the body's chunk sizes, the number of reads that
    ended inside an event, whether the body ended cleanly and how the connection ended.
    """

    def __init__(self, client: RawClient, target: bytes = b"/events"):
        self.client = client
        self.reader = HTTPReader("response", strict=False)
        self.reader.expect_response_to(b"GET")
        self.parser = SSEParser()
        self.head: Response | None = None
        self.events: list[Event] = []
        self.times: list[float] = []
        self.body = bytearray()
        self.chunks: list[int] = []
        self.reads = 0
        self.straddling = 0  # reads after which the parser held part of an event
        self.complete = False  # the body ended as its framing says it should
        self.end: str | None = None  # "fin" or "rst" once the connection is over
        self.t0 = time.monotonic()
        client.send(b"GET " + target + b" HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n")

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self.events]

    def _take(self, events: list[Any], now: float) -> None:
        for event in events:
            if isinstance(event, Response):
                self.head = event
            elif isinstance(event, ChunkHeader) and event.size:
                self.chunks.append(event.size)
            elif isinstance(event, (ChunkData, BodyData)):
                self.body += event.data
                for parsed in self.parser.feed(event.data):
                    self.events.append(parsed)
                    self.times.append(now)
            elif isinstance(event, EndOfMessage):
                self.complete = True

    def pump(self, until: Callable[[Watch], bool] | None = None, read_size: int = 65536) -> Watch:
        """Read until ``until(self)`` holds, the body is complete or the connection ends."""
        while self.end is None and not self.complete and not (until is not None and until(self)):
            try:
                data = self.client.sock.recv(read_size)
            except ConnectionResetError:
                self.end = "rst"
                break
            if not data:
                self.end = "fin"
                self._take(self.reader.close(), time.monotonic())
                break
            self.reads += 1
            self._take(self.reader.feed(data), time.monotonic())
            if self.parser.pending:
                self.straddling += 1
        return self


def watch(raw_client: Callable[[int], RawClient], proxy: Any, target: bytes = b"/events") -> Watch:
    return Watch(raw_client(proxy.port), target)


def upstream(server: Any) -> str:
    return f"http://127.0.0.1:{server.port}"


def fired(proxy: Any, type_: str | None = None) -> list[Any]:
    return [e for e in proxy.evidence if type_ is None or e.fault_type == type_]


def scripted(
    blocks: list[bytes], *, gate: threading.Event | None = None, gate_before: int = 0, end: str = "last-chunk"
) -> Callable[[Conn], Any]:
    """An SSE upstream writing ``blocks`` one chunk each; before block ``gate_before`` it waits for
    ``gate`` (the test's signal). ``end``: the last chunk then FIN, or ``"fin"`` alone (cut short)."""

    async def handler(conn: Conn) -> None:
        await conn.read_request()
        await conn.write(HEAD)
        for i, block in enumerate(blocks):
            if gate is not None and i == gate_before:
                deadline = time.monotonic() + GUARD
                while not gate.is_set() and time.monotonic() < deadline:
                    await asyncio.sleep(0.005)
            await conn.write(encode_chunk(block))
        if end == "last-chunk":
            await conn.write(encode_last_chunk())
        await conn.fin()

    return handler


def ticks(n: int = 5) -> list[bytes]:
    """Events 1..n: JSON data, ids, alternating types ``tick``/``tock``."""
    return [
        encode_event(json.dumps({"n": i}), event="tick" if i % 2 else "tock", id=str(i))
        for i in range(1, n + 1)
    ]


@pytest.fixture
def starlette() -> Iterator[StarletteServer]:
    """sse-starlette under uvicorn: ``/events?n=N`` and the endless ``/forever``."""
    server = StarletteServer().start()
    yield server
    server.stop()


# -- sse_drop ----------------------------------------------------------------------------------


def test_sse_drop_every_nth_and_by_type(make_proxy, serve, raw_client):
    server = serve(scripted(ticks(6)))
    proxy = make_proxy(server.url, faults=[{"type": "sse_drop", "attributes": {"every": 3}}])
    seen = watch(raw_client, proxy).pump()
    assert seen.ids == ["1", "2", "4", "5"] and seen.complete
    assert [e.event_index for e in fired(proxy)] == [2, 5]

    server = serve(scripted(ticks(6)))
    proxy = make_proxy(server.url, faults=[{"type": "sse_drop", "attributes": {"event_type": "tock"}}])
    seen = watch(raw_client, proxy).pump()
    assert [(e.id, e.type) for e in seen.events] == [("1", "tick"), ("3", "tick"), ("5", "tick")]
    assert [e.event_index for e in fired(proxy)] == [1, 3, 5]


# -- sse_disconnect ----------------------------------------------------------------------------


def test_sse_disconnect_fin_cuts_the_body_after_n_events(lab_sse, make_proxy, raw_client):
    server = lab_sse(events=6, interval=0.002)
    proxy = make_proxy(
        upstream(server), faults=[{"type": "sse_disconnect", "attributes": {"after_events": 2}}]
    )
    seen = watch(raw_client, proxy).pump()
    assert seen.ids == ["1", "2"]
    assert seen.end == "fin" and not seen.complete  # no terminating chunk: the client can tell
    assert [(e.event_index, e.exchange) for e in fired(proxy)] == [(1, 1)]


def test_sse_disconnect_rst_resets_the_client_and_cancels_the_sse_starlette_generator(
    starlette, make_proxy, raw_client
):
    proxy = make_proxy(
        starlette.url, faults=[{"type": "sse_disconnect", "attributes": {"after_events": 3, "mode": "rst"}}]
    )
    seen = watch(raw_client, proxy, b"/forever").pump()
    assert seen.end == "rst"
    assert seen.ids == ["1", "2", "3"]
    wait_event(starlette.record.cancelled, "the server's generator to be cancelled")
    assert fired(proxy)[0].event_index == 2


def test_sse_disconnect_before_the_first_event(lab_sse, make_proxy, raw_client):
    server = lab_sse(events=3, interval=0.002)
    proxy = make_proxy(
        upstream(server), faults=[{"type": "sse_disconnect", "attributes": {"after_events": 0}}]
    )
    seen = watch(raw_client, proxy).pump()
    assert seen.head is not None and seen.head.status == 200
    assert seen.events == [] and seen.end == "fin" and not seen.complete


# -- sse_duplicate -----------------------------------------------------------------------------


def test_sse_duplicate_sends_the_event_twice_with_the_same_id(lab_sse, make_proxy, raw_client):
    server = lab_sse(events=5, interval=0.002)
    proxy = make_proxy(upstream(server), faults=[{"type": "sse_duplicate", "attributes": {"event_index": 2}}])
    seen = watch(raw_client, proxy).pump()
    assert seen.ids == ["1", "2", "3", "3", "4", "5"] and seen.complete
    assert seen.events[2] == seen.events[3]
    assert [e.event_index for e in fired(proxy)] == [2]


def test_sse_duplicate_fraction_is_seeded_on_sse_starlette(starlette, make_proxy, raw_client):
    runs = []
    for _ in range(2):
        proxy = make_proxy(
            starlette.url,
            seed=11,
            faults=[{"type": "sse_duplicate", "attributes": {"fraction": 0.4, "copies": 2}}],
        )
        seen = watch(raw_client, proxy, b"/events?n=12").pump()
        picked = [e.event_index for e in fired(proxy)]
        expected = []
        for i in range(12):
            expected += [str(i + 1)] * (3 if i in picked else 1)
        assert seen.ids == expected and seen.complete
        runs.append(picked)
    assert runs[0] == runs[1] and runs[0]  # same seed, same events; and some were picked


# -- sse_reorder -------------------------------------------------------------------------------


def test_sse_reorder_swaps_an_event_with_the_next(lab_sse, make_proxy, raw_client):
    server = lab_sse(events=5, interval=0.002)
    proxy = make_proxy(upstream(server), faults=[{"type": "sse_reorder", "attributes": {"event_index": 1}}])
    seen = watch(raw_client, proxy).pump()
    assert seen.ids == ["1", "3", "2", "4", "5"] and seen.complete
    assert [json.loads(e.data)["n"] for e in seen.events] == [1, 3, 2, 4, 5]
    assert [(e.event_index, e.detail.split()[0]) for e in fired(proxy)] == [(1, "held"), (2, "sent")]


def test_sse_reorder_window_and_end_of_body(make_proxy, serve, raw_client):
    server = serve(scripted(ticks(6)))
    proxy = make_proxy(server.url, faults=[{"type": "sse_reorder", "attributes": {"every": 3, "after": 2}}])
    seen = watch(raw_client, proxy).pump()
    # event 3 is overtaken by 4 and 5; event 6 is held at the end and goes out last anyway
    assert seen.ids == ["1", "2", "4", "5", "3", "6"] and seen.complete
    assert "end of the body" in fired(proxy)[-1].detail


# -- sse_delay ---------------------------------------------------------------------------------


def test_sse_delay_spreads_a_burst_out(lab_sse, make_proxy, raw_client):
    server = lab_sse(events=4, interval=0)
    delay = 0.06
    proxy = make_proxy(
        upstream(server), faults=[{"type": "sse_delay", "attributes": {"delay_ms": delay * 1000}}]
    )
    seen = watch(raw_client, proxy).pump()
    assert seen.ids == ["1", "2", "3", "4"] and seen.complete
    for k, t in enumerate(seen.times):  # the waits add up: event k waited k+1 delays, at least
        assert t - seen.t0 >= (k + 1) * delay - EPS
    assert [e.event_index for e in fired(proxy)] == [0, 1, 2, 3]


def test_sse_delay_jitter_is_seeded(lab_sse, make_proxy, raw_client):
    details = []
    for _ in range(2):
        server = lab_sse(events=4, interval=0)
        proxy = make_proxy(
            upstream(server),
            seed=3,
            faults=[{"type": "sse_delay", "attributes": {"delay_ms": 10, "jitter_ms": 8}}],
        )
        assert watch(raw_client, proxy).pump().ids == ["1", "2", "3", "4"]
        details.append([e.detail for e in fired(proxy)])
    assert details[0] == details[1] and len(set(details[0])) > 1


# -- sse_stall ---------------------------------------------------------------------------------


def test_sse_stall_goes_silent_then_resumes(lab_sse, make_proxy, raw_client):
    server = lab_sse(events=5, interval=0.002)
    proxy = make_proxy(
        upstream(server),
        faults=[{"type": "sse_stall", "attributes": {"after_events": 2, "duration_ms": 300}}],
    )
    seen = watch(raw_client, proxy).pump()
    assert seen.ids == ["1", "2", "3", "4", "5"] and seen.complete
    (stall,) = fired(proxy)
    assert stall.event_index == 1
    assert seen.times[2] - stall.t >= 0.3 - EPS  # event 3 left no earlier than 300 ms after the stall began


def test_sse_stall_without_duration_hangs_the_stream_for_good(make_proxy, serve, raw_client):
    server = serve(scripted(ticks(4)))
    proxy = make_proxy(server.url, faults=[{"type": "sse_stall", "attributes": {"after_events": 2}}])
    seen = watch(raw_client, proxy).pump(until=lambda w: len(w.events) >= 2)
    wait_event(server.conn().ended, "the server to finish its stream")
    seen.client.sock.settimeout(0.3)
    with pytest.raises(socket.timeout):  # neither the rest, nor the end of the body, nor a FIN
        seen.pump()
    assert seen.ids == ["1", "2"] and seen.end is None
    assert "for good" in fired(proxy)[0].detail


# -- sse_corrupt -------------------------------------------------------------------------------


def _json_ok(data: str) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


CORRUPT_CHECKS: dict[str, Callable[[Watch], None]] = {
    "invalid_json": lambda w: (
        (
            w.ids == ["1", "2", "3", "4", "5"]
            and [_json_ok(e.data) for e in w.events] == [True, True, False, True, True]
        )
        or pytest.fail(repr(w.events))
    ),
    "invalid_utf8": lambda w: (
        (
            w.events[2].data.startswith("\ufffd")
            and w.events[2].data[1:] == '{"n": 3}'
            and not any("\ufffd" in e.data for i, e in enumerate(w.events) if i != 2)
        )
        or pytest.fail(repr(w.events))
    ),
    "missing_blank_line": lambda w: (
        (  # event 3 merges into event 4
            w.ids == ["1", "2", "4", "5"] and w.events[2].data == '{"n": 3}\n{"n": 4}'
        )
        or pytest.fail(repr(w.events))
    ),
    "cr_only": lambda w: (
        (  # a correct parser reads CR endings: nothing lost
            w.ids == ["1", "2", "3", "4", "5"] and b'event: tick\rid: 3\rdata: {"n": 3}\r\r' in w.body
        )
        or pytest.fail(repr(w.body))
    ),
    "mixed_line_endings": lambda w: (
        (  # LF fields, a CRLF blank line: nothing lost to a correct parser
            w.ids == ["1", "2", "3", "4", "5"] and b'event: tick\nid: 3\ndata: {"n": 3}\n\r\n' in w.body
        )
        or pytest.fail(repr(w.body))
    ),
    "bom": lambda w: (
        (  # mid-stream the BOM hides the first line: the event type
            BOM in w.body
            and [(e.id, e.type) for e in w.events][2] == ("3", "message")
            and w.events[3].type == "tock"
        )
        or pytest.fail(repr(w.events))
    ),
    "no_space": lambda w: (
        (w.ids == ["1", "2", "3", "4", "5"] and b'data:{"n": 3}\n' in w.body and b"event:tick" in w.body)
        or pytest.fail(repr(w.body))
    ),
    "field_typo": lambda w: (
        (  # the event never fires, but its id still counts
            w.ids == ["1", "2", "4", "5"] and b'dta: {"n": 3}' in w.body
        )
        or pytest.fail(repr(w.events))
    ),
}


@pytest.mark.parametrize("kind", sorted(CORRUPT_CHECKS))
def test_sse_corrupt_kinds_as_a_client_sees_them(kind, make_proxy, serve, raw_client):
    server = serve(scripted(ticks(5)))
    proxy = make_proxy(
        server.url, faults=[{"type": "sse_corrupt", "attributes": {"kind": kind, "event_index": 2}}]
    )
    seen = watch(raw_client, proxy).pump()
    assert seen.complete
    CORRUPT_CHECKS[kind](seen)
    assert [(e.event_index, e.exchange) for e in fired(proxy)] == [(2, 1)]


def test_sse_corrupt_keeps_crlf_and_fields_on_sse_starlette(starlette, make_proxy, raw_client):
    proxy = make_proxy(
        starlette.url,
        faults=[{"type": "sse_corrupt", "attributes": {"kind": "invalid_utf8", "event_index": 0}}],
    )
    seen = watch(raw_client, proxy, b"/events?n=3").pump()
    first = seen.events[0]
    sent = starlette.record.sent[0]
    assert (first.id, first.type, first.retry) == (sent["id"], sent["event"], sent["retry"])
    assert first.data == "\ufffd" + sent["data"]
    assert b"\r\n\r\n" in seen.body and b"\n\n" not in seen.body.replace(b"\r\n", b"")


def test_sse_corrupt_fraction_is_seeded(lab_sse, make_proxy, raw_client):
    broken = []
    for _ in range(2):
        server = lab_sse(events=20, interval=0)
        proxy = make_proxy(
            upstream(server),
            seed=5,
            faults=[{"type": "sse_corrupt", "attributes": {"kind": "invalid_json", "fraction": 0.3}}],
        )
        seen = watch(raw_client, proxy).pump()
        bad = [i for i, e in enumerate(seen.events) if not _json_ok(e.data)]
        assert bad == [e.event_index for e in fired(proxy)]
        broken.append(bad)
    assert broken[0] == broken[1] and 0 < len(broken[0]) < 20


# -- sse_split ---------------------------------------------------------------------------------


def test_sse_split_fixed_events_straddle_reads(lab_sse, make_proxy, raw_client):
    server = lab_sse(events=6, interval=0.005)
    proxy = make_proxy(
        upstream(server), faults=[{"type": "sse_split", "attributes": {"size": 5, "gap_ms": 3}}]
    )
    seen = watch(raw_client, proxy).pump()
    assert seen.ids == [str(n) for n in range(1, 7)] and seen.complete
    assert [e.data for e in seen.events] == [s.data for s in server.sent]
    assert max(seen.chunks) <= 5 and len(seen.chunks) > 6 * 3
    assert seen.straddling >= 1  # the client's parser really had to join events across reads
    assert [e.event_index for e in fired(proxy)] == list(range(6))


def test_sse_split_byte_by_byte_splits_every_crlf_on_sse_starlette(starlette, make_proxy, raw_client):
    proxy = make_proxy(starlette.url, faults=[{"type": "sse_split", "attributes": {"mode": "byte"}}])
    seen = watch(raw_client, proxy, b"/events?n=4").pump()
    assert set(seen.chunks) == {1} and b"\r\n" in seen.body  # every CR and its LF in separate chunks
    sent = starlette.record.sent
    assert [(e.id, e.type, e.data) for e in seen.events] == [(s["id"], s["event"], s["data"]) for s in sent]


def test_sse_split_random_sizes_are_seeded(lab_sse, make_proxy, raw_client):
    chunkings = []
    for _ in range(2):
        server = lab_sse(events=5, interval=0.002)
        proxy = make_proxy(
            upstream(server),
            seed=9,
            faults=[{"type": "sse_split", "attributes": {"mode": "random", "min_size": 2, "max_size": 9}}],
        )
        seen = watch(raw_client, proxy).pump()
        assert seen.ids == ["1", "2", "3", "4", "5"]
        assert max(seen.chunks) <= 9
        chunkings.append(seen.chunks)
    assert chunkings[0] == chunkings[1] and len(set(chunkings[0])) > 2


# -- sse_inject --------------------------------------------------------------------------------


def test_sse_inject_an_error_event_after_event_n(lab_sse, make_proxy, raw_client):
    server = lab_sse(events=4, interval=0.002)
    proxy = make_proxy(
        upstream(server),
        faults=[
            {
                "type": "sse_inject",
                "attributes": {"kind": "event", "text": "upstream overloaded", "after_events": 2},
            },
            {"type": "sse_inject", "attributes": {"kind": "comment", "text": "hello", "after_events": 0}},
        ],
    )
    seen = watch(raw_client, proxy).pump()
    assert [(e.id, e.type) for e in seen.events] == [
        ("1", "message"),
        ("2", "message"),
        ("2", "error"),
        ("3", "message"),
        ("4", "message"),
    ]
    assert seen.events[2].data == "upstream overloaded"
    assert seen.body.startswith(b": hello\n\n")
    assert {(e.fault, e.event_index) for e in fired(proxy)} == {("sse_inject_1", 1), ("sse_inject_2", None)}


def test_sse_inject_every_ms_keeps_an_idle_stream_alive(make_proxy, serve, raw_client):
    gate = threading.Event()
    server = serve(scripted(ticks(2), gate=gate, gate_before=1))  # silent after event 1 until the gate opens
    every = 0.05
    proxy = make_proxy(
        server.url, faults=[{"type": "sse_inject", "attributes": {"text": "ping", "every_ms": every * 1000}}]
    )
    seen = watch(raw_client, proxy).pump(until=lambda w: w.body.count(b": ping\n\n") >= 3)
    assert seen.ids == ["1"]  # the server is still silent: these came from the proxy's timer
    gate.set()
    seen.pump()
    assert seen.ids == ["1", "2"] and seen.complete
    injections = fired(proxy)
    assert seen.body.count(b": ping\n\n") == len(injections) >= 3
    assert all(b.t - a.t >= every - EPS for a, b in itertools.pairwise(injections))


def test_sse_inject_raw_bytes(make_proxy, serve, raw_client):
    server = serve(scripted(ticks(3)))
    proxy = make_proxy(
        server.url,
        faults=[
            {"type": "sse_inject", "attributes": {"kind": "raw", "text": r"data: \xff\n", "after_events": 1}}
        ],
    )
    seen = watch(raw_client, proxy).pump()
    # an unterminated data line joins the next event
    assert [(e.id, e.data) for e in seen.events] == [
        ("1", '{"n": 1}'),
        ("2", '\ufffd\n{"n": 2}'),
        ("3", '{"n": 3}'),
    ]


# -- sse_rewrite -------------------------------------------------------------------------------


def test_sse_rewrite_ids_and_retry_break_a_reconnecting_client(aio, lab_sse, make_proxy):
    server = lab_sse(events=4, interval=0.002, drop_after=2, retry=5000)
    proxy = make_proxy(
        upstream(server), faults=[{"type": "sse_rewrite", "attributes": {"id": "x-{id}", "retry": 20}}]
    )
    client = SSEClient(f"http://127.0.0.1:{proxy.port}/events", max_reconnects=1, reconnect_ms=3000)
    transcript = aio.call(client.run())
    assert transcript.attempts[1].waited_ms == 20  # the rewritten retry, not the server's 5000
    assert transcript.attempts[1].last_event_id == "x-2"
    assert (server.requests[1].last_event_id, server.requests[1].first_id) == (
        "x-2",
        1,
    )  # unknown id: from the top
    assert transcript.ids == ["x-1", "x-2", "x-1", "x-2", "x-3", "x-4"]
    assert fired(proxy)[0].detail == "event 1: retry set to 20, id 1 -> x-1"


def test_sse_rewrite_strips_id_and_retry(lab_sse, make_proxy, raw_client):
    server = lab_sse(events=3, interval=0.002, retry=1000)
    proxy = make_proxy(
        upstream(server), faults=[{"type": "sse_rewrite", "attributes": {"id": "strip", "retry": "strip"}}]
    )
    seen = watch(raw_client, proxy).pump()
    assert seen.ids == ["", "", ""] and seen.parser.retry is None and seen.parser.last_event_id == ""
    assert b"id:" not in seen.body and b"retry:" not in seen.body
    assert [e.event_index for e in fired(proxy)] == [0, 1, 2]


# -- buffer ------------------------------------------------------------------------------------


def test_buffer_holds_small_events_until_the_stream_ends(lab_sse, make_proxy, raw_client):
    plain_server = lab_sse(events=15, interval=0.03)
    plain = watch(raw_client, make_proxy(upstream(plain_server))).pump()
    assert plain.times[0] < plain_server.sent[-1].time  # without the fault: streamed

    server = lab_sse(events=15, interval=0.03)
    proxy = make_proxy(upstream(server), faults=[{"type": "buffer"}])
    seen = watch(raw_client, proxy).pump()
    assert seen.ids == plain.ids and seen.complete
    # nothing until the server was done, then everything in one piece (under nginx's 4096 bytes)
    assert min(seen.times) >= server.sent[-1].time
    assert seen.chunks == [len(seen.body)] and len(seen.body) < 4096
    assert [e.detail for e in fired(proxy)] == [
        f"let out {len(seen.body)} bytes (15 events end in them): at the end of the body"
    ]


def test_buffer_lets_out_full_buffers_in_batches(lab_sse, make_proxy, raw_client):
    server = lab_sse(events=12, interval=0.002)
    proxy = make_proxy(upstream(server), faults=[{"type": "buffer", "attributes": {"size_bytes": 64}}])
    seen = watch(raw_client, proxy).pump()
    assert seen.ids == [str(n) for n in range(1, 13)] and seen.complete
    assert all(size == 64 for size in seen.chunks[:-1]) and 0 < seen.chunks[-1] <= 64
    full = [e for e in fired(proxy) if "full buffer" in e.detail]
    assert len(full) == len(seen.body) // 64
    assert full[0].event_index >= 1  # the first event waited for later ones to fill the buffer
    # no event arrives before the buffer its last byte is in was let out
    releases = full + [e for e in fired(proxy) if "end of the body" in e.detail]
    end = 0
    for event, t in zip(seen.events, seen.times):
        end += len(encode_event(event.data, id=event.id))
        assert t >= releases[(end - 1) // 64].t - EPS


def test_buffer_flush_ms_lets_a_quiet_stream_through(make_proxy, serve, raw_client):
    gate = threading.Event()
    server = serve(scripted(ticks(2), gate=gate, gate_before=1))
    proxy = make_proxy(server.url, faults=[{"type": "buffer", "attributes": {"flush_ms": 100}}])
    seen = watch(raw_client, proxy).pump(until=lambda w: len(w.events) >= 1)
    assert seen.times[0] - seen.t0 >= 0.1 - EPS  # held for flush_ms, and let out by the timer alone
    gate.set()
    seen.pump()
    assert seen.ids == ["1", "2"] and seen.complete
    assert [e.detail.split(": ")[-1] for e in fired(proxy)] == ["after 100 ms", "at the end of the body"]


def test_buffer_lets_out_what_it_holds_when_the_body_breaks_off(make_proxy, serve, raw_client):
    server = serve(scripted(ticks(3), end="fin"))  # no last chunk: the body is cut short
    proxy = make_proxy(server.url, faults=[{"type": "buffer"}])
    seen = watch(raw_client, proxy).pump()
    assert seen.ids == ["1", "2", "3"]
    assert seen.end == "fin" and not seen.complete


@pytest.mark.parametrize("preset", ["nginx-gzip", "nginx-http11", "nginx-http10"])
def test_buffer_presets_hold_to_the_end_pass_through_or_batch_by_pages(preset, aio, make_proxy, raw_client):
    """1 KiB events: gzip's preset holds all 8 (~8 KiB) to the end, the HTTP/1.1 preset holds none,
    the HTTP/1.0 one lets out whole 4096-byte pages."""
    from faultproxy.servers.sse import ReferenceSSEServer  # sized events

    server = ReferenceSSEServer(events=8, interval=0.01, size=1000)
    aio.call(server.start())
    try:
        proxy = make_proxy(upstream(server), faults=[{"type": "buffer", "attributes": {"preset": preset}}])
        seen = watch(raw_client, proxy).pump()
    finally:
        aio.call(server.stop())
    assert seen.ids == [str(n) for n in range(1, 9)] and seen.complete
    details = [e.detail for e in fired(proxy)]
    if preset == "nginx-gzip":
        assert min(seen.times) >= server.sent[-1].time and seen.chunks == [len(seen.body)] > [4096]
        assert details == [f"let out {len(seen.body)} bytes (8 events end in them): at the end of the body"]
    elif preset == "nginx-http11":
        assert len(seen.chunks) == 8 and details == [  # one chunk per event: nothing was held together
            "nginx-http11: a chunked upstream body passes chunk by chunk; nothing is held"
        ]
    else:
        assert seen.chunks[:-1] == [4096] * (len(seen.body) // 4096) and seen.times[0] >= server.sent[3].time


# -- evidence and registration ------------------------------------------------------------------


def test_every_sse_fault_validates_its_attributes():
    from faultproxy.faults import FaultSpecError

    good = {
        "sse_duplicate": {},
        "sse_reorder": {"after": 2},
        "sse_delay": {"delay_ms": 5},
        "sse_stall": {"after_events": 1},
        "sse_corrupt": {"kind": "bom"},
        "sse_split": {"mode": "byte"},
        "sse_inject": {"every_ms": 100},
        "sse_rewrite": {"id": "x-{index}"},
        "buffer": {},
    }
    for kind, attributes in good.items():
        assert parse_fault({"type": kind, "attributes": attributes}).type == kind
    bad = [
        ("sse_split", {"mode": "random", "min_size": 9, "max_size": 2}, "min_size"),
        ("sse_inject", {"text": "x"}, "after_events, every_ms"),
        ("sse_rewrite", {"id": "x-{nope}"}, "placeholders"),
        ("sse_corrupt", {"kind": "spaces"}, "must be one of"),
        ("sse_duplicate", {"fraction": 1.5}, "fraction"),
        ("buffer", {"size_bytes": -1}, "size_bytes"),
        ("buffer", {"preset": "nginx-http10", "size_bytes": 8192}, "a preset or size_bytes"),
        ("buffer", {"preset": "squid"}, "nginx-http10"),
    ]
    for kind, attributes, words in bad:
        with pytest.raises(FaultSpecError, match=words):
            parse_fault({"type": kind, "attributes": attributes})


# -- sans-IO properties: composition, seeding, read splits ----------------------------------------

REQUEST = parse_request_head(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")


def drive(
    specs: list[Any], seed: int, pieces: list[bytes], times: list[float] | None = None, alarms: bool = True
) -> tuple[list[Any], list[dict[str, Any]]]:
    """Feed ``pieces`` to a downstream pipeline at ``times`` (all 0: a frozen clock), ringing due
    alarms as the relay would; returns every output and every piece of evidence."""
    faults = FaultSet(specs, seed=seed)
    pipeline = Pipeline(faults, 1, "response")
    pipeline.expect(REQUEST)
    times = times or [0.0] * len(pieces)
    out: list[Any] = []

    def ring(until: float) -> None:
        for _ in range(1000):
            at = pipeline.next_alarm
            if not alarms or at is None or at > until:
                return
            out.extend(pipeline.alarm(at))

    for piece, now in zip(pieces, times):
        ring(now)
        out.extend(pipeline.feed(piece, now))
    end = times[-1] if times else 0.0
    out.extend(pipeline.eof(end))
    ring(end + 3600)
    return out, [e.as_dict() for e in faults.evidence]


def client_view(out: list[Any]) -> tuple[Any, ...]:
    """What a client parses from the outputs: the bytes up to a Close, or up to a wait that never
    ends; then the events, the last event id, retry, and whether the body ended cleanly."""
    data = bytearray()
    for item in out:
        if isinstance(item, Close) or (isinstance(item, Wait) and math.isinf(item.seconds)):
            break
        if isinstance(item, bytes):
            data += item
    reader = HTTPReader("response", strict=False)
    reader.expect_response_to(b"GET")
    parser = SSEParser()
    events, complete = [], False
    for event in reader.feed(bytes(data)) + reader.close():
        if isinstance(event, (ChunkData, BodyData)):
            events += [(e.type, e.data, e.id, e.retry) for e in parser.feed(event.data)]
        elif isinstance(event, EndOfMessage):
            complete = True
    return events, parser.last_event_id, parser.retry, complete


_text = st.text(alphabet=st.sampled_from('ab{}":1 ✓\n\r'), max_size=10)


@st.composite
def sse_bodies(draw: Any) -> bytes:
    blocks = []
    for _ in range(draw(st.integers(0, 9))):
        eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
        if draw(st.integers(0, 5)) == 0:
            blocks.append(encode_comment(draw(st.sampled_from(["", "keep-alive", "x"])), eol) + eol.encode())
            continue
        data = draw(st.one_of(_text, st.builds(lambda n: json.dumps({"n": n}), st.integers(0, 99))))
        blocks.append(
            encode_event(
                data,
                event=draw(st.none() | st.sampled_from(["tick", "error", ""])),
                id=draw(st.none() | st.text(alphabet="0123456789xy", max_size=3)),
                retry=draw(st.none() | st.integers(0, 5000)),
                comment=draw(st.none() | st.just("c")),
                line_ending=eol,
            )
        )
    body = b"".join(blocks)
    return (BOM + body) if draw(st.booleans()) else body


@st.composite
def responses(draw: Any) -> bytes:
    body = draw(sse_bodies())
    framing = draw(st.sampled_from(["chunked", "length", "close"]))
    if framing == "chunked":
        sizes = draw(st.lists(st.integers(1, 40), max_size=8))
        return HEAD + encode_chunked(body, sizes)
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    if framing == "length":
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    return head + b"Connection: close\r\n\r\n" + body


_selection = {"event_index": st.integers(0, 8), "every": st.integers(1, 4), "fraction": st.floats(0, 1)}


def _fault(type_: str, required: dict[str, Any] | None = None, optional: dict[str, Any] | None = None) -> Any:
    attributes = st.fixed_dictionaries(required or {}, optional=optional or {})
    return attributes.map(lambda a: {"type": type_, "attributes": a})


def _split_sizes(a: dict[str, Any]) -> dict[str, Any]:
    if "min_size" in a or "max_size" in a:
        a["min_size"], a["max_size"] = sorted((a.get("min_size", 1), a.get("max_size", 16)))
    return a


SSE_FAULTS = st.one_of(
    _fault("sse_drop", optional={"event_index": st.integers(0, 8), "every": st.integers(1, 4)}).filter(
        lambda f: f["attributes"]
    ),  # with neither it would drop nothing: refused at load
    _fault("sse_disconnect", {"after_events": st.integers(0, 8), "mode": st.sampled_from(["fin", "rst"])}),
    _fault("sse_duplicate", optional={**_selection, "copies": st.integers(1, 3)}),
    _fault("sse_reorder", optional={**_selection, "after": st.integers(1, 4)}),
    _fault("sse_delay", {"delay_ms": st.floats(0, 50)}, {"jitter_ms": st.floats(0, 20)}),
    _fault("sse_stall", {"after_events": st.integers(0, 6)}, {"duration_ms": st.none() | st.floats(0, 500)}),
    _fault(
        "sse_corrupt",
        {
            "kind": st.sampled_from(
                [
                    "invalid_json",
                    "invalid_utf8",
                    "missing_blank_line",
                    "cr_only",
                    "mixed_line_endings",
                    "bom",
                    "no_space",
                    "field_typo",
                ]
            )
        },
        _selection,
    ),
    _fault(
        "sse_split",
        {"mode": st.sampled_from(["fixed", "random", "byte"])},
        {
            "size": st.integers(1, 20),
            "min_size": st.integers(1, 20),
            "max_size": st.integers(1, 20),
            "gap_ms": st.sampled_from([0, 1]),
        },
    ).map(lambda f: {**f, "attributes": _split_sizes(dict(f["attributes"]))}),
    _fault(
        "sse_inject",
        {
            "kind": st.sampled_from(["comment", "event", "raw"]),
            "text": st.lists(
                st.sampled_from(["a", ":", " ", "data", r"\n", r"\r", "id: 9", r"\xff"]), max_size=5
            ).map("".join),
        },
        {"after_events": st.integers(0, 6), "every_ms": st.floats(1, 200)},
    ).filter(lambda f: "after_events" in f["attributes"] or "every_ms" in f["attributes"]),
    _fault(
        "sse_rewrite",
        optional={
            "id": st.sampled_from(["keep", "strip", "x-{id}", "{index}", "7"]),
            "retry": st.sampled_from(["keep", "strip", 0, 250]),
        },
    ),
    _fault("buffer", optional={"size_bytes": st.integers(0, 200), "flush_ms": st.sampled_from([0, 5, 50])}),
    _fault("buffer", {"preset": st.sampled_from(["nginx-http10", "nginx-gzip", "nginx-http11"])}),
)


def _composable(faults: list[dict[str, Any]]) -> bool:
    """At most one fault that cuts events into pieces of its own (two are refused at load)."""
    return sum(f["type"] in ("sse_split", "buffer") for f in faults) <= 1


def _specs(faults: list[dict[str, Any]]) -> list[Any]:
    return [parse_fault(f, index=i) for i, f in enumerate(faults)]


def _cut(data: bytes, cuts: list[int], after_cr: bool = False) -> list[bytes]:
    """``data`` cut at ``cuts`` (mod its length); ``after_cr``: also right after every CR, the
    hardest place for an SSE reader (is the next byte the LF of a CRLF?)."""
    crs = {i + 1 for i, byte in enumerate(data) if byte == 0x0D} if after_cr else set()
    points = sorted({c % (len(data) + 1) for c in cuts} | crs | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(
    response=responses(),
    faults=st.lists(SSE_FAULTS, min_size=1, max_size=4).filter(_composable),
    seed=st.integers(0, 1 << 16),
    cuts=st.lists(st.integers(0, 1 << 16), max_size=12),
    gaps=st.lists(st.floats(0, 0.05), min_size=13, max_size=13),
)
def test_same_seed_and_input_give_the_same_bytes_and_evidence(response, faults, seed, cuts, gaps):
    pieces = _cut(response, cuts)
    times = [sum(gaps[: i + 1]) for i in range(len(pieces))]  # a clock that moves: alarms ring
    first = drive(_specs(faults), seed, pieces, times)
    second = drive(_specs(faults), seed, pieces, times)
    assert first == second
    outputs = first[0]
    assert all(isinstance(o, (bytes, Wait, Until, Close)) for o in outputs)


CRLF_STREAM = HEAD + encode_chunked(b"".join(encode_event(d, line_ending="\r\n") for d in "abc"))


@PROPERTY
@given(
    response=responses(),
    faults=st.lists(SSE_FAULTS, min_size=1, max_size=4).filter(_composable),
    seed=st.integers(0, 1 << 16),
    cuts=st.lists(st.integers(0, 1 << 16), max_size=12),
    after_cr=st.booleans(),
)
# Rare for the search to find: bytes put after a CR whose LF arrives with the next read.
@example(
    response=CRLF_STREAM,
    faults=[{"type": "sse_corrupt", "attributes": {"kind": "missing_blank_line"}}],
    seed=0,
    cuts=[],
    after_cr=True,
)
@example(
    response=CRLF_STREAM,
    faults=[{"type": "sse_inject", "attributes": {"kind": "raw", "text": r"data: x\n", "after_events": 1}}],
    seed=0,
    cuts=[],
    after_cr=True,
)
def test_what_a_client_parses_does_not_depend_on_the_read_splits(response, faults, seed, cuts, after_cr):
    # A frozen clock: no timer is ever due, so nothing depends on timing, only on the bytes.
    whole = client_view(drive(_specs(faults), seed, [response], alarms=False)[0])
    split = client_view(drive(_specs(faults), seed, _cut(response, cuts, after_cr), alarms=False)[0])
    assert split == whole


@PROPERTY
@given(response=responses(), cuts=st.lists(st.integers(0, 1 << 16), max_size=12), after_cr=st.booleans())
def test_byte_preserving_faults_deliver_every_event_unchanged(response, cuts, after_cr):
    plain = client_view([response])
    faults = [
        {"type": "sse_split", "attributes": {"mode": "random", "min_size": 1, "max_size": 7}},
        {"type": "buffer", "attributes": {"size_bytes": 50}},
        {"type": "sse_delay", "attributes": {"delay_ms": 1}},
    ]
    for order in (faults, faults[::-1]):
        view = client_view(drive(_specs(order), 1, _cut(response, cuts, after_cr), alarms=False)[0])
        assert view == plain


# -- every pair of faults composes, or is refused at load ------------------------------------------

TWELVE = b"".join(encode_event(json.dumps({"n": n}), id=str(n)) for n in range(1, 13))
# each fault acts on an event range of its own (a drop and a duplicate of the same event cannot
# both happen); the ones that end the stream come after all of those
PAIRABLE = {
    "sse_drop": _fault("sse_drop", {"event_index": st.integers(0, 1)}),
    "sse_duplicate": _fault("sse_duplicate", {"event_index": st.integers(2, 3), "copies": st.integers(1, 2)}),
    "sse_corrupt": _fault(
        "sse_corrupt",
        {
            "kind": st.sampled_from(["invalid_json", "no_space", "field_typo", "bom"]),
            "event_index": st.just(4),
        },
    ),
    "sse_reorder": _fault("sse_reorder", {"event_index": st.just(5), "after": st.just(1)}),
    "sse_inject": _fault(
        "sse_inject",
        {
            "kind": st.sampled_from(["comment", "event"]),
            "text": st.just("x"),
            "after_events": st.integers(1, 6),
        },
    ),
    "sse_delay": _fault("sse_delay", {"delay_ms": st.floats(1, 20)}),
    "sse_rewrite": _fault("sse_rewrite", {"id": st.sampled_from(["strip", "x-{id}"])}),
    "sse_split": _fault("sse_split", {"mode": st.sampled_from(["fixed", "byte"]), "size": st.integers(1, 9)}),
    "buffer": _fault("buffer", {"size_bytes": st.integers(16, 128)}),
    "sse_disconnect": _fault(
        "sse_disconnect", {"after_events": st.integers(8, 10), "mode": st.sampled_from(["fin", "rst"])}
    ),
    "sse_stall": _fault("sse_stall", {"after_events": st.integers(8, 10), "duration_ms": st.just(5)}),
    "early_end": _fault("early_end", {"after_events": st.integers(8, 10)}),
}


ENDINGS = {"sse_disconnect", "sse_stall", "early_end"}  # two of these: the first one's end comes first


@PROPERTY
@given(
    pair=st.lists(st.sampled_from(sorted(PAIRABLE)), min_size=2, max_size=2, unique=True)
    .filter(lambda names: len(ENDINGS.intersection(names)) < 2)
    .flatmap(lambda names: st.tuples(*(PAIRABLE[n] for n in names))),
    framing=st.sampled_from(["chunked", "length", "close"]),
    seed=st.integers(0, 1 << 16),
)
@example(
    pair=(
        {"type": "sse_split", "attributes": {"mode": "fixed", "size": 5}},
        {"type": "sse_drop", "attributes": {"event_index": 1}},
    ),
    framing="chunked",
    seed=0,
)
def test_every_pair_of_faults_composes_or_is_refused_each_fault_that_should_fire_fires(pair, framing, seed):
    from faultproxy.faults import FaultSpecError
    from faultproxy.faults.spec import check_unique

    if framing == "chunked":
        response = HEAD + encode_chunked(TWELVE, [len(TWELVE)])
    else:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        response = (
            head
            + (
                b"Content-Length: %d\r\n\r\n" % len(TWELVE)
                if framing == "length"
                else b"Connection: close\r\n\r\n"
            )
            + TWELVE
        )
    try:
        specs = check_unique(_specs(list(pair)))
    except FaultSpecError as error:
        assert "cannot apply together" in str(error)  # refused, with a reason
        return
    for alone in specs:
        assert drive([alone], seed, [response])[1], f"{alone.type} does not fire even alone"
    _, evidence = drive(specs, seed, [response])
    fired = {e["fault_type"] for e in evidence}
    assert {s.type for s in specs} <= fired, f"{[s.type for s in specs]}: only {sorted(fired)} fired"


def test_a_drop_that_can_never_fire_is_refused_at_load():
    from faultproxy.faults import FaultSpecError

    with pytest.raises(FaultSpecError, match="drops nothing"):
        parse_fault({"type": "sse_drop"})
    with pytest.raises(FaultSpecError, match="cannot apply together"):
        from faultproxy.faults.spec import check_unique

        check_unique(_specs([{"type": "sse_split", "attributes": {"mode": "byte"}}, {"type": "buffer"}]))
