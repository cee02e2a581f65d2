"""A Server-Sent Events server from scratch, on asyncio streams, that records what it sent.

``GET /events`` answers ``200`` with ``Content-Type: text/event-stream`` and a chunked body
that never has to know its length: every event is one chunk, written the moment it exists.
Events carry ``id: 1`` .. ``id: N`` so a client that loses the connection can say where it
got to: a reconnect with ``Last-Event-ID: 3`` continues with event 4. When all N events
are out the body ends cleanly (``0\\r\\n\\r\\n``). A browser would reconnect after that; the
reconnect (``Last-Event-ID: N``) gets ``204 No Content``, the spec's way of saying "stop".

Options a lesson or a test needs: ``retry`` (the reconnection time the client should use,
sent with the first event of each connection), comment keep-alives while idle, a named
event type, multi-line data, ``drop_after`` (the first connection is cut after K
events, so reconnection can be watched; with ``drop_every`` every connection is: a server that
always dies), extra response ``headers`` (``X-Accel-Buffering: no``,
say), and ``framing``:

- ``auto`` (the default): chunked to an HTTP/1.1 request; to an HTTP/1.0 request -- which is
  what nginx sends its upstream by default before 1.29.7 -- *close-delimited*: no
  Content-Length, no chunked (RFC 9112 §7.1: chunked must not go to an HTTP/1.0 recipient),
  the body ends when the connection closes;
- ``chunked``: chunked whatever the request's version (the mistake some servers make);
- ``close``: close-delimited whatever the request's version. Then the end of the stream and
  a cut (``drop_after``) look the same on the wire: nothing tells a client that data is lost.

The ground truth -- every event written, with its connection number, its size and a
monotonic timestamp -- is kept in :attr:`SSEServer.sent` (and a JSONL file with ``log``), so a test
can compare what a client received against what was really sent.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from faultproxy.net.stream_server import StreamServer, first_request
from faultproxy.wire.chunked import encode_chunk, encode_last_chunk
from faultproxy.wire.http import Request, encode_response
from faultproxy.wire.sse import encode_comment, encode_event

STREAM_PATH = "/events"
FRAMINGS = ("auto", "chunked", "close")


@dataclass(frozen=True)
class SentEvent:
    """One event as the server wrote it to a connection."""

    id: int
    type: str  # "message" unless the server was given an event type
    data: str
    time: float  # time.monotonic() just after the bytes were handed to the socket
    connection: int  # 1 for the first request to /events, 2 for the next, ...
    bytes: int = 0  # the size of the event block on the wire (before chunk framing)


@dataclass(frozen=True)
class StreamRequest:
    """One request to /events and how the server answered it."""

    connection: int
    last_event_id: str | None  # the Last-Event-ID header, None when absent
    status: int
    first_id: int | None  # the first event id this connection was to get (None for 204)


class SSEServer(StreamServer):
    """``async with SSEServer(events=10, interval=0.01) as srv:`` -- then point a client at ``srv.url``.

    ``interval`` and ``keepalive`` are seconds; ``retry`` is milliseconds, as on the wire.
    For synchronous code use :func:`~faultproxy.net.stream_server.running_in_thread`.
    """

    def __init__(
        self,
        *,
        events: int = 10,
        interval: float = 1.0,
        retry: int | None = None,
        keepalive: float | None = None,
        event_type: str | None = None,
        multiline: bool = False,
        drop_after: int | None = None,
        drop_every: bool = False,
        framing: str = "auto",
        headers: dict[str, str] | None = None,
        log: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ):
        super().__init__(host, port, log=log, tls=tls)
        if events < 0 or (drop_after is not None and drop_after < 1):
            raise ValueError("events must be >= 0 and drop_after >= 1")
        encode_event("", event=event_type)  # raises ValueError now for a type no stream can carry
        if framing not in FRAMINGS:
            raise ValueError(f"framing must be one of {', '.join(FRAMINGS)} (got {framing!r})")
        self.framing = framing
        self.headers = _checked_headers(headers or {})
        self.events = events
        self.interval = interval
        self.retry = retry
        self.keepalive = keepalive
        self.event_type = event_type
        self.multiline = multiline
        self.drop_after = drop_after
        self.drop_every = drop_every  # drop_after cuts every connection, not only the first
        self.sent: list[SentEvent] = []
        self.requests: list[StreamRequest] = []
        self._unchunked: set[asyncio.StreamWriter] = set()  # connections whose body is close-delimited

    @property
    def url(self) -> str:
        return super().url.rstrip("/") + STREAM_PATH

    def data(self, n: int) -> str:
        """Event n's data: ``{"n": 3}``, or the same JSON spread over several lines."""
        if self.multiline:
            return json.dumps({"n": n, "of": self.events}, indent=2)
        return json.dumps({"n": n})

    def first_id(self, last_event_id: str | None) -> int:
        """Resume after ``Last-Event-ID``; an ID this stream never sent starts it from the top."""
        if (
            last_event_id
            and last_event_id.isascii()
            and last_event_id.isdigit()
            and int(last_event_id) <= self.events
        ):
            return int(last_event_id) + 1
        return 1

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await first_request(reader, writer)
        if request is None:
            return
        if request.target.split(b"?")[0].decode("latin-1") != STREAM_PATH or request.method != b"GET":
            writer.write(self.refusal(request))
            await writer.drain()
            return
        connection = len(self.requests) + 1
        header = request.headers.get("last-event-id")
        last_event_id = header.decode("utf-8", "replace") if header is not None else None
        first = self.first_id(last_event_id)
        if first > self.events:
            self.requests.append(StreamRequest(connection, last_event_id, 204, None))
            writer.write(encode_response(204, "No Content", [("Connection", "close")]))
            await writer.drain()
            return
        self.requests.append(StreamRequest(connection, last_event_id, 200, first))
        chunked = self.framing == "chunked" or (self.framing == "auto" and request.version == b"HTTP/1.1")
        headers = [
            ("Content-Type", "text/event-stream"),
            ("Cache-Control", "no-store"),  # a stream must never be served from a cache
            *self.headers.items(),
            *([("Transfer-Encoding", "chunked")] if chunked else []),
            ("Connection", "close"),
        ]
        writer.write(encode_response(200, "OK", headers))
        await writer.drain()
        if not chunked:
            self._unchunked.add(writer)
        try:
            await self.stream(writer, connection, first)
        finally:
            self._unchunked.discard(writer)

    def body(self, writer: asyncio.StreamWriter, data: bytes) -> bytes:
        """``data`` framed for this connection: one chunk, or as it is in a close-delimited body."""
        return data if writer in self._unchunked else encode_chunk(data)

    async def stream(self, writer: asyncio.StreamWriter, connection: int, first: int) -> None:
        """Events ``first`` .. N, one chunk (or write) each; then the last chunk, unless this
        connection is to be cut or its body is close-delimited."""
        for count, n in enumerate(range(first, self.events + 1), start=1):
            event_type, data = await self.next_event(writer, n)
            block = encode_event(
                data,
                event=event_type,
                id=str(n),
                retry=self.retry if count == 1 else None,
            )
            writer.write(self.body(writer, block))
            await writer.drain()
            self.record(SentEvent(n, event_type or "message", data, time.monotonic(), connection, len(block)))
            if count == self.drop_after and (connection == 1 or self.drop_every):
                return  # closing without the last chunk: the client sees a broken body (if chunked)
        if writer not in self._unchunked:  # a close-delimited body ends with the connection
            writer.write(encode_last_chunk())
            await writer.drain()

    async def next_event(self, writer: asyncio.StreamWriter, n: int) -> tuple[str | None, str]:
        """Event n's type and data, once it is due: here, one interval after the previous one.

        Subclasses change where events come from (the durable reference server reads the
        ones that already exist from its log and sends them at once).
        """
        await self.wait_for_next(writer)
        return self.event_type, self.data(n)

    async def wait_for_next(self, writer: asyncio.StreamWriter) -> None:
        """Wait one interval, sending a comment every ``keepalive`` seconds meanwhile.

        A comment line dispatches nothing, but the bytes keep idle-timeouts in proxies and
        clients from firing. The extra blank line ends the block, so a reader that buffers
        whole blocks passes it on at once too.
        """
        due = time.monotonic() + self.interval
        while self.keepalive and time.monotonic() + self.keepalive < due:
            await asyncio.sleep(self.keepalive)
            writer.write(self.body(writer, encode_comment("keep-alive") + b"\n"))
            await writer.drain()
        await asyncio.sleep(max(0.0, due - time.monotonic()))

    def record(self, event: SentEvent) -> None:
        self.sent.append(event)
        self.log_record(asdict(event), ensure_ascii=True)

    def refusal(self, request: Request) -> bytes:
        if request.method != b"GET":
            status, reason, extra = 405, "Method Not Allowed", [("Allow", "GET")]
        else:
            status, reason, extra = 404, "Not Found", []
        body = f"{status} {reason}: the stream is GET {STREAM_PATH}\n".encode()
        headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), *extra]
        return encode_response(status, reason, headers, body)


def _checked_headers(headers: dict[str, str]) -> dict[str, str]:
    """Extra response header fields, refused now if they could not be written as one field line."""
    for name, value in headers.items():
        if not name or not all(c.isascii() and (c.isalnum() or c in "!#$%&'*+-.^_`|~") for c in name):
            raise ValueError(f"header name {name!r}: not a token (letters, digits, -, ...)")
        if any(c in value for c in "\r\n\0"):
            raise ValueError(f"header {name}: the value may not hold CR, LF or NUL")
        if name.lower() in ("content-type", "transfer-encoding", "content-length", "connection"):
            raise ValueError(f"header {name}: set by the server itself (framing is the framing option)")
    return dict(headers)
