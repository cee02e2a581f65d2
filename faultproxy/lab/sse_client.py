"""An EventSource from scratch: a reconnecting SSE client on asyncio streams, no HTTP library.

Per connection it writes ``GET`` with ``Accept: text/event-stream`` (and ``Last-Event-ID``
once it has one), reads the response head and body through
:class:`~faultproxy.wire.http.HTTPReader` -- chunked, Content-Length or close-delimited,
whatever the server chose -- and feeds the body bytes to
:class:`~faultproxy.wire.sse.SSEParser`. Between connections it follows WHATWG HTML §9.2
("reestablish the connection" / "fail the connection"):

- the body ends, cleanly or not, or the network fails -> wait the reconnection time (the
  last ``retry:`` the server sent, else ``reconnect_ms``) and connect again, sending the
  last event ID string so the server can resume after it;
- ``204 No Content`` -> stop: the server's way of saying "no more";
- any other status but 200, or a ``Content-Type`` whose essence is not
  ``text/event-stream`` -> fail: stop, no reconnect. (Redirects are not followed.)

The new connection's parser is seeded with the old one's last event ID and retry, as
browsers do, so both survive reconnects. If the very first connection cannot even be
opened the client fails rather than retrying: the spec lets a user agent give up on
reconnecting when it knows that to be futile, and a mistyped URL is the common case.

Everything that happens is kept in a :class:`Transcript`: each event with its receive
time and connection, and each attempt with the ``Last-Event-ID`` it sent, the time it
waited before connecting, its status and how it ended.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field

from faultproxy.net.addresses import error_text, parse_http_url
from faultproxy.net.stream_server import READ_SIZE
from faultproxy.wire.chunked import ChunkData
from faultproxy.wire.errors import WireError
from faultproxy.wire.http import BodyData, EndOfMessage, HTTPReader, Response, encode_request
from faultproxy.wire.sse import Event, SSEParser

DEFAULT_RECONNECT_MS = 3000  # "implementation-defined ... probably in the region of a few seconds"

# How an attempt ended. The first two lead to a reconnect; the others end the client.
ENDED = "ended"  # the body ended cleanly
NETWORK_ERROR = "network-error"  # refused, reset, cut mid-body, malformed HTTP
NO_CONTENT = "no-content"  # 204: stop
FAILED = "failed"  # wrong status or Content-Type, or the first connection was impossible
CLOSED = "closed"  # close() was called
MAX_RECONNECTS = "max-reconnects"  # (Transcript.end only) the reconnect budget ran out


@dataclass(frozen=True)
class ReceivedEvent:
    event: Event
    connection: int  # the Attempt.number it arrived on
    time: float  # time.monotonic() when it was parsed (the server's SentEvent.time uses the same clock)


@dataclass
class Attempt:
    """One connection attempt; the fields after ``started`` fill in as it goes."""

    number: int  # 1 for the first connection
    last_event_id: str | None  # the Last-Event-ID header sent; None when there was none to send
    waited_ms: int  # the reconnection time waited before this attempt (0 for the first)
    started: float  # time.monotonic() when the attempt began
    status: int | None = None
    content_type: str | None = None
    events: int = 0
    outcome: str = ""  # ENDED, NETWORK_ERROR, NO_CONTENT, FAILED or CLOSED
    detail: str = ""


@dataclass
class Transcript:
    url: str
    events: list[ReceivedEvent] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    end: str = ""  # NO_CONTENT, FAILED, CLOSED or MAX_RECONNECTS
    detail: str = ""

    @property
    def ids(self) -> list[str]:
        return [r.event.id for r in self.events]


class SSEClient:
    """``transcript = await SSEClient(url, reconnect_ms=100).run()``.

    ``max_reconnects=None`` reconnects for as long as the server lets it (like EventSource);
    ``0`` makes one connection only. ``last_event_id`` resumes a stream from the start.
    The callbacks see each accepted connection (``on_open``), each event (``on_event``) and
    each attempt once it is over (``on_end``). :meth:`close` stops the client from the
    event loop it runs on (from another thread: ``loop.call_soon_threadsafe(client.close)``).
    """

    def __init__(
        self,
        url: str,
        *,
        max_reconnects: int | None = None,
        reconnect_ms: int = DEFAULT_RECONNECT_MS,
        last_event_id: str = "",
        connect_timeout: float = 10.0,
        on_open: Callable[[Attempt], None] | None = None,
        on_event: Callable[[ReceivedEvent], None] | None = None,
        on_end: Callable[[Attempt], None] | None = None,
    ):
        self.url = parse_http_url(url, ("http", "https"))
        self.max_reconnects = max_reconnects
        self.reconnect_ms = reconnect_ms
        self.connect_timeout = connect_timeout
        self.last_event_id = last_event_id  # the last event ID string; sent when not empty
        self.retry: int | None = None  # the server's reconnection time, once it sent one
        self.on_open = on_open
        self.on_event = on_event
        self.on_end = on_end
        self.transcript = Transcript(url)
        self._closed = asyncio.Event()

    def close(self) -> None:
        self._closed.set()

    async def run(self) -> Transcript:
        """Connect, and reconnect, until the stream is stopped, fails, or :meth:`close` is called."""
        attempts = asyncio.ensure_future(self._attempts())
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait({attempts, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (attempts, closed):
                task.cancel()
            await asyncio.gather(attempts, closed, return_exceptions=True)
        if not attempts.cancelled():
            attempts.result()  # re-raise a bug rather than hide it
        else:
            self.transcript.end, self.transcript.detail = CLOSED, "close() was called"
            last = self.transcript.attempts[-1] if self.transcript.attempts else None
            if last is not None and not last.outcome:
                last.outcome, last.detail = CLOSED, "close() was called"
        return self.transcript

    async def _attempts(self) -> None:
        wait_ms = 0
        for number in itertools.count(1):
            if number > 1:
                await asyncio.sleep(wait_ms / 1000)
            attempt = Attempt(number, self.last_event_id or None, wait_ms, time.monotonic())
            self.transcript.attempts.append(attempt)
            await self._connect(attempt)
            if self.on_end:
                self.on_end(attempt)
            if attempt.outcome in (NO_CONTENT, FAILED):
                self.transcript.end, self.transcript.detail = attempt.outcome, attempt.detail
                return
            if self.max_reconnects is not None and number > self.max_reconnects:
                self.transcript.end = MAX_RECONNECTS
                self.transcript.detail = f"gave up after {self.max_reconnects} reconnects"
                return
            wait_ms = self.retry if self.retry is not None else self.reconnect_ms

    async def _connect(self, attempt: Attempt) -> None:
        url = self.url
        try:
            # https: TLS over the same socket, trusting what Python's ssl trusts (SSL_CERT_FILE too)
            tls = (
                {"ssl": ssl.create_default_context(), "server_hostname": url.host}
                if url.scheme == "https"
                else {}
            )
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(url.host, url.port, **tls), self.connect_timeout
            )
        except OSError as error:
            attempt.outcome = FAILED if attempt.number == 1 else NETWORK_ERROR
            attempt.detail = f"cannot connect to {url.host}:{url.port}: {error_text(error)}"
            return
        headers = [("Host", url.authority), ("Accept", "text/event-stream"), ("Cache-Control", "no-store")]
        if self.last_event_id:
            # The spec sends the ID as UTF-8; encode_request writes str as latin-1, which maps
            # U+0000-U+00FF to the bytes 0-255, so this hands it the UTF-8 bytes unchanged.
            headers.append(("Last-Event-ID", self.last_event_id.encode().decode("latin-1")))
        parser = SSEParser(self.last_event_id, self.retry)
        try:
            writer.write(encode_request("GET", url.target, headers))
            await writer.drain()
            await self._read(reader, attempt, parser)
        except (OSError, WireError) as error:
            attempt.outcome, attempt.detail = NETWORK_ERROR, error_text(error)
        finally:
            self.last_event_id, self.retry = parser.last_event_id, parser.retry
            writer.close()
            with suppress(OSError):
                await writer.wait_closed()

    async def _read(self, reader: asyncio.StreamReader, attempt: Attempt, parser: SSEParser) -> None:
        """Read one response to its end, feeding the body to the SSE parser."""
        http = HTTPReader("response")
        http.expect_response_to(b"GET")
        while True:
            data = await reader.read(READ_SIZE)
            for event in http.feed(data) if data else http.close():
                if isinstance(event, Response):
                    if not self._accept(event, attempt):
                        return
                elif isinstance(event, (BodyData, ChunkData)):
                    for sse_event in parser.feed(event.data):
                        self._deliver(sse_event, attempt)
                elif isinstance(event, EndOfMessage):
                    parser.close()  # an unfinished last event is discarded, never dispatched
                    attempt.outcome, attempt.detail = ENDED, "the server ended the body"
                    return
            if not data:
                attempt.outcome, attempt.detail = (
                    NETWORK_ERROR,
                    "the connection closed before a response head",
                )
                return

    def _accept(self, response: Response, attempt: Attempt) -> bool:
        """The spec's checks on the response head; False when this is the end of the stream."""
        content_type = response.headers.get("content-type")
        attempt.status = response.status
        attempt.content_type = content_type.decode("latin-1") if content_type is not None else None
        essence = (content_type or b"").split(b";")[0].strip().lower()
        if response.status == 204:
            attempt.outcome, attempt.detail = NO_CONTENT, "204 No Content: the server says stop"
        elif response.status != 200:
            reason = response.reason.decode("latin-1")
            attempt.outcome, attempt.detail = FAILED, f"status {response.status} {reason}"
        elif essence != b"text/event-stream":
            attempt.outcome, attempt.detail = (
                FAILED,
                f"Content-Type {attempt.content_type!r} is not text/event-stream",
            )
        elif (
            coding := (response.headers.get("content-encoding") or b"identity").strip().lower()
        ) != b"identity":
            # This client asks for no encoding and decodes none: parsing compressed bytes as
            # events would lose every event without a word, so the connection fails instead.
            attempt.outcome, attempt.detail = (
                FAILED,
                f"Content-Encoding {coding.decode('latin-1')!r} not supported",
            )
        else:
            if self.on_open:
                self.on_open(attempt)
            return True
        return False

    def _deliver(self, event: Event, attempt: Attempt) -> None:
        received = ReceivedEvent(event, attempt.number, time.monotonic())
        self.transcript.events.append(received)
        attempt.events += 1
        if self.on_event:
            self.on_event(received)


async def listen(
    url: str,
    *,
    max_reconnects: int | None = None,
    reconnect_ms: int = DEFAULT_RECONNECT_MS,
    last_event_id: str = "",
    connect_timeout: float = 10.0,
) -> Transcript:
    """Run an :class:`SSEClient` to the end and return its transcript."""
    client = SSEClient(
        url,
        max_reconnects=max_reconnects,
        reconnect_ms=reconnect_ms,
        last_event_id=last_event_id,
        connect_timeout=connect_timeout,
    )
    return await client.run()
