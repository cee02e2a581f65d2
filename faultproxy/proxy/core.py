"""The life of one relayed connection, without I/O: events in, commands out.

:class:`ConnectionCore` is fed what happens to a connection — bytes, a FIN or a reset from a
side, the upstream connect's result, a timer, a change to the fault set — as method calls
(the events), and says what to do as calls on its :class:`~faultproxy.proxy.flow.Port`
(the commands: write, write-EOF, close with a FIN or an RST, pause or resume reading a side
with a reason, connect, arm or cancel a timer, a capture note, done). The asyncio adapter
(:mod:`faultproxy.proxy.relay`) turns socket callbacks into events and carries the commands
out; the playbook tests (``tests/proxy/test_core.py``) feed events and read the commands, with
no socket and no clock.

Its states and every move between them are the tables of :mod:`faultproxy.proxy.states`;
docs/connection-core.md is the reference: the states table, the events, the commands.

Each direction runs through a fault :class:`~faultproxy.faults.pipeline.Pipeline` and an
:class:`~faultproxy.proxy.outbox.Outbox` (:class:`~faultproxy.proxy.flow.Flow`). With no
fault active a response read goes out in the same call, through
:meth:`Pipeline.consume_untouched <faultproxy.faults.pipeline.Pipeline.consume_untouched>`:
that is the path every byte of a healthy stream takes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from faultproxy.faults.faultset import FaultSet
from faultproxy.faults.pipeline import Pipeline
from faultproxy.net.addresses import Address
from faultproxy.proxy.answers import Answers
from faultproxy.proxy.deadlines import Deadlines
from faultproxy.proxy.flow import Ending, Flow, Port, Sides, Timers
from faultproxy.proxy.heads import HeadRewriter
from faultproxy.proxy.limits import ProxyLimits
from faultproxy.proxy.outbox import QUEUE_LIMIT
from faultproxy.proxy.routing import Routing
from faultproxy.proxy.secure import Secure
from faultproxy.proxy.states import (
    CLIENT,
    PEER,
    UPSTREAM,
    WRITABLE,
    Mode,
    Phase,
    Side,
    SideEvent,
    SideState,
    Timer,
    Trigger,
    next_phase,
)
from faultproxy.proxy.targets import Targets
from faultproxy.tls.layer import TLSLayer
from faultproxy.upstream import Upstream

LINGER_SECONDS = 5.0  # after its own answer, how long the proxy drains what the client still sends
# raw=None with the upstream down: how long a client that has said nothing may take to speak
# before it is taken for one waiting for a server that speaks first (and closed, as TCP). An
# HTTP client sends its request right after connecting; the margin covers a loaded machine.
SNIFF_SECONDS = 1.0


# for the fast path: an enum member looked up on its class costs more than the rest of the test
_RELAYING, _UNDECIDED = Phase.RELAYING, Mode.UNDECIDED


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """What a connection needs to know of its proxy's settings."""

    upstream: Address | None
    raw: bool | None = False  # True: TCP; False: HTTP/1.1; None: decided from the client's first bytes
    connect_timeout: float = 10.0
    linger: float = LINGER_SECONDS
    sniff_wait: float = SNIFF_SECONDS
    limits: ProxyLimits = field(default_factory=ProxyLimits)
    # where connections go and where TLS is spoken (docs/tls.md); by default the plain ``upstream``
    routing: Routing = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.routing is None:
            assert self.upstream is not None, "a RelayConfig needs an upstream or a routing"
            address = self.upstream
            object.__setattr__(self, "routing", Routing(Upstream(address.scheme, address.host, address.port)))


class ConnectionCore:
    """One client connection and its upstream connection, as a state machine."""

    # thousands of these live at once: slots keep them small
    __slots__ = (
        "answers",
        "clock",
        "config",
        "conn_id",
        "deadlines",
        "early",
        "heads",
        "mode",
        "phase",
        "port",
        "request",
        "response",
        "secure",
        "sides",
        "target",
        "targets",
        "timers",
    )

    def __init__(
        self, config: RelayConfig, faults: FaultSet, conn_id: int, port: Port, clock: Callable[[], float]
    ):
        self.config = config
        self.conn_id = conn_id
        self.port = port
        self.clock = clock
        routing = config.routing
        self.phase = Phase.TARGET if routing.forward else Phase.CONNECTING
        self.mode = {True: Mode.TCP, False: Mode.HTTP, None: Mode.UNDECIDED}[config.raw]
        if routing.forward:
            self.mode = Mode.UNDECIDED  # the request that names the target says what follows
        self.sides = Sides(port)
        self.timers = Timers(port)
        self.answers = Answers(self)
        self.secure = Secure(self)
        self.target: Upstream | None = routing.upstream  # forward mode: set by the client's request
        self.targets = Targets(self)
        rule = routing.head_rule()
        # each request head as the upstream must see it (Host toward a TLS upstream; origin form)
        self.heads: HeadRewriter | None = (
            HeadRewriter(rule) if rule is not None and config.raw is not True else None
        )
        self.early: list[bytes] = []  # client bytes read before the upstream connection exists
        self.deadlines = Deadlines(self)
        raw = config.raw is True
        self.response = Flow.between(
            UPSTREAM,
            CLIENT,
            Pipeline(faults, conn_id, "response", raw=raw, limits=config.limits.head),
            self.sides,
            timers=(Timer.RESPONSE_ALARM, Timer.RESPONSE_WAIT),
            write_eof=partial(self._write_eof, CLIENT),
            close=self._fault_close,
            port=port,
            clock=clock,
        )
        request = Pipeline(
            faults,
            conn_id,
            "request",
            raw=raw,
            strict=True,
            limits=config.limits.head,
            on_request=self.answers.request_seen,
        )
        self.request = Flow.between(
            CLIENT,
            UPSTREAM,
            request,
            self.sides,
            timers=(Timer.REQUEST_ALARM, Timer.REQUEST_WAIT),
            write_eof=partial(self._write_eof, UPSTREAM),
            close=self._fault_close,
            port=port,
            clock=clock,
        )

    # -- events ------------------------------------------------------------------------------

    def opened(self, full: int | None = None) -> None:
        """The client's connection was accepted: its TLS starts (``--tls``), and the upstream
        connect (in forward mode, once the client's request names the upstream). ``full``: the
        proxy is at its connection cap, this many: no upstream connection then, the client gets a
        503 (through its TLS, when it speaks TLS, once the handshake is done)."""
        self.sides.opened(CLIENT)
        routing = self.config.routing
        if routing.downstream_tls:
            self.secure.start(CLIENT, TLSLayer.server(routing.server_tls, routing.tls_name))
        if full is not None:
            self.answers.at_capacity(full)
            return
        self.targets.opened()
        if self.mode is Mode.HTTP:
            self.deadlines.start()

    def connected(self) -> None:
        """The upstream connection is made: relaying starts, with what the client sent meanwhile
        (after the upstream's TLS handshake, for a TLS upstream)."""
        self.timers.disarm(Timer.CONNECT)
        self.sides.connected(UPSTREAM)
        if self.targets.connected():
            self.upstream_ready()

    def upstream_ready(self) -> None:
        """The upstream takes the client's bytes: connected, its TLS handshake done if it has one."""
        self.enter(Trigger.UPSTREAM_CONNECTED)
        self.request.sync()  # the connection starts now: so do its faults (alarms count from here)
        self.response.sync()
        early, self.early = self.early, []
        for data in early:
            self.from_client(data)
        if self.sides.state[CLIENT] is SideState.READ_DONE and self.phase is Phase.RELAYING:
            self.answers.finish()  # the client's FIN came while connecting
        self.sides.release(CLIENT, "connecting")

    def connect_failed(self, reason: str) -> None:
        """The upstream connection could not be made (refused, DNS); ``reason`` says why."""
        self.timers.disarm(Timer.CONNECT)
        self.sides.move(UPSTREAM, SideEvent.FAILED)
        self.answers.upstream_failed(reason)

    def from_upstream(self, data: bytes, seen: Callable[[bytes, bool], None] | None = None) -> None:
        """Bytes read from the upstream. ``seen`` (a proxy writing a capture) is told of the read
        first, and whether a fault may change it on its way to the client (the capture keeps the
        server's side from the first such read)."""
        response = self.response
        outbox = response.outbox
        if (
            self.phase is _RELAYING
            and response.alarm_at is None
            and outbox.limit == QUEUE_LIMIT
            and self.mode is not _UNDECIDED
            and response.pipeline.consume_untouched(data)
        ):
            if seen is not None:
                seen(data, False)
            outbox.write(data)  # no fault is here: the bytes go out as they came, in this call
            return
        if seen is not None:
            seen(data, True)
        if self.mode is Mode.UNDECIDED:
            self.decide(Mode.TCP)  # the server spoke first: not an HTTP server
        if self.phase is Phase.RELAYING:
            response.feed(data)
        elif self.phase is Phase.REFUSING:
            response.feed(data)
            self.answers.answer_refusal()
        # otherwise the upstream is being closed: what it still sends is dropped

    def eof(self, side: Side) -> None:
        """A FIN from ``side``: it sends nothing more. Passed on as a FIN (a half-close). On a TLS
        side its ``close_notify`` may have ended its data already (:mod:`faultproxy.proxy.secure`)."""
        if side in self.secure.layers and not self.secure.fin(side):
            return
        self.ended(side)

    def ended(self, side: Side) -> None:
        """``side`` sends nothing more (its FIN, or its TLS ``close_notify``)."""
        self.port.note("eof", side=side)
        if self.sides.state[side] is SideState.WRITE_DONE:
            self.port.close(side, "fin")  # FIN both ways: this socket is finished
        self.sides.move(side, SideEvent.FIN_RECEIVED)
        phase = self.phase
        if side is CLIENT:
            if phase is Phase.UPSTREAM_DOWN:
                self.answers.upstream_down()
            elif phase is Phase.RELAYING or phase is Phase.REFUSING:
                self.answers.finish()
        elif phase is Phase.RELAYING or phase is Phase.REFUSING:
            self.response.finish()
            self.answers.answer_refusal()  # no response can come any more

    def lost(self, side: Side, reset: bool) -> None:
        """``side``'s socket is gone: closed by its peer (``reset``: with an RST), or by us."""
        self.port.note("closed", side=side, how="rst" if reset else "fin")
        self.sides.move(side, SideEvent.LOST)
        if side is CLIENT:
            self.timers.disarm(Timer.LINGER)
        if (
            side is UPSTREAM
            and self.phase is Phase.HANDSHAKING
            and self.sides.state[CLIENT] is not SideState.GONE
        ):
            self.secure.lost_in_handshake()  # a 502 naming the reason
        elif reset:
            # what the lost side sent and a fault still holds is dropped; its peer is reset too
            (self.response if side is UPSTREAM else self.request).cancel()
            self.close(PEER[side], "rst")
        elif side is CLIENT:
            self.close(UPSTREAM, "fin")  # nobody is left to read the answer (or: stop connecting)
        elif self.phase is Phase.REFUSING:
            self.answers.answer_refusal()  # no response can come any more
        elif self.phase is not Phase.ANSWERED and self.phase is not Phase.CLOSING:
            if self.response.outbox.idle:
                self.close(CLIENT, "fin")
            else:
                self.response.outbox.finish()  # the client gets what a fault delays, then the FIN
        self._check_gone()

    def timer_fired(self, timer: Timer) -> None:
        if timer is Timer.RESPONSE_WAIT:
            self.response.outbox.wake()
        elif timer is Timer.RESPONSE_ALARM:
            self.response.ring()
        elif timer is Timer.REQUEST_WAIT:
            self.request.outbox.wake()
        elif timer is Timer.REQUEST_ALARM:
            self.request.ring()
        else:
            self.timers.fired(timer)
            if timer is Timer.LINGER:
                self.close(CLIENT, "fin")
            elif timer is Timer.CONNECT and self.phase is Phase.CONNECTING:
                self.close(UPSTREAM, "abort")  # stop connecting
                self.answers.upstream_failed(f"connect timed out after {self.config.connect_timeout:g}s")
            elif timer is Timer.SNIFF:
                self.answers.upstream_down(silent=True)
            elif timer is Timer.CLIENT_TLS:
                self.secure.timed_out(CLIENT)
            elif timer is Timer.UPSTREAM_TLS:
                self.secure.timed_out(UPSTREAM)
            elif timer is Timer.HEADER:
                self.answers.header_timeout()
            elif timer is Timer.IDLE:
                self.deadlines.look_idle()

    def write_paused(self, side: Side) -> None:
        """``side``'s socket buffer is full: read nothing more from its peer meanwhile."""
        self.sides.hold(PEER[side], "backpressure")

    def write_resumed(self, side: Side) -> None:
        self.sides.release(PEER[side], "backpressure")

    def faults_changed(self) -> None:
        """The fault set changed: both directions pick the change up now (new faults start,
        removed ones' alarms go, queue limits apply) — once the connection has started."""
        if self.phase in (Phase.RELAYING, Phase.REFUSING, Phase.ANSWERED):
            self.request.sync()
            self.response.sync()

    def abort(self) -> None:
        """The proxy stops (or is disabled): both sockets go now, a connect in progress too."""
        if self.phase is Phase.CLOSED:
            return
        self.request.cancel()
        self.response.cancel()
        self.enter(Trigger.END)
        self.timers.disarm(Timer.CONNECT)
        self.close(CLIENT, "abort")
        self.close(UPSTREAM, "abort")
        self._check_gone()

    # -- the data path ---------------------------------------------------------------------

    def from_client(self, data: bytes) -> None:
        """Bytes read from the client (the plaintext, on a TLS side)."""
        if self.mode is Mode.UNDECIDED and not self.targets.undecided(data):
            return
        phase = self.phase
        if phase is Phase.RELAYING:
            self.answers.forward(data)
            self.deadlines.head_read()
        elif phase is Phase.CONNECTING or phase is Phase.HANDSHAKING:
            self.early.append(data)
            # whatever waits for the upstream must stay small, however fast the client sends
            self.sides.hold(CLIENT, "connecting")
        elif phase is Phase.UPSTREAM_DOWN:
            if self.mode is Mode.HTTP:
                self.answers.check_request(data)
            self.answers.upstream_down()
            if self.phase is Phase.UPSTREAM_DOWN and self.mode is Mode.HTTP:
                self.deadlines.head_read()  # still waiting for the request: its head is due in time
        # REFUSING: nothing more is read; ANSWERED: drained until the client closes (linger)

    def decide(self, mode: Mode) -> None:
        """``raw=None``: the connection is HTTP or plain TCP, from now on."""
        assert self.mode is Mode.UNDECIDED, "a connection's protocol is decided once"
        self.mode = mode
        self.targets.tunnel = None
        self.timers.disarm(Timer.SNIFF)
        if mode is Mode.TCP:
            self.request.pipeline.as_raw()
            self.response.pipeline.as_raw()
            self.port.note("protocol", relayed_as="tcp")
        elif self.answers.full is None:  # over the cap the 503 bounds it
            self.deadlines.start()

    # -- lifecycle ---------------------------------------------------------------------------

    def enter(self, trigger: Trigger) -> None:
        """Move to the phase the table gives for ``trigger`` (a move it does not list is a bug)."""
        self.phase = next_phase(self.phase, trigger)

    def close(self, side: Side, how: Ending) -> None:
        if how == "fin" and side in self.secure.layers and self.sides.state[side] in WRITABLE:
            self.secure.close_notify(side)  # a FIN to a TLS peer says it with close_notify first
        if self.sides.close(side, how):
            self._check_gone()  # it was still connecting: gone at once

    def _write_eof(self, side: Side) -> None:
        """A direction's FIN goes out (after everything queued before it)."""
        if side in self.secure.layers and self.sides.state[side] in WRITABLE:
            self.secure.close_notify(side)
        state = self.sides.write_eof(side)
        if side is CLIENT and state is SideState.WRITE_DONE and self.phase is Phase.ANSWERED:
            self.answers.linger()  # the answer is out: from now on the client gets a while to finish

    def _fault_close(self, how: Ending) -> None:
        """A fault ended the connection: both sides go, with a FIN or an RST as it asked."""
        self.port.note("fault_close", how=how)
        self.request.cancel()
        self.response.cancel()
        self.enter(Trigger.END)
        self.close(CLIENT, how)
        self.close(UPSTREAM, how)

    def _check_gone(self) -> None:
        """Both sockets gone: the connection is over, with no timer left behind."""
        if self.phase is Phase.CLOSED or not self.sides.gone:
            return
        self.request.cancel()
        self.response.cancel()
        self.timers.disarm_all()
        self.enter(Trigger.BOTH_GONE)
        self.port.done()
