"""Servers, clients and loops for the proxy tests: real servers and real clients, on loopback only.

Everything asynchronous runs in event loops on background threads (:class:`LoopThread`), so
test bodies stay synchronous and can drive any client: ``curl`` as a subprocess, httpx (sync
or async), ``http.client``, or a raw socket that can tell a FIN from an RST.

Servers:

* :class:`ScriptedServer` -- a purpose-built asyncio server whose handler is written in the
  test, for when exact bytes, write sizes, FIN or RST matter. It records every connection.
* ``sse_server`` -- an sse-starlette ``EventSourceResponse`` app under uvicorn, on its own
  thread and loop, with a record of which generators ran and which were cancelled.

No assertion here or in the tests depends on elapsed time. Every wait has a generous limit
(:data:`GUARD`) that exists only so a bug shows up as a failure instead of a hung run.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

GUARD = 30.0  # seconds: a hang guard, never a measurement
LINGER_RST = struct.pack("ii", 1, 0)


# -- event loops on threads --------------------------------------------------------------------


LOOPS = ["asyncio", "uvloop"]  # the proxy is tested on both: the CLI runs on uvloop when it is installed


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class LoopThread:
    """An event loop (``asyncio`` or ``uvloop``) running in a daemon thread."""

    def __init__(self, name: str = "loop", kind: str = "asyncio"):
        self.kind = kind
        self.loop = new_loop(kind)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        # stopped: cancel what is left so nothing is destroyed pending, then close
        tasks = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            self.loop.run_until_complete(asyncio.wait(tasks, timeout=GUARD))
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def call(self, coro: Awaitable[Any], timeout: float = GUARD) -> Any:
        """Run a coroutine on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    @contextmanager
    def held(self) -> Iterator[None]:
        """The loop blocked for the ``with`` body: nothing on it accepts, reads or runs a timer.

        For making an order certain instead of likely: a client connects and sends while the
        proxy is held, so its bytes are in the socket when the proxy first looks."""
        running, release = threading.Event(), threading.Event()

        def block() -> None:
            running.set()
            release.wait(GUARD)

        self.loop.call_soon_threadsafe(block)
        assert running.wait(GUARD), "the loop never got to the hold"
        try:
            yield
        finally:
            release.set()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(GUARD)
        assert not self._thread.is_alive(), "event loop thread did not stop"


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = GUARD) -> None:
    """Poll until ``predicate()`` holds; fail (not hang) if it never does."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for: {what}")
        time.sleep(0.005)


def wait_event(event: threading.Event, what: str, timeout: float = GUARD) -> None:
    assert event.wait(timeout), f"gave up waiting for: {what}"


# -- a purpose-built upstream ------------------------------------------------------------------


@dataclass
class Conn:
    """One connection accepted by a :class:`ScriptedServer`, as its handler sees it."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    number: int
    received: bytearray = field(default_factory=bytearray)
    sent: bytearray = field(default_factory=bytearray)
    eof: threading.Event = field(default_factory=threading.Event)  # a read returned b""
    reset: threading.Event = field(default_factory=threading.Event)  # a read raised ECONNRESET
    ended: threading.Event = field(default_factory=threading.Event)  # the handler returned
    error: BaseException | None = None

    async def read(self, n: int = 65536) -> bytes:
        try:
            data = await self.reader.read(n)
        except ConnectionResetError:
            self.reset.set()
            raise
        if not data:
            self.eof.set()
        self.received += data
        return data

    async def read_exactly(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            data = await self.read(min(n - len(out), 65536))
            if not data:
                raise EOFError(f"EOF after {len(out)} of {n} bytes")
            out += data
        return bytes(out)

    async def read_until(self, marker: bytes) -> bytes:
        """Read up to and including ``marker`` (kept byte-exact in :attr:`received`)."""
        try:
            data = await self.reader.readuntil(marker)
        except asyncio.IncompleteReadError as error:
            self.received += error.partial
            self.eof.set()
            raise EOFError("EOF before " + repr(marker)) from None
        except ConnectionResetError:
            self.reset.set()
            raise
        self.received += data
        return data

    async def read_request(self) -> tuple[bytes, bytes]:
        """One request (head, body) with a minimal test-side parser: Content-Length or chunked."""
        head = await self.read_until(b"\r\n\r\n")
        return head, await self.read_body(head)

    async def read_body(self, head: bytes) -> bytes:
        """The body of the request whose head is ``head``."""
        fields = _fields(head)
        if fields.get("transfer-encoding", "").lower().endswith("chunked"):
            body = bytearray()
            while True:
                line = await self.read_until(b"\r\n")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while await self.read_until(b"\r\n") != b"\r\n":  # trailers
                        pass
                    break
                body += await self.read_exactly(size)
                assert await self.read_exactly(2) == b"\r\n"
            return bytes(body)
        return await self.read_exactly(int(fields.get("content-length", "0")))

    async def read_to_eof(self) -> bytes:
        out = bytearray()
        while data := await self.read():
            out += data
        return bytes(out)

    async def write(self, data: bytes, sizes: list[int] | None = None) -> None:
        """Write ``data``, cut into writes of ``sizes`` (the rest in one), draining after each."""
        pos = 0
        for size in [*(sizes or []), len(data)]:
            piece = data[pos : pos + size]
            if piece:
                self.writer.write(piece)
                self.sent += piece
                await self.writer.drain()
            pos += size
            if pos >= len(data):
                break

    async def fin(self) -> None:
        """Close with a FIN, after everything written has gone."""
        await self.writer.drain()
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except OSError:
            pass

    def rst(self) -> None:
        """Close with an RST (SO_LINGER 0)."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
        self.writer.transport.abort()


def _fields(head: bytes) -> dict[str, str]:
    out = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, colon, value = line.partition(":")
        if colon:
            out[name.strip().lower()] = value.strip()
    return out


Handler = Callable[[Conn], Awaitable[None]]


class ScriptedServer:
    """A TCP server on 127.0.0.1 whose per-connection behaviour is a coroutine from the test."""

    def __init__(
        self, aio: LoopThread, handler: Handler, *, port: int = 0, sock: socket.socket | None = None
    ):
        self.aio = aio
        self.handler = handler
        self.conns: list[Conn] = []
        self.connected = threading.Condition()
        self._server: asyncio.AbstractServer | None = None
        self._port = port
        self._sock = sock  # serve on a listening socket the test made

    async def _start(self) -> None:
        if self._sock is not None:
            self._server = await asyncio.start_server(self._serve, sock=self._sock)
        else:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", self._port, backlog=128)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Conn(reader, writer, len(self.conns) + 1)
        with self.connected:
            self.conns.append(conn)
            self.connected.notify_all()
        try:
            await self.handler(conn)
        except (ConnectionError, EOFError) as error:
            conn.error = error
        except Exception as error:  # a test handler bug: keep it for the test to see
            conn.error = error
            raise
        finally:
            conn.ended.set()
            if not writer.transport.is_closing():
                writer.close()

    def start(self) -> ScriptedServer:
        self.aio.call(self._start())
        return self

    def stop(self) -> None:
        async def _stop() -> None:
            if self._server is not None:
                self._server.close()
                for conn in self.conns:
                    conn.writer.transport.abort()
                await self._server.wait_closed()

        self.aio.call(_stop())

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def conn(self, number: int = 1) -> Conn:
        """The ``number``-th accepted connection, waiting for it to arrive."""
        with self.connected:
            assert self.connected.wait_for(lambda: len(self.conns) >= number, GUARD), (
                f"no connection #{number}"
            )
            return self.conns[number - 1]


# -- clients -----------------------------------------------------------------------------------


class RawClient:
    """A blocking socket client that reports how the connection ended: ``fin`` or ``rst``."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=GUARD)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, data: bytes, sizes: list[int] | None = None) -> None:
        pos = 0
        for size in [*(sizes or []), len(data)]:
            if pos >= len(data):
                break
            self.sock.sendall(data[pos : pos + size])
            pos += size

    def recv_exactly(self, n: int, read_size: int = 65536) -> bytes:
        out = bytearray()
        while len(out) < n:
            data = self.sock.recv(min(read_size, n - len(out)))
            if not data:
                raise EOFError(f"EOF after {len(out)} of {n} bytes: {bytes(out)[-200:]!r}")
            out += data
        return bytes(out)

    def recv_until(self, marker: bytes) -> bytes:
        out = bytearray()
        while marker not in out:
            data = self.sock.recv(1)
            if not data:
                raise EOFError(f"EOF before {marker!r}: {bytes(out)!r}")
            out += data
        return bytes(out)

    def recv_to_end(self, read_size: int = 65536) -> tuple[bytes, str]:
        """Everything until the connection ends, and how it ended: ``"fin"`` or ``"rst"``."""
        out = bytearray()
        while True:
            try:
                data = self.sock.recv(read_size)
            except ConnectionResetError:
                return bytes(out), "rst"
            if not data:
                return bytes(out), "fin"
            out += data

    def shutdown_write(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    def reset(self) -> None:
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
        self.sock.close()

    def close(self) -> None:
        self.sock.close()


CURL = shutil.which("curl")


def free_port() -> int:
    """A port nothing listens on (it was free a moment ago; on loopback nobody takes it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- an sse-starlette upstream under uvicorn ---------------------------------------------------


@dataclass
class SSERecord:
    """What the sse-starlette app did, for the tests to check against."""

    started: threading.Event = field(default_factory=threading.Event)
    cancelled: threading.Event = field(default_factory=threading.Event)  # a generator was cut off
    finished: threading.Event = field(default_factory=threading.Event)  # a generator ran to its end
    sent: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)


class SSEServer:
    """uvicorn serving an sse-starlette app on a thread with its own loop."""

    def __init__(self) -> None:
        import uvicorn
        from sse_starlette.sse import EventSourceResponse
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.routing import Route

        record = self.record = SSERecord()

        async def events(request: Request) -> EventSourceResponse:
            """``?n=N``: N events (id, type, multi-line data, retry on the first), then the end."""
            n = int(request.query_params.get("n", "5"))
            record.requests.append(dict(request.headers))

            async def generate():  # type: ignore[no-untyped-def]
                record.started.set()
                for i in range(1, n + 1):
                    event = {
                        "id": str(i),
                        "event": "tick" if i % 2 else "tock",
                        "data": f"event {i}\nline two of {i}" if i % 3 == 0 else f"event {i} ✓",
                    }
                    if i == 1:
                        event["retry"] = 1500
                    record.sent.append(event)
                    yield event
                record.finished.set()

            return EventSourceResponse(generate(), ping=0)

        async def forever(request: Request) -> EventSourceResponse:
            """Events until the client goes away; the cancellation is recorded."""

            async def generate():  # type: ignore[no-untyped-def]
                record.started.set()
                i = 0
                try:
                    while True:
                        i += 1
                        event = {"id": str(i), "data": f"tick {i}"}
                        record.sent.append(event)
                        yield event
                        await asyncio.sleep(0.01)
                except (asyncio.CancelledError, GeneratorExit):
                    record.cancelled.set()
                    raise

            return EventSourceResponse(generate(), ping=0)

        app = Starlette(routes=[Route("/events", events), Route("/forever", forever)])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="error", lifespan="off", access_log=False
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="uvicorn", daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve())

    def start(self) -> SSEServer:
        self._thread.start()
        wait_until(lambda: self.server.started or not self._thread.is_alive(), "uvicorn to start")
        assert self.server.started, "uvicorn did not start"
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(GUARD)
        assert not self._thread.is_alive(), "uvicorn did not stop"

    @property
    def port(self) -> int:
        return self.server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
