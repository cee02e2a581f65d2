"""The reference SSE server: sized events, resume through a real drop, and the durable log across restarts.

Every stream is cut by the real proxy with a real fault, or by stopping a real server, and
resumed by the lab's reconnecting client; the checks compare the client's transcript with
the server's ground truth and the durable log. Waits are bounded; nothing is timed.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from faultproxy.faults import parse_fault
from faultproxy.lab.sse_client import NETWORK_ERROR, NO_CONTENT, SSEClient, Transcript, listen
from faultproxy.proxy.server import Proxy
from faultproxy.servers.sse import ReferenceSSEServer, read_durable_log
from faultproxy.wire.sse import encode_event

GUARD = 20.0  # seconds: a hang guard, never a measurement


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, GUARD))


def received(transcript: Transcript) -> list[tuple[str, str]]:
    return [(r.event.id, r.event.data) for r in transcript.events]


def cut_after(k: int, mode: str = "fin"):
    """The proxy fault that ends the first connection right after event k."""
    return parse_fault(
        {"type": "sse_disconnect", "attributes": {"after_events": k, "mode": mode}, "connections": [1]}
    )


# -- sized events --------------------------------------------------------------------------------


@pytest.mark.parametrize("multiline", [False, True])
def test_size_pads_every_event_to_exactly_that_many_bytes(multiline):
    async def scenario():
        async with ReferenceSSEServer(events=4, interval=0, size=1000, multiline=multiline) as srv:
            return await listen(srv.url, reconnect_ms=0, max_reconnects=3), srv.sent

    transcript, sent = run(scenario())
    assert transcript.ids == ["1", "2", "3", "4"] and transcript.end == NO_CONTENT
    for r, s in zip(transcript.events, sent, strict=True):
        assert len(r.event.data.encode()) == 1000
        value = json.loads(r.event.data)
        assert value["n"] == int(r.event.id) and len(value["pad"]) > 900
        assert r.event.data == s.data and s.bytes > 1000  # the block: id line, data line(s), blank line
    assert len({json.loads(r.event.data)["pad"] for r in transcript.events}) == 4  # no two alike


def test_stamp_puts_the_send_time_in_every_event_and_size_still_holds():
    import time

    async def scenario():
        async with ReferenceSSEServer(events=3, interval=0.01, stamp=True, size=120) as srv:
            before = time.time()
            transcript = await listen(srv.url, reconnect_ms=0, max_reconnects=1)
            return before, transcript, time.time()

    before, transcript, after = run(scenario())
    stamps = [json.loads(r.event.data)["t"] for r in transcript.events]
    assert before <= stamps[0] <= stamps[1] <= stamps[2] <= after
    assert all(len(r.event.data.encode()) == 120 for r in transcript.events)


def test_size_below_the_unpadded_length_leaves_the_data_alone_and_any_size_above_is_exact():
    plain, tiny = ReferenceSSEServer(events=3), ReferenceSSEServer(events=3, size=3)
    assert tiny.data(2) == plain.data(2) == '{"n": 2}'
    for size in range(9, 40):  # every size from just above the unpadded length is hit exactly
        data = ReferenceSSEServer(events=3, size=size).data(2)
        assert len(data.encode()) == size and json.loads(data)["n"] == 2
    with pytest.raises(ValueError):
        ReferenceSSEServer(size=-1)


# -- resume through a real drop --------------------------------------------------------------------


@pytest.mark.parametrize(("k", "mode"), [(1, "fin"), (3, "rst"), (7, "fin")])
def test_a_stream_cut_after_event_k_resumes_with_every_event_exactly_once(k, mode, tmp_path):
    async def scenario():
        async with ReferenceSSEServer(
            events=8, interval=0.002, retry=5, size=200, log=tmp_path / "sent.jsonl"
        ) as srv:
            async with Proxy(f"http://127.0.0.1:{srv.port}", faults=[cut_after(k, mode)]) as proxy:
                transcript = await listen(proxy.url + "/events", reconnect_ms=5, max_reconnects=5)
                fired = [e.detail for e in proxy.evidence]
        return transcript, srv, fired

    transcript, srv, fired = run(scenario())
    assert len(fired) == 1  # the fault fired once, on the first connection
    assert transcript.ids == [str(n) for n in range(1, 9)]  # each once, in order
    assert [(a.outcome, a.last_event_id, a.events) for a in transcript.attempts] == [
        (NETWORK_ERROR, None, k),
        ("ended", str(k), 8 - k),
        (NO_CONTENT, "8", 0),
    ]
    assert [(r.connection, r.last_event_id, r.status, r.first_id) for r in srv.requests] == [
        (1, None, 200, 1),
        (2, str(k), 200, k + 1),
        (3, "8", 204, None),
    ]
    # ground truth: what the client got is what the server sent on each connection. The server
    # may have written one more event into the cut connection than the client ever saw.
    sent = {(s.connection, str(s.id)): s.data for s in srv.sent}
    for r in transcript.events:
        assert sent[(r.connection, r.event.id)] == r.event.data
    assert [s.id for s in srv.sent if s.connection == 2] == list(range(k + 1, 9))
    assert {s.id for s in srv.sent if s.connection == 1} >= set(range(1, k + 1))
    logged = [json.loads(line) for line in (tmp_path / "sent.jsonl").read_text().splitlines()]
    assert [(x["id"], x["connection"], x["bytes"]) for x in logged] == [
        (s.id, s.connection, s.bytes) for s in srv.sent
    ]


# -- durable mode -------------------------------------------------------------------------------------


def test_durable_stream_survives_a_server_restart_mid_stream(tmp_path):
    """Stop the server while the client listens; a new instance on the same port and log finishes it."""
    log = tmp_path / "events.jsonl"

    async def scenario():
        first = ReferenceSSEServer(events=12, interval=0.005, retry=10, durable=log)
        await first.start()
        port = first.port
        stopping: list[asyncio.Task] = []

        def on_event(r):
            if len(client.transcript.events) == 4 and not stopping:
                stopping.append(asyncio.ensure_future(first.stop()))  # the server "dies" mid-stream

        client = SSEClient(first.url, reconnect_ms=10, max_reconnects=500, on_event=on_event)
        listening = asyncio.ensure_future(client.run())
        for _ in range(2000):  # bounded: until the stop has happened
            if stopping and stopping[0].done():
                break
            await asyncio.sleep(0.005)
        assert stopping and stopping[0].done(), "the first server was never stopped"
        at_restart = list(client.transcript.ids)
        second = ReferenceSSEServer(events=12, interval=0.005, retry=10, durable=log, port=port)
        await second.start()  # same port, same log: a restart
        try:
            transcript = await listening
        finally:
            await second.stop()
        return transcript, at_restart, first, second

    transcript, at_restart, first, second = run(scenario())
    ids = [str(n) for n in range(1, 13)]
    assert transcript.ids == ids and transcript.end == NO_CONTENT  # nothing lost, nothing repeated
    assert 4 <= len(at_restart) < 12
    resumed = second.requests[0]
    assert resumed.last_event_id == at_restart[-1] and resumed.first_id == len(at_restart) + 1

    book = read_durable_log(log)
    assert [e["id"] for e in book["event"]] == list(range(1, 13))  # every event exists exactly once
    assert [s["instance"] for s in book["start"]] == [1, 2]
    assert book["start"][1]["existing"] >= len(at_restart)  # the restart knew what existed
    # what the client holds is the log's data, event by event
    assert received(transcript) == [(str(e["id"]), e["data"]) for e in book["event"]]
    # and each event was shown to the client exactly once across both instances
    shown = [(s["instance"], s["id"]) for s in book["sent"]]
    assert sorted(i for _, i in shown) == list(range(1, 13))
    assert {i for inst, i in shown if inst == 1} == {int(x) for x in at_restart}


class DiesBetweenWriteAndShow(ReferenceSSEServer):
    """Produces event ``die_at`` into the log, then "crashes" before its bytes reach the socket."""

    die_at = 4

    async def next_event(self, writer, n):
        produced = await super().next_event(writer, n)
        if n == self.die_at:
            writer.transport.abort()
            raise ConnectionResetError("the process died after the fsync, before the write")
        return produced


def test_an_event_logged_but_never_shown_is_sent_on_resume_and_a_torn_tail_is_dropped(tmp_path):
    log = tmp_path / "events.jsonl"

    async def scenario():
        async with DiesBetweenWriteAndShow(events=6, interval=0, durable=log) as dying:
            before = await listen(dying.url, max_reconnects=0)
        with log.open("a") as handle:
            handle.write('{"type": "event", "id": 5, "event": "mess')  # died inside a write
        async with ReferenceSSEServer(events=6, interval=0, durable=log) as restarted:
            existing = restarted.existing
            after = await listen(
                restarted.url, last_event_id=before.ids[-1], reconnect_ms=0, max_reconnects=2
            )
        return before, after, existing

    before, after, existing = run(scenario())
    assert before.ids == ["1", "2", "3"] and before.attempts[0].outcome == NETWORK_ERROR
    assert existing == 4  # event 4 was written (and fsync'd) but never shown; the torn 5 is gone
    assert after.ids == ["4", "5", "6"] and after.end == NO_CONTENT
    book = read_durable_log(log)
    assert [e["id"] for e in book["event"]] == [1, 2, 3, 4, 5, 6]
    assert [(s["instance"], s["id"]) for s in book["sent"]] == [
        (1, 1),
        (1, 2),
        (1, 3),
        (2, 4),
        (2, 5),
        (2, 6),
    ]
    assert all(line.endswith("}") for line in log.read_text().splitlines())


def test_durable_log_is_the_source_of_resumed_events(tmp_path):
    """Events that exist are served from the log as logged, at once; new ones continue the numbering."""
    log = tmp_path / "events.jsonl"

    async def scenario():
        async with ReferenceSSEServer(events=5, interval=0, durable=log) as srv:
            await listen(srv.url, max_reconnects=0)  # events 1..5 now exist
        # rewrite event 3's data in the log: a restarted server must send what the log says
        lines = log.read_text().splitlines()
        lines = [line.replace('{\\"n\\": 3}', '{\\"n\\": 3, \\"from\\": \\"log\\"}') for line in lines]
        log.write_text("\n".join(lines) + "\n")
        async with ReferenceSSEServer(events=5, interval=0, durable=log) as srv:
            return await listen(srv.url, last_event_id="2", reconnect_ms=0, max_reconnects=1)

    transcript = run(scenario())
    assert received(transcript)[0] == ("3", '{"n": 3, "from": "log"}')
    assert transcript.ids == ["3", "4", "5"]


def test_durable_log_shared_by_concurrent_clients_holds_each_event_once(tmp_path):
    log = tmp_path / "events.jsonl"

    async def scenario():
        async with ReferenceSSEServer(events=20, interval=0.001, durable=log, size=64) as srv:
            clients = [listen(srv.url, reconnect_ms=0, max_reconnects=1) for _ in range(4)]
            transcripts = await asyncio.gather(*clients)
        return transcripts

    transcripts = run(scenario())
    book = read_durable_log(log)
    assert [e["id"] for e in book["event"]] == list(range(1, 21))
    expected = [(str(e["id"]), e["data"]) for e in book["event"]]
    for transcript in transcripts:
        assert received(transcript) == expected
    assert len(book["sent"]) == 80


def test_a_durable_log_of_another_stream_or_in_use_is_refused(tmp_path):
    log = tmp_path / "events.jsonl"

    async def scenario():
        async with ReferenceSSEServer(events=3, interval=0, durable=log):
            with pytest.raises(ValueError, match="in use by another running server"):
                await ReferenceSSEServer(events=3, durable=log).start()
        with pytest.raises(ValueError, match="another stream: events=3"):
            await ReferenceSSEServer(events=4, durable=log).start()
        Path(tmp_path / "junk.jsonl").write_text("not json\n")
        with pytest.raises(ValueError, match="not a durable SSE log"):
            await ReferenceSSEServer(durable=tmp_path / "junk.jsonl").start()

    run(scenario())


def test_a_log_with_only_a_torn_first_line_starts_a_new_stream(tmp_path):
    log = tmp_path / "events.jsonl"
    log.write_text('{"type": "stream", "vers')  # the very first write never completed

    async def scenario():
        async with ReferenceSSEServer(events=2, interval=0, durable=log) as srv:
            return await listen(srv.url, reconnect_ms=0, max_reconnects=1), srv.existing

    transcript, existing = run(scenario())
    assert transcript.ids == ["1", "2"]
    book = read_durable_log(log)
    assert len(book["stream"]) == 1 and [e["id"] for e in book["event"]] == [1, 2]


# -- framing and extra headers ---------------------------------------------------------------------


async def _raw_get(port: int, version: bytes) -> bytes:
    """Everything the server sends to one request, until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /events " + version + b"\r\nHost: x\r\n\r\n")
    data = await reader.read()
    writer.close()
    return data


@pytest.mark.parametrize(
    ("framing", "version", "chunked"),
    [
        ("auto", b"HTTP/1.1", True),
        ("auto", b"HTTP/1.0", False),  # RFC 9112: no chunked to HTTP/1.0
        ("chunked", b"HTTP/1.0", True),
        ("close", b"HTTP/1.1", False),
    ],
)
def test_framing_decides_between_chunked_and_a_close_delimited_body(framing, version, chunked):
    async def scenario():
        async with ReferenceSSEServer(events=3, interval=0.01, keepalive=0.004, framing=framing) as srv:
            return await _raw_get(srv.port, version)

    head, _, body = run(scenario()).partition(b"\r\n\r\n")
    assert (b"Transfer-Encoding: chunked" in head) is chunked and b"Content-Length" not in head
    events = b"".join(encode_event(json.dumps({"n": n}), id=str(n)) for n in (1, 2, 3))
    if chunked:
        assert body.endswith(b"0\r\n\r\n") and b": keep-alive\n\n" in body
    else:  # the events as they are, keep-alive comments between them, and the connection's end
        assert body.replace(b": keep-alive\n\n", b"") == events and b": keep-alive\n\n" in body


def test_a_cut_close_delimited_stream_looks_like_its_end():
    """drop_after on a close-delimited body: nothing on the wire says that events are missing."""

    async def scenario():
        async with ReferenceSSEServer(events=5, interval=0, framing="close", drop_after=2) as srv:
            cut = await _raw_get(srv.port, b"HTTP/1.1")
            whole = await _raw_get(srv.port, b"HTTP/1.1")  # the second connection is not cut
            return cut, whole

    cut, whole = run(scenario())
    assert cut.count(b"id: ") == 2 and whole.count(b"id: ") == 5
    assert cut.partition(b"\r\n\r\n")[0] == whole.partition(b"\r\n\r\n")[0]  # same head, no framing to break


def test_extra_headers_go_out_and_bad_ones_are_refused():
    async def scenario():
        async with ReferenceSSEServer(events=1, interval=0, headers={"X-Accel-Buffering": "no"}) as srv:
            return await _raw_get(srv.port, b"HTTP/1.1")

    assert b"\r\nX-Accel-Buffering: no\r\n" in run(scenario()).partition(b"\r\n\r\n")[0]
    for bad in ({"X Bad": "1"}, {"X-A": "a\r\nInjected: 1"}, {"Transfer-Encoding": "gzip"}):
        with pytest.raises(ValueError):
            ReferenceSSEServer(headers=bad)
    with pytest.raises(ValueError, match="framing"):
        ReferenceSSEServer(framing="sometimes")
