"""uvicorn as a guest in someone else's event loop: the reference Starlette server and the
control API both run an ASGI app this way, beside proxies on the same loop.

The socket is bound here first, so a busy port is an ``OSError`` from :meth:`GuestUvicorn.start`
rather than uvicorn's ``sys.exit``, port 0 gives a real port at once, and uvicorn never
installs signal handlers (Ctrl-C belongs to the process that invited it).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import uvicorn

STARTUP_TIMEOUT = 10.0  # seconds: a bound on waiting for uvicorn, never a measurement
SHUTDOWN_TIMEOUT = 10.0


class _GuestServer(uvicorn.Server):
    """A uvicorn.Server that leaves the process's signal handlers alone: it is a guest here."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class GuestUvicorn:
    """``app`` served by uvicorn (h11) on ``host:port`` of the running loop until :meth:`stop`."""

    def __init__(self, app: Any, host: str, port: int):
        self.app = app
        self.host = host
        self.port = port
        self._socket: socket.socket | None = None
        self._server: _GuestServer | None = None
        self._task: asyncio.Task[None] | None = None

    def bind(self) -> int:
        """Take the port now (``OSError`` when busy) and return it; :meth:`start` serves on it."""
        if self._socket is None:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            self._socket = socket.create_server((self.host, self.port), family=family)
            # asyncio sets TCP_NODELAY only on sockets made with proto=IPPROTO_TCP, and create_server
            # makes them with 0: each response's body waited for the client's delayed ACK of its
            # head (40 ms). Accepted sockets inherit the option from the listener.
            self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.port = self._socket.getsockname()[1]
        return self.port

    async def start(self) -> None:
        self.bind()
        sock, self._socket = self._socket, None
        assert sock is not None
        try:
            config = uvicorn.Config(
                self.app,
                lifespan="off",
                log_config=None,
                log_level="warning",
                access_log=False,
                http="h11",
                timeout_graceful_shutdown=2,
            )
            self._server = _GuestServer(config)
            self._task = asyncio.ensure_future(self._server.serve(sockets=[sock]))
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while not self._server.started and not self._task.done() and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            if not self._server.started:
                raise RuntimeError("uvicorn did not start")
        except BaseException:
            sock.close()
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop listening and cut every open connection (a stream in progress sees a broken body)."""
        if self._socket is not None:  # bound, never started
            self._socket.close()
            self._socket = None
        server, task = self._server, self._task
        self._server, self._task = None, None
        if server is None or task is None:
            return
        server.should_exit = True
        for protocol in list(server.server_state.connections):
            transport = getattr(protocol, "transport", None)
            if transport is not None:
                transport.abort()
        try:
            await asyncio.wait_for(asyncio.shield(task), SHUTDOWN_TIMEOUT)
        except TimeoutError:
            server.force_exit = True
            task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await task

    async def wait(self) -> None:
        """Until uvicorn ends (it is stopped, or it fails)."""
        if self._task is not None:
            await asyncio.shield(self._task)
