"""The asyncio adapter of a connection core: socket callbacks in, the core's commands carried out.

Everything a connection decides lives in :class:`~faultproxy.proxy.core.ConnectionCore`
(docs/connection-core.md). This module only turns asyncio's callbacks into the core's events
and its commands into transport calls, timers and the upstream connect.

Built on asyncio Protocols rather than streams: every read is handed straight to the other
socket's transport in the same callback, with no task switch and no intermediate buffer,
so the time to first event through the proxy is the upstream's. Backpressure is the only
queue: when one side's kernel buffer fills, reading from the other side pauses.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from faultproxy.faults.faultset import FaultSet
from faultproxy.net.addresses import Address
from faultproxy.net.tcp import reset
from faultproxy.proxy.core import ConnectionCore, RelayConfig
from faultproxy.proxy.flow import Ending
from faultproxy.proxy.sinks import CaptureSink
from faultproxy.proxy.states import CLIENT, UPSTREAM, Side, Timer
from faultproxy.wire.http import Request


class Endpoint(asyncio.Protocol):
    """One socket of a relayed connection: reports what happens to it as the core's events.

    ``data_received`` is the core's own event method, bound per instance: every read goes to the
    core with no call in between (the loop calls it for each read of every stream)."""

    __slots__ = ("core", "data_received", "forgotten", "relay", "side", "transport")

    def __init__(self, relay: Relay, side: Side, data_received: Callable[[bytes], None]):
        self.relay = relay
        self.core = relay.core
        self.side = side
        self.data_received = data_received  # type: ignore[method-assign]
        self.transport: asyncio.Transport | None = None
        self.forgotten = False  # the core gave this side up while connecting: nothing of it is reported

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.forgotten:  # a connect completing just as it was cancelled
            transport.abort()  # type: ignore[attr-defined]
            return
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.relay.made(self)

    def eof_received(self) -> bool:
        if not self.forgotten:
            self.core.eof(self.side)
        return True  # keep our write half open: the other direction may still be flowing

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.forgotten and self.transport is not None:
            self.core.lost(self.side, isinstance(exc, ConnectionResetError))

    def pause_writing(self) -> None:
        self.core.write_paused(self.side)

    def resume_writing(self) -> None:
        self.core.write_resumed(self.side)


class Relay:
    """One client connection and its upstream connection: a core and the sockets it drives.

    Implements the core's :class:`~faultproxy.proxy.flow.Port`. Knows nothing of the proxy
    that made it: a config, the fault set, a capture sink and ``on_done`` are all it gets."""

    __slots__ = (
        "_connecting",
        "_timers",
        "capture",
        "client",
        "closed",
        "core",
        "full",
        "id",
        "on_done",
        "upstream",
    )

    def __init__(
        self,
        config: RelayConfig,
        faults: FaultSet,
        conn_id: int,
        capture: CaptureSink,
        on_done: Callable[[Relay], None],
        full: int | None = None,
    ):
        """``full``: the proxy is at its connection cap (this many): the client gets a 503."""
        loop = asyncio.get_running_loop()
        self.id = conn_id
        self.full = full
        self.capture = capture
        self.on_done = on_done
        self.core = ConnectionCore(config, faults, conn_id, self, loop.time)
        self.client = Endpoint(self, CLIENT, self.core.from_client)
        self.upstream = Endpoint(self, UPSTREAM, self._upstream_reads())
        self.closed: asyncio.Future[None] = loop.create_future()
        self._connecting: asyncio.Task[None] | None = None
        self._timers: dict[Timer, asyncio.TimerHandle] = {}

    def _upstream_reads(self) -> Callable[[bytes], None]:
        return self.core.from_upstream

    def _endpoint(self, side: Side) -> Endpoint:
        return self.client if side is CLIENT else self.upstream

    def made(self, endpoint: Endpoint) -> None:
        if endpoint is self.client:
            peer = endpoint.transport.get_extra_info("peername") if endpoint.transport else None
            self.capture.open(self.id, client=peer)
            self.core.opened(self.full)
        else:
            self.core.connected()

    # -- the core's commands (its Port) ------------------------------------------------------

    def writer(self, side: Side, encrypt: Callable[[bytes], bytes] | None = None) -> Callable[[bytes], None]:
        transport = self._endpoint(side).transport
        assert transport is not None, f"no {side} socket to write to yet"
        write, closing = transport.write, transport.is_closing
        if encrypt is not None:

            def send_tls(data: bytes) -> None:
                records = encrypt(data)
                if records and not closing():
                    write(records)

            return send_tls

        def send(data: bytes) -> None:
            if not closing():  # closed under us (a reset): the loss is reported next
                write(data)

        return send

    def write_tls(self, side: Side, records: bytes) -> None:
        transport = self._endpoint(side).transport
        if transport is not None and not transport.is_closing():
            transport.write(records)

    def secure(self, side: Side, decrypt: Callable[[bytes, Callable[[bytes], None]], None]) -> None:
        endpoint = self._endpoint(side)
        plain = endpoint.data_received
        endpoint.data_received = lambda data: decrypt(data, plain)  # type: ignore[method-assign]
        if endpoint.transport is not None:
            # uvloop keeps the protocol's methods from when it was set: set it again to read the new one
            endpoint.transport.set_protocol(endpoint)

    def write_eof(self, side: Side) -> None:
        transport = self._endpoint(side).transport
        if transport is None or transport.is_closing():
            return
        if transport.can_write_eof():
            transport.write_eof()
        else:
            transport.close()

    def close(self, side: Side, how: Ending) -> None:
        endpoint = self._endpoint(side)
        transport = endpoint.transport
        if transport is None:  # still connecting: stop, and forget the side
            endpoint.forgotten = True
            if self._connecting is not None and not self._connecting.done():
                self._connecting.cancel()
            return
        if transport.is_closing():
            return
        if how == "fin":
            transport.close()
        elif how == "rst":  # a TCP RST instead of a FIN, as the peer on the other side did
            reset(transport)
        else:
            transport.abort()

    def pause(self, side: Side, reason: str) -> None:
        transport = self._endpoint(side).transport
        if transport is not None and not transport.is_closing():
            transport.pause_reading()

    def resume(self, side: Side, reason: str) -> None:
        transport = self._endpoint(side).transport
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    def connect(self, target: Address) -> None:
        self._connecting = asyncio.get_running_loop().create_task(self._connect_upstream(target))

    async def _connect_upstream(self, target: Address) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: self.upstream, target.host, target.port)
        except OSError as exc:
            if not self.upstream.forgotten:
                self.core.connect_failed(describe_connect_error(exc))

    def arm(self, timer: Timer, at: float) -> None:
        handle = self._timers.pop(timer, None)
        if handle is not None:
            handle.cancel()
        self._timers[timer] = asyncio.get_running_loop().call_at(at, self._fire, timer)

    def _fire(self, timer: Timer) -> None:
        del self._timers[timer]
        self.core.timer_fired(timer)

    def cancel(self, timer: Timer) -> None:
        handle = self._timers.pop(timer, None)
        if handle is not None:
            handle.cancel()

    def note(self, kind: str, **fields: object) -> None:
        self.capture.note(self.id, kind, **fields)

    def answered(self, request: Request, exchange: int) -> None:
        self.capture.answered(self.id, request, exchange)

    def done(self) -> None:
        for handle in self._timers.values():  # none, by the core's construction: never a late fire
            handle.cancel()
        self._timers.clear()
        if not self.closed.done():
            self.closed.set_result(None)
        self.capture.note(self.id, "done")
        self.on_done(self)


class CapturingRelay(Relay):
    """A :class:`Relay` whose proxy writes a capture: every write is captured as it goes out,
    and every upstream read as it comes in, before any fault (the server's own bytes: a
    ``url:`` server's ground truth), with whether a fault may change it (the capture keeps the
    server's side only from the first read that may differ from the client's)."""

    __slots__ = ()

    def _upstream_reads(self) -> Callable[[bytes], None]:
        capture, conn, received = self.capture, self.id, self.core.from_upstream

        def seen(data: bytes, changed: bool) -> None:
            capture.upstream(conn, data, changed)

        def read(data: bytes) -> None:
            received(data, seen)

        return read

    def write_eof(self, side: Side) -> None:
        if side is CLIENT:  # every byte toward the client is out: the capture's view of that side ends here
            self.capture.end_response(self.id)
        super().write_eof(side)

    def writer(self, side: Side, encrypt: Callable[[bytes], bytes] | None = None) -> Callable[[bytes], None]:
        capture, conn, send = self.capture, self.id, super().writer(side, encrypt)
        direction = "request" if side is UPSTREAM else "response"

        def captured(data: bytes) -> None:
            capture.data(conn, direction, data)
            send(data)

        return captured


def describe_connect_error(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return f"DNS lookup failed ({exc.strerror or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"{type(exc).__name__}: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)
