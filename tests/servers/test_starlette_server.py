"""The reference stream from sse-starlette under uvicorn, seen by real clients and by its ground truth."""

from __future__ import annotations

import asyncio
import json

import httpx

from faultproxy.faults import parse_fault
from faultproxy.lab.sse_client import NETWORK_ERROR, NO_CONTENT, listen
from faultproxy.net.stream_server import running_in_thread
from faultproxy.proxy.server import Proxy
from faultproxy.servers.sse import ReferenceSSEServer
from faultproxy.servers.starlette_app import StarletteServer
from faultproxy.wire.sse import SSEParser

GUARD = 20.0  # seconds: a hang guard, never a measurement


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, GUARD))


async def until(condition, what: str) -> None:
    for _ in range(2000):  # bounded
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


def test_the_lab_client_gets_the_reference_stream_then_204():
    async def scenario():
        async with StarletteServer(
            events=5, interval=0.002, retry=5, event_type="tick", multiline=True, size=300
        ) as srv:
            transcript = await listen(srv.url, reconnect_ms=5, max_reconnects=3)
        return transcript, srv

    transcript, srv = run(scenario())
    reference = ReferenceSSEServer(events=5, event_type="tick", multiline=True, size=300)
    assert [(r.event.id, r.event.type, r.event.data) for r in transcript.events] == [
        (str(n), "tick", reference.data(n)) for n in range(1, 6)
    ]  # the same stream as the from-scratch server: ids, types, data
    assert transcript.events[0].event.retry == 5
    assert [a.outcome for a in transcript.attempts] == ["ended", NO_CONTENT]
    assert [(s.id, s.connection) for s in srv.sent] == [(n, 1) for n in range(1, 6)]
    assert [s.data for s in srv.sent] == [r.event.data for r in transcript.events]
    assert [(r.status, r.last_event_id, r.first_id) for r in srv.requests] == [
        (200, None, 1),
        (204, "5", None),
    ]
    assert srv.disconnects == []  # a stream that ended normally is no disconnect


def test_httpx_sees_ping_comments_on_the_wire_and_resumes_after_last_event_id():
    """With a short ping interval sse-starlette's `: ping` comments show up between the events."""

    def scenario():
        with running_in_thread(StarletteServer(events=200, interval=0.02, ping=0.002)) as srv:
            with httpx.Client(timeout=GUARD) as client:
                raw = b""
                with client.stream("GET", srv.url, headers={"Last-Event-ID": "150"}) as response:
                    head = (response.status_code, response.headers["content-type"])
                    for piece in response.iter_raw():
                        raw += piece
                        if b": ping" in raw and raw.count(b"id: ") >= 2:
                            break  # bounded: at most 50 events
            done = httpx.get(srv.url, headers={"Last-Event-ID": "200"}, timeout=GUARD)
        return head, raw, done.status_code, srv

    (status, content_type), raw, done, srv = scenario()
    assert status == 200 and content_type.startswith("text/event-stream")
    assert b"\r\n: ping - " in b"\r\n" + raw  # a comment line: dispatches nothing
    events = SSEParser().feed(raw)
    assert [e.id for e in events][:2] == ["151", "152"]
    assert json.loads(events[0].data) == {"n": 151}
    assert done == 204
    assert srv.requests[0].first_id == 151


def test_a_client_disconnect_is_detected_and_recorded():
    async def scenario():
        async with StarletteServer(events=1000, interval=0.002, ping=0) as srv:
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            writer.write(b"GET /events HTTP/1.1\r\nHost: test\r\n\r\n")
            await writer.drain()
            received = b""
            while received.count(b"id: ") < 3:
                data = await reader.read(65536)
                assert data, "the stream ended early"
                received += data
            writer.close()  # the client goes away mid-stream
            await writer.wait_closed()
            await until(lambda: srv.disconnects, "the server noticed the disconnect")
            sent_then = len(srv.sent)
            await asyncio.sleep(0.05)  # would it go on streaming into the void?
            return srv, sent_then

    srv, sent_then = run(scenario())
    [gone] = srv.disconnects
    assert gone.connection == 1 and gone.how == "http.disconnect"
    assert gone.last_id is not None and gone.last_id >= 3 and gone.events == gone.last_id
    assert len(srv.sent) == sent_then < 1000  # the stream stopped with the client


def test_a_drop_through_the_proxy_is_resumed_exactly_once_and_seen_by_the_server(tmp_path):
    fault = parse_fault({"type": "sse_disconnect", "attributes": {"after_events": 3}, "connections": [1]})
    log = tmp_path / "truth.jsonl"

    async def scenario():
        async with StarletteServer(events=6, interval=0.005, retry=5, log=log) as srv:
            async with Proxy(f"http://127.0.0.1:{srv.port}", faults=[fault]) as proxy:
                transcript = await listen(proxy.url + "/events", reconnect_ms=5, max_reconnects=5)
            await until(lambda: srv.disconnects, "the cut connection was noticed")
        return transcript, srv

    transcript, srv = run(scenario())
    assert transcript.ids == ["1", "2", "3", "4", "5", "6"]
    assert [(a.outcome, a.last_event_id) for a in transcript.attempts] == [
        (NETWORK_ERROR, None),
        ("ended", "3"),
        (NO_CONTENT, "6"),
    ]
    [gone] = srv.disconnects
    assert gone.connection == 1 and gone.last_id is not None and gone.last_id >= 3
    assert [s.id for s in srv.sent if s.connection == 2] == [4, 5, 6]
    kinds = [json.loads(line)["record"] for line in log.read_text().splitlines()]
    assert (kinds.count("request"), kinds.count("disconnect"), kinds.count("sent")) == (3, 1, len(srv.sent))


def test_stop_cuts_open_streams_and_a_busy_port_is_an_oserror():
    async def scenario():
        srv = StarletteServer(events=1000, interval=0.002, ping=0)
        await srv.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(b"GET /events HTTP/1.1\r\nHost: test\r\n\r\n")
        await writer.drain()
        received = b""
        while b"id: 2" not in received:
            data = await reader.read(65536)
            assert data
            received += data
        try:
            busy = StarletteServer(port=srv.port)
            try:
                await busy.start()
            except OSError as error:
                refused = error
            else:
                await busy.stop()
                refused = None
        finally:
            await srv.stop()
        rest = await reader.read()  # EOF: the stream was cut
        writer.close()
        return received + rest, refused, srv

    data, refused, srv = run(scenario())
    assert isinstance(refused, OSError)
    assert not data.endswith(b"0\r\n\r\n")  # no last chunk: the client can tell it was cut
    assert srv.disconnects == []  # our own shutdown is not a client disconnect
