"""The relay of one client connection: client socket ⇄ upstream socket, byte for byte.

Built on asyncio Protocols rather than streams: every read is handed straight to the other
socket's transport in the same callback, with no task switch and no intermediate buffer,
so the time to first event through the proxy is the upstream's. Backpressure is the only
queue: when one side's kernel buffer fills, reading from the other side pauses.

In HTTP mode each direction is also fed to a wire-layer reader. The request reader turns a
malformed request into a ``400`` and tells the response reader which method each response
answers (so a response to ``HEAD`` has no body). The bytes forwarded are always the bytes
read; parsing observes, it never rewrites, until a fault asks it to.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import TYPE_CHECKING

from faultproxy.faults.pipeline import Pipeline
from faultproxy.proxy.outbox import Outbox
from faultproxy.wire.errors import WireError
from faultproxy.wire.http import Request, encode_response

if TYPE_CHECKING:
    from faultproxy.proxy.server import Proxy

_LINGER_RST = struct.pack("ii", 1, 0)

# After answering a request itself, how long the proxy keeps reading (and dropping) what the
# client still sends before it closes anyway; see Relay._answer.
LINGER_SECONDS = 5.0


def _reset(transport: asyncio.BaseTransport | None) -> None:
    """Close with a TCP RST instead of a FIN, as the peer on the other side did."""
    if transport is None or transport.is_closing():
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        except OSError:
            pass
    transport.abort()  # type: ignore[attr-defined]


def plain_response(status: int, reason: str, text: str) -> bytes:
    """A short plain-text answer from the proxy itself, closing the connection."""
    body = text.encode("utf-8")
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
        ("X-Faultproxy", "proxy-generated"),
    ]
    return encode_response(status, reason, headers, body)


class Side(asyncio.Protocol):
    """One socket of a relayed connection; it only reports to its :class:`Relay`."""

    def __init__(self, relay: Relay, name: str):
        self.relay = relay
        self.name = name  # "client" or "upstream"
        self.transport: asyncio.Transport | None = None
        self.eof = False  # we received its FIN
        self.eof_sent = False  # we sent it our FIN: nothing more may be written to it
        self.holds: set[str] = set()  # reasons reading from this side is paused

    @property
    def peer(self) -> Side:
        return self.relay.upstream if self is self.relay.client else self.relay.client

    def hold(self, reason: str) -> None:
        if not self.holds and self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()
        self.holds.add(reason)

    def release(self, reason: str) -> None:
        self.holds.discard(reason)
        if not self.holds and self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing() and not self.eof_sent:
            self.transport.write(data)

    # -- asyncio callbacks ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.relay.side_connected(self)

    def data_received(self, data: bytes) -> None:
        self.relay.received(self, data)

    def eof_received(self) -> bool:
        self.eof = True
        self.relay.side_eof(self)
        return True  # keep our write half open: the other direction may still be flowing

    def connection_lost(self, exc: Exception | None) -> None:
        self.relay.side_lost(self, exc)

    def pause_writing(self) -> None:
        self.peer.hold("backpressure")

    def resume_writing(self) -> None:
        self.peer.release("backpressure")


class Relay:
    """Everything about one client connection and its upstream connection.

    Each direction runs through a fault :class:`~faultproxy.faults.pipeline.Pipeline` (which
    with no fault active hands the bytes back as read) and an :class:`Outbox` that carries
    out what the pipeline asks for: write, wait, close with FIN or RST.
    """

    def __init__(self, proxy: Proxy, conn_id: int):
        self.proxy = proxy
        self.id = conn_id
        self.client = Side(self, "client")
        self.upstream = Side(self, "upstream")
        self.http = not proxy.raw
        self.down = Pipeline(proxy.faults, conn_id, "downstream", raw=proxy.raw)
        self.up = Pipeline(proxy.faults, conn_id, "upstream", raw=proxy.raw, strict=True,
                           on_request=self._request_seen)
        self.to_client = self._outbox(self.upstream, self.client, "response")
        self.to_upstream = self._outbox(self.client, self.upstream, "request")
        self.early: list[bytes] = []  # client bytes read before the upstream connection exists
        self.upstream_error: str | None = None
        self.request_seen = False
        self.closed = asyncio.get_running_loop().create_future()
        self._lost: set[str] = set()

    def _outbox(self, source: Side, sink: Side, direction: str) -> Outbox:
        def write(data: bytes) -> None:
            self.proxy.capture_data(self, direction, data)
            sink.write(data)

        return Outbox(
            write=write,
            write_eof=lambda: self._write_eof(sink),
            close=self._fault_close,
            pause_source=lambda: source.hold("fault"),
            resume_source=lambda: source.release("fault"),
        )

    # -- connection setup -------------------------------------------------------------------

    def side_connected(self, side: Side) -> None:
        if side is self.client:
            self.proxy.capture_open(self)
            self.client.hold("connecting")  # until there is somewhere to send the bytes
            asyncio.get_running_loop().create_task(self._connect_upstream())
            return
        for data in self.early:
            self._from_client(data)
        self.early.clear()
        if self.client.eof:
            self.to_upstream.push(self.up.eof(self._now()))
            self.to_upstream.finish()
        self.client.release("connecting")

    async def _connect_upstream(self) -> None:
        loop = asyncio.get_running_loop()
        target = self.proxy.upstream
        try:
            await asyncio.wait_for(
                loop.create_connection(lambda: self.upstream, target.host, target.port),
                timeout=self.proxy.connect_timeout,
            )
        except (OSError, asyncio.TimeoutError) as exc:
            self.upstream_error = _describe_connect_error(exc, self.proxy.connect_timeout)
            self.proxy.capture_note(self, "upstream_error", reason=self.upstream_error)
            self._lost.add("upstream")
            for data in self.early:
                self._check_request(data)
            self.early.clear()
            self.client.release("connecting")
            self._answer_upstream_error()

    def _answer_upstream_error(self) -> None:
        """502 once we know a request is waiting; raw mode just closes."""
        if not self.http:
            self._close(self.client)
            return
        if self.request_seen or self.client.eof:
            target = self.proxy.upstream
            text = f"faultproxy: upstream {target.host}:{target.port} unreachable: {self.upstream_error}\n"
            self._answer(502, "Bad Gateway", text)

    def _answer(self, status: int, reason: str, text: str) -> None:
        data = plain_response(status, reason, text)
        self.to_client.cancel()
        self.to_upstream.cancel()
        self.proxy.capture_data(self, "response", data)
        self.client.write(data)
        self._close(self.client)
        self._close(self.upstream)

    # -- data -----------------------------------------------------------------------------

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def received(self, side: Side, data: bytes) -> None:
        if side is self.client:
            if self.upstream.transport is None and self.upstream_error is None:
                self.early.append(data)
            elif self.upstream_error is not None:
                self._check_request(data)
                self._answer_upstream_error()
            else:
                self._from_client(data)
        else:
            self.to_client.push(self.down.feed(data, self._now()))

    def _from_client(self, data: bytes) -> None:
        try:
            out = self.up.feed(data, self._now())
        except WireError as error:
            self._answer(400, "Bad Request", f"faultproxy: malformed request: {error}\n")
            return
        self.to_upstream.push(out)

    def _check_request(self, data: bytes) -> None:
        """With no upstream, still read the request: to know one came, or that it is malformed."""
        try:
            self.up.feed(data, self._now())
        except WireError:
            pass  # the 502 says what matters: there is nobody to send it to

    def _request_seen(self, request: Request) -> None:
        self.request_seen = True
        self.down.expect(request)

    # -- ends ---------------------------------------------------------------------------------

    def side_eof(self, side: Side) -> None:
        """A FIN from one side becomes a FIN to the other (a half-close, as it was sent)."""
        self.proxy.capture_note(self, "eof", side=side.name)
        if side is self.client:
            if self.upstream_error is not None:
                self._answer_upstream_error()
            elif self.upstream.transport is not None:
                self._finish(self.up, self.to_upstream)
        else:
            self._finish(self.down, self.to_client)
        toward = self.to_client if side is self.client else self.to_upstream
        if toward.done:
            self._close(side)  # FIN both ways: this socket is finished

    def _finish(self, pipeline: Pipeline, outbox: Outbox) -> None:
        try:
            outbox.push(pipeline.eof(self._now()))
        except WireError:
            pass  # a request cut short: the FIN passed on tells the server just that
        outbox.finish()

    def _fault_close(self, how: str) -> None:
        """A fault ended the connection: both sides go, with a FIN or an RST as it asked."""
        self.proxy.capture_note(self, "fault_close", how=how)
        self.to_client.cancel()
        self.to_upstream.cancel()
        for side in (self.client, self.upstream):
            if how == "rst":
                _reset(side.transport)
            else:
                self._close(side)

    def side_lost(self, side: Side, exc: Exception | None) -> None:
        self._lost.add(side.name)
        reset = isinstance(exc, ConnectionResetError)
        self.proxy.capture_note(self, "closed", side=side.name, how="rst" if reset else "fin")
        if reset:
            (self.to_client if side is self.upstream else self.to_upstream).cancel()
            _reset(side.peer.transport)
        elif side is self.client:
            self._close(self.upstream)  # the client is gone: nobody is left to read the answer
        elif self.to_client.idle:
            self._close(self.client)
        else:
            self.to_client.finish()  # the client still gets what a fault is delaying, then the FIN
        if self._lost >= {"client", "upstream"} and not self.closed.done():
            self.closed.set_result(None)
            self.proxy.connection_done(self)

    def _write_eof(self, side: Side) -> None:
        transport = side.transport
        if transport is None or transport.is_closing():
            return
        if side.eof or not transport.can_write_eof():
            transport.close()
        else:
            transport.write_eof()

    def _close(self, side: Side) -> None:
        if side.transport is None:
            self._lost.add(side.name)
            if self._lost >= {"client", "upstream"} and not self.closed.done():
                self.closed.set_result(None)
                self.proxy.connection_done(self)
        elif not side.transport.is_closing():
            side.transport.close()

    def abort(self) -> None:
        """Proxy shutdown: drop both sockets now."""
        self.to_client.cancel()
        self.to_upstream.cancel()
        for side in (self.client, self.upstream):
            if side.transport is not None:
                side.transport.abort()
            else:
                self._close(side)


def _describe_connect_error(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return f"connect timed out after {timeout:g}s"
    if isinstance(exc, socket.gaierror):
        return f"DNS lookup failed ({exc.strerror or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"{type(exc).__name__}: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)
