"""nginx's behaviour as faultproxy emulates it, sans-IO: the faults of ``docs/nginx.md`` together.

A downstream :class:`~faultproxy.faults.Pipeline` is fed an upstream's reads at given times, its
alarms rung as the relay would ring them, and what comes out is read as a client reads it: when
the head came, when each event came, and how the body ended. What each test asserts was measured
with real nginx (``faultproxy repro nginx``, ``docs/nginx.md``); the times here are the pipeline's
own clock, so they are exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from faultproxy.faults import FaultSet, Pipeline, parse_fault
from faultproxy.faults.base import Close
from faultproxy.wire.chunked import ChunkData, Malformed, encode_chunk, encode_last_chunk
from faultproxy.wire.http import BodyData, EndOfMessage, HTTPReader, Response, parse_request_head
from faultproxy.wire.sse import SSEParser, encode_event

REQUEST = parse_request_head(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def event(n: int) -> bytes:
    return encode_chunk(encode_event(f'{{"n": {n}}}', id=str(n)))


@dataclass
class Seen:
    """The client's view of the outputs: times of the head, of each event, of the end."""

    head: float | None = None
    events: list[tuple[str, float]] = field(default_factory=list)
    end: str = "open"  # clean, cut (closed before the framing said the body was complete), open
    t_end: float | None = None
    status: int | None = None


def run(
    faults: list[dict[str, Any]],
    reads: list[tuple[float, bytes]],
    *,
    eof: float | None = None,
    until: float = 60.0,
) -> tuple[Seen, list[str]]:
    """Feed ``reads`` ((time, bytes) from the upstream), then its FIN at ``eof``; ring alarms up to
    ``until``. Returns what the client saw and the faults' evidence."""
    faultset = FaultSet([parse_fault(f, index=i) for i, f in enumerate(faults)])
    pipeline = Pipeline(faultset, 1, "response")
    out: list[tuple[float, Any]] = [(0.0, item) for item in pipeline.sync(0.0)]  # the connection is set up
    out.extend((0.0, item) for item in pipeline.expect(REQUEST, 0.0) or [])

    def ring(now: float) -> None:
        while (at := pipeline.next_alarm) is not None and at <= now:
            out.extend((at, item) for item in pipeline.alarm(at))

    for t, data in reads:
        ring(t)
        out.extend((t, item) for item in pipeline.feed(data, t))
    if eof is not None:
        ring(eof)
        out.extend((eof, item) for item in pipeline.eof(eof))
        ring(until)
        out.append((until, Close("fin")))  # the relay passes the upstream's FIN on
    ring(until)
    return view(out), [e.detail for e in faultset.evidence]


def view(out: list[tuple[float, Any]]) -> Seen:
    seen = Seen()
    reader = HTTPReader("response", strict=False)
    reader.expect_response_to(b"GET")
    parser = SSEParser()

    def take(wire: list[Any], t: float) -> None:
        for item in wire:
            if isinstance(item, Response):
                seen.head, seen.status = t, item.status
            elif isinstance(item, (ChunkData, BodyData)):
                seen.events += [(e.id, t) for e in parser.feed(item.data)]
            elif isinstance(item, EndOfMessage) and seen.end == "open":
                seen.end, seen.t_end = "clean", t
            elif isinstance(item, Malformed) and seen.end == "open":
                seen.end, seen.t_end = "cut", t

    for t, item in out:
        if isinstance(item, Close):
            take(reader.close(), t)
            break
        if isinstance(item, bytes):
            take(reader.feed(item), t)
    return seen


def stream(n: int, interval: float, *, end: bool = True) -> list[tuple[float, bytes]]:
    """The head at 0, event k at k × interval, the last chunk with the last event (or none)."""
    reads = [(0.0, HEAD)] + [(round(k * interval, 9), event(k)) for k in range(1, n + 1)]
    if end:
        reads[-1] = (reads[-1][0], reads[-1][1] + encode_last_chunk())
    return reads


def timeout(ms: float) -> dict[str, Any]:
    return {"type": "read_timeout", "attributes": {"timeout_ms": ms}}


def buffer(preset: str) -> dict[str, Any]:
    return {"type": "buffer", "attributes": {"preset": preset}}


# -- read_timeout: the upstream's silence, whatever other faults hold ------------------------------


def test_read_timeout_counts_the_upstreams_reads_not_what_a_buffer_lets_through():
    """nginx's gzip (or old default) route with proxy_read_timeout 1.5 s and an event every 250 ms:
    the upstream is never silent for 1.5 s, so nginx delivers every event at the end, cleanly
    (measured). Before, the timer ran on what the buffer let out -- nothing for 2 s -- and cut."""
    for preset in ("nginx-gzip", "nginx-http10"):
        seen, _ = run([buffer(preset), timeout(1500)], stream(8, 0.25))
        assert [i for i, _ in seen.events] == [str(n) for n in range(1, 9)], preset
        assert seen.end == "clean" and seen.t_end == 2.0


def test_read_timeout_cuts_after_the_upstreams_last_read_and_drops_what_is_held():
    """Three events, then silence: nginx with buffering on sends the head, drops the events its
    buffer holds and closes without the last chunk, 1.5 s after the last upstream read
    (measured: 163 bytes of head, then the close, at 0.3 + 1.5 s)."""
    reads = stream(3, 0.1, end=False)
    seen, evidence = run([buffer("nginx-http10"), timeout(1500)], reads)
    assert seen.status == 200 and seen.events == [] and seen.end == "cut" and seen.t_end == 1.8
    assert (
        evidence[-1] == "no data from the upstream for 1500 ms in the middle of the response to GET /events: "
        "closed it unfinished"
    )
    unbuffered, _ = run([timeout(1500)], reads)  # what nginx had passed on stays passed on
    assert [t for _, t in unbuffered.events] == [0.1, 0.2, 0.3] and unbuffered.t_end == 1.8


def test_read_timeout_before_the_head_answers_504_and_a_keepalive_comment_resets_it():
    silent, evidence = run([timeout(1000)], [])
    assert silent.status == 504 and silent.head == 1.0 and "before the response" in evidence[0]
    comments = [(0.0, HEAD)] + [(0.5 * k, encode_chunk(b": keep-alive\n\n")) for k in range(1, 6)]
    comments.append((3.0, event(1) + encode_last_chunk()))
    kept, _ = run([timeout(1000)], comments)
    assert kept.events == [("1", 3.0)] and kept.end == "clean"


# -- buffer: the head goes with the first batch, as nginx sends it ---------------------------------


def test_a_buffer_holds_the_response_head_until_its_first_batch():
    """With buffering on, nginx sends the head with the first body it lets out (measured: head and
    first event at the same moment on the defaults, http11 and gzip routes; at once unbuffered)."""
    held, _ = run([buffer("nginx-http10")], stream(8, 0.25))
    assert held.head == 2.0 and {t for _, t in held.events} == {2.0} and held.end == "clean"
    passing, _ = run([buffer("nginx-http11")], stream(8, 0.25))
    assert passing.head == 0.25 and [t for _, t in passing.events] == [0.25 * k for k in range(1, 9)]
    gzipped, _ = run(
        [buffer("nginx-gzip"), {"type": "gzip", "attributes": {"flush": "sync"}}], stream(8, 0.25)
    )
    assert gzipped.head == 2.0 and gzipped.end == "clean"
    unbuffered, _ = run([{"type": "gzip", "attributes": {"flush": "sync"}}], stream(8, 0.25))
    assert unbuffered.head == 0.0


def test_a_read_timeout_sends_the_head_a_buffer_held_and_nothing_it_held_after():
    """Measured: nginx's defaults with 3 events then silence send the 163-byte head alone at the
    timeout, 1.5 s after the last upstream read, and close."""
    seen, _ = run([buffer("nginx-http10"), timeout(1500)], stream(3, 0.1, end=False))
    assert seen.head == 1.8 and seen.events == [] and seen.end == "cut" and seen.t_end == 1.8


# -- an upstream that breaks off: over HTTP/1.0 its close is the end of its body -----------------


def test_the_old_default_hop_ends_a_broken_upstream_body_cleanly():
    """nginx before 1.29.7 asks its upstream in HTTP/1.0: the body is close-delimited, so an
    upstream that dies after 3 events has *ended* it, and nginx gives the client a complete
    chunked body (measured, buffered and unbuffered). Over HTTP/1.1 the upstream's body was
    chunked, nginx sees it broken and the client's body is cut."""
    cut = stream(3, 0.25, end=False)
    hop = {"type": "upstream_http10"}
    for order in (
        [hop, buffer("nginx-http10")],
        [buffer("nginx-http10"), hop],
    ):  # held events first, then the end
        old, evidence = run(order, cut, eof=0.8)
        assert [i for i, _ in old.events] == ["1", "2", "3"] and old.end == "clean" and old.t_end == 0.8
        assert old.head == 0.8 and any("ends cleanly" in e for e in evidence)
    unbuffered, _ = run([hop], cut, eof=0.8)
    assert [t for _, t in unbuffered.events] == [0.25, 0.5, 0.75] and unbuffered.end == "clean"
    new, _ = run([buffer("nginx-http11")], cut, eof=0.8)
    assert [i for i, _ in new.events] == ["1", "2", "3"] and new.end == "cut"
    inside = cut + [(0.7, encode_chunk(encode_event("half", id="4"))[:12])]  # broken inside a chunk
    old_inside, _ = run([hop], inside, eof=0.8)
    assert [i for i, _ in old_inside.events] == ["1", "2", "3"] and old_inside.end == "clean"
    healthy, _ = run([hop], stream(3, 0.25))
    assert [t for _, t in healthy.events] == [0.25, 0.5, 0.75] and healthy.end == "clean"
