"""The reference stream from a real framework: sse-starlette's ``EventSourceResponse`` under uvicorn.

The same stream as :class:`~faultproxy.servers.sse.ReferenceSSEServer` -- ``GET /events``,
ids ``1..N``, the same data (sized with ``size``), ``retry`` with each connection's first
event, resume after ``Last-Event-ID``, ``204`` once everything was delivered -- but every
byte is written by code other than ours: Starlette routes the request, sse-starlette
encodes the events (``id``/``event``/``data``/``retry`` lines ending in CRLF), sends its
keep-alive ``: ping - <time>`` comments every ``ping`` seconds and watches for the client
going away; uvicorn (h11) writes the chunked body. The stream definition itself is a
(never started) :class:`ReferenceSSEServer`, so the two can never drift apart.

Startable from Python like every server here::

    async with StarletteServer(events=5, interval=0.01, ping=0.05) as srv:
        ...  # srv.url is http://127.0.0.1:PORT/events

or in a thread with :func:`~faultproxy.net.stream_server.running_in_thread`. uvicorn runs
in-process as a guest (:class:`~faultproxy.servers.guest.GuestUvicorn`): a busy port is an
``OSError`` from :meth:`start`, and uvicorn never installs signal handlers.

Ground truth: :attr:`sent` (each event once the framework has handed it to uvicorn, with
its size and ``time.monotonic()``), :attr:`requests` (each request to ``/events`` and its
status), and :attr:`disconnects` (each stream whose client went away before the end, as
sse-starlette detected it: ``http.disconnect`` from uvicorn). ``log=PATH`` writes the same
as JSON Lines (``{"record": "sent" | "request" | "disconnect", ...}``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Self

from sse_starlette.event import ServerSentEvent
from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from faultproxy.lab.sse_server import STREAM_PATH, SentEvent, StreamRequest
from faultproxy.net.addresses import url_host
from faultproxy.private import open_private
from faultproxy.servers.guest import GuestUvicorn
from faultproxy.servers.sse import ReferenceSSEServer


@dataclass(frozen=True)
class Disconnect:
    """A client that went away mid-stream, as the server noticed it."""

    connection: int
    last_id: int | None  # the last event id sent on that connection (None: none yet)
    events: int  # events sent on that connection
    time: float  # time.monotonic() when the server learned of it
    how: str  # "http.disconnect" (sse-starlette's listener) or "cancelled" (the stream task)


@dataclass
class _Stream:
    connection: int
    events: int = 0
    last_id: int | None = None
    finished: bool = False  # every event was handed over: an http.disconnect now is the normal end
    gone: bool = False


class StarletteServer:
    """sse-starlette + Starlette + uvicorn serving the reference stream.

    ``interval`` and ``ping`` are seconds (``ping=0`` disables the keep-alive comments);
    ``retry`` is milliseconds, as on the wire.
    """

    def __init__(
        self,
        *,
        events: int = 10,
        interval: float = 1.0,
        retry: int | None = None,
        event_type: str | None = None,
        multiline: bool = False,
        size: int | None = None,
        ping: float = 15.0,
        log: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        if ping < 0:
            raise ValueError("ping must be >= 0 (0 disables the keep-alive comments)")
        self.stream = ReferenceSSEServer(
            events=events,
            interval=interval,
            retry=retry,
            event_type=event_type,
            multiline=multiline,
            size=size,
        )
        self.ping = ping
        self.host = host
        self.port = port
        self.log_path = Path(log) if log is not None else None
        self.sent: list[SentEvent] = []
        self.requests: list[StreamRequest] = []
        self.disconnects: list[Disconnect] = []
        self._log: IO[str] | None = None
        self._guest: GuestUvicorn | None = None
        self._stopping = False
        self._streaming = 0  # stream generators running

    @property
    def url(self) -> str:
        return f"http://{url_host(self.host)}:{self.port}{STREAM_PATH}"

    @property
    def busy(self) -> bool:
        """A stream is still being written (its events may still be logged)."""
        return self._streaming > 0

    # -- the app ------------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(routes=[Route(STREAM_PATH, self._events, methods=["GET"])])

    async def _events(self, request: Request) -> Response:
        connection = len(self.requests) + 1
        raw = dict(request.scope["headers"]).get(b"last-event-id")
        last_event_id = raw.decode("utf-8", "replace") if raw is not None else None
        first = self.stream.first_id(last_event_id)
        if first > self.stream.events:
            self._request(StreamRequest(connection, last_event_id, 204, None))
            return Response(status_code=204)
        self._request(StreamRequest(connection, last_event_id, 200, first))
        state = _Stream(connection)

        async def client_closed(message: Any) -> None:
            self._gone(state, "http.disconnect")

        return EventSourceResponse(
            self._generate(state, first),
            ping=self.ping,
            client_close_handler_callable=client_closed,
        )

    async def _generate(self, state: _Stream, first: int) -> AsyncIterator[ServerSentEvent]:
        stream = self.stream
        self._streaming += 1
        try:
            for count, n in enumerate(range(first, stream.events + 1), start=1):
                await asyncio.sleep(stream.interval)
                data = stream.data(n)
                event = ServerSentEvent(
                    data, id=str(n), event=stream.event_type, retry=stream.retry if count == 1 else None
                )
                size = len(event.encode())
                yield event
                # sse-starlette asks for the next item only once send() of this one returned;
                # after a disconnect uvicorn drops what is sent: that was not sent to anyone
                if state.gone:
                    return
                state.events, state.last_id = state.events + 1, n
                self._sent(
                    SentEvent(
                        n, stream.event_type or "message", data, time.monotonic(), state.connection, size
                    )
                )
            state.finished = True
        except (asyncio.CancelledError, GeneratorExit):
            self._gone(state, "cancelled")
            raise
        finally:
            self._streaming -= 1

    # -- ground truth -------------------------------------------------------------------------

    def _write_log(self, kind: str, record: Any) -> None:
        if self._log is not None:
            self._log.write(json.dumps({"record": kind, **asdict(record)}) + "\n")
            self._log.flush()

    def _request(self, request: StreamRequest) -> None:
        self.requests.append(request)
        self._write_log("request", request)

    def _sent(self, event: SentEvent) -> None:
        self.sent.append(event)
        self._write_log("sent", event)

    def _gone(self, state: _Stream, how: str) -> None:
        if state.finished or state.gone or self._stopping:
            return  # the normal end of a stream, or our own shutdown: not a client disconnect
        state.gone = True
        disconnect = Disconnect(state.connection, state.last_id, state.events, time.monotonic(), how)
        self.disconnects.append(disconnect)
        self._write_log("disconnect", disconnect)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._guest = GuestUvicorn(self.app(), self.host, self.port)
        self._stopping = False
        try:
            self.port = self._guest.bind()  # a busy port fails here, before the log is truncated
            if self.log_path is not None:
                self._log = open_private(self.log_path, "w", encoding="utf-8")
            await self._guest.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop listening and cut every open stream (no last chunk: the clients see a broken body)."""
        guest, self._guest = self._guest, None
        if guest is not None:
            self._stopping = True
            await guest.stop()
        if self._log is not None:
            self._log.close()
            self._log = None

    async def serve_forever(self) -> None:
        """For the CLI: run until cancelled (Ctrl-C)."""
        if self._guest is None:
            await self.start()
        assert self._guest is not None
        try:
            await self._guest.wait()
        finally:
            await self.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
