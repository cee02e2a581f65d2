"""Playbooks for the connection core: events in, the exact commands expected out, no socket.

Written the way mitmproxy tests its layers::

    assert (
        Playbook()
        >> Opened()
        << Connect(UPSTREAM_ADDRESS) << Arm(Timer.CONNECT, 10.0)
        >> DataReceived(CLIENT, b"GET / HTTP/1.1\\r\\n\\r\\n")
        << Pause(CLIENT, "connecting")
    )

``>> event`` feeds the core an event; each ``<< command`` after it is a command the core must
give in answer, in order, and nothing else (capture notes are left out unless the playbook
asks for them with ``notes=True``). The clock is the playbook's: it stands still except that a
:class:`TimerFired` moves it to the time the timer was armed for — and the timer must be armed.
Adapter rules hold too: an event about a socket the core closed while connecting is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from faultproxy.faults import FaultSet, parse_fault
from faultproxy.net.addresses import Address
from faultproxy.proxy.core import ConnectionCore, RelayConfig
from faultproxy.proxy.limits import ProxyLimits
from faultproxy.proxy.states import CLIENT, UPSTREAM, Side, Timer

UPSTREAM_ADDRESS = Address("upstream.test", 8080)
NO_TIMEOUTS = ProxyLimits(header_timeout=None, idle_timeout=None)

# -- commands (what the core gives) -----------------------------------------------------------


@dataclass(frozen=True)
class Write:
    side: Side
    data: Any  # bytes, or a matcher such as StartsWith


@dataclass(frozen=True)
class WriteEof:
    side: Side


@dataclass(frozen=True)
class Close:
    side: Side
    how: str = "fin"


@dataclass(frozen=True)
class Pause:
    side: Side
    reason: str


@dataclass(frozen=True)
class Resume:
    side: Side
    reason: Any  # a matcher where the reason does not matter (Anything())


@dataclass(frozen=True)
class Connect:
    target: Address


@dataclass(frozen=True)
class Arm:
    timer: Timer
    at: float


@dataclass(frozen=True)
class Cancel:
    timer: Timer


@dataclass(frozen=True)
class Note:
    kind: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Done:
    pass


class StartsWith:
    """Matches bytes that start with ``prefix`` (a proxy answer whose text varies)."""

    def __init__(self, prefix: bytes):
        self.prefix = prefix

    def __eq__(self, other: object) -> bool:
        return isinstance(other, bytes) and other.startswith(self.prefix)

    def __repr__(self) -> str:
        return f"StartsWith({self.prefix!r})"


class Anything:
    def __eq__(self, other: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "Anything()"


class Recorder:
    """The core's :class:`~faultproxy.proxy.flow.Port`, recording each command as data."""

    def __init__(self) -> None:
        self.commands: list[object] = []
        self.armed: dict[Timer, float] = {}
        self.forgotten: set[Side] = set()  # sides closed while connecting: no event may follow
        self.connected: set[Side] = {CLIENT}
        self.finished = 0  # times done() was given

    def writer(self, side: Side, encrypt: Callable[[bytes], bytes] | None = None) -> Callable[[bytes], None]:
        return lambda data: self.commands.append(Write(side, data))

    def write_eof(self, side: Side) -> None:
        self.commands.append(WriteEof(side))

    def close(self, side: Side, how: str) -> None:
        if side not in self.connected:
            self.forgotten.add(side)
        self.commands.append(Close(side, how))

    def pause(self, side: Side, reason: str) -> None:
        self.commands.append(Pause(side, reason))

    def resume(self, side: Side, reason: str) -> None:
        self.commands.append(Resume(side, reason))

    def connect(self, target: Address) -> None:
        self.commands.append(Connect(target))

    def arm(self, timer: Timer, at: float) -> None:
        self.armed[timer] = at
        self.commands.append(Arm(timer, at))

    def cancel(self, timer: Timer) -> None:
        self.armed.pop(timer, None)
        self.commands.append(Cancel(timer))

    def note(self, kind: str, **fields: object) -> None:
        self.commands.append(Note(kind, fields))

    def answered(self, request: object, exchange: int) -> None:
        """Recorded as a note (left out unless the playbook asks for notes)."""
        self.commands.append(Note("answered", {"exchange": exchange}))

    def done(self) -> None:
        self.finished += 1
        self.commands.append(Done())


# -- events (what the core is fed) -------------------------------------------------------------


class Event:
    def apply(self, core: ConnectionCore, port: Recorder) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class Opened(Event):
    full: int | None = None  # the proxy is at its connection cap, this many

    def apply(self, core: ConnectionCore, port: Recorder) -> None:
        core.opened(self.full)


@dataclass(frozen=True)
class Connected(Event):
    def apply(self, core: ConnectionCore, port: Recorder) -> None:
        assert UPSTREAM not in port.forgotten, "the core gave this connect up: it cannot complete"
        port.connected.add(UPSTREAM)
        core.connected()


@dataclass(frozen=True)
class ConnectFailed(Event):
    reason: str = "connection refused"

    def apply(self, core: ConnectionCore, port: Recorder) -> None:
        assert UPSTREAM not in port.forgotten, "the core gave this connect up: it cannot fail"
        core.connect_failed(self.reason)


@dataclass(frozen=True)
class DataReceived(Event):
    side: Side
    data: bytes

    def apply(self, core: ConnectionCore, port: Recorder) -> None:
        assert self.side in port.connected, f"no {self.side} socket to read from"
        (core.from_client if self.side is CLIENT else core.from_upstream)(self.data)


@dataclass(frozen=True)
class EofReceived(Event):
    side: Side

    def apply(self, core: ConnectionCore, port: Recorder) -> None:
        assert self.side in port.connected, f"no {self.side} socket to read from"
        core.eof(self.side)


@dataclass(frozen=True)
class ConnectionLost(Event):
    side: Side
    reset: bool = False

    def apply(self, core: ConnectionCore, port: Recorder) -> None:
        assert self.side in port.connected, f"no {self.side} socket to lose"
        core.lost(self.side, self.reset)


@dataclass(frozen=True)
class TimerFired(Event):
    timer: Timer

    def apply(self, core: ConnectionCore, port: Recorder) -> None:
        assert self.timer in port.armed, f"{self.timer.name} is not armed"
        port.clock = port.armed.pop(self.timer)  # type: ignore[attr-defined]
        core.timer_fired(self.timer)


@dataclass(frozen=True)
class WritePaused(Event):
    side: Side

    def apply(self, core: ConnectionCore, port: Recorder) -> None:
        core.write_paused(self.side)


@dataclass(frozen=True)
class WriteResumed(Event):
    side: Side

    def apply(self, core: ConnectionCore, port: Recorder) -> None:
        core.write_resumed(self.side)


@dataclass(frozen=True)
class FaultsChanged(Event):
    """Add the fault ``spec`` to the proxy's fault set (or remove the one named ``remove``), then
    tell the core, as the proxy does."""

    spec: dict[str, Any] | None = None
    remove: str | None = None

    def apply(self, core: ConnectionCore, port: Recorder) -> None:
        faults: FaultSet = port.faults  # type: ignore[attr-defined]
        if self.spec is not None:
            faults.add(parse_fault(self.spec, index=len(faults.specs)))
        if self.remove is not None:
            faults.remove(self.remove)
        core.faults_changed()


@dataclass(frozen=True)
class Abort(Event):
    def apply(self, core: ConnectionCore, port: Recorder) -> None:
        core.abort()


# -- the playbook ------------------------------------------------------------------------------


class Playbook:
    """A script of events and the commands each must produce (see the module docstring)."""

    def __init__(
        self,
        *,
        raw: bool | None = False,
        faults: list[dict[str, Any]] | None = None,
        notes: bool = False,
        connect_timeout: float = 10.0,
        linger: float = 5.0,
        sniff_wait: float = 1.0,
        limits: ProxyLimits = NO_TIMEOUTS,
    ):
        """``limits``: none of the timeouts by default, so a playbook shows them only where it
        is about them."""
        self.config = RelayConfig(UPSTREAM_ADDRESS, raw, connect_timeout, linger, sniff_wait, limits)
        self.faults = FaultSet([parse_fault(f, index=i) for i, f in enumerate(faults or [])])
        self.notes = notes
        self.steps: list[tuple[Event, list[object]]] = []
        self.port = Recorder()
        self.port.faults = self.faults  # type: ignore[attr-defined]
        self.port.clock = 0.0  # type: ignore[attr-defined]
        self.core = ConnectionCore(self.config, self.faults, 1, self.port, lambda: self.port.clock)  # type: ignore[attr-defined]
        self._played = 0

    def __rshift__(self, event: Event) -> Playbook:
        self.steps.append((event, []))
        return self

    def __lshift__(self, command: object) -> Playbook:
        assert self.steps, "a command is expected in answer to an event: write >> event first"
        self.steps[-1][1].append(command)
        return self

    def __bool__(self) -> bool:
        """Play the steps not played yet; an AssertionError says where the core went its own way."""
        for number, (event, expected) in enumerate(self.steps[self._played :], start=self._played + 1):
            start = len(self.port.commands)
            event.apply(self.core, self.port)
            got = [c for c in self.port.commands[start:] if self.notes or not isinstance(c, Note)]
            if got != expected:
                raise AssertionError(
                    f"step {number}: >> {event}\n  expected:\n"
                    + "".join(f"    << {c}\n" for c in expected)
                    + "  got:\n"
                    + "".join(f"    << {c}\n" for c in got)
                )
        self._played = len(self.steps)
        return True

    @property
    def phase(self) -> str:
        return self.core.phase.name
