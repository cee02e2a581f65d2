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
from faultproxy.proxy.capture import redact_text
from faultproxy.proxy.outbox import QUEUE_LIMIT, Outbox
from faultproxy.wire.errors import WireError
from faultproxy.wire.http import Request, encode_response, opens_like_http

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

    __slots__ = ('eof', 'eof_sent', 'holds', 'name', 'relay', 'transport')

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
    out what the pipeline asks for: write, wait, close with FIN or RST. The relay also keeps
    one timer per direction for the faults' alarms, and gives the outbox the queue limit the
    faults ask for (see :meth:`_push`).
    """

    # one relay holds several of these per connection: slots keep thousands of streams small
    __slots__ = (
        "_alarms", "_connecting", "_linger", "_lost", "_refused", "_sniffing", "answered", "client", "closed", "down",
        "early", "http", "id", "proxy", "request_seen", "to_client", "to_upstream", "up",
        "upstream", "upstream_error",
    )

    def __init__(self, proxy: Proxy, conn_id: int):
        self.proxy = proxy
        self.id = conn_id
        self.client = Side(self, "client")
        self.upstream = Side(self, "upstream")
        self.http = proxy.raw is not True
        self._sniffing = proxy.raw is None  # HTTP or not: the first bytes tell (see _sniff)
        self.down = Pipeline(proxy.faults, conn_id, "response", raw=not self.http)
        self.up = Pipeline(proxy.faults, conn_id, "request", raw=not self.http, strict=True,
                           on_request=self._request_seen)
        self.to_client = self._outbox(self.upstream, self.client, "response")
        self.to_upstream = self._outbox(self.client, self.upstream, "request")
        self.early: list[bytes] = []  # client bytes read before the upstream connection exists
        self.upstream_error: str | None = None
        self.request_seen = False
        self.answered = False  # the proxy answered the client itself (400, 502): relaying is over
        # a 400 waiting for the responses before it: its text, and the refused request if its head went upstream
        self._refused: tuple[str, Request | None] | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._linger: asyncio.TimerHandle | None = None
        self.closed = asyncio.get_running_loop().create_future()
        self._lost: set[str] = set()
        self._alarms: dict[str, asyncio.TimerHandle] = {}  # direction → the timer of its next alarm

    def _outbox(self, source: Side, sink: Side, direction: str) -> Outbox:
        def write(data: bytes) -> None:
            self.proxy.capture_data(self, direction, data)
            sink.write(data)

        return Outbox(
            write=write if self.proxy.capturing else sink.write,
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
            self._connecting = asyncio.get_running_loop().create_task(self._connect_upstream())
            return
        self.resync()  # the connection starts now: so do its faults (alarms count from here)
        for data in self.early:
            self._from_client(data)
        self.early.clear()
        if self.client.eof:
            self._push(self.up, self.to_upstream, self.up.eof(self._now()))
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
        """502 once we know a request is waiting; raw mode just closes. So does ``raw=None``
        for a client that has sent nothing yet: it may be waiting for a server that speaks first
        (MySQL, SMTP), and an HTTP client whose request is already on its way still gets its 502."""
        if self._sniffing and not self._client_spoke():
            self._relay_as_tcp()
        if not self.http:
            self._close(self.client)
            return
        if self.request_seen or self.client.eof:
            target = self.proxy.upstream
            text = f"faultproxy: upstream {target.host}:{target.port} unreachable: {self.upstream_error}\n"
            self._answer(502, "Bad Gateway", text)

    def _answer(self, status: int, reason: str, text: str) -> None:
        """Answer the client from the proxy itself, then end the connection (:meth:`_end_answered`).

        The answer goes out behind whatever is still queued for the client (a fault's delay),
        never into the middle of it."""
        if self.answered:
            return
        self.to_client.write(plain_response(status, reason, text))
        self._end_answered()

    def _end_answered(self) -> None:
        """Relaying is over: close the upstream, send the client a FIN after what is queued for
        it, and close its side in a lingering close.

        The client may still be sending: a request body that the answer makes moot, or more of
        a malformed request. Closing a socket with unread data makes the kernel send an RST,
        and a client that is still writing then gets ``ECONNRESET`` and never reads the answer
        (curl: "Send failure: Connection reset by peer"). So the answer is followed by a FIN
        only, and whatever the client still sends is read and dropped until it closes its side
        too, or for :data:`LINGER_SECONDS` after the FIN at most (see :meth:`_write_eof`).
        """
        self.answered = True
        self.to_upstream.cancel()
        self._close(self.upstream)
        client, transport = self.client, self.client.transport
        if transport is None or transport.is_closing():
            return
        client.holds.clear()  # drain what is still coming, whatever paused reading before
        transport.resume_reading()
        self.to_client.finish()  # the FIN, or a close if the client has sent its own already
        if client.eof_sent:
            self._start_linger()

    def _start_linger(self) -> None:
        if self._linger is None:
            self._linger = asyncio.get_running_loop().call_later(LINGER_SECONDS, self._close, self.client)

    def _refuse(self, text: str) -> None:
        """A malformed request: ``400``, once the responses to the requests before it are complete.

        A client may pipeline requests while a response streams; answering at once would put
        the 400's head where the next chunk-size line of that response belongs. Like a server
        reading pipelined requests in order, the proxy reads nothing more from the client and
        answers after the last response due before the refused request has ended
        (:meth:`_answer_refusal`), or as soon as the upstream has closed (no response can come).
        If the refused request's head went upstream and its own response has begun, no place is
        left for a 400 at all: the connection just ends, as if the server had closed it."""
        if self.answered or self._refused is not None:
            return  # more of what was refused already (several reads made before the upstream connected)
        request = self.up.open_request
        forwarded = request is not None
        if forwarded and not self.down.awaits(request):
            self.proxy.capture_note(self, "refused", reason=text.strip(), answer="close")
            self._end_answered()
            return
        self._refused = (text, request if forwarded else None)
        waits = self._refusal_waits()
        self.proxy.capture_note(self, "refused", reason=text.strip(),
                                answer="400 after the responses due" if waits else "400")
        self.client.hold("refused")
        self._answer_refusal()

    def _refusal_waits(self) -> bool:
        assert self._refused is not None
        if self.upstream.eof or "upstream" in self._lost:
            return False
        return self.down.responses_due_before(self._refused[1])

    def _answer_refusal(self) -> None:
        if self._refused is None or self._refusal_waits():
            return
        text, self._refused = self._refused[0], None
        self._answer(400, "Bad Request", text)

    # -- data -----------------------------------------------------------------------------

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _push(self, pipeline: Pipeline, outbox: Outbox, items: list[object]) -> None:
        """Hand a pipeline's output to its outbox, with the queue limit its faults ask for now,
        and (re)arm the timer of the pipeline's next alarm."""
        if pipeline.instances.quiet and outbox.limit == QUEUE_LIMIT and pipeline.direction not in self._alarms:
            outbox.push(items)  # the common case, kept short: it runs for every read
            return
        outbox.set_limit(pipeline.instances.queue_limit)
        outbox.push(items)
        at = pipeline.next_alarm
        timer = self._alarms.get(pipeline.direction)
        if timer is not None:
            if at is not None and timer.when() == at:
                return
            timer.cancel()
            del self._alarms[pipeline.direction]
        if at is not None and not outbox.done:
            loop = asyncio.get_running_loop()
            self._alarms[pipeline.direction] = loop.call_at(at, self._ring, pipeline, outbox, at)

    def _ring(self, pipeline: Pipeline, outbox: Outbox, at: float) -> None:
        self._alarms.pop(pipeline.direction, None)
        if not outbox.done:
            self._push(pipeline, outbox, pipeline.alarm(max(self._now(), at)))

    def resync(self) -> None:
        """The fault set changed (or the connection just started): let both directions pick up
        the change now — start new faults, drop removed ones' alarms, apply queue limits."""
        if self.upstream.transport is None or self.closed.done():
            return  # not connected yet (the faults start when it is) or already gone
        now = self._now()
        self._push(self.up, self.to_upstream, self.up.sync(now))
        self._push(self.down, self.to_client, self.down.sync(now))

    def _cancel_alarms(self) -> None:
        """Both sockets are gone: no timer of this connection may outlive it (the alarms, and the
        outboxes' waits: an endless ``sse_stall`` waits on ``Wait(math.inf)``)."""
        for timer in self._alarms.values():
            timer.cancel()
        self._alarms.clear()
        self.to_client.cancel()
        self.to_upstream.cancel()

    def received(self, side: Side, data: bytes) -> None:
        if self._sniffing:
            self._sniff(side, data)
        if side is self.client:
            if self.answered:
                return  # lingering after the proxy's own answer: dropped, see _answer
            if self.upstream.transport is None and self.upstream_error is None:
                self.early.append(data)
                # reading was paused in connection_made; if a read came anyway, pause again:
                # whatever waits for the upstream must stay small, however fast the client sends
                self.client.transport.pause_reading()  # type: ignore[union-attr]
            elif self.upstream_error is not None:
                self._check_request(data)
                self._answer_upstream_error()
            else:
                self._from_client(data)
        else:
            if self.proxy.capturing:  # the server's own bytes, before any fault: a url: server's ground truth
                self.proxy.capture_data(self, "upstream", data)
            if (
                self.to_client.limit == QUEUE_LIMIT and "response" not in self._alarms
                and self.down.consume_untouched(data)
            ):
                self.to_client.write(data)  # no fault is here: the bytes go out as they came
            else:
                self._push(self.down, self.to_client, self.down.feed(data, self._now()))
            if self._refused is not None:
                self._answer_refusal()

    def _client_spoke(self) -> bool:
        """Whether the client has sent anything yet: peeked at, left for the relay to read."""
        sock = self.client.transport.get_extra_info("socket") if self.client.transport else None
        if sock is None:
            return False
        try:
            with socket.fromfd(sock.fileno(), sock.family, socket.SOCK_STREAM) as peer:
                return bool(peer.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except OSError:  # nothing yet (EAGAIN), or the socket is gone
            return False

    def _sniff(self, side: Side, data: bytes) -> None:
        """A proxy with ``raw=None`` relays whatever its clients speak, as Toxiproxy does: a
        connection whose client opens with an HTTP request is HTTP/1.1 (every fault applies);
        anything else — a server that speaks first, a database protocol, TLS — is plain TCP,
        with byte faults only, instead of a ``400`` for what was never meant as HTTP."""
        if side is self.client and opens_like_http(data):
            self._sniffing = False
            return
        self._relay_as_tcp()

    def _relay_as_tcp(self) -> None:
        """Decided (``raw=None``): this connection is not HTTP."""
        self._sniffing = False
        self.http = False
        self.up.as_raw()
        self.down.as_raw()
        self.proxy.capture_note(self, "protocol", relayed_as="tcp")

    def _from_client(self, data: bytes) -> None:
        try:
            out = self.up.feed(data, self._now())
        except WireError as error:
            # Nothing of this read goes out, not even a valid request before the malformed one
            # (the reader raises before handing over its events). The error may quote a header line: never echo a credential (it would be captured too)
            self._refuse(f"faultproxy: malformed request: {redact_text(str(error))}\n")
            return
        self._push(self.up, self.to_upstream, out)

    def _check_request(self, data: bytes) -> None:
        """With no upstream, still read the request: to know one came, or that it is malformed."""
        try:
            self.up.feed(data, self._now())
        except WireError:
            pass  # the 502 says what matters: there is nobody to send it to

    def _request_seen(self, request: Request) -> bool:
        """A request head came from the client. True when a fault answers it (``http_status``):
        the up pipeline then keeps it, and all after it, from the upstream."""
        self.request_seen = True
        now = self._now()
        started = self.down.sync(now)  # the faults may not have started: no upstream connection yet
        if started:
            self._push(self.down, self.to_client, started)
        answer = self.down.expect(request, now)
        if answer is None:
            self._push(self.down, self.to_client, [])  # arms an alarm a fault set on the request (read_timeout)
            return False
        self._push(self.down, self.to_client, answer)
        return True

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
            self._answer_refusal()  # no response can come any more
        toward = self.to_client if side is self.client else self.to_upstream
        if toward.done:
            self._close(side)  # FIN both ways: this socket is finished

    def _finish(self, pipeline: Pipeline, outbox: Outbox) -> None:
        try:
            self._push(pipeline, outbox, pipeline.eof(self._now()))
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
        if side is self.client:
            self._stop_connecting()
            if self._linger is not None:
                self._linger.cancel()
        reset = isinstance(exc, ConnectionResetError)
        self.proxy.capture_note(self, "closed", side=side.name, how="rst" if reset else "fin")
        if reset:
            (self.to_client if side is self.upstream else self.to_upstream).cancel()
            if side.peer.transport is None:
                self._close(side.peer)  # never connected (the connect was just stopped): gone too
            else:
                _reset(side.peer.transport)
        elif side is self.client:
            self._close(self.upstream)  # the client is gone: nobody is left to read the answer
        elif self._refused is not None:
            self._answer_refusal()  # no response can come any more
        elif self.answered:
            pass  # the proxy answered: the client side ends by its lingering close, see _answer
        elif self.to_client.idle:
            self._close(self.client)
        else:
            self.to_client.finish()  # the client still gets what a fault is delaying, then the FIN
        if self._lost >= {"client", "upstream"} and not self.closed.done():
            self._cancel_alarms()
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
            side.eof_sent = True
            if self.answered and side is self.client:
                self._start_linger()  # the answer is out: from now on the client gets a while to finish

    def _close(self, side: Side) -> None:
        if side.transport is None:
            self._lost.add(side.name)
            if self._lost >= {"client", "upstream"} and not self.closed.done():
                self._cancel_alarms()
                self.closed.set_result(None)
                self.proxy.connection_done(self)
        elif not side.transport.is_closing():
            side.transport.close()

    def _stop_connecting(self) -> None:
        """The client is gone: an upstream connection still being made would never be closed."""
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()

    def abort(self) -> None:
        """Proxy shutdown: drop both sockets now, and the upstream connection being made."""
        self._stop_connecting()
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
