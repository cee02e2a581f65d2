"""The parts of a connection core that are not its lifecycle: the two sockets' bookkeeping,
and each direction's pipeline, outbox and alarm timer.

Sans-IO: what they need done goes out as commands on the :class:`Port`, the interface the
asyncio adapter (:mod:`faultproxy.proxy.relay`) implements and the playbook tests record.
docs/connection-core.md lists the commands.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Literal, Protocol

from faultproxy.faults.pipeline import Output, Pipeline
from faultproxy.net.addresses import Address
from faultproxy.proxy.outbox import QUEUE_LIMIT, Outbox, Sink, discard
from faultproxy.proxy.states import (
    CLIENT,
    LIVE,
    UPSTREAM,
    WRITABLE,
    Side,
    SideEvent,
    SideState,
    Timer,
    next_side_state,
)
from faultproxy.wire.errors import WireError
from faultproxy.wire.http import Request

Ending = Literal["fin", "rst", "abort"]


class Port(Protocol):
    """The commands a :class:`~faultproxy.proxy.core.ConnectionCore` gives: all it needs done
    outside itself. The adapter carries each out at once; a test records them."""

    def writer(self, side: Side, encrypt: Callable[[bytes], bytes] | None = None) -> Callable[[bytes], None]:
        """The write command for ``side``, as a callable that sends bytes on its socket (asked
        for once the socket exists and each time it starts taking bytes again, never per write:
        the fast path writes through it straight to the socket). On a side that speaks TLS the
        bytes are plaintext: captured as they are, then ``encrypt`` (the side's
        :meth:`TLSLayer.send <faultproxy.tls.TLSLayer.send>`) makes the records the socket gets."""

    def write_tls(self, side: Side, records: bytes) -> None:
        """Bytes the core writes outside the relayed stream -- the TLS records it made itself (a
        handshake message, an alert, ``close_notify``), forward mode's ``200 Connection
        Established``, the plain 400 for plain HTTP sent to a TLS port: to the socket as they are,
        never captured (no client or server said them)."""

    def secure(self, side: Side, decrypt: Callable[[bytes, Callable[[bytes], None]], None]) -> None:
        """The side's socket carries TLS from now on: each read goes to ``decrypt`` together with
        the function the side's plaintext went to until now (the core's own event, or the
        capture's wrapper of it), which ``decrypt`` hands the plaintext to."""

    def write_eof(self, side: Side) -> None:
        """Send our FIN (a half-close); a socket that cannot half-close is closed instead."""

    def close(self, side: Side, how: Ending) -> None:
        """``fin``: close after what is written; ``rst``: reset (SO_LINGER 0); ``abort``: close now,
        dropping what is buffered. For an upstream still connecting: stop connecting (no event
        about that side follows)."""

    def pause(self, side: Side, reason: str) -> None:
        """Stop reading from the side (``reason``: why; it may be given for the record only)."""

    def resume(self, side: Side, reason: str) -> None:
        """Read from the side again (``reason``: the last reason to pause that went away)."""

    def connect(self, target: Address) -> None:
        """Open the upstream connection; the result comes back as ``connected`` or ``connect_failed``."""

    def arm(self, timer: Timer, at: float) -> None:
        """Call ``timer_fired(timer)`` at time ``at`` on the core's clock (replacing an earlier arm)."""

    def cancel(self, timer: Timer) -> None:
        """The timer must not fire (it may not be armed)."""

    def note(self, kind: str, **fields: object) -> None:
        """A record for the capture (``eof``, ``closed``, ``refused``, ``upstream_error``, …)."""

    def answered(self, request: Request, exchange: int) -> None:
        """A record for the capture: the proxy answers ``request`` (exchange number ``exchange``)
        itself, with a fault's answer or a 502; it never reaches the upstream."""

    def done(self) -> None:
        """The connection is over: both sockets are gone and no timer is armed."""


class Sides:
    """The two sockets as the core sees them: each one's state (per the side table in
    :mod:`faultproxy.proxy.states`), the reasons reading from it is paused, and where to write
    to it (its :class:`Sink`)."""

    __slots__ = ("_port", "encrypt", "holds", "sinks", "state")

    def __init__(self, port: Port):
        self._port = port
        self.state: dict[Side, SideState] = {CLIENT: SideState.OPEN, UPSTREAM: SideState.CONNECTING}
        self.holds: dict[Side, set[str]] = {CLIENT: set(), UPSTREAM: set()}
        self.sinks: dict[Side, Sink] = {CLIENT: Sink(), UPSTREAM: Sink()}
        self.encrypt: dict[Side, Callable[[bytes], bytes] | None] = {CLIENT: None, UPSTREAM: None}

    def move(self, side: Side, event: SideEvent) -> SideState:
        before = self.state[side]
        state = self.state[side] = next_side_state(before, event)
        if (before in WRITABLE) is not (state in WRITABLE):
            self.sinks[side].write = (
                self._port.writer(side, self.encrypt[side]) if state in WRITABLE else discard
            )
        return state

    def opened(self, side: Side) -> None:
        """The side's socket exists (the client's, accepted): it takes bytes from now on."""
        self.sinks[side].write = self._port.writer(side, self.encrypt[side])

    def encrypted(self, side: Side, encrypt: Callable[[bytes], bytes]) -> None:
        """What is written to ``side`` goes through ``encrypt`` (its TLS) from now on."""
        self.encrypt[side] = encrypt
        if self.state[side] in WRITABLE:
            self.sinks[side].write = self._port.writer(side, encrypt)

    def hold(self, side: Side, reason: str) -> None:
        """Pause reading from ``side`` for ``reason`` (it stays paused while any reason holds)."""
        holds = self.holds[side]
        if not holds and self.state[side] in LIVE:
            self._port.pause(side, reason)
        holds.add(reason)

    def release(self, side: Side, reason: str) -> None:
        holds = self.holds[side]
        if reason in holds:
            holds.discard(reason)
            if not holds and self.state[side] in LIVE:
                self._port.resume(side, reason)

    def release_all(self, side: Side, reason: str) -> None:
        """Read from ``side`` again whatever held it (``reason``: why, for the record)."""
        if self.holds[side]:
            self.holds[side].clear()
            if self.state[side] in LIVE:
                self._port.resume(side, reason)

    def connected(self, side: Side) -> None:
        """The side's socket exists now: a pause asked for before applies from here."""
        self.move(side, SideEvent.CONNECTED)
        if self.holds[side]:
            self._port.pause(side, min(self.holds[side]))

    def write_eof(self, side: Side) -> SideState:
        """Our FIN to ``side``: a half-close, or the close when its FIN came already."""
        state = self.state[side]
        if state is SideState.OPEN:
            self._port.write_eof(side)
        elif state is SideState.READ_DONE:
            self._port.close(side, "fin")
        else:
            return state  # closing or gone: nothing more to say to it
        return self.move(side, SideEvent.FIN_SENT)

    def close(self, side: Side, how: Ending) -> bool:
        """Close ``side`` (cancel it, if it is still connecting). True when it is gone at once."""
        state = self.state[side]
        if state is SideState.CLOSING or state is SideState.GONE:
            return state is SideState.GONE
        self._port.close(side, how)
        return self.move(side, SideEvent.CLOSE) is SideState.GONE

    @property
    def gone(self) -> bool:
        return self.state[CLIENT] is SideState.GONE and self.state[UPSTREAM] is SideState.GONE


class Timers:
    """The lifecycle timers a core has armed (connect, sniff, linger); each flow keeps its own."""

    __slots__ = ("_armed", "_port")

    def __init__(self, port: Port):
        self._port = port
        self._armed: set[Timer] = set()

    def __contains__(self, timer: Timer) -> bool:
        return timer in self._armed

    def arm(self, timer: Timer, at: float) -> None:
        self._armed.add(timer)
        self._port.arm(timer, at)

    def disarm(self, timer: Timer) -> None:
        if timer in self._armed:
            self._armed.discard(timer)
            self._port.cancel(timer)

    def fired(self, timer: Timer) -> None:
        self._armed.discard(timer)

    def disarm_all(self) -> None:
        for timer in sorted(self._armed, key=lambda t: t.name):
            self.disarm(timer)


class Flow:
    """One direction of a connection: its fault pipeline, its outbox, and the timer of its
    faults' next alarm (re-armed after each push; see :meth:`push`)."""

    __slots__ = ("_alarm", "_clock", "_port", "alarm_at", "outbox", "pipeline")

    def __init__(
        self, pipeline: Pipeline, outbox: Outbox, alarm: Timer, port: Port, clock: Callable[[], float]
    ):
        self.pipeline = pipeline
        self.outbox = outbox
        self._alarm = alarm
        self._port = port
        self._clock = clock
        self.alarm_at: float | None = None  # when the armed alarm timer fires (None: not armed)

    @classmethod
    def between(
        cls,
        source: Side,
        sink: Side,
        pipeline: Pipeline,
        sides: Sides,
        *,
        timers: tuple[Timer, Timer],
        write_eof: Callable[[], None],
        close: Callable[[Literal["fin", "rst"]], None],
        port: Port,
        clock: Callable[[], float],
    ) -> Flow:
        """The flow from ``source`` to ``sink``; ``timers``: its alarm timer and its wait timer."""
        alarm, wait = timers
        outbox = Outbox(
            sink=sides.sinks[sink],
            write_eof=write_eof,
            close=close,
            pause_source=partial(sides.hold, source, "fault"),
            resume_source=partial(sides.release, source, "fault"),
            arm=partial(port.arm, wait),
            disarm=partial(port.cancel, wait),
            clock=clock,
        )
        return cls(pipeline, outbox, alarm, port, clock)

    def push(self, items: list[Output]) -> None:
        """Hand a pipeline's output to the outbox, with the queue limit its faults ask for now,
        and (re)arm the timer of the pipeline's next alarm."""
        pipeline, outbox = self.pipeline, self.outbox
        if pipeline.instances.quiet and outbox.limit == QUEUE_LIMIT and self.alarm_at is None:
            outbox.push(items)  # the common case, kept short: it runs for every read
            return
        outbox.set_limit(pipeline.instances.queue_limit)
        outbox.push(items)
        at = pipeline.next_alarm if not outbox.done else None
        if at == self.alarm_at:
            return
        if self.alarm_at is not None:
            self._port.cancel(self._alarm)
        self.alarm_at = at
        if at is not None:
            self._port.arm(self._alarm, at)

    def feed(self, data: bytes) -> None:
        """Bytes read from the source (raises :class:`WireError` for a malformed request)."""
        self.push(self.pipeline.feed(data, self._clock()))

    def ring(self) -> None:
        """The alarm timer fired."""
        at, self.alarm_at = self.alarm_at, None
        if not self.outbox.done:
            self.push(self.pipeline.alarm(max(self._clock(), at or 0.0)))

    def sync(self) -> None:
        """The fault set changed (or the connection just started): pick the change up now."""
        self.push(self.pipeline.sync(self._clock()))

    def finish(self) -> None:
        """The source sent its FIN: flush the pipeline, then pass the FIN on after what waits."""
        try:
            self.push(self.pipeline.eof(self._clock()))
        except WireError:
            pass  # a request cut short: the FIN passed on tells the server just that
        self.outbox.finish()

    def cancel(self) -> None:
        """Nothing more goes out this way: drop what waits, and the timers."""
        if self.alarm_at is not None:
            self._port.cancel(self._alarm)
            self.alarm_at = None
        self.outbox.cancel()
