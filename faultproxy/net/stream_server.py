"""What the project's asyncio HTTP servers share (the lab's, the LLM mocks, replay): a listener,
reading requests, and a thread to run in.

asyncio streams let one thread serve many clients at once: each connection is a coroutine
that sleeps while it waits for bytes, so a slow stream never blocks the others.
:class:`StreamServer` owns the listening socket and the per-connection tasks, so ``stop()``
can end long-lived streams instead of waiting for them. :func:`running_in_thread` runs a
server on its own event loop so synchronous code (``http.client``, ``curl`` in a
subprocess, a plain pytest test) can talk to it.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any, Self, TypeVar

from faultproxy.net.addresses import url_host
from faultproxy.private import open_private
from faultproxy.wire.errors import WireError
from faultproxy.wire.http import EndOfMessage, HTTPReader, Request, encode_response

READ_SIZE = 65536
TLS_SHUTDOWN_S = 5.0  # how long a TLS connection's end waits for the client's close_notify


class StreamServer:
    """An asyncio TCP server; subclasses implement :meth:`handle` for one connection.

    Use ``async with Server(...) as srv:`` or ``await srv.start()`` / ``await srv.stop()``.
    ``port=0`` asks the kernel for a free port; :attr:`port` is the real one after start.

    ``log=PATH``: the servers that keep ground truth (what they sent, what they were asked)
    also write it as JSON Lines with :meth:`log_record`; the file is opened by ``start()``
    (so a bad path fails there, before anything listens) and closed by ``stop()``.

    ``tls``: a server :class:`ssl.SSLContext` (or set the attribute before ``start()``): the
    same server over HTTPS, e.g. posing as ``api.openai.com`` with a certificate from
    :func:`faultproxy.tls.server_context`; :attr:`url` then says ``https://``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log: str | Path | None = None,
        tls: ssl.SSLContext | None = None,
    ):
        self.host = host
        self.port = port
        self.tls = tls
        self.log_path = Path(log) if log is not None else None
        self._log: IO[str] | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task] = set()
        self._stopping = False

    @property
    def url(self) -> str:
        return f"{'https' if self.tls is not None else 'http'}://{url_host(self.host)}:{self.port}/"

    @property
    def busy(self) -> bool:
        """A connection is still being served (a response may still be written and logged)."""
        return bool(self._connections)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        if self.log_path is not None:
            self._log = open_private(self.log_path, "w", encoding="utf-8")  # it quotes requests
        try:
            tls = {"ssl": self.tls, "ssl_shutdown_timeout": TLS_SHUTDOWN_S} if self.tls is not None else {}
            self._server = await asyncio.start_server(self._connection, self.host, self.port, **tls)
        except OSError:
            self._close_log()
            raise
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and end every open connection, mid-stream or not; close the log."""
        if self._server is not None:
            self._server.close()
            self._stopping = True
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None
            self._stopping = False
        self._close_log()

    def log_record(self, record: dict[str, Any], *, ensure_ascii: bool = False) -> None:
        """One line of the ``log=`` file (nothing without one), flushed at once so that a
        reader (or a crash) sees it as soon as it happened."""
        if self._log is not None:
            self._log.write(json.dumps(record, ensure_ascii=ensure_ascii) + "\n")
            self._log.flush()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    async def serve_forever(self) -> None:
        """For the CLI: run until cancelled (Ctrl-C)."""
        if self._server is None:
            await self.start()
        assert self._server is not None
        try:
            await self._server.serve_forever()
        finally:
            await self.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self.handle(reader, writer)
        except (ConnectionError, ssl.SSLError):
            pass  # the client went away (or broke the TLS under the stream); nothing to answer
        except RuntimeError:
            # uvloop refuses a write once the client has gone and its transport is closed
            # (asyncio drops it): the client went away too
            if not writer.transport.is_closing():
                raise
        except asyncio.CancelledError:
            # stop() ended it: done, not cancelled, since asyncio's streams (3.11) report a
            # cancelled connection task as an "unhandled exception" on every stop
            if not self._stopping:
                raise
        finally:
            self._connections.discard(task)
            if self._stopping and self.tls is not None:
                writer.transport.abort()  # stop() does not wait for each client's close_notify
            else:
                writer.close()
            # over TLS the close is a close_notify exchange, which a client that is gone or still
            # sending breaks (ssl.SSLError): the connection is over all the same
            with suppress(ConnectionError, ssl.SSLError, asyncio.CancelledError):
                await writer.wait_closed()


async def requests(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> AsyncGenerator[Request, None]:
    """Each complete request on a connection, in order (a request body is read and dropped).

    HTTP/1.1 connections are persistent: when one request ends, the next head may follow on
    the same bytes, even in the same read (pipelining). The wire reader finds the message
    boundaries; here we only feed it. A malformed request gets ``400`` with the parser's
    reason as a plain-text body, and the connection is closed, because after a framing error
    nobody knows where the next request would start.
    """
    wire = HTTPReader("request")
    request: Request | None = None
    while data := await reader.read(READ_SIZE):
        try:
            events = wire.feed(data)
        except WireError as error:
            body = f"400 Bad Request: {error}\n".encode()
            writer.write(
                encode_response(
                    400,
                    "Bad Request",
                    [
                        ("Content-Type", "text/plain; charset=utf-8"),
                        ("Content-Length", str(len(body))),
                        ("Connection", "close"),
                    ],
                    body,
                )
            )
            await writer.drain()
            return
        for event in events:
            if isinstance(event, Request):
                request = event
            elif isinstance(event, EndOfMessage) and request is not None:
                yield request


async def first_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Request | None:
    """The connection's first request, or None if the client sent nothing usable (400 already sent)."""
    stream = requests(reader, writer)
    try:
        return await anext(stream, None)
    finally:
        await stream.aclose()


def wants_close(request: Request) -> bool:
    """Whether the client asked for the connection to end after this response.

    HTTP/1.1 keeps connections open unless ``Connection: close``; HTTP/1.0 closes them
    unless ``Connection: keep-alive``.
    """
    tokens = {t.strip().lower() for t in (request.headers.get("connection") or b"").split(b",")}
    if request.version == b"HTTP/1.0":
        return b"keep-alive" not in tokens
    return b"close" in tokens


S = TypeVar("S", bound=StreamServer)


@contextmanager
def running_in_thread(server: S, timeout: float = 10.0) -> Iterator[S]:
    """Run ``server`` on a new event loop in a background thread for the ``with`` block.

    ``with running_in_thread(SSEServer(events=5)) as srv: ...`` -- the server is listening
    (``srv.port`` is set) when the block starts, and stopped, its loop closed and its thread
    joined when the block ends.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=f"{type(server).__name__}-loop", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout)
        try:
            yield server
        finally:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        loop.close()
