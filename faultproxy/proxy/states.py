"""The states of a relayed connection and every transition between them, as data.

Rule 1: every state a connection can be in, and every move between states, is in the tables
here; :class:`~faultproxy.proxy.core.ConnectionCore` only ever changes state through
:func:`next_phase` and :func:`next_side_state`, which refuse a move the tables do not list.

Rule 2: every state has a way to ``CLOSED``. A connection is closed when both of its sockets
are gone (:attr:`Trigger.BOTH_GONE`), and each state either bounds how long it lasts (a timer,
a response that must end) or closes a socket when its peer goes; ``tests/proxy/test_core.py``
checks the tables for it and drives random event sequences to ``CLOSED``.

Two small machines make up a connection (docs/connection-core.md draws them):

- the connection's :class:`Phase`: what the proxy is doing with it (relaying, refusing a
  malformed request, answering itself, …);
- each socket's :class:`SideState`: which halves of the TCP connection are still open.

Whether a ``raw=None`` connection is HTTP or plain TCP is a third, tiny one
(:class:`Mode`), decided once from the first bytes.

TLS and forward mode are phases and triggers here too: ``TARGET`` (a forward proxy reading the
request that names its upstream) and ``HANDSHAKING`` (the upstream's TLS handshake, before
``RELAYING``); the client's TLS handshake runs beside the others, bounded by its own timer
(docs/connection-core.md). The limits (:mod:`faultproxy.proxy.limits`) are timers and triggers
here: a head over a limit is ``REQUEST_MALFORMED`` (a 414, a 431), the header timer an
``ANSWER`` (a 408) or an ``END``, the idle timer an ``END``, a client over the connection cap
``OVER_CAPACITY`` (a 503).
"""

from __future__ import annotations

from enum import Enum, StrEnum


class Side(StrEnum):
    """The two sockets of a relayed connection."""

    CLIENT = "client"
    UPSTREAM = "upstream"


CLIENT, UPSTREAM = Side.CLIENT, Side.UPSTREAM
PEER = {CLIENT: UPSTREAM, UPSTREAM: CLIENT}


class Phase(Enum):
    """What the proxy is doing with a connection."""

    TARGET = "target"  # forward mode: reading the client's first request, which names the upstream
    CONNECTING = "connecting"  # the upstream connection is being made; the client's first bytes wait
    HANDSHAKING = "handshaking"  # the upstream's TLS handshake; the client's bytes still wait
    RELAYING = "relaying"  # both sides connected: bytes flow both ways through the faults
    # no upstream (the connect failed, or the proxy is at its connection cap): waiting to see
    # what the client wants (a 502 or a 503, or a close)
    UPSTREAM_DOWN = "upstream down"
    REFUSING = (
        "refusing"  # a malformed request: its 400 (414, 431, 408, 505) waits for the responses due before it
    )
    ANSWERED = "answered"  # the proxy answered (400, 502, …): the client is drained until it closes (linger)
    CLOSING = "closing"  # the proxy ended the connection: waiting for the sockets to be gone
    CLOSED = "closed"  # both sockets gone: the connection is done


class Trigger(Enum):
    """What moves a connection from one phase to another."""

    TARGET_KNOWN = "forward mode: the client's request names the upstream (CONNECT or an absolute URL)"
    UPSTREAM_TLS = "the upstream connection is made, and its TLS handshake starts"
    UPSTREAM_CONNECTED = "the upstream connection is made (and its TLS handshake done)"
    INTERCEPT = "a CONNECT tunnel opens with TLS to intercept: the upstream's handshake starts"
    UPSTREAM_FAILED = "the upstream connection failed (refused, DNS, timeout)"
    OVER_CAPACITY = "the proxy is at its connection cap: no upstream connection is made (a 503)"
    REQUEST_MALFORMED = (
        "a request cannot be parsed or is over a limit (the proxy will answer 400, 414, 431, 408)"
    )
    ANSWER = "the proxy answers the client itself, or ends its side after the upstream's end"
    END = "the proxy ends the connection (a fault's close, a reset passed on, shutdown)"
    BOTH_GONE = "both sockets are gone"


P, T = Phase, Trigger
PHASE_TRANSITIONS: dict[Phase, dict[Trigger, Phase]] = {
    P.TARGET: {
        T.TARGET_KNOWN: P.CONNECTING,
        T.OVER_CAPACITY: P.UPSTREAM_DOWN,
        T.ANSWER: P.ANSWERED,
        T.END: P.CLOSING,
        T.BOTH_GONE: P.CLOSED,
    },
    P.CONNECTING: {
        T.UPSTREAM_CONNECTED: P.RELAYING,
        T.UPSTREAM_TLS: P.HANDSHAKING,
        T.UPSTREAM_FAILED: P.UPSTREAM_DOWN,
        T.OVER_CAPACITY: P.UPSTREAM_DOWN,
        T.ANSWER: P.ANSWERED,
        T.END: P.CLOSING,
        T.BOTH_GONE: P.CLOSED,
    },
    P.HANDSHAKING: {
        T.UPSTREAM_CONNECTED: P.RELAYING,
        T.UPSTREAM_FAILED: P.UPSTREAM_DOWN,
        T.END: P.CLOSING,
        T.BOTH_GONE: P.CLOSED,
    },
    P.RELAYING: {
        T.INTERCEPT: P.HANDSHAKING,
        T.REQUEST_MALFORMED: P.REFUSING,
        T.ANSWER: P.ANSWERED,
        T.END: P.CLOSING,
        T.BOTH_GONE: P.CLOSED,
    },
    P.UPSTREAM_DOWN: {T.ANSWER: P.ANSWERED, T.END: P.CLOSING, T.BOTH_GONE: P.CLOSED},
    P.REFUSING: {T.ANSWER: P.ANSWERED, T.END: P.CLOSING, T.BOTH_GONE: P.CLOSED},
    P.ANSWERED: {T.END: P.CLOSING, T.BOTH_GONE: P.CLOSED},
    P.CLOSING: {T.END: P.CLOSING, T.BOTH_GONE: P.CLOSED},
    P.CLOSED: {},
}


class SideState(Enum):
    """One socket of a connection: which halves of it are still open."""

    CONNECTING = "connecting"  # the upstream socket is being connected
    OPEN = "open"
    READ_DONE = "read done"  # its FIN came: it sends nothing more, we may still write to it
    WRITE_DONE = "write done"  # we sent it our FIN: we write nothing more, it may still send
    CLOSING = "closing"  # told to close (or reset): waiting for it to report gone
    GONE = "gone"  # closed, or never connected


class SideEvent(Enum):
    CONNECTED = "connected"
    FAILED = "the connect failed"
    FIN_RECEIVED = "its FIN came"
    FIN_SENT = "we sent our FIN (a close, when its FIN came already)"
    CLOSE = "we close it (FIN or RST); a connect in progress is cancelled"
    LOST = "the socket reports it is gone"


S, E = SideState, SideEvent
_LIVE = (S.OPEN, S.READ_DONE, S.WRITE_DONE)
SIDE_TRANSITIONS: dict[SideState, dict[SideEvent, SideState]] = {
    S.CONNECTING: {E.CONNECTED: S.OPEN, E.FAILED: S.GONE, E.CLOSE: S.GONE},
    S.OPEN: {E.FIN_RECEIVED: S.READ_DONE, E.FIN_SENT: S.WRITE_DONE, E.CLOSE: S.CLOSING, E.LOST: S.GONE},
    S.READ_DONE: {E.FIN_SENT: S.CLOSING, E.CLOSE: S.CLOSING, E.LOST: S.GONE},
    S.WRITE_DONE: {E.FIN_RECEIVED: S.CLOSING, E.CLOSE: S.CLOSING, E.LOST: S.GONE},
    S.CLOSING: {E.FIN_RECEIVED: S.CLOSING, E.CLOSE: S.CLOSING, E.LOST: S.GONE},  # a FIN already on its way
    S.GONE: {E.CLOSE: S.GONE},
}
WRITABLE = frozenset({S.OPEN, S.READ_DONE})  # states in which bytes may be written to a socket
LIVE = frozenset(_LIVE)  # connected and not told to close


class Mode(Enum):
    """What a connection speaks: fixed by ``raw`` (True: TCP, False: HTTP), or found out from the
    first bytes (``raw=None``)."""

    UNDECIDED = "undecided"
    HTTP = "http"
    TCP = "tcp"


class Timer(Enum):
    """The timers a connection may have armed (one of each at most)."""

    CONNECT = "connect timeout"
    CLIENT_TLS = "the client's TLS handshake timeout"
    UPSTREAM_TLS = "the upstream's TLS handshake timeout"
    SNIFF = "raw=None with the upstream down: how long a silent client may take to speak"
    LINGER = "lingering close after the proxy's own answer"
    HEADER = "a request head must be whole by then: a 408, or a close if nothing of it came"
    IDLE = "the next look at whether a kept-alive connection has been idle for the idle timeout"
    REQUEST_ALARM = "the next alarm of a fault on requests"
    RESPONSE_ALARM = "the next alarm of a fault on responses"
    REQUEST_WAIT = "a fault's wait on requests (latency, a stall)"
    RESPONSE_WAIT = "a fault's wait on responses"


class TransitionError(RuntimeError):
    """A move the tables do not allow: a bug in the core, never a peer's doing."""


def next_phase(phase: Phase, trigger: Trigger) -> Phase:
    try:
        return PHASE_TRANSITIONS[phase][trigger]
    except KeyError:
        raise TransitionError(f"no transition from {phase.name} on {trigger.name}") from None


def next_side_state(state: SideState, event: SideEvent) -> SideState:
    try:
        return SIDE_TRANSITIONS[state][event]
    except KeyError:
        raise TransitionError(f"no side transition from {state.name} on {event.name}") from None
