"""The from-scratch SSE server, seen by curl and by its own ground-truth record."""

from __future__ import annotations

import asyncio
import json

from faultproxy.lab.sse_server import SSEServer
from faultproxy.net.stream_server import running_in_thread
from faultproxy.wire.chunked import ChunkData, ChunkedDecoder
from faultproxy.wire.sse import Event, SSEParser


def split_response(raw: bytes) -> tuple[bytes, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return head + b"\r\n", body


def events_in(chunked_body: bytes) -> list[Event]:
    decoder = ChunkedDecoder(strict=False)
    stream = b"".join(e.data for e in decoder.feed(chunked_body) if isinstance(e, ChunkData))
    return SSEParser().feed(stream)


def test_curl_gets_every_event_and_a_clean_end(cli_server, curl):
    url = cli_server("sse", "serve", "--events", "4", "--interval-ms", "5")
    result = curl("-N", "--raw", "-i", url)
    assert result.returncode == 0, result.stderr
    head, body = split_response(result.stdout)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    for field in (
        b"Content-Type: text/event-stream",
        b"Cache-Control: no-store",
        b"Transfer-Encoding: chunked",
    ):
        assert b"\r\n" + field + b"\r\n" in head
    assert body.endswith(b"\r\n0\r\n\r\n")
    assert b'id: 2\ndata: {"n": 2}\n\n' in body
    assert [(e.id, e.type, e.data) for e in events_in(body)] == [
        (str(n), "message", f'{{"n": {n}}}') for n in range(1, 5)
    ]


def test_curl_resumes_after_last_event_id(cli_server, curl):
    url = cli_server("sse", "serve", "--events", "6", "--interval-ms", "5")
    result = curl("-N", "--raw", "-i", "-H", "Last-Event-ID: 3", url)
    assert [e.id for e in events_in(split_response(result.stdout)[1])] == ["4", "5", "6"]
    done = curl("-i", "-H", "Last-Event-ID: 6", url)
    assert done.stdout.startswith(b"HTTP/1.1 204 No Content\r\n")


def test_ground_truth_matches_what_curl_saw(curl, tmp_path):
    log = tmp_path / "sent.jsonl"
    with running_in_thread(
        SSEServer(events=5, interval=0.005, event_type="tick", multiline=True, log=log)
    ) as srv:
        received = events_in(split_response(curl("-N", "--raw", "-i", srv.url).stdout)[1])
        resumed = events_in(
            split_response(curl("-N", "--raw", "-i", "-H", "Last-Event-ID: 2", srv.url).stdout)[1]
        )
    assert [(str(s.id), s.type, s.data) for s in srv.sent] == [
        (e.id, e.type, e.data) for e in received + resumed
    ]
    assert [s.connection for s in srv.sent] == [1] * 5 + [2] * 3
    assert [(r.connection, r.last_event_id, r.status, r.first_id) for r in srv.requests] == [
        (1, None, 200, 1),
        (2, "2", 200, 3),
    ]
    assert json.loads(received[0].data) == {"n": 1, "of": 5} and "\n" in received[0].data
    assert [json.loads(line)["id"] for line in log.read_text().splitlines()] == [1, 2, 3, 4, 5, 3, 4, 5]


def test_retry_keepalive_and_drop_after_on_the_wire(curl):
    server = SSEServer(events=3, interval=0.05, retry=1234, keepalive=0.01, drop_after=2)
    with running_in_thread(server) as srv:
        first = curl("-N", "--raw", "-i", srv.url)
        second = curl("-N", "--raw", "-i", srv.url)
    assert first.returncode == 18  # cut after 2 events: curl knows the chunked body is incomplete
    body = split_response(first.stdout)[1]
    assert b": keep-alive\n" in body
    assert not body.endswith(b"0\r\n\r\n")
    assert [(e.id, e.retry) for e in events_in(body)] == [("1", 1234), ("2", 1234)]
    assert body.count(b"retry: 1234\n") == 1  # once per connection, with its first event
    assert second.returncode == 0
    assert [e.id for e in events_in(split_response(second.stdout)[1])] == [
        "1",
        "2",
        "3",
    ]  # only the first is cut


def test_other_paths_and_methods_are_refused(curl):
    with running_in_thread(SSEServer(events=1, interval=0)) as srv:
        base = srv.url.removesuffix("/events")
        assert curl("-i", base + "/nope").stdout.startswith(b"HTTP/1.1 404 ")
        assert curl("-i", "-X", "POST", srv.url).stdout.startswith(b"HTTP/1.1 405 ")
        assert srv.requests == []


def test_async_context_manager_and_stop_ends_open_streams():
    errors: list[dict] = []  # what the loop reports as unhandled: stopping mid-stream is not an error

    async def scenario() -> tuple[bytes, int]:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: errors.append(context))
        async with SSEServer(events=1000, interval=0.01) as srv:
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            writer.write(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
            received = b""
            while received.count(b"id: ") < 2:
                data = await asyncio.wait_for(reader.read(4096), 5)
                assert data, "the stream ended early"
                received += data
            await srv.stop()  # mid-stream
            rest = await asyncio.wait_for(reader.read(), 5)  # EOF: the server closed it
            writer.close()
            for _ in range(3):
                await asyncio.sleep(0)  # the connection tasks' done-callbacks run
            return received + rest, len(srv.sent)

    received, sent = asyncio.run(scenario())
    assert errors == []
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert 2 <= sent < 1000
