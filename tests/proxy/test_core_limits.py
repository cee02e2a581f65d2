"""The limits as states of the connection core, played without sockets (see :mod:`playbook`):
the header timer (a 408, or a close when nothing came), the idle timer (a close, never while a
response is in progress), a head over a limit (a 431 in its turn), a client over the
connection cap (a 503 and no upstream connection), none of it for TCP. At the end, random event
sequences with the limits on must all end ``CLOSED`` with no timer left."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from playbook import (
    UPSTREAM_ADDRESS,
    Anything,
    Arm,
    Cancel,
    Close,
    Connect,
    Connected,
    ConnectionLost,
    DataReceived,
    Done,
    EofReceived,
    Note,
    Opened,
    Pause,
    Playbook,
    Resume,
    StartsWith,
    TimerFired,
    Write,
    WriteEof,
)
from test_core import EVENTS, FAULT_MIXES, HEAD_CHUNKED, OK, play_to_the_end

from faultproxy.proxy.limits import ProxyLimits
from faultproxy.proxy.states import CLIENT, UPSTREAM, Timer
from faultproxy.wire.limits import HeadLimits

# a head of at most 200 bytes, lines of 60, 4 fields; a head due within 30 s; idle after 60 s,
# looked at every 15 s
LIMITS = ProxyLimits(
    HeadLimits(max_head=200, max_line=60, max_fields=4), header_timeout=30.0, idle_timeout=60.0
)
GET = b"GET /events HTTP/1.1\r\nHost: upstream\r\n\r\n"
ANSWER_408 = StartsWith(b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain")
ANSWER_503 = StartsWith(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain")


def relaying(**options: object) -> Playbook:
    """Accepted and connected, with the limits on: the header and idle timers run from the start."""
    return (
        Playbook(limits=LIMITS, **options)  # type: ignore[arg-type]
        >> Opened()
        << Connect(UPSTREAM_ADDRESS)
        << Arm(Timer.CONNECT, 10.0)
        << Arm(Timer.HEADER, 30.0)
        << Arm(Timer.IDLE, 15.0)
        >> Connected()
        << Cancel(Timer.CONNECT)
    )


def answered_then_lingering(playbook: Playbook) -> Playbook:
    return playbook << Cancel(Timer.IDLE) << Close(UPSTREAM) << Resume(CLIENT, Anything()) << WriteEof(CLIENT)


# -- the header timer ------------------------------------------------------------------------


def test_a_head_not_whole_by_the_header_timeout_is_a_408_then_a_lingering_close() -> None:
    assert (
        answered_then_lingering(
            relaying(notes=True)
            >> DataReceived(CLIENT, GET[:12])
            << Write(UPSTREAM, GET[:12])
            >> TimerFired(Timer.IDLE)  # not idle: a head has begun
            << Arm(Timer.IDLE, 30.0)
            >> DataReceived(CLIENT, GET[12:20])  # more of it: the timer still counts from the start
            << Write(UPSTREAM, GET[12:20])
            >> TimerFired(Timer.HEADER)
            << Note("refused", {"reason": "faultproxy: request head not complete after 30s", "answer": "408"})
            << Pause(CLIENT, "refused")
            << Write(CLIENT, ANSWER_408)
        )
        << Arm(Timer.LINGER, 35.0)
    )


def test_a_client_that_sends_nothing_is_closed_by_the_header_timeout_without_an_answer() -> None:
    playbook = (
        relaying(notes=True)
        >> TimerFired(Timer.IDLE)
        << Arm(Timer.IDLE, 30.0)
        >> TimerFired(Timer.HEADER)
        << Note("timeout", {"limit": "header_timeout", "seconds": 30.0})
        << Cancel(Timer.IDLE)
        << Close(CLIENT)
        << Close(UPSTREAM)
        >> ConnectionLost(CLIENT)
        << Note("closed", {"side": CLIENT, "how": "fin"})
        >> ConnectionLost(UPSTREAM)
        << Note("closed", {"side": UPSTREAM, "how": "fin"})
        << Done()
    )
    assert playbook
    assert playbook.phase == "CLOSED"


def test_a_whole_head_stops_the_header_timer_and_the_next_heads_first_byte_starts_it_again() -> None:
    assert (
        relaying()
        >> DataReceived(CLIENT, GET)
        << Write(UPSTREAM, GET)
        << Cancel(Timer.HEADER)
        >> DataReceived(UPSTREAM, OK)
        << Write(CLIENT, OK)
        >> TimerFired(Timer.IDLE)  # t=15
        << Arm(Timer.IDLE, 30.0)
        >> DataReceived(CLIENT, GET[:5])  # the next request begins: 30 s from now
        << Write(UPSTREAM, GET[:5])
        << Arm(Timer.HEADER, 45.0)
        >> DataReceived(CLIENT, GET[5:])
        << Write(UPSTREAM, GET[5:])
        << Cancel(Timer.HEADER)
    )


def test_a_head_that_began_while_the_upstream_connects_is_a_408_and_the_connect_stops() -> None:
    assert (
        Playbook(limits=ProxyLimits(header_timeout=5.0, idle_timeout=None))
        >> Opened()
        << Connect(UPSTREAM_ADDRESS)
        << Arm(Timer.CONNECT, 10.0)
        << Arm(Timer.HEADER, 5.0)
        >> DataReceived(CLIENT, GET[:12])
        << Pause(CLIENT, "connecting")
        >> TimerFired(Timer.HEADER)
        << Write(CLIENT, ANSWER_408)
        << Cancel(Timer.CONNECT)
        << Close(UPSTREAM)  # stops connecting
        << Resume(CLIENT, Anything())
        << WriteEof(CLIENT)
        << Arm(Timer.LINGER, 10.0)
    )


# -- the idle timer --------------------------------------------------------------------------


def test_a_kept_alive_connection_idle_for_the_idle_timeout_is_closed() -> None:
    """The first look that finds it idle starts the count: closed 60 s after the look at 15 s,
    75 s after the response ended — between one and 1.25 timeouts, never sooner."""
    playbook = (
        relaying(notes=True)
        >> DataReceived(CLIENT, GET)
        << Write(UPSTREAM, GET)
        << Cancel(Timer.HEADER)
        >> DataReceived(UPSTREAM, OK)
        << Write(CLIENT, OK)
    )
    for at in (30.0, 45.0, 60.0, 75.0):
        playbook = playbook >> TimerFired(Timer.IDLE) << Arm(Timer.IDLE, at)
    assert (
        playbook
        >> TimerFired(Timer.IDLE)  # t=75
        << Note("timeout", {"limit": "idle_timeout", "seconds": 60.0})
        << Close(CLIENT)
        << Close(UPSTREAM)
    )


def test_a_request_and_its_response_between_two_looks_start_the_count_again() -> None:
    playbook = (
        relaying()
        >> DataReceived(CLIENT, GET)
        << Write(UPSTREAM, GET)
        << Cancel(Timer.HEADER)
        >> DataReceived(UPSTREAM, OK)
        << Write(CLIENT, OK)
        >> TimerFired(Timer.IDLE)
        << Arm(Timer.IDLE, 30.0)  # t=15: idle from here
        >> TimerFired(Timer.IDLE)
        << Arm(Timer.IDLE, 45.0)
        >> TimerFired(Timer.IDLE)
        << Arm(Timer.IDLE, 60.0)
        >> DataReceived(CLIENT, GET)
        << Write(UPSTREAM, GET)  # at t=45 a whole request, answered
        >> DataReceived(UPSTREAM, OK)
        << Write(CLIENT, OK)
        >> TimerFired(Timer.IDLE)
        << Arm(Timer.IDLE, 75.0)  # t=60: idle again, but messages were read
    )
    for at in (90.0, 105.0, 120.0):
        playbook = playbook >> TimerFired(Timer.IDLE) << Arm(Timer.IDLE, at)
    assert playbook >> TimerFired(Timer.IDLE) << Close(CLIENT) << Close(UPSTREAM)  # t=120: 60 s after t=60


def test_a_stalled_response_is_no_idle_connection() -> None:
    """A stream the upstream (or a fault) holds still is a request in progress: never closed."""
    playbook = (
        relaying()
        >> DataReceived(CLIENT, GET)
        << Write(UPSTREAM, GET)
        << Cancel(Timer.HEADER)
        >> DataReceived(UPSTREAM, HEAD_CHUNKED)
        << Write(CLIENT, HEAD_CHUNKED)
    )
    for n in range(2, 30):
        playbook = playbook >> TimerFired(Timer.IDLE) << Arm(Timer.IDLE, 15.0 * n)
    assert playbook
    assert playbook.phase == "RELAYING"


# -- a head over a limit -----------------------------------------------------------------------


def test_a_head_over_a_limit_is_answered_with_its_status_never_forwarded() -> None:
    head = b"GET / HTTP/1.1\r\n" + b"X: 1\r\n" * 5 + b"\r\n"
    assert answered_then_lingering(
        relaying(notes=True)
        >> DataReceived(CLIENT, head)
        << Note(
            "refused",
            {
                "reason": "faultproxy: request over a limit: more than 4 header fields (at byte 40)",
                "answer": "431",
            },
        )
        << Cancel(Timer.HEADER)
        << Pause(CLIENT, "refused")
        << Write(CLIENT, StartsWith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"))
    ) << Arm(Timer.LINGER, 5.0)


def test_a_head_over_a_limit_waits_for_the_response_streaming_before_it() -> None:
    assert answered_then_lingering(
        relaying()
        >> DataReceived(CLIENT, GET)
        << Write(UPSTREAM, GET)
        << Cancel(Timer.HEADER)
        >> DataReceived(UPSTREAM, HEAD_CHUNKED)
        << Write(CLIENT, HEAD_CHUNKED)
        >> DataReceived(CLIENT, b"GET /" + b"a" * 61)  # a request line over 60 bytes, pipelined
        << Pause(CLIENT, "refused")
        >> DataReceived(UPSTREAM, b"0\r\n\r\n")
        << Write(CLIENT, b"0\r\n\r\n")
        << Write(CLIENT, StartsWith(b"HTTP/1.1 414 URI Too Long\r\n"))  # after the response, not in it
    ) << Arm(Timer.LINGER, 5.0)


# -- the connection cap ------------------------------------------------------------------------


def test_a_client_over_the_cap_gets_a_503_and_no_upstream_connection() -> None:
    playbook = (
        Playbook(limits=LIMITS, notes=True)
        >> Opened(full=3)
        << Note(
            "refused",
            {
                "reason": "faultproxy: too many connections: the proxy relays at most 3 at once",
                "answer": "503",
                "limit": "connections",
            },
        )
        << Write(CLIENT, ANSWER_503)
        << WriteEof(CLIENT)
        << Arm(Timer.LINGER, 1.0)  # a short lingering close: the few places over the cap stay free
        >> DataReceived(CLIENT, GET)  # its request, read and dropped by the lingering close
        >> EofReceived(CLIENT)
        << Note("eof", {"side": CLIENT})
        << Close(CLIENT)
        >> ConnectionLost(CLIENT)
        << Note("closed", {"side": CLIENT, "how": "fin"})
        << Cancel(Timer.LINGER)
        << Done()
    )
    assert playbook
    assert playbook.phase == "CLOSED"


def test_a_tcp_client_over_the_cap_is_closed() -> None:
    assert (
        Playbook(raw=True, limits=LIMITS)
        >> Opened(full=3)
        << Close(CLIENT)
        >> ConnectionLost(CLIENT)
        << Done()
    )


def test_an_undecided_client_over_the_cap_gets_its_503_once_it_shows_http() -> None:
    assert (
        Playbook(raw=None, limits=LIMITS)
        >> Opened(full=3)
        << Arm(Timer.SNIFF, 1.0)
        >> DataReceived(CLIENT, GET)
        << Cancel(Timer.SNIFF)
        << Write(CLIENT, ANSWER_503)
        << WriteEof(CLIENT)
        << Arm(Timer.LINGER, 1.0)
    )


# -- TCP has no heads ----------------------------------------------------------------------------


def test_tcp_gets_no_header_or_idle_timer() -> None:
    assert (
        Playbook(raw=True, limits=LIMITS)
        >> Opened()
        << Connect(UPSTREAM_ADDRESS)
        << Arm(Timer.CONNECT, 10.0)
        >> Connected()
        << Cancel(Timer.CONNECT)
        >> DataReceived(CLIENT, b"\x16\x03\x01")
        << Write(UPSTREAM, b"\x16\x03\x01")
    )


def test_auto_mode_arms_them_once_the_client_shows_http_and_never_for_tcp() -> None:
    assert (
        Playbook(raw=None, limits=LIMITS)
        >> Opened()
        << Connect(UPSTREAM_ADDRESS)
        << Arm(Timer.CONNECT, 10.0)
        >> Connected()
        << Cancel(Timer.CONNECT)
        >> DataReceived(CLIENT, GET[:12])
        << Arm(Timer.HEADER, 30.0)
        << Arm(Timer.IDLE, 15.0)
        << Write(UPSTREAM, GET[:12])
    )
    assert (
        Playbook(raw=None, limits=LIMITS)
        >> Opened()
        << Connect(UPSTREAM_ADDRESS)
        << Arm(Timer.CONNECT, 10.0)
        >> Connected()
        << Cancel(Timer.CONNECT)
        >> DataReceived(UPSTREAM, b"220 smtp ready\r\n")  # a server that speaks first: TCP
        << Write(CLIENT, b"220 smtp ready\r\n")
    )


# -- whatever happens, the end ------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    raw=st.sampled_from([False, None, True]),
    faults=FAULT_MIXES,
    full=st.sampled_from([None, None, 1]),
    events=st.lists(EVENTS, max_size=30),
)
def test_with_the_limits_on_any_sequence_of_events_ends_closed_once_with_no_timer_left(
    raw, faults, full, events
):
    """The property test of test_core.py with the header and idle timers armed, heads small
    enough for its requests to pass them, and clients over the cap."""
    playbook = Playbook(raw=raw, faults=faults, limits=LIMITS)
    playbook.core.opened(full)
    play_to_the_end(playbook, events)


@pytest.mark.parametrize("timer", [Timer.HEADER, Timer.IDLE])
def test_a_limit_timer_firing_after_the_answer_does_nothing(timer) -> None:
    """The adapter cancels a timer the core disarms, but a firing already queued may still come."""
    playbook = relaying()
    assert playbook
    playbook.core.answers.answer(400, "faultproxy: a test\n")
    before = list(playbook.port.commands)
    playbook.core.timer_fired(timer)
    assert playbook.port.commands == before
