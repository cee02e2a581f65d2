"""``chromium``: headless Chromium's native EventSource against real loopback servers.

The lab ``SSEServer`` is the ground truth, as for the other clients; the cells run
concurrently once per module, a few browsers at a time (each child launches its own, before
its hello, so the deadline never includes the start). Observed in Chromium 156: a cut body
is ``net::ERR_INCOMPLETE_CHUNKED_ENCODING`` whatever the response's Connection header says;
the browser reconnects after it and after a clean end, sending ``Last-Event-ID``, after
3000 ms or what ``retry:`` says; a 204 stops it. Events that arrive in the same read as the
cut can be lost with it (the browser then resumes from the last event it did dispatch, so a
reconnect gets them again): the drop tests accept any prefix on the cut connection and check
that the Last-Event-ID of the reconnect matches what the page got.

Unavailable Chromium or Playwright fails with the install command
(FAULTPROXY_ALLOW_MISSING_CLIENTS=1 skips instead).
"""

from __future__ import annotations

import pytest
from clients_scenarios import SSE_SCENARIOS, sse_cell
from clients_support import (
    attempts_match_server,
    check,
    events_match_server,
    pairs,
    require_available,
    run_cells,
)

from faultproxy.clients import ClientRequest, UnsupportedRequest, registry, run_client
from faultproxy.clients.browser_chromium import CHROMIUM
from faultproxy.clients.cli import inventory
from faultproxy.lab.sse_server import SSEServer

CLIENT = "chromium"
PARALLEL = 4  # browsers at once, on two cores
RECONNECT = {"reconnect": True, "max_reconnects": 2, "reconnect_ms": 50}
SCENARIOS = {
    **{
        name: SSE_SCENARIOS[name]
        for name in (
            "healthy",
            "clean_end_reconnect",
            "drop",
            "drop_reconnect",
            "drop_proxy_rst",
            "hang",
            "timeout",
        )
    },
    "retry": lambda c: sse_cell(c, SSEServer(events=5, interval=0.01, drop_after=2, retry=50), **RECONNECT),
    "named": lambda c: sse_cell(c, SSEServer(events=3, interval=0.01, event_type="update")),
    # events the server named "error": they reach the error listeners too, and are still data
    "named_error": lambda c: sse_cell(c, SSEServer(events=3, interval=0.01, event_type="error")),
    "no_content": lambda c: sse_cell(c, SSEServer(events=0), **RECONNECT),
}


@pytest.fixture(scope="module")
def cells():
    if not registry.get(CLIENT).available().ok:
        return {}
    return run_cells({(s, CLIENT): (lambda s=s: SCENARIOS[s](CLIENT)) for s in SCENARIOS}, parallel=PARALLEL)


def cell(cells, scenario: str):
    require_available(CLIENT)
    return check(cells[scenario, CLIENT])


def received_prefix_of_connection(transcript, server, connection: int) -> list:
    """The events the page got on ``connection``: a prefix of what the server wrote to it."""
    got = [(e.data, e.id) for e in transcript.events if e.connection == connection]
    sent = [(s.data, str(s.id)) for s in server.sent if s.connection == connection]
    assert got == sent[: len(got)], (got, sent)
    return got


def resumed_without_loss(transcript, server) -> None:
    """After the cut: the reconnect asks for what follows the last event the page got, and
    the page ends with every event exactly once, in order."""
    first = received_prefix_of_connection(transcript, server, 1)
    assert transcript.attempts[1].last_event_id == (first[-1][1] if first else None)
    assert [e.data for e in transcript.events] == [f'{{"n": {n}}}' for n in range(1, 6)]
    assert [e.id for e in transcript.events] == [str(n) for n in range(1, 6)]
    attempts_match_server(transcript, server)


def test_available_and_listed_with_the_browsers_version():
    require_available(CLIENT)
    row = next(r for r in inventory() if r["name"] == CLIENT)
    assert (row["kind"], row["available"]) == ("browser", True)
    assert (
        row["version"] == registry.command_version((CHROMIUM, "--version")) == registry.get(CLIENT).version()
    )
    assert row["version"] and row["version"][0].isdigit()


def test_eventsource_has_no_method_headers_or_body():
    for request in (
        ClientRequest("http://127.0.0.1:9/events", method="POST"),
        ClientRequest("http://127.0.0.1:9/events", headers={"Authorization": "Bearer x"}),
    ):
        with pytest.raises(UnsupportedRequest):
            run_client(CLIENT, request)


def test_healthy_stream_every_event_in_order(cells):
    transcript, server = cell(cells, "healthy")
    assert transcript.end == "completed", transcript
    assert len(server.sent) == 5
    events_match_server(transcript, server)
    attempts_match_server(transcript, server)
    assert transcript.attempts[0].ended == "ended"
    assert (transcript.client, transcript.version) == (CLIENT, registry.get(CLIENT).version())
    assert transcript.version and transcript.version[0].isdigit()
    assert transcript.t0_monotonic is not None and transcript.exit_code == 0
    assert not any("page received" in n for n in transcript.notes)  # the page saw what DevTools saw


def test_events_named_error_are_data_not_a_failure(cells):
    """The page once closed the EventSource at the first event named "error" (it reaches the
    'error' listeners too), and the run ended error or completed by timing."""
    transcript, server = cell(cells, "named_error")
    assert transcript.end == "completed"
    events_match_server(transcript, server, type="error")


def test_named_events_are_seen_without_a_listener_for_their_type(cells):
    transcript, server = cell(cells, "named")
    assert transcript.end == "completed"
    events_match_server(transcript, server, type="update")


def test_clean_end_reconnects_after_3000_ms_and_stops_at_the_204(cells):
    transcript, server = cell(cells, "clean_end_reconnect")
    assert transcript.end == "completed", transcript
    events_match_server(transcript, server)
    assert pairs(transcript) == [(None, 200), ("3", 204)]
    attempts_match_server(transcript, server)
    assert transcript.attempts[1].t - transcript.attempts[0].t_end >= 2.5  # reconnect_ms cannot be applied
    assert any("204" in n for n in transcript.notes)


def test_mid_way_drop_without_reconnect(cells):
    transcript, server = cell(cells, "drop")
    assert (transcript.end, transcript.error_type) == ("error", "net.ERR_INCOMPLETE_CHUNKED_ENCODING"), (
        transcript
    )
    received_prefix_of_connection(transcript, server, 1)
    attempts_match_server(transcript, server)
    assert (transcript.attempts[0].ended, transcript.attempts[0].error_type) == (
        "error",
        "net.ERR_INCOMPLETE_CHUNKED_ENCODING",
    )
    assert any("reconnect policy" in n for n in transcript.notes)


def test_mid_way_drop_resumes_with_last_event_id(cells):
    transcript, server = cell(cells, "drop_reconnect")
    assert transcript.end == "completed", transcript
    resumed_without_loss(transcript, server)
    assert [a.status for a in transcript.attempts] == [200, 200, 204]
    assert transcript.attempts[1].t - transcript.attempts[0].t_end >= 2.5  # the default 3000 ms


def test_the_servers_retry_is_honoured(cells):
    transcript, server = cell(cells, "retry")
    assert transcript.end == "completed", transcript
    resumed_without_loss(transcript, server)
    gaps = [b.t - a.t_end for a, b in zip(transcript.attempts, transcript.attempts[1:])]
    assert all(0 <= gap < 1.0 for gap in gaps), gaps  # retry: 50


def test_connection_reset_by_the_proxy(cells):
    transcript, server = cell(cells, "drop_proxy_rst")
    assert (transcript.end, transcript.error_type) == ("error", "net.ERR_CONNECTION_RESET"), transcript
    got = [e.data for e in transcript.events]
    assert got == [s.data for s in server.sent[: len(got)]] and len(server.sent) >= 2


def test_204_first_stops_the_browser(cells):
    transcript, server = cell(cells, "no_content")
    assert (transcript.end, transcript.events, pairs(transcript)) == ("completed", [], [(None, 204)])
    attempts_match_server(transcript, server)


def test_silent_stream_is_reported_hung_with_the_events_before_it(cells):
    transcript, server = cell(cells, "hang")
    assert transcript.end == "hung", transcript
    assert [e.data for e in transcript.events] == server.sent == ['{"n": 1}', '{"n": 2}']
    assert [a.status for a in transcript.attempts] == [200]
    assert server.requests == 1  # neither the blank page nor a favicon reached the server


def test_no_read_timeout_so_a_silent_stream_hangs(cells):
    transcript, server = cell(cells, "timeout")
    assert transcript.end == "hung"
    assert any("timeout_s not applied" in n for n in transcript.notes)
    assert [e.data for e in transcript.events] == server.sent
