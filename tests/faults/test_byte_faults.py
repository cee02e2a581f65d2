"""The bytes-layer faults (Toxiproxy's vocabulary) on real loopback traffic, as a client sees them.

Timing is asserted only as lower bounds a fault guarantees ("not before the delay") or as the
*shape* of arrivals (many small reads, bytes spread over time, ordering), never as "took less
than X": a loaded machine may always be slower. Every loop is bounded by a byte count, an
iteration count or the harness's hang guard.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest
from proxy_harness import GUARD, Conn, RawClient, wait_event, wait_until

from faultproxy.faults import FaultSet, Pipeline, parse_fault
from faultproxy.faults.base import Close, Until, Wait

GET = b"GET /stream HTTP/1.1\r\nHost: test\r\n\r\n"


def head(length: int | None = None) -> bytes:
    framing = b"Content-Length: %d" % length if length is not None else b"Transfer-Encoding: chunked"
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n" + framing + b"\r\n\r\n"


def body_of(n: int) -> bytes:
    return bytes(random.Random(n).randrange(256) for _ in range(n))


Reads = list[tuple[float, bytes]]


def reads(client: RawClient, total: int | None = None, size: int = 65536) -> tuple[Reads, str]:
    """Each recv with its time, until ``total`` bytes came or the connection ended; and how it
    ended: ``fin``, ``rst``, or ``open`` when ``total`` was reached first."""
    out: Reads = []
    got = 0
    while total is None or got < total:
        try:
            data = client.sock.recv(size if total is None else min(size, total - got))
        except ConnectionResetError:
            return out, "rst"
        if not data:
            return out, "fin"
        out.append((time.monotonic(), data))
        got += len(data)
    return out, "open"


def joined(items: Reads) -> bytes:
    return b"".join(data for _, data in items)


def nothing_arrives(client: RawClient, seconds: float) -> bool:
    """True if the connection stays open and silent for ``seconds`` (a negative check)."""
    client.sock.settimeout(seconds)
    try:
        data = client.sock.recv(65536)
    except TimeoutError:
        return True
    finally:
        client.sock.settimeout(GUARD)
    raise AssertionError(f"expected silence, got {data!r}" if data else "expected silence, got the end")


def one_response(body: bytes, *, sizes: list[int] | None = None, then: str = "fin"):
    """A handler: read the request, answer ``body`` (Content-Length), then FIN or wait for EOF."""

    async def handler(conn: Conn) -> None:
        await conn.read_request()
        await conn.write(head(len(body)) + body, sizes)
        if then == "fin":
            await conn.fin()
        else:
            await conn.read_to_eof()

    return handler


def keep_alive(body: bytes):
    """A handler answering every request on the connection with ``body`` until the client leaves."""

    async def handler(conn: Conn) -> None:
        for _ in range(100):
            try:
                await conn.read_request()
            except EOFError:
                return
            await conn.write(head(len(body)) + body)

    return handler


def streaming(period: float = 0.02, count: int = 250):
    """A handler streaming a chunk every ``period`` s, ``count`` at most (a bounded long stream)."""

    async def handler(conn: Conn) -> None:
        await conn.read_request()
        await conn.write(head())
        for i in range(count):
            data = b"tick %d\n" % i
            await conn.write(b"%x\r\n%s\r\n" % (len(data), data))
            await asyncio.sleep(period)
        await conn.write(b"0\r\n\r\n")

    return handler


def sans_io(fault: dict, seed: int, pieces: list[bytes]) -> list[object]:
    """The outputs of one fault for ``pieces`` fed at t=0, without any socket (seeded decisions)."""
    faults = FaultSet([parse_fault(fault)], seed=seed)
    pipeline = Pipeline(faults, 1, "response", raw=True)
    out: list[object] = []
    for piece in pieces:
        out += pipeline.feed(piece, 0.0)
    return out


# -- latency ------------------------------------------------------------------------------------


def test_latency_downstream_every_piece_arrives_after_the_delay(make_proxy, serve, raw_client):
    written: list[float] = []
    pieces = [b"a" * 100, b"b" * 100, b"c" * 100]

    async def handler(conn: Conn) -> None:
        await conn.read_request()
        written.append(time.monotonic())
        await conn.write(head(300))
        for piece in pieces:
            await asyncio.sleep(0.06)
            written.append(time.monotonic())  # before the write: the proxy cannot have it earlier
            await conn.write(piece)
        await conn.read_to_eof()

    proxy = make_proxy(serve(handler).url, faults=[{"type": "latency", "attributes": {"latency": 150}}])
    client = raw_client(proxy.port)
    client.send(GET)
    got, end = reads(client, len(head(300)) + 300)
    data = joined(got)
    assert end == "open" and data.endswith(b"".join(pieces))
    # when the first byte of each piece (the head, then a, b, c) reached the client
    marks = [0, len(head(300)), len(head(300)) + 100, len(head(300)) + 200]
    offsets, pos = [], 0
    for t, chunk in got:
        offsets.append((pos, pos + len(chunk), t))
        pos += len(chunk)
    for mark, sent in zip(marks, written):
        arrived = next(t for start, end_, t in offsets if start <= mark < end_)
        assert arrived >= sent + 0.150, (mark, arrived - sent)
    evidence = [e for e in proxy.evidence if e.fault_type == "latency"]
    assert evidence and evidence[0].direction == "response" and "delayed by 150 ms" in evidence[0].detail


def test_latency_upstream_delays_the_request(make_proxy, serve, raw_client):
    arrived: list[float] = []

    async def handler(conn: Conn) -> None:
        await conn.read_request()
        arrived.append(time.monotonic())
        await conn.write(head(2) + b"ok")
        await conn.read_to_eof()

    server = serve(handler)
    fault = {"type": "latency", "stream": "upstream", "attributes": {"latency": 200}}
    proxy = make_proxy(server.url, faults=[fault])
    client = raw_client(proxy.port)
    request = b"POST /up HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\n\r\nhello"
    sent = time.monotonic()
    client.send(request)
    got, _ = reads(client, len(head(2)) + 2)
    assert joined(got).endswith(b"ok")
    assert server.conn(1).received == request  # delayed, not changed
    assert arrived[0] >= sent + 0.200
    assert [e.direction for e in proxy.evidence] == ["request"]


def test_latency_jitter_is_seeded(make_proxy, serve, raw_client):
    fault = {"type": "latency", "attributes": {"latency": 100, "jitter": 90}}
    pieces = [b"x"] * 30

    def delays(seed: int) -> list[float]:
        return [round(item.at, 6) for item in sans_io(fault, seed, pieces) if isinstance(item, Until)]

    assert delays(7) == delays(7)
    assert delays(7) != delays(8)
    assert all(0.010 <= d <= 0.190 for d in delays(7)) and len(set(delays(7))) > 5

    # through the proxy: the first delay of each connection (in the evidence) follows the seed too
    server = serve(keep_alive(b"hi"))

    def first_delays(seed: int) -> list[str]:
        proxy = make_proxy(server.url, faults=[fault], seed=seed)
        for _ in range(3):
            client = raw_client(proxy.port)
            client.send(GET)
            reads(client, len(head(2)) + 2)
            client.close()
        wait_until(lambda: len(proxy.evidence) == 3, "evidence of 3 connections")
        return [e.detail for e in sorted(proxy.evidence, key=lambda e: e.conn)]

    assert first_delays(7) == first_delays(7) != first_delays(8)


# -- bandwidth ----------------------------------------------------------------------------------


def test_bandwidth_paces_bytes_evenly(make_proxy, serve, raw_client):
    body = body_of(60_000)
    fault = {"type": "bandwidth", "attributes": {"rate": 100}}
    proxy = make_proxy(serve(one_response(body)).url, faults=[fault])
    client = raw_client(proxy.port)
    sent = time.monotonic()
    client.send(GET)
    got, end = reads(client)
    total = len(head(len(body))) + len(body)
    assert end == "fin" and joined(got) == head(len(body)) + body
    # never faster than 100 KB/s: by any moment, at most 100 000 bytes per second since the request
    count = 0
    for t, data in got:
        count += len(data)
        assert count <= 100_000 * (t - sent) + 1, (count, t - sent)
    # smooth, not one burst: many reads, none with a large part of the body, and the bytes spread
    # evenly over the transfer (half of them arrive around the middle of it, not at either end)
    assert len(got) >= 8 and max(len(data) for _, data in got) <= total // 2
    first, last = got[0][0], got[-1][0]
    half = next(t for t, _ in _cumulative(got) if _ >= total // 2)
    assert 0.2 <= (half - first) / (last - first) <= 0.8
    assert [e.detail for e in proxy.evidence] == ["limited to 100 KB/s"]


def _cumulative(got: Reads) -> list[tuple[float, int]]:
    out, count = [], 0
    for t, data in got:
        count += len(data)
        out.append((t, count))
    return out


# -- slicer -------------------------------------------------------------------------------------


def test_slicer_client_reads_small_slices(make_proxy, serve, raw_client):
    body = body_of(3000)
    attributes = {"average_size": 100, "size_variation": 30, "delay": 4000}
    proxy = make_proxy(serve(one_response(body)).url, faults=[{"type": "slicer", "attributes": attributes}])
    client = raw_client(proxy.port)
    client.send(GET)
    got, end = reads(client)
    assert end == "fin" and joined(got) == head(3000) + body  # same bytes, only cut up
    sizes = sorted(len(data) for _, data in got)
    assert len(sizes) >= 15  # ~31 slices; a client running late may find two in one read
    assert sizes[len(sizes) // 2] <= 130  # the typical read is one slice
    evidence = [e for e in proxy.evidence if e.fault_type == "slicer"]
    assert evidence and evidence[0].detail.startswith("sliced ")

    # without the fault the same response comes in a read or two
    plain = make_proxy(serve(one_response(body)).url)
    client = raw_client(plain.port)
    client.send(GET)
    unsliced, _ = reads(client)
    assert len(unsliced) < len(sizes)


def test_slicer_sizes_are_seeded():
    fault = {"type": "slicer", "attributes": {"average_size": 50, "size_variation": 40}}
    data = [bytes(1000), bytes(777)]

    def sizes(seed: int) -> list[int]:
        out = sans_io(fault, seed, data)
        assert b"".join(i for i in out if isinstance(i, bytes)) == b"".join(data)
        return [len(i) for i in out if isinstance(i, bytes)]

    assert sizes(1) == sizes(1)
    assert sizes(1) != sizes(2)
    assert all(10 <= s <= 90 for s in sizes(1)[:-1])


# -- timeout ------------------------------------------------------------------------------------


def test_timeout_drops_data_then_closes(make_proxy, serve, raw_client):
    server = serve(one_response(b"never seen", then="wait"))
    proxy = make_proxy(server.url, faults=[{"type": "timeout", "attributes": {"timeout": 300}}])
    connected = time.monotonic()
    client = raw_client(proxy.port)
    client.send(GET)
    got, end = reads(client)
    closed = time.monotonic()
    assert (joined(got), end) == (b"", "fin")  # nothing got through, then an orderly close
    assert closed >= connected + 0.300
    wait_event(server.conn(1).eof, "the proxy closes the upstream side too")
    details = [e.detail for e in proxy.evidence]
    assert details[0] == "dropping data until the close at 300 ms"
    assert details[-1].startswith("closed after 300 ms")


def test_timeout_zero_holds_until_removed(make_proxy, serve, raw_client):
    first_written, go_on = threading.Event(), threading.Event()

    async def handler(conn: Conn) -> None:
        await conn.read_request()
        await conn.write(head(20) + b"A" * 10)
        first_written.set()
        await asyncio.get_running_loop().run_in_executor(None, go_on.wait, GUARD)
        await conn.write(b"B" * 10)
        await conn.read_to_eof()

    proxy = make_proxy(serve(handler).url)
    fault = proxy.add_fault("timeout", {"timeout": 0})
    client = raw_client(proxy.port)
    client.send(GET)
    wait_event(first_written, "the server's first part")
    wait_until(lambda: fault.fired, "the proxy to drop it")
    assert nothing_arrives(client, 0.3)  # dropped, and the connection is held open
    fault.remove()
    go_on.set()
    got, end = reads(client, 10)
    assert (joined(got), end) == (b"B" * 10, "open")  # flows again; what was dropped is lost
    assert nothing_arrives(client, 0.1)


def test_fault_added_to_a_live_connection_starts_its_clock_then(make_proxy, serve, raw_client):
    proxy = make_proxy(serve(keep_alive(b"hello")).url)
    client = raw_client(proxy.port)
    client.send(GET)
    assert joined(reads(client, len(head(5)) + 5)[0]).endswith(b"hello")
    # reset_peer removed before its time: nothing happens
    proxy.add_fault("reset_peer", {"timeout": 200}).remove()
    # timeout added while the connection is idle: it closes without any data flowing
    added = time.monotonic()
    proxy.add_fault("timeout", {"timeout": 250})
    got, end = reads(client)
    assert (joined(got), end) == (b"", "fin")
    assert time.monotonic() >= added + 0.250
    assert [e.fault_type for e in proxy.evidence] == ["timeout"]


# -- reset_peer ---------------------------------------------------------------------------------


def test_reset_peer_resets_a_stream_after_the_timeout(make_proxy, serve, raw_client):
    server = serve(streaming())
    proxy = make_proxy(server.url, faults=[{"type": "reset_peer", "attributes": {"timeout": 400}}])
    connected = time.monotonic()
    client = raw_client(proxy.port)
    client.send(GET)
    got, end = reads(client)
    reset_at = time.monotonic()
    assert end == "rst"
    assert b"tick 0\n" in joined(got)  # data flowed until the reset
    assert reset_at >= connected + 0.400
    conn = server.conn(1)
    wait_event(conn.ended, "the server to notice")
    assert isinstance(conn.error, ConnectionError)  # its side was reset too
    assert [e.detail for e in proxy.evidence] == ["reset after 400 ms"]


def test_reset_peer_zero_resets_at_the_first_data(make_proxy, serve, raw_client):
    proxy = make_proxy(
        serve(one_response(b"payload", then="wait")).url,
        faults=[{"type": "reset_peer", "attributes": {"timeout": 0}}],
    )
    client = raw_client(proxy.port)
    client.send(GET)
    assert reads(client) == ([], "rst")
    assert len(proxy.evidence) == 1 and proxy.evidence[0].detail.startswith("reset at the first data")


# -- limit_data ---------------------------------------------------------------------------------


def test_limit_data_downstream_delivers_exactly_the_limit(make_proxy, serve, raw_client):
    body = body_of(10_000)
    response = head(len(body)) + body
    proxy = make_proxy(
        serve(one_response(body, sizes=[1000, 3000, 1500], then="wait")).url,
        faults=[{"type": "limit_data", "attributes": {"bytes": 5000}}],
    )
    client = raw_client(proxy.port)
    client.send(GET)
    got, end = reads(client)
    assert (joined(got), end) == (response[:5000], "fin")
    assert [(e.detail, e.offset) for e in proxy.evidence] == [("closed after 5000 bytes", 5000)]


def test_limit_data_upstream_delivers_exactly_the_limit(make_proxy, serve, raw_client):
    async def handler(conn: Conn) -> None:
        await conn.read_to_eof()

    server = serve(handler)
    fault = {"type": "limit_data", "stream": "upstream", "attributes": {"bytes": 3000}}
    proxy = make_proxy(server.url, faults=[fault])
    body = body_of(10_000)
    request = b"POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 10000\r\n\r\n" + body
    client = raw_client(proxy.port)
    client.send(request)
    got, end = reads(client)
    assert joined(got) == b"" and end in ("fin", "rst")  # no answer: the connection is gone
    conn = server.conn(1)
    wait_event(conn.eof, "the server to see the close")
    assert bytes(conn.received) == request[:3000]
    assert [(e.direction, e.offset) for e in proxy.evidence] == [("request", 3000)]


# -- slow_close ---------------------------------------------------------------------------------


def test_slow_close_delays_only_the_fin(make_proxy, serve, raw_client):
    body = b"all of it"
    closing: list[float] = []

    async def handler(conn: Conn) -> None:
        await conn.read_request()
        await conn.write(head(len(body)) + body)
        closing.append(time.monotonic())  # before the FIN: the proxy cannot see it earlier
        await conn.fin()

    proxy = make_proxy(serve(handler).url, faults=[{"type": "slow_close", "attributes": {"delay": 300}}])
    client = raw_client(proxy.port)
    client.send(GET)
    got, end = reads(client, len(head(len(body))) + len(body))
    assert end == "open" and joined(got).endswith(body)  # the data came, the connection is still open
    rest, end = reads(client)
    assert (rest, end) == ([], "fin")
    assert time.monotonic() >= closing[0] + 0.300
    assert [e.detail for e in proxy.evidence] == ["close delayed by 300 ms"]


# -- slow_reader --------------------------------------------------------------------------------

BIG = 32 << 20  # far more than loopback's socket buffers hold (a few MiB)


def big_writer(progress: list[int]):
    """A handler writing a BIG body in 64 KiB writes, each drained: ``progress[0]`` is how much
    of it the server got through (its writes block when nobody reads)."""

    async def handler(conn: Conn) -> None:
        await conn.read_request()
        conn.writer.write(head(BIG))
        piece = bytes(65536)
        for _ in range(BIG // len(piece)):
            conn.writer.write(piece)
            await conn.writer.drain()
            progress[0] += len(piece)
        # Return only once the transport's buffer is empty: asyncio cannot abort (as the
        # server's teardown does) a transport closed with data still buffered.
        for _ in range(2000):
            if not conn.writer.transport.get_write_buffer_size():
                break
            await asyncio.sleep(0.005)

    return handler


@pytest.mark.parametrize("fault", [None, {"type": "slow_reader", "attributes": {"rate": 200_000}}])
def test_slow_reader_makes_the_servers_writes_block(fault, make_proxy, serve, raw_client):
    progress = [0]
    proxy = make_proxy(serve(big_writer(progress)).url, faults=[fault] if fault else [])
    client = raw_client(proxy.port)
    client.send(GET)
    if fault is None:
        got, _ = reads(client, len(head(BIG)) + BIG)
        assert sum(len(d) for _, d in got) == len(head(BIG)) + BIG
        wait_until(lambda: progress[0] == BIG, "the server to write the whole body")
        return
    # checkpoint: the client has had 150 kB (about 0.75 s at 200 000 B/s)
    got, _ = reads(client, 150_000)
    held = [
        relay.core.response.outbox.queued_bytes for relay in proxy.connections.relays.values()
    ]  # what the proxy holds back
    assert progress[0] < BIG // 4, progress[0]  # blocked: its writes wait, the body is far from out
    assert held and max(held) <= 256 * 1024  # at most one read, not the relay's 1 MiB queue
    assert [e.detail for e in proxy.evidence] == ["reading slowly: 200000 B/s"]


def test_slow_reader_pauses_are_kept_as_waits_between_reads():
    fault = {"type": "slow_reader", "attributes": {"pause": 100, "pause_every": 1000}}
    out = sans_io(fault, 0, [bytes(2500)])
    assert [len(i) if isinstance(i, bytes) else round(i.at, 3) for i in out if not isinstance(i, Wait)] == [
        0.0,
        1000,
        0.1,
        1000,
        0.2,
        500,
        0.2,
    ]


# -- a disabled proxy ---------------------------------------------------------------------------


def test_disabled_proxy_drops_and_refuses_connections(make_proxy, serve, raw_client):
    streams = streaming()

    async def handler(conn: Conn) -> None:
        if conn.number == 1:
            await streams(conn)
        else:
            await keep_alive(b"back")(conn)

    server = serve(handler)
    proxy = make_proxy(server.url)
    port = proxy.port
    client = raw_client(port)
    client.send(GET)
    client.recv_until(b"tick 0")
    assert proxy.enabled
    proxy.enabled = False
    assert not proxy.enabled
    _, end = reads(client)
    assert end in ("fin", "rst")  # the open connection was dropped
    wait_event(server.conn(1).ended, "the upstream side dropped too")
    with pytest.raises(ConnectionRefusedError):
        RawClient(port)
    proxy.enabled = True
    assert proxy.port == port
    client = raw_client(port)
    client.send(GET)
    assert joined(reads(client, len(head(4)) + 4)[0]).endswith(b"back")


def test_enabled_on_the_proxys_own_loop_and_serve_forever(aio, serve):
    """As the control API will use it: on the loop, disabling is immediate and ``await
    set_enabled(True)`` listens again; ``serve_forever`` lasts through both, until ``stop``."""
    from faultproxy.proxy.server import Proxy

    server = serve(keep_alive(b"ok"))

    async def scenario() -> None:
        proxy = Proxy(server.url, "127.0.0.1:0")
        proxy.enabled = False  # before start: it binds its port, and refuses
        await proxy.start()
        serving = asyncio.create_task(proxy.serve_forever())
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", proxy.port)
        await proxy.set_enabled(True)
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(GET)
        assert (await reader.readexactly(len(head(2)) + 2)).endswith(b"ok")
        proxy.enabled = False  # on the loop: done when the setter returns
        try:  # the open connection was dropped
            assert await reader.read() == b""
        except ConnectionResetError:
            pass
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", proxy.port)
        await asyncio.sleep(0)
        assert not serving.done()
        await proxy.stop()
        await asyncio.wait_for(serving, GUARD)
        writer.close()

    aio.call(scenario())


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"type": "slicer"}, "attributes.average_size: Field required"),
        ({"type": "bandwidth", "attributes": {"rate": -1}}, "attributes.rate: Input should be greater"),
        ({"type": "timeout", "attributes": {"timout": 5}}, "attributes.timout: unknown field"),
        ({"type": "slow_reader", "attributes": {"pause_every": 0}}, "attributes.pause_every: Input should"),
    ],
)
def test_attributes_are_validated(raw, message):
    from faultproxy.faults import FaultSpecError

    with pytest.raises(FaultSpecError, match=message):
        parse_fault(raw)


def test_close_actions_come_after_the_bytes_before_them():
    out = sans_io({"type": "limit_data", "attributes": {"bytes": 5}}, 0, [b"abc", b"defg", b"hij"])
    assert out == [b"abc", b"de", Close("fin")]
