"""The connection core, played without sockets: each lifecycle rule the socket tests cover, as
the exact commands the core gives for a script of events (see :mod:`playbook`).

The rules: bytes pass both ways as they came; the client's first bytes wait for the upstream
connection, bounded; FIN and RST pass on both ways; the upstream down is a 502 (or a close for
TCP, and for a ``raw=None`` client that says nothing); a malformed request is a 400 that waits
for the responses due before it, or no 400 when none has a place; the lingering close after
the proxy's own answer; HTTP or TCP decided from the first bytes under ``raw=None``;
backpressure both ways; a fault's close; a client reset before the upstream connects. At the
end, the tables themselves, and random event sequences that must all end ``CLOSED``.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from playbook import (
    UPSTREAM_ADDRESS,
    Abort,
    Anything,
    Arm,
    Cancel,
    Close,
    Connect,
    Connected,
    ConnectFailed,
    ConnectionLost,
    DataReceived,
    Done,
    EofReceived,
    FaultsChanged,
    Note,
    Opened,
    Pause,
    Playbook,
    Resume,
    StartsWith,
    TimerFired,
    Write,
    WriteEof,
    WritePaused,
    WriteResumed,
)

from faultproxy.proxy.states import (
    CLIENT,
    PHASE_TRANSITIONS,
    SIDE_TRANSITIONS,
    UPSTREAM,
    Phase,
    SideEvent,
    SideState,
    Timer,
    Trigger,
)

GET = b"GET /events HTTP/1.1\r\nHost: upstream\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
HEAD_CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
CHUNK = b"d\r\ndata: hello\n\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"
BAD_400 = StartsWith(b"HTTP/1.1 400 Bad Request\r\n")
BAD_502 = StartsWith(b"HTTP/1.1 502 Bad Gateway\r\n")


def accepted(**options: object) -> Playbook:
    """A playbook whose client was just accepted: the core connects upstream, with a timeout."""
    return Playbook(**options) >> Opened() << Connect(UPSTREAM_ADDRESS) << Arm(Timer.CONNECT, 10.0)  # type: ignore[arg-type]


def relaying(**options: object) -> Playbook:
    """A playbook whose connection is set up: accepted, connected upstream."""
    return accepted(**options) >> Connected() << Cancel(Timer.CONNECT)


def both_lost(playbook: Playbook) -> Playbook:
    return playbook >> ConnectionLost(CLIENT) >> ConnectionLost(UPSTREAM) << Done()


# -- relaying ----------------------------------------------------------------------------------


def test_bytes_pass_both_ways_as_they_came() -> None:
    playbook = (
        relaying()
        >> DataReceived(CLIENT, GET)
        << Write(UPSTREAM, GET)
        >> DataReceived(UPSTREAM, HEAD_CHUNKED + CHUNK[:5])
        << Write(CLIENT, HEAD_CHUNKED + CHUNK[:5])
        >> DataReceived(UPSTREAM, CHUNK[5:] + LAST_CHUNK)
        << Write(CLIENT, CHUNK[5:] + LAST_CHUNK)
    )
    assert playbook
    assert playbook.phase == "RELAYING"


def test_the_clients_first_bytes_wait_for_the_upstream_connection_and_reading_pauses() -> None:
    """Whatever waits for the upstream stays small: one read, then the client is not read."""
    assert (
        accepted()
        >> DataReceived(CLIENT, GET[:10])
        << Pause(CLIENT, "connecting")
        >> DataReceived(CLIENT, GET[10:])  # a read already under way when the pause came
        >> Connected()
        << Cancel(Timer.CONNECT)
        << Write(UPSTREAM, GET[:10])
        << Write(UPSTREAM, GET[10:])
        << Resume(CLIENT, "connecting")
    )


def test_a_fin_is_passed_on_as_a_half_close_and_both_fins_close() -> None:
    assert both_lost(
        relaying()
        >> DataReceived(CLIENT, GET)
        << Write(UPSTREAM, GET)
        >> EofReceived(CLIENT)
        << WriteEof(UPSTREAM)
        >> DataReceived(UPSTREAM, OK)  # the response still flows after the client's FIN
        << Write(CLIENT, OK)
        >> EofReceived(UPSTREAM)
        << Close(UPSTREAM)  # FIN both ways with the upstream: its socket is done
        << Close(CLIENT)  # and the client's FIN came already: the FIN to it is the close
    )


def test_a_client_fin_while_connecting_reaches_the_upstream_once_connected() -> None:
    assert (
        accepted()
        >> DataReceived(CLIENT, GET)
        << Pause(CLIENT, "connecting")
        >> EofReceived(CLIENT)
        >> Connected()
        << Cancel(Timer.CONNECT)
        << Write(UPSTREAM, GET)
        << WriteEof(UPSTREAM)
        << Resume(CLIENT, "connecting")
    )


@pytest.mark.parametrize("side", [CLIENT, UPSTREAM])
def test_a_reset_is_passed_on_as_a_reset(side) -> None:
    peer = UPSTREAM if side is CLIENT else CLIENT
    assert (
        relaying(notes=True)
        >> ConnectionLost(side, reset=True)
        << Note("closed", {"side": side, "how": "rst"})
        << Close(peer, "rst")
        >> ConnectionLost(peer)
        << Note("closed", {"side": peer, "how": "fin"})
        << Done()
    )


def test_the_client_gone_closes_the_upstream() -> None:
    assert relaying() >> ConnectionLost(CLIENT) << Close(UPSTREAM) >> ConnectionLost(UPSTREAM) << Done()


def test_the_upstream_gone_closes_the_client_after_what_a_fault_still_delays() -> None:
    latency = {"type": "latency", "attributes": {"latency": 100}}
    assert (
        relaying(faults=[latency])
        >> DataReceived(UPSTREAM, OK)
        << Arm(Timer.RESPONSE_WAIT, 0.1)
        >> ConnectionLost(UPSTREAM)  # the upstream wrote, then closed: the client still gets it
        >> TimerFired(Timer.RESPONSE_WAIT)
        << Write(CLIENT, OK)
        << WriteEof(CLIENT)
        >> ConnectionLost(CLIENT)
        << Done()
    )


# -- the leak that was: a client reset before the upstream connects ------------------------------


@pytest.mark.parametrize("sends", [b"", GET], ids=["silent", "mid-request"])
@pytest.mark.parametrize("reset", [True, False], ids=["rst", "fin"])
def test_a_client_gone_while_the_upstream_connects_is_forgotten(sends: bytes, reset: bool) -> None:
    """The connect is stopped and the connection is done at once: nothing waits for a socket
    that was never made (on uvloop, the reset is reported while the connect is in progress)."""
    playbook = Playbook() >> Opened() << Connect(UPSTREAM_ADDRESS) << Arm(Timer.CONNECT, 10.0)
    if sends:
        playbook = playbook >> DataReceived(CLIENT, sends) << Pause(CLIENT, "connecting")
    assert (
        playbook
        >> ConnectionLost(CLIENT, reset=reset)
        << Close(UPSTREAM, "rst" if reset else "fin")  # for a socket still connecting: stop connecting
        << Cancel(Timer.CONNECT)
        << Done()
    )
    assert playbook.phase == "CLOSED"


# -- the upstream cannot be reached --------------------------------------------------------------


def test_upstream_down_is_a_502_for_the_request_that_waited() -> None:
    assert (
        accepted(notes=True)
        >> DataReceived(CLIENT, GET)
        << Pause(CLIENT, "connecting")
        >> ConnectFailed("connection refused")
        << Cancel(Timer.CONNECT)
        << Note("upstream_error", {"reason": "connection refused"})
        << Note("answered", {"exchange": 1})  # the capture records the request no server saw
        << Resume(CLIENT, "connecting")
        << Write(CLIENT, StartsWith(b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain"))
        << WriteEof(CLIENT)
        << Arm(Timer.LINGER, 5.0)
        >> EofReceived(CLIENT)
        << Note("eof", {"side": CLIENT})
        << Close(CLIENT)
        >> ConnectionLost(CLIENT)
        << Note("closed", {"side": CLIENT, "how": "fin"})
        << Cancel(Timer.LINGER)
        << Done()
    )


def test_upstream_down_an_http_client_that_has_not_asked_yet_gets_its_502_when_it_asks() -> None:
    assert (
        accepted()
        >> ConnectFailed()
        << Cancel(Timer.CONNECT)
        >> DataReceived(CLIENT, GET[:12])  # not a whole head yet: no answer
        >> DataReceived(CLIENT, GET[12:])
        << Write(CLIENT, BAD_502)
        << WriteEof(CLIENT)
        << Arm(Timer.LINGER, 5.0)
    )


def test_upstream_down_a_client_that_half_closes_gets_its_502() -> None:
    assert (
        accepted()
        >> ConnectFailed()
        << Cancel(Timer.CONNECT)
        >> DataReceived(CLIENT, GET[:12])
        >> EofReceived(CLIENT)
        << Write(CLIENT, BAD_502)
        << Close(CLIENT)  # its FIN came: the FIN after the answer is the close
    )


def test_a_connect_timeout_stops_the_connect_and_is_a_502() -> None:
    assert (
        Playbook(connect_timeout=0.5)
        >> Opened()
        << Connect(UPSTREAM_ADDRESS)
        << Arm(Timer.CONNECT, 0.5)
        >> DataReceived(CLIENT, GET)
        << Pause(CLIENT, "connecting")
        >> TimerFired(Timer.CONNECT)
        << Close(UPSTREAM, "abort")
        << Resume(CLIENT, "connecting")
        << Write(CLIENT, StartsWith(b"HTTP/1.1 502 Bad Gateway\r\n"))
        << WriteEof(CLIENT)
        << Arm(Timer.LINGER, 5.5)
    )


def test_upstream_down_in_raw_mode_closes_the_client() -> None:
    assert (
        accepted(raw=True)
        >> DataReceived(CLIENT, b"hello?")
        << Pause(CLIENT, "connecting")
        >> ConnectFailed()
        << Cancel(Timer.CONNECT)
        << Resume(CLIENT, "connecting")
        << Close(CLIENT)
        >> ConnectionLost(CLIENT)
        << Done()
    )


# -- raw=None: HTTP or TCP, from the first bytes ---------------------------------------------------


def test_auto_a_client_that_opens_with_a_request_is_http_and_gets_its_400() -> None:
    assert (
        relaying(raw=None)
        >> DataReceived(CLIENT, b"GET / HTTP/1.1\r\nHost : x\r\n\r\n")
        << Pause(CLIENT, "refused")
        << Write(CLIENT, BAD_400)
        << Close(UPSTREAM)
        << Resume(CLIENT, Anything())
        << WriteEof(CLIENT)
        << Arm(Timer.LINGER, 5.0)
    )


@pytest.mark.parametrize(
    "opening", [b"*1\r\n$4\r\nPING\r\n", b"\x16\x03\x01\x02\x00\x01GET / HTTP/1.1\r\n\r\n"]
)
def test_auto_anything_else_from_the_client_is_tcp_passed_as_it_came(opening: bytes) -> None:
    assert (
        relaying(raw=None, notes=True)
        >> DataReceived(CLIENT, opening)
        << Note("protocol", {"relayed_as": "tcp"})
        << Write(UPSTREAM, opening)
        >> DataReceived(CLIENT, b"GARBAGE / HTTP/9\r\n\r\n")
        << Write(UPSTREAM, b"GARBAGE / HTTP/9\r\n\r\n")
    )


def test_auto_a_server_that_speaks_first_is_tcp() -> None:
    assert (
        relaying(raw=None, notes=True)
        >> DataReceived(UPSTREAM, b"220 hello\r\n")
        << Note("protocol", {"relayed_as": "tcp"})
        << Write(CLIENT, b"220 hello\r\n")
        >> DataReceived(CLIENT, b"GARBAGE\r\n\r\n")  # no 400: it is not HTTP
        << Write(UPSTREAM, b"GARBAGE\r\n\r\n")
    )


def test_auto_upstream_down_a_silent_client_gets_a_while_to_speak_then_a_close() -> None:
    """It may be waiting for a server that speaks first; a decision by time, with a margin."""
    assert (
        accepted(raw=None, sniff_wait=1.0)
        >> ConnectFailed()
        << Cancel(Timer.CONNECT)
        << Arm(Timer.SNIFF, 1.0)
        >> TimerFired(Timer.SNIFF)
        << Close(CLIENT)
    )


def test_auto_upstream_down_an_http_client_that_speaks_late_still_gets_its_502() -> None:
    assert (
        accepted(raw=None)
        >> ConnectFailed()
        << Cancel(Timer.CONNECT)
        << Arm(Timer.SNIFF, 1.0)
        >> DataReceived(CLIENT, GET)
        << Cancel(Timer.SNIFF)
        << Write(CLIENT, BAD_502)
        << WriteEof(CLIENT)
        << Arm(Timer.LINGER, 5.0)
    )


def test_auto_upstream_down_a_client_that_closes_without_a_word_is_closed() -> None:
    assert (
        accepted(raw=None)
        >> ConnectFailed()
        << Cancel(Timer.CONNECT)
        << Arm(Timer.SNIFF, 1.0)
        >> EofReceived(CLIENT)
        << Cancel(Timer.SNIFF)
        << Close(CLIENT)
    )


# -- 400: a malformed request --------------------------------------------------------------------


def test_a_malformed_request_is_a_400_never_forwarded_then_a_lingering_close() -> None:
    assert (
        relaying(notes=True)
        >> DataReceived(CLIENT, b"GARBAGE\r\nHost: x\r\n\r\n")
        << Note("refused", {"reason": Anything(), "answer": "400"})
        << Pause(CLIENT, "refused")
        << Write(CLIENT, BAD_400)
        << Close(UPSTREAM)
        << Resume(CLIENT, "draining after the answer")
        << WriteEof(CLIENT)
        << Arm(Timer.LINGER, 5.0)
        >> DataReceived(CLIENT, b"more of the body the answer made moot")  # read and dropped
        >> TimerFired(Timer.LINGER)  # the client never closes: the proxy still lets go
        << Close(CLIENT)
    )


def refused_while_a_response_streams() -> Playbook:
    """A response streaming, and a malformed request pipelined behind it: the client is no
    longer read, and the 400 waits."""
    return (
        relaying()
        >> DataReceived(CLIENT, GET)
        << Write(UPSTREAM, GET)
        >> DataReceived(UPSTREAM, HEAD_CHUNKED + CHUNK)
        << Write(CLIENT, HEAD_CHUNKED + CHUNK)
        >> DataReceived(CLIENT, b"GARBAGE\r\n\r\n")
        << Pause(CLIENT, "refused")  # nothing more is read from the client meanwhile
    )


def test_a_400_waits_for_the_response_still_streaming() -> None:
    """Like a server reading pipelined requests in order: the 400's head must not land where
    the next chunk-size line belongs."""
    assert (
        refused_while_a_response_streams()
        >> DataReceived(UPSTREAM, CHUNK)
        << Write(CLIENT, CHUNK)
        >> DataReceived(UPSTREAM, LAST_CHUNK)  # the response due before it has ended: now
        << Write(CLIENT, LAST_CHUNK)
        << Write(CLIENT, BAD_400)
        << Close(UPSTREAM)
        << Resume(CLIENT, Anything())
        << WriteEof(CLIENT)
        << Arm(Timer.LINGER, 5.0)
    )


def test_no_400_after_a_response_the_upstream_cut_it_would_read_as_body() -> None:
    assert (
        refused_while_a_response_streams()
        >> EofReceived(UPSTREAM)  # cut: no response can come any more, and none is waited for
        << WriteEof(CLIENT)  # the end of the connection, as the upstream made it
        << Close(UPSTREAM)
        << Resume(CLIENT, Anything())
        << Arm(Timer.LINGER, 5.0)
    )


def test_a_request_body_broken_while_its_own_response_streams_ends_the_connection() -> None:
    post = b"POST /x HTTP/1.1\r\nHost: u\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert (
        relaying(notes=True)
        >> DataReceived(CLIENT, post)
        << Write(UPSTREAM, post)
        >> DataReceived(UPSTREAM, HEAD_CHUNKED + CHUNK)  # a server answering before the body is in
        << Write(CLIENT, HEAD_CHUNKED + CHUNK)
        >> DataReceived(CLIENT, b"zz\r\n")
        << Note("refused", {"reason": Anything(), "answer": "close"})
        << Close(UPSTREAM)
        << WriteEof(CLIENT)
        << Arm(Timer.LINGER, 5.0)
    )


# -- backpressure, both ways ---------------------------------------------------------------------


@pytest.mark.parametrize("full", [CLIENT, UPSTREAM])
def test_a_full_socket_pauses_reading_from_its_peer(full) -> None:
    peer = UPSTREAM if full is CLIENT else CLIENT
    assert (
        relaying()
        >> WritePaused(full)
        << Pause(peer, "backpressure")
        >> WriteResumed(full)
        << Resume(peer, "backpressure")
    )


def test_a_stalled_reader_fault_pauses_the_sender_as_a_slow_reader_would() -> None:
    slow = {"type": "slow_reader", "attributes": {"rate": 1000}}
    assert (
        relaying(raw=True, faults=[slow])
        >> DataReceived(UPSTREAM, b"x" * 40)
        << Arm(Timer.RESPONSE_WAIT, 0.02)  # 1000 B/s, in 20 ms slices: the first is due at 20 ms
        << Pause(UPSTREAM, "fault")  # read nothing more while anything waits
        >> TimerFired(Timer.RESPONSE_WAIT)
        << Write(CLIENT, b"x" * 20)
        << Arm(Timer.RESPONSE_WAIT, 0.04)
        >> TimerFired(Timer.RESPONSE_WAIT)
        << Write(CLIENT, b"x" * 20)
        << Resume(UPSTREAM, "fault")
    )


# -- faults that act on the connection -------------------------------------------------------------


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_a_fault_closes_both_sides_as_it_asks(how: str) -> None:
    cut = {"type": "sse_disconnect", "attributes": {"after_events": 1, "mode": how}}
    assert (
        relaying(faults=[cut], notes=True)
        >> DataReceived(CLIENT, GET)
        << Write(UPSTREAM, GET)
        >> DataReceived(UPSTREAM, HEAD_CHUNKED + CHUNK + CHUNK)
        << Write(CLIENT, HEAD_CHUNKED + CHUNK)
        << Note("fault_close", {"how": how})
        << Close(CLIENT, how)
        << Close(UPSTREAM, how)
    )


def test_a_fault_alarm_closes_the_connection_when_it_rings() -> None:
    timeout = {"type": "timeout", "attributes": {"timeout": 300}}
    assert (
        accepted(faults=[timeout])
        >> Connected()  # the fault's clock starts with the connection
        << Cancel(Timer.CONNECT)
        << Arm(Timer.RESPONSE_ALARM, 0.3)
        >> DataReceived(UPSTREAM, OK)  # dropped
        >> TimerFired(Timer.RESPONSE_ALARM)
        << Close(CLIENT)
        << Close(UPSTREAM)
    )


def test_a_fault_added_to_a_live_connection_starts_its_clock_then() -> None:
    timeout = {"type": "timeout", "name": "cut", "attributes": {"timeout": 300}}
    assert (
        relaying()
        >> FaultsChanged(timeout)
        << Arm(Timer.RESPONSE_ALARM, 0.3)
        >> FaultsChanged(remove="cut")
        << Cancel(Timer.RESPONSE_ALARM)
    )


def test_a_fault_answering_the_request_keeps_it_from_the_upstream() -> None:
    status = {"type": "http_status", "attributes": {"status": 429, "headers": {"Retry-After": "2"}}}
    assert (
        relaying(faults=[status])
        >> DataReceived(CLIENT, GET + GET)  # the request and the one pipelined after it
        << Write(CLIENT, StartsWith(b"HTTP/1.1 429 Too Many Requests\r\n"))
        << Close(CLIENT)
        << Close(UPSTREAM)
    )


# -- the proxy stops -------------------------------------------------------------------------------


def test_abort_drops_both_sockets_and_a_connect_in_progress() -> None:
    assert (
        accepted()
        >> Abort()
        << Cancel(Timer.CONNECT)
        << Close(CLIENT, "abort")
        << Close(UPSTREAM, "abort")  # still connecting: stop
        >> ConnectionLost(CLIENT)
        << Done()
    )


# -- every state reaches CLOSED ----------------------------------------------------------------------


def test_every_phase_but_closed_ends_when_both_sockets_are_gone() -> None:
    for phase, moves in PHASE_TRANSITIONS.items():
        if phase is not Phase.CLOSED:
            assert moves.get(Trigger.BOTH_GONE) is Phase.CLOSED, phase
            assert Trigger.END in moves, phase  # and the proxy can always end it itself
    assert PHASE_TRANSITIONS[Phase.CLOSED] == {}


def test_every_side_state_reaches_gone() -> None:
    for state, moves in SIDE_TRANSITIONS.items():
        if state is SideState.GONE:
            continue
        after_close = moves[SideEvent.CLOSE]
        assert (
            after_close is SideState.GONE or SIDE_TRANSITIONS[after_close][SideEvent.LOST] is SideState.GONE
        )


EVENTS = st.one_of(
    st.builds(
        DataReceived,
        st.sampled_from([CLIENT, UPSTREAM]),
        st.sampled_from([GET, OK, b"GARBAGE\r\n\r\n", HEAD_CHUNKED + CHUNK, b"\x16\x03\x01", b"zz\r\n"]),
    ),
    st.builds(EofReceived, st.sampled_from([CLIENT, UPSTREAM])),
    st.builds(ConnectionLost, st.sampled_from([CLIENT, UPSTREAM]), st.booleans()),
    st.builds(WritePaused, st.sampled_from([CLIENT, UPSTREAM])),
    st.builds(WriteResumed, st.sampled_from([CLIENT, UPSTREAM])),
    st.just(Connected()),
    st.just(ConnectFailed()),
    st.just(Abort()),
    st.sampled_from([TimerFired(t) for t in Timer]),
)
FAULT_MIXES = st.sampled_from(
    [
        [],
        [{"type": "latency", "attributes": {"latency": 50}}],
        [{"type": "timeout", "attributes": {"timeout": 100}}],
        [{"type": "sse_disconnect", "attributes": {"after_events": 1, "mode": "rst"}}],
        [{"type": "http_status", "attributes": {"status": 503}}],
        [{"type": "slow_reader", "stream": "upstream", "attributes": {"rate": 100}}],
    ]
)


@settings(max_examples=300, deadline=None)
@given(raw=st.sampled_from([False, None, True]), faults=FAULT_MIXES, events=st.lists(EVENTS, max_size=25))
def test_any_sequence_of_events_ends_closed_once_with_no_timer_left(raw, faults, events) -> None:
    """Whatever happens to a connection, once its sockets are gone it is done — once — and no
    timer of it is left armed. Events the world cannot send in a state (bytes from a socket
    that is gone, a timer not armed) are skipped, as the adapter never sends them."""
    playbook = Playbook(raw=raw, faults=faults)
    playbook.core.opened()
    play_to_the_end(playbook, events)


def play_to_the_end(playbook: Playbook, events: list) -> None:
    """Feed the ``events`` the world can send, then end the world; the connection must be
    done once, with no timer left."""
    core, port = playbook.core, playbook.port
    for event in events:
        if not _possible(event, core, port):
            continue
        event.apply(core, port)
        assert port.finished <= 1
    # the world ends: every socket still there goes (a peer closes, or the proxy stops)
    for side in (CLIENT, UPSTREAM):
        if side in port.connected and core.sides.state[side] is not SideState.GONE:
            core.lost(side, False)
    if core.sides.state[UPSTREAM] is SideState.CONNECTING:
        core.connect_failed("the test ends")
        if core.sides.state[CLIENT] is not SideState.GONE:
            core.lost(CLIENT, False)
    assert core.phase is Phase.CLOSED and port.finished == 1
    assert port.armed == {}, f"timers left armed: {port.armed}"


def _possible(event: object, core, port) -> bool:
    """Whether the world can send ``event`` now (the adapter's guarantees)."""
    upstream = core.sides.state[UPSTREAM]
    if isinstance(event, (Connected, ConnectFailed)):
        return upstream is SideState.CONNECTING and UPSTREAM not in port.forgotten
    if isinstance(event, TimerFired):
        return event.timer in port.armed
    if isinstance(event, (DataReceived, EofReceived, ConnectionLost, WritePaused, WriteResumed)):
        side = event.side
        if side not in port.connected or core.sides.state[side] is SideState.GONE:
            return False
        if isinstance(event, (DataReceived, EofReceived)):
            return core.sides.state[side] in (SideState.OPEN, SideState.WRITE_DONE)  # it has not sent its FIN
        return True
    return True


def test_the_docs_list_every_transition_and_no_other() -> None:
    """docs/connection-core.md is the reference: its tables are the tables in the code."""
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "connection-core.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(\w+)` \| `(\w+)` \| `(\w+)` \|$", text, flags=re.MULTILINE))
    in_code = {(a.name, t.name, b.name) for a, moves in PHASE_TRANSITIONS.items() for t, b in moves.items()}
    in_code |= {(a.name, e.name, b.name) for a, moves in SIDE_TRANSITIONS.items() for e, b in moves.items()}
    assert rows == in_code
