"""Faults in memory: a :class:`~faultproxy.faults.pipeline.Pipeline` fed reads, with no socket
and no clock (the clock is the test's), and what came out decoded as a client would.

    result = run([{"type": "sse_drop", "attributes": {"event_index": 1}}], [sse_response([1, 2, 3])])
    assert result.response().ids == ["1", "3"]

What comes out is the pipeline's output in order: bytes to write, and the actions the proxy
would carry out (``Wait``/``Until``: a pause before what follows; ``Close``: the end of the
connection; ``Hold``: silence). Nothing is timed: a test asserts bytes, actions and evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from faultproxy.faults import FaultSet, Pipeline, parse_fault
from faultproxy.faults.base import Close, Evidence, Hold, Until, Wait
from faultproxy.faults.pipeline import Output
from faultproxy.wire.chunked import ChunkData, ChunkHeader, encode_chunk, encode_last_chunk
from faultproxy.wire.http import BodyData, EndOfMessage, HTTPReader, Response, parse_request_head
from faultproxy.wire.sse import Event, SSEParser, encode_event

GET = b"GET /events HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n"
SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def event(n: int) -> bytes:
    """Event ``n`` as the upstream sends it: ``id: n``, ``data: event n``."""
    return encode_event(f"event {n}", id=str(n))


def sse_response(numbers: list[int], *, end: bool = True) -> bytes:
    """A chunked event-stream response carrying events ``numbers``, one chunk each."""
    body = b"".join(encode_chunk(event(n)) for n in numbers)
    return SSE_HEAD + body + (encode_last_chunk() if end else b"")


def sse_reads(numbers: list[int]) -> list[bytes]:
    """The same response as reads: the head, then one read per event chunk, then the last chunk."""
    return [SSE_HEAD, *(encode_chunk(event(n)) for n in numbers), encode_last_chunk()]


@dataclass
class Delivered:
    """A response as a client decodes it from the bytes that came out."""

    head: Response | None
    events: list[Event]
    chunks: list[int]  # the size of each chunk, as framed on the way out
    body: bytes
    complete: bool  # the body ended as its framing says

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self.events]


@dataclass
class Run:
    outputs: list[Output]
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def wire(self) -> bytes:
        """The bytes that went out, up to the end of the connection if a fault closed it."""
        out = bytearray()
        for item in self.outputs:
            if isinstance(item, Close):
                break
            if isinstance(item, bytes):
                out += item
        return bytes(out)

    @property
    def actions(self) -> list[Any]:
        return [item for item in self.outputs if not isinstance(item, bytes)]

    @property
    def closed(self) -> str | None:
        """``fin`` or ``rst`` if a fault ended the connection."""
        return next((item.how for item in self.outputs if isinstance(item, Close)), None)

    @property
    def details(self) -> list[str]:
        return [e.detail for e in self.evidence]

    def response(self, method: bytes = b"GET") -> Delivered:
        reader = HTTPReader("response", strict=False)
        reader.expect_response_to(method)
        parser = SSEParser()
        head, events, chunks, body, complete = None, [], [], bytearray(), False
        for item in reader.feed(self.wire) + reader.close():
            if isinstance(item, Response) and item.status >= 200:
                head = item
            elif isinstance(item, ChunkHeader) and item.size:
                chunks.append(item.size)
            elif isinstance(item, (ChunkData, BodyData)):
                body += item.data
                events += parser.feed(item.data)
            elif isinstance(item, EndOfMessage):
                complete = True
        return Delivered(head, events, chunks, bytes(body), complete)


def run(
    faults: list[dict[str, Any]],
    reads: list[bytes],
    *,
    direction: str = "response",
    request: bytes = GET,
    raw: bool = False,
    seed: int = 0,
    step: float = 0.0,
    eof: bool = True,
) -> Run:
    """Feed ``reads`` through a pipeline with ``faults`` (``step``: seconds between reads), then
    the source's FIN (unless ``eof=False``), then every alarm the faults set, in time order."""
    specs = [
        parse_fault({"stream": "upstream" if direction == "request" else "downstream", **f}, index=i)
        for i, f in enumerate(faults)
    ]
    fault_set = FaultSet(specs, seed=seed)
    evidence: list[Evidence] = []
    fault_set.listeners.append(evidence.append)
    pipeline = Pipeline(fault_set, 1, direction, raw=raw, strict=direction == "request")  # type: ignore[arg-type]
    now = 0.0
    out: list[Output] = list(pipeline.sync(now))
    if direction == "response" and not raw:
        out += pipeline.expect(parse_request_head(request), now) or []
    for data in reads:
        out += _alarms_until(pipeline, now)
        out += pipeline.feed(data, now)
        now += step
    if eof:
        out += pipeline.eof(now)
    out += _alarms_until(pipeline, float("inf"))
    return Run(out, evidence)


def _alarms_until(pipeline: Pipeline, until: float) -> list[Output]:
    out: list[Output] = []
    for _ in range(1000):  # bounded: a fault that sets alarms forever stops the test, not the machine
        at = pipeline.next_alarm
        if at is None or at > until:
            return out
        out += pipeline.alarm(at)
    raise AssertionError("alarms kept coming")


__all__ = [
    "GET",
    "SSE_HEAD",
    "Close",
    "Hold",
    "Run",
    "Until",
    "Wait",
    "event",
    "run",
    "sse_reads",
    "sse_response",
]
