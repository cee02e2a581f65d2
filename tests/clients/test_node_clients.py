"""The Node.js clients (``node-eventsource``, ``fetch-event-source``) against real loopback servers.

Same method as the Python clients' tests: the lab ``SSEServer`` is the ground truth, every
(scenario, client) cell runs concurrently once per module, and the outcomes asserted are
*observations* of the pinned packages on the machine's Node (20) and its built-in fetch
(undici). The one that matters most: undici takes a body cut on a ``Connection: close``
response -- by a FIN or even by an RST -- for a complete one, so neither client can tell that
drop from a clean end; the same cut without ``Connection: close`` is an error to both.

A client that is not installed fails its tests with the install command
(FAULTPROXY_ALLOW_MISSING_CLIENTS=1 skips them instead).
"""

from __future__ import annotations

import json
from pathlib import Path

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
from faultproxy.clients.cli import inventory
from faultproxy.lab.sse_server import SSEServer

NODE_CLIENTS = ["node-eventsource", "fetch-event-source"]
PACKAGES = {"node-eventsource": "eventsource", "fetch-event-source": "@microsoft/fetch-event-source"}
NODE_DIR = Path(registry.__file__).parent / "node"


class _WithoutConnectionClose:
    """A StreamWriter whose first write (the response head) loses its ``Connection: close`` line."""

    def __init__(self, writer):
        self._writer = writer
        self._head = True

    def write(self, data: bytes) -> None:
        if self._head:
            self._head = False
            data = data.replace(b"Connection: close\r\n", b"")
        self._writer.write(data)

    def __getattr__(self, name):
        return getattr(self._writer, name)


class KeepAliveSSEServer(SSEServer):
    """The lab server without ``Connection: close``: its cut is then a broken body to undici too."""

    async def handle(self, reader, writer):
        await super().handle(reader, _WithoutConnectionClose(writer))


RECONNECT = {"reconnect": True, "max_reconnects": 2, "reconnect_ms": 50}
SCENARIOS = {
    **SSE_SCENARIOS,
    # the same cut after event 2, on a response without Connection: close
    "drop_keepalive": lambda c: sse_cell(c, KeepAliveSSEServer(events=5, interval=0.01, drop_after=2)),
    "drop_keepalive_reconnect": lambda c: sse_cell(
        c, KeepAliveSSEServer(events=5, interval=0.01, drop_after=2), **RECONNECT
    ),
    # the server asks for 50 ms between reconnects (eventsource has no option of its own)
    "retry": lambda c: sse_cell(c, SSEServer(events=5, interval=0.01, drop_after=2, retry=50), **RECONNECT),
    "named": lambda c: sse_cell(c, SSEServer(events=3, interval=0.01, event_type="update")),
    # events the server named "error": they reach the error listeners too, and are still data
    "named_error": lambda c: sse_cell(c, SSEServer(events=3, interval=0.01, event_type="error")),
    # nothing to send: the first answer is 204
    "no_content": lambda c: sse_cell(c, SSEServer(events=0), **RECONNECT),
    # comment keep-alives between the events
    "keepalive": lambda c: sse_cell(c, SSEServer(events=3, interval=0.05, keepalive=0.02)),
}


@pytest.fixture(scope="module")
def cells():
    available = [c for c in NODE_CLIENTS if registry.get(c).available().ok]
    return run_cells({(s, c): (lambda s=s, c=c: SCENARIOS[s](c)) for s in SCENARIOS for c in available})


def cell(cells, scenario: str, client: str):
    require_available(client)
    return check(cells[scenario, client])


# -- installation and inventory -------------------------------------------------------------------


@pytest.mark.parametrize("client", NODE_CLIENTS)
def test_installed_from_the_pinned_lockfile(client):
    require_available(client)
    package = PACKAGES[client]
    pinned = json.loads((NODE_DIR / "package.json").read_text())["dependencies"][package]
    locked = json.loads((NODE_DIR / "package-lock.json").read_text())["packages"][f"node_modules/{package}"]
    assert registry.get(client).version() == pinned == locked["version"]
    row = next(r for r in inventory() if r["name"] == client)
    assert (row["kind"], row["available"], row["version"]) == ("node", True, pinned)


def test_eventsource_cannot_send_a_body_or_another_method():
    with pytest.raises(UnsupportedRequest):
        run_client("node-eventsource", ClientRequest("http://127.0.0.1:9/events", method="POST"))


# -- both clients, the same -----------------------------------------------------------------------


@pytest.mark.parametrize("client", NODE_CLIENTS)
def test_healthy_stream_every_event_in_order(cells, client):
    transcript, server = cell(cells, "healthy", client)
    assert transcript.end == "completed", transcript
    assert len(server.sent) == 5
    events_match_server(transcript, server)
    attempts_match_server(transcript, server)
    assert transcript.attempts[0].ended == "ended"
    assert (transcript.client, transcript.version) == (client, registry.get(client).version())
    assert transcript.t0_monotonic is not None and transcript.exit_code == 0
    assert any(n.startswith("stack: node v") for n in transcript.notes)


@pytest.mark.parametrize("client", NODE_CLIENTS)
def test_events_named_error_are_data_not_a_failure(cells, client):
    """The adapter once closed the EventSource at the first event named "error" (it reaches the
    'error' listeners too) and reported the rest of the stream as lost."""
    transcript, server = cell(cells, "named_error", client)
    assert transcript.end == "completed"
    events_match_server(transcript, server, type="error")


@pytest.mark.parametrize("client", NODE_CLIENTS)
def test_named_events_are_reported_with_their_type(cells, client):
    transcript, server = cell(cells, "named", client)
    assert transcript.end == "completed"
    events_match_server(transcript, server, type="update")


@pytest.mark.parametrize("client", NODE_CLIENTS)
def test_a_cut_on_a_connection_close_response_looks_like_a_clean_end(cells, client):
    """undici: EOF on a Connection: close response completes the body, even mid-chunk."""
    transcript, server = cell(cells, "drop", client)
    assert (transcript.end, transcript.error_type) == ("completed", None), transcript
    events_match_server(transcript, server)
    assert len(transcript.events) == 2
    attempts_match_server(transcript, server)
    assert transcript.attempts[0].ended == "ended"


@pytest.mark.parametrize("client", NODE_CLIENTS)
def test_even_a_reset_by_the_proxy_looks_like_a_clean_end(cells, client):
    transcript, server = cell(cells, "drop_proxy_rst", client)
    assert (transcript.end, transcript.error_type) == ("completed", None), transcript
    assert [e.data for e in transcript.events] == [s.data for s in server.sent[:2]]
    assert [(a.status, a.ended) for a in transcript.attempts] == [(200, "ended")]


# How each ends when the same cut comes on a response without Connection: close.
KEEPALIVE_DROP = {
    "node-eventsource": ("eventsource.ErrorEvent", "TypeError: terminated: other side closed"),
    "fetch-event-source": ("TypeError", "terminated"),
}


@pytest.mark.parametrize("client", NODE_CLIENTS)
def test_the_same_cut_without_connection_close_is_an_error(cells, client):
    transcript, server = cell(cells, "drop_keepalive", client)
    assert (transcript.end, transcript.error_type, transcript.error_message) == (
        "error",
        *KEEPALIVE_DROP[client],
    )
    events_match_server(transcript, server)
    assert len(transcript.events) == 2
    attempts_match_server(transcript, server)
    first = transcript.attempts[0]
    assert (first.ended, first.error_type) == ("error", "TypeError")
    assert "undici.SocketError: other side closed" in first.error_message


@pytest.mark.parametrize("client", NODE_CLIENTS)
def test_after_that_cut_both_resume_with_last_event_id(cells, client):
    transcript, server = cell(cells, "drop_keepalive_reconnect", client)
    assert transcript.end == "completed", transcript
    events_match_server(transcript, server)
    assert [e.connection for e in transcript.events] == [1, 1, 2, 2, 2]
    attempts_match_server(transcript, server)
    expected = [(None, 200), ("2", 200)]
    if client == "node-eventsource":
        expected.append(("5", 204))  # a clean end is followed by a reconnect, and the 204 stops it
    assert pairs(transcript) == expected


@pytest.mark.parametrize("client", NODE_CLIENTS)
def test_silent_stream_is_reported_hung_with_the_events_before_it(cells, client):
    transcript, server = cell(cells, "hang", client)
    assert transcript.end == "hung", transcript
    assert [e.data for e in transcript.events] == server.sent == ['{"n": 1}', '{"n": 2}']
    assert [a.status for a in transcript.attempts] == [200]
    assert server.requests == 1


@pytest.mark.parametrize("client", NODE_CLIENTS)
def test_no_read_timeout_so_a_silent_stream_hangs(cells, client):
    transcript, server = cell(cells, "timeout", client)
    assert transcript.end == "hung"
    assert any("timeout_s not applied" in n for n in transcript.notes)
    assert [e.data for e in transcript.events] == server.sent


# -- where they differ ----------------------------------------------------------------------------


@pytest.mark.parametrize("client", NODE_CLIENTS)
def test_clean_end_with_reconnects_allowed(cells, client):
    transcript, server = cell(cells, "clean_end_reconnect", client)
    assert transcript.end == "completed", transcript
    events_match_server(transcript, server)
    attempts_match_server(transcript, server)
    if client == "node-eventsource":  # reconnects after 3000 ms (reconnect_ms cannot be applied) and gets 204
        assert pairs(transcript) == [(None, 200), ("3", 204)]
        assert transcript.attempts[1].t - transcript.attempts[0].t_end >= 2.5
        assert any("204" in n for n in transcript.notes)
    else:
        assert pairs(transcript) == [(None, 200)]
        assert any("does not reconnect after a clean end" in n for n in transcript.notes)


@pytest.mark.parametrize("client", NODE_CLIENTS)
def test_cut_on_connection_close_with_reconnects_allowed(cells, client):
    transcript, server = cell(cells, "drop_reconnect", client)
    assert transcript.end == "completed", transcript
    events_match_server(transcript, server)
    attempts_match_server(transcript, server)
    if client == "node-eventsource":  # the "clean end" is followed by a reconnect: nothing is lost
        assert pairs(transcript) == [(None, 200), ("2", 200), ("5", 204)]
        assert len(transcript.events) == 5
    else:  # taken for the end of the stream: events 3..5 are silently lost
        assert pairs(transcript) == [(None, 200)]
        assert len(transcript.events) == 2


def test_eventsource_honours_the_servers_retry(cells):
    transcript, server = cell(cells, "retry", "node-eventsource")
    assert transcript.end == "completed"
    events_match_server(transcript, server)
    attempts_match_server(transcript, server)
    assert pairs(transcript) == [(None, 200), ("2", 200), ("5", 204)]
    gaps = [b.t - a.t_end for a, b in zip(transcript.attempts, transcript.attempts[1:])]
    assert all(0 <= gap < 1.0 for gap in gaps), gaps  # retry: 50, not the default 3000 ms


@pytest.mark.parametrize("client", NODE_CLIENTS)
def test_204_first(cells, client):
    transcript, server = cell(cells, "no_content", client)
    assert transcript.events == []
    attempts_match_server(transcript, server)
    if client == "node-eventsource":  # the spec's "stop"
        assert (transcript.end, pairs(transcript)) == ("completed", [(None, 204)])
    else:  # not text/event-stream: an error, retried until the allowance is spent
        assert (transcript.end, transcript.error_type) == ("error", "Error")
        assert transcript.error_message == "Expected content-type to be text/event-stream, Actual: null"
        assert pairs(transcript) == [(None, 204)] * 3


@pytest.mark.parametrize("client", NODE_CLIENTS)
def test_comment_keepalives(cells, client):
    transcript, server = cell(cells, "keepalive", client)
    assert transcript.end == "completed"
    real = [e for e in transcript.events if e.data]
    assert [(e.data, e.id) for e in real] == [(s.data, str(s.id)) for s in server.sent]
    empty = [e for e in transcript.events if not e.data]
    if client == "fetch-event-source":  # every blank line dispatches, the one after a comment too
        assert empty and all((e.type, e.id) == ("message", None) for e in empty)
    else:
        assert empty == []


def test_fetch_event_source_posts_a_body_with_headers():
    """What it is used for: a POST to an LLM API (here the OpenAI mock), body and headers as given."""
    require_available("fetch-event-source")
    import asyncio

    from faultproxy.clients import arun_client
    from faultproxy.servers.openai import OpenAIServer

    body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]}

    async def main():
        async with OpenAIServer(seed=7, tokens=4) as server:
            transcript = await arun_client(
                "fetch-event-source",
                ClientRequest(
                    server.url.rstrip("/") + "/v1/chat/completions",
                    method="POST",
                    body=json.dumps(body),
                    headers={
                        "Content-Type": "application/json",
                        "Authorization": "Bearer sk-test",
                        "X-Faultproxy-Test": "yes",
                    },
                    deadline_s=30,
                ),
            )
        return transcript, server

    transcript, server = asyncio.run(main())
    exchange = server.responses[-1]
    assert transcript.end == "completed", transcript
    assert (exchange.method, exchange.body, exchange.headers.get("x-faultproxy-test")) == (
        "POST",
        body,
        "yes",
    )
    assert transcript.events[-1].data == "[DONE]"
    chunks = [json.loads(e.data) for e in transcript.events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))
    assert text == exchange.sent_text == exchange.text
    assert [(a.status, a.ended) for a in transcript.attempts] == [(200, "ended")]
