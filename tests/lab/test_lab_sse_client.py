"""The from-scratch SSE client: a foreign server (sse-starlette), reconnection, and the stop rules."""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner

from faultproxy.lab.cli import lab
from faultproxy.lab.sse_client import (
    CLOSED,
    ENDED,
    FAILED,
    MAX_RECONNECTS,
    NETWORK_ERROR,
    NO_CONTENT,
    SSEClient,
    listen,
)
from faultproxy.lab.sse_server import SSEServer
from faultproxy.net.stream_server import running_in_thread


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 30))  # a bound, not an assertion


def test_receives_everything_from_sse_starlette_and_stops_on_its_204(starlette_sse):
    transcript = run(listen(starlette_sse + "/events", reconnect_ms=5000))
    assert [(e.event.id, e.event.type, json.loads(e.event.data)) for e in transcript.events] == [
        (str(n), "tick", {"n": n}) for n in range(1, 6)
    ]
    first, second = transcript.attempts
    assert (first.status, first.content_type, first.outcome) == (
        200,
        "text/event-stream; charset=utf-8",
        ENDED,
    )
    assert (second.last_event_id, second.waited_ms, second.status) == (
        "5",
        20,
        204,
    )  # retry: 20 from the server
    assert (transcript.end, second.outcome) == (NO_CONTENT, NO_CONTENT)


def test_one_connection_only_with_max_reconnects_zero(starlette_sse):
    transcript = run(listen(starlette_sse + "/events", max_reconnects=0))
    assert transcript.ids == ["1", "2", "3", "4", "5"]
    assert len(transcript.attempts) == 1 and transcript.end == MAX_RECONNECTS


def test_a_dropped_connection_resumes_and_every_event_arrives_once():
    server = SSEServer(events=6, interval=0.005, drop_after=2)
    with running_in_thread(server) as srv:
        transcript = run(listen(srv.url, reconnect_ms=10))
    assert transcript.ids == ["1", "2", "3", "4", "5", "6"]
    assert [(a.number, a.last_event_id, a.outcome) for a in transcript.attempts] == [
        (1, None, NETWORK_ERROR),
        (2, "2", ENDED),
        (3, "6", NO_CONTENT),
    ]
    assert [r.last_event_id for r in srv.requests] == [None, "2", "6"]  # what the server really got
    assert [(str(s.id), s.data, s.connection) for s in srv.sent] == [
        (r.event.id, r.event.data, r.connection) for r in transcript.events
    ]


def test_retry_from_the_server_sets_the_wait():
    waits = {}
    for retry in (None, 25):
        with running_in_thread(SSEServer(events=2, interval=0, retry=retry)) as srv:
            transcript = run(listen(srv.url, reconnect_ms=40))
        waits[retry] = [a.waited_ms for a in transcript.attempts]
    assert waits == {None: [0, 40], 25: [0, 25]}


def test_204_on_the_first_request_stops_at_once():
    with running_in_thread(SSEServer(events=3, interval=0)) as srv:
        transcript = run(listen(srv.url, last_event_id="3", reconnect_ms=10))
    assert transcript.events == [] and transcript.end == NO_CONTENT
    assert [(a.last_event_id, a.status) for a in transcript.attempts] == [("3", 204)]


def test_wrong_content_type_or_status_fails_without_reconnecting(starlette_sse):
    for path, status in (("/plain", 200), ("/broken", 500)):
        transcript = run(listen(starlette_sse + path, reconnect_ms=10))
        assert transcript.end == FAILED
        assert [a.status for a in transcript.attempts] == [status]


def test_content_type_is_compared_by_mime_essence(canned_server):
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Type: "
    ok = head + b"Text/Event-Stream ; charset=windows-1252\r\n\r\ndata: hi\n\n"
    bogus = head + b"text/x-bogus\r\n\r\ndata: hi\n\n"
    accepted, refused = canned_server(ok), canned_server(bogus)
    good = run(listen(accepted.url, max_reconnects=0))
    bad = run(listen(refused.url, reconnect_ms=10))
    assert [e.event.data for e in good.events] == ["hi"]
    assert (bad.events, bad.end, len(refused.received)) == ([], FAILED, 1)


def test_close_delimited_and_content_length_bodies_are_read_too(canned_server):
    close_delimited = (
        b"HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\nid: a\ndata: 1\n\ndata: unfinished"
    )
    fixed = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 9\r\n\r\ndata: 2\n\n"
    srv = canned_server(close_delimited, fixed, b"HTTP/1.1 204 No Content\r\n\r\n")
    transcript = run(listen(srv.url, reconnect_ms=1))
    assert [(e.event.data, e.event.id, e.connection) for e in transcript.events] == [
        ("1", "a", 1),
        ("2", "a", 2),
    ]
    assert [a.outcome for a in transcript.attempts] == [
        ENDED,
        ENDED,
        NO_CONTENT,
    ]  # the unfinished event is dropped
    assert [r.headers.get("last-event-id") for r in srv.received] == [None, b"a", b"a"]
    assert srv.received[0].headers.get("accept") == b"text/event-stream"


def test_last_event_id_goes_out_as_utf8(canned_server):
    stream = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\nid: café ☕\ndata: x\n\n".encode()
    srv = canned_server(stream, b"HTTP/1.1 204 No Content\r\n\r\n")
    transcript = run(listen(srv.url, reconnect_ms=1))
    assert transcript.attempts[1].last_event_id == "café ☕"
    assert srv.received[1].headers.get("last-event-id") == "café ☕".encode()


def test_unreachable_server_fails_on_the_first_attempt():
    with running_in_thread(SSEServer()) as srv:
        url = srv.url
    transcript = run(listen(url, reconnect_ms=10))  # the server is gone: nothing listens there now
    assert transcript.end == FAILED and len(transcript.attempts) == 1
    assert "Connection refused" in transcript.detail


def test_close_stops_the_client():
    with running_in_thread(SSEServer(events=1000, interval=0.005)) as srv:

        async def scenario():
            def on_event(received):
                if received.event.id == "3":
                    client.close()

            client = SSEClient(srv.url, on_event=on_event)
            return await client.run()

        transcript = run(scenario())
    assert transcript.end == CLOSED and transcript.attempts[-1].outcome == CLOSED
    assert transcript.ids[:3] == ["1", "2", "3"]


def test_cli_listen_json(starlette_sse):
    result = CliRunner().invoke(
        lab, ["sse", "listen", "--json", "--reconnect-ms", "10", starlette_sse + "/events"]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["kind"] for line in lines] == ["open"] + ["event"] * 5 + ["close", "close", "done"]
    assert [line["id"] for line in lines if line["kind"] == "event"] == ["1", "2", "3", "4", "5"]
    assert lines[-2]["last_event_id"] == "5" and lines[-1]["end"] == NO_CONTENT


def test_cli_listen_wrong_type_exits_1(starlette_sse):
    result = CliRunner().invoke(lab, ["sse", "listen", starlette_sse + "/plain"])
    assert result.exit_code == 1
    assert "is not text/event-stream" in result.stdout
