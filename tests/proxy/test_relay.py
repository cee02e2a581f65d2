"""The proxy relays HTTP/1.1 between real clients and real servers, exchange after exchange.

Clients: curl, httpx (sync and async), http.client and raw sockets. Upstreams: sse-starlette
under uvicorn, and purpose-built servers that write exact bytes. Every body framing (Content-
Length, chunked with extensions and trailers, close-delimited), HEAD, 204/304, ``Expect:
100-continue``, kept-alive connections with several exchanges, pipelined requests, an Upgrade
to a non-HTTP protocol, and backpressure both ways. Every test runs on asyncio and on uvloop.
"""

from __future__ import annotations

import asyncio
import http.client
import re
import subprocess
import sys
import threading
import time

import httpx
import pytest
from proxy_harness import GUARD, Conn, SSEServer, wait_until

# -- helpers ---------------------------------------------------------------------------------


def parse_sse(text: str) -> list[dict[str, str]]:
    """Minimal test-side event-stream parsing: the fields of each dispatched block."""
    events = []
    for block in re.split(r"\r\n\r\n|\n\n|\r\r", text):
        fields: dict[str, str] = {}
        for line in re.split(r"\r\n|\n|\r", block):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            fields[name] = f"{fields[name]}\n{value}" if name == "data" and name in fields else value
        if "data" in fields:
            events.append(fields)
    return events


def expected_events(server: SSEServer) -> list[dict[str, str]]:
    return [{k: str(v) for k, v in e.items()} for e in server.record.sent]


def dechunk(body: bytes) -> tuple[bytes, bytes]:
    """(data, trailer section) of a complete chunked body."""
    out, pos = bytearray(), 0
    while True:
        end = body.index(b"\r\n", pos)
        size = int(body[pos:end].split(b";")[0], 16)
        pos = end + 2
        if size == 0:
            return bytes(out), body[pos:]
        out += body[pos : pos + size]
        assert body[pos + size : pos + size + 2] == b"\r\n"
        pos += size + 2


def client(**kw: object) -> httpx.Client:
    return httpx.Client(trust_env=False, timeout=GUARD, **kw)  # type: ignore[arg-type]


# Responses with every framing, written by the purpose-built upstream exactly as given.
CL_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Framing: length\r\n\r\nhello world"
CHUNKED_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\nX-Framing: chunked\r\n\r\n"
    b"5;name=value\r\nhello\r\n6;ext\r\n world\r\n1A\r\n" + b"z" * 26 + b"\r\n0\r\nX-Sum: 42\r\n\r\n"
)
CLOSE_RESPONSE = b"HTTP/1.1 200 OK\r\nConnection: close\r\nX-Framing: close\r\n\r\nuntil the connection ends"
FRAMINGS = {
    "content-length": (CL_RESPONSE, b"hello world"),
    "chunked": (CHUNKED_RESPONSE, b"hello world" + b"z" * 26),
    "close-delimited": (CLOSE_RESPONSE, b"until the connection ends"),
}


def one_response(response: bytes, sizes: list[int] | None = None):  # type: ignore[no-untyped-def]
    """An upstream handler: read one request, write ``response`` (in ``sizes`` pieces), then FIN."""

    async def handler(conn: Conn) -> None:
        await conn.read_request()
        await conn.write(response, sizes)
        await conn.fin()

    return handler


async def router(conn: Conn) -> None:
    """A kept-alive upstream: answers requests by path until the client closes."""
    while True:
        try:
            head, body = await conn.read_request()
        except EOFError:
            return
        method, target = head.split(b" ")[:2]
        if target == b"/cl":
            await conn.write(CL_RESPONSE)
        elif target == b"/chunked":
            await conn.write(CHUNKED_RESPONSE, [7, 40, 3, 9])
        elif target == b"/head":
            assert method == b"HEAD"
            await conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nX-Kind: head\r\n\r\n")
        elif target == b"/204":
            await conn.write(b"HTTP/1.1 204 No Content\r\nX-Kind: 204\r\n\r\n")
        elif target == b"/304":
            await conn.write(b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n')
        elif target == b"/echo":
            reply = b"%s %d %s" % (method, len(body), body[:16])
            await conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(reply), reply))
        else:
            await conn.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")


# -- Server-Sent Events from sse-starlette -----------------------------------------------------


def test_sse_events_arrive_through_the_proxy_httpx_iter_lines(make_proxy, sse_server):
    proxy = make_proxy(sse_server.url)
    with client() as http, http.stream("GET", proxy.url + "/events?n=7") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = list(response.iter_lines())
    assert sse_server.record.finished.is_set()
    assert parse_sse("\n".join(lines) + "\n") == expected_events(sse_server)
    assert len(expected_events(sse_server)) == 7


def test_sse_events_arrive_through_the_proxy_httpx_async_iter_bytes(make_proxy, sse_server):
    proxy = make_proxy(sse_server.url)

    async def fetch() -> list[bytes]:
        async with httpx.AsyncClient(trust_env=False, timeout=GUARD) as http:
            bodies = []
            for n in (3, 5):  # two exchanges on one kept-alive connection
                async with http.stream("GET", f"{proxy.url}/events?n={n}") as response:
                    bodies.append(b"".join([piece async for piece in response.aiter_bytes()]))
            return bodies

    bodies = asyncio.run(asyncio.wait_for(fetch(), GUARD))
    sent = expected_events(sse_server)
    assert parse_sse(bodies[0].decode()) == sent[:3]
    assert parse_sse(bodies[1].decode()) == sent[3:]
    assert proxy.accepted == 1  # both on one connection


def test_sse_through_curl_raw_shows_the_chunked_wire(make_proxy, sse_server, curl):
    proxy = make_proxy(sse_server.url)
    result = curl("-N", "--raw", "-i", proxy.url + "/events?n=4")
    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert re.search(rb"(?im)^transfer-encoding: chunked\r?$", head)
    data, trailers = dechunk(body)
    assert trailers == b"\r\n"
    assert parse_sse(data.decode()) == expected_events(sse_server)


# -- every body framing, three clients -------------------------------------------------------


@pytest.mark.parametrize("framing", FRAMINGS)
def test_each_framing_byte_exact_for_raw_socket_curl_and_httpx(framing, make_proxy, serve, raw_client, curl):
    response, body = FRAMINGS[framing]
    upstream = serve(one_response(response, [1, 2, 17, 5]))
    proxy = make_proxy(upstream.url)

    sock = raw_client(proxy.port)
    request = b"GET /x HTTP/1.1\r\nHost: upstream\r\nUser-Agent: raw\r\n\r\n"
    sock.send(request, [3, 10])
    received, end = sock.recv_to_end(read_size=7)
    assert (received, end) == (response, "fin")
    assert upstream.conn(1).received == request

    result = curl("--raw", "-i", proxy.url + "/x")
    assert result.returncode == 0, result.stderr
    assert result.stdout == response

    with client() as http:
        answer = http.get(proxy.url + "/x")
    assert answer.status_code == 200
    assert answer.content == body
    if framing == "chunked":
        assert answer.headers["x-framing"] == "chunked"
    assert len(upstream.conns) == 3


def test_keep_alive_http_client_many_exchanges_every_kind(make_proxy, serve):
    upstream = serve(router)
    proxy = make_proxy(upstream.url)
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=GUARD)
    try:
        seen = []
        for _ in range(2):
            for method, path, body in [
                ("GET", "/cl", None),
                ("HEAD", "/head", None),
                ("GET", "/chunked", None),
                ("GET", "/204", None),
                ("GET", "/304", None),
                ("POST", "/echo", b"x" * 3000),
                ("GET", "/cl", None),
            ]:
                conn.request(method, path, body=body)
                response = conn.getresponse()
                seen.append((method, path, response.status, response.read()))
    finally:
        conn.close()
    assert seen[:7] == [
        ("GET", "/cl", 200, b"hello world"),
        ("HEAD", "/head", 200, b""),
        ("GET", "/chunked", 200, b"hello world" + b"z" * 26),
        ("GET", "/204", 204, b""),
        ("GET", "/304", 304, b""),
        ("POST", "/echo", 200, b"POST 3000 " + b"x" * 16),
        ("GET", "/cl", 200, b"hello world"),
    ]
    assert seen[7:] == seen[:7]
    assert proxy.accepted == 1 and len(upstream.conns) == 1
    assert upstream.conn(1).ended.wait(GUARD)  # the client's close reached the upstream
    wait_until(lambda: proxy.active == 0, "the proxy to drop the finished connection")


def test_keep_alive_curl_two_urls_one_connection(make_proxy, serve, curl):
    upstream = serve(router)
    proxy = make_proxy(upstream.url)
    result = curl("-w", "|%{num_connects}|", proxy.url + "/cl", proxy.url + "/chunked")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"hello world|1|" + b"hello world" + b"z" * 26 + b"|0|"
    assert len(upstream.conns) == 1 and proxy.accepted == 1
    assert upstream.conn(1).received.count(b"GET /") == 2


def test_head_with_curl_then_get_on_the_same_connection(make_proxy, serve, curl):
    upstream = serve(router)
    proxy = make_proxy(upstream.url)
    result = curl("-I", proxy.url + "/head", "--next", "-i", proxy.url + "/cl")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nX-Kind: head\r\n\r\n" + CL_RESPONSE
    assert len(upstream.conns) == 1


def test_204_and_304_with_curl_keep_alive(make_proxy, serve, curl):
    upstream = serve(router)
    proxy = make_proxy(upstream.url)
    result = curl("-i", proxy.url + "/204", proxy.url + "/304", proxy.url + "/cl")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        b"HTTP/1.1 204 No Content\r\nX-Kind: 204\r\n\r\n"
        b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n' + CL_RESPONSE
    )
    assert len(upstream.conns) == 1


def test_pipelined_requests_in_one_write(make_proxy, serve, raw_client):
    upstream = serve(router)
    proxy = make_proxy(upstream.url)
    sock = raw_client(proxy.port)
    requests = (
        b"GET /cl HTTP/1.1\r\nHost: u\r\n\r\nHEAD /head HTTP/1.1\r\nHost: u\r\n\r\n"
        b"GET /chunked HTTP/1.1\r\nHost: u\r\n\r\nGET /204 HTTP/1.1\r\nHost: u\r\n\r\n"
    )
    answers = (
        CL_RESPONSE
        + b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nX-Kind: head\r\n\r\n"
        + CHUNKED_RESPONSE
        + b"HTTP/1.1 204 No Content\r\nX-Kind: 204\r\n\r\n"
    )
    sock.send(requests)
    assert sock.recv_exactly(len(answers), read_size=13) == answers
    sock.shutdown_write()
    assert sock.recv_to_end() == (b"", "fin")
    assert bytes(upstream.conn(1).received) == requests


def test_upgrade_101_then_bytes_both_ways(make_proxy, serve, raw_client):
    """After 101 Switching Protocols the connection is no longer HTTP: any bytes go through."""

    async def upgrade(conn: Conn) -> None:
        head = await conn.read_until(b"\r\n\r\n")
        assert b"\r\nUpgrade: websocket\r\n" in head
        await conn.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        )
        while data := await conn.read():
            await conn.write(data[::-1])
        await conn.fin()

    proxy = make_proxy(serve(upgrade).url)
    sock = raw_client(proxy.port)
    sock.send(b"GET /ws HTTP/1.1\r\nHost: u\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    assert sock.recv_until(b"\r\n\r\n").startswith(b"HTTP/1.1 101 ")
    frame = b"\x81\x85\x00\x00\x00\x00GARBAGE / HTTP/9\r\n\r\n"  # would be a malformed request
    sock.send(frame)
    assert sock.recv_exactly(len(frame)) == frame[::-1]
    sock.shutdown_write()
    assert sock.recv_to_end() == (b"", "fin")


# -- request bodies and Expect: 100-continue --------------------------------------------------


async def continue_then_echo(conn: Conn) -> None:
    """Answer ``Expect: 100-continue`` with ``100 Continue``, then read the body, then 200."""
    while True:
        try:
            head = await conn.read_until(b"\r\n\r\n")
        except EOFError:
            return
        assert re.search(rb"(?i)\r\nexpect: *100-continue\r\n", head), head
        await conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await conn.read_body(head)
        reply = b"got %d bytes ending %s" % (len(body), body[-4:])
        await conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(reply), reply))


# curl (7.88 here) adds "Expect: 100-continue" by itself to a POST only above 1 MiB, and to
# every upload with -T. It would send the body anyway after --expect100-timeout, so that is set
# far beyond the hang guard: these tests only finish in time if the 100 Continue is relayed.
@pytest.mark.parametrize(
    "args, size",
    [
        (["--data-binary", "@-"], 1024 * 1024 + 1),  # Content-Length body
        (["-T", "-"], 3000),  # chunked body
        (["-H", "Expect: 100-continue", "--data-binary", "@-"], 1025),  # asked for explicitly
    ],
    ids=["post-over-1MiB", "upload-chunked", "explicit-header"],
)
def test_expect_100_continue_with_curl(args, size, make_proxy, serve, curl):
    upstream = serve(continue_then_echo)
    proxy = make_proxy(upstream.url)
    body = (bytes(range(256)) * (size // 256 + 1))[: size - 4] + b"TAIL"
    result = curl("-i", "--expect100-timeout", "600", *args, proxy.url + "/up", input=body)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")
    assert result.stdout.endswith(b"got %d bytes ending TAIL" % size)
    head = bytes(upstream.conn(1).received).partition(b"\r\n\r\n")[0]
    assert b"\r\nExpect: 100-continue" in head


def test_expect_100_continue_raw_client_waits_for_the_interim_response(make_proxy, serve, raw_client):
    upstream = serve(continue_then_echo)
    proxy = make_proxy(upstream.url)
    sock = raw_client(proxy.port)
    for n in (1, 2):  # twice on one connection
        body = b"%d" % n * 1500
        sock.send(b"PUT /up HTTP/1.1\r\nHost: u\r\nExpect: 100-continue\r\nContent-Length: 1500\r\n\r\n")
        assert sock.recv_exactly(25) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.send(body)
        final = b"HTTP/1.1 200 OK\r\nContent-Length: 26\r\n\r\ngot 1500 bytes ending " + b"%d" % n * 4
        assert sock.recv_exactly(len(final)) == final
    assert len(upstream.conns) == 1


def test_request_bodies_content_length_and_chunked_with_curl(make_proxy, serve, curl):
    upstream = serve(router)
    proxy = make_proxy(upstream.url)
    body = b"0123456789abcdef" * 100
    plain = curl("--data-binary", "@-", proxy.url + "/echo", input=body)
    chunked = curl(
        "-H",
        "Transfer-Encoding: chunked",
        "-H",
        "Expect:",
        "--data-binary",
        "@-",
        proxy.url + "/echo",
        input=body,
    )
    assert plain.stdout == b"POST 1600 0123456789abcdef"
    assert chunked.stdout == b"POST 1600 0123456789abcdef"
    received = bytes(upstream.conn(2).received)
    assert b"\r\ntransfer-encoding: chunked\r\n" in received.lower()
    assert dechunk(received.partition(b"\r\n\r\n")[2]) == (body, b"\r\n")


def test_chunked_upload_with_httpx_generator(make_proxy, serve):
    upstream = serve(router)
    proxy = make_proxy(upstream.url)
    pieces = [b"alpha", b"-" * 5000, b"omega"]
    with client() as http:
        answer = http.post(proxy.url + "/echo", content=iter(pieces))
        again = http.post(proxy.url + "/echo", content=b"short")
    assert answer.text == "POST 5010 alpha-----------"
    assert again.text == "POST 5 short"
    assert len(upstream.conns) == 1


def test_async_httpx_keep_alive_mixed_requests(make_proxy, serve):
    upstream = serve(router)
    proxy = make_proxy(upstream.url)

    async def run() -> list[tuple[int, bytes]]:
        out = []
        async with httpx.AsyncClient(trust_env=False, timeout=GUARD) as http:
            for method, path in [
                ("GET", "/cl"),
                ("HEAD", "/head"),
                ("GET", "/chunked"),
                ("GET", "/204"),
                ("POST", "/echo"),
                ("GET", "/nothing"),
            ]:
                answer = await http.request(
                    method, proxy.url + path, content=b"abc" if method == "POST" else None
                )
                out.append((answer.status_code, answer.content))
        return out

    assert asyncio.run(asyncio.wait_for(run(), GUARD)) == [
        (200, b"hello world"),
        (200, b""),
        (200, b"hello world" + b"z" * 26),
        (204, b""),
        (200, b"POST 3 abc"),
        (404, b""),
    ]
    assert len(upstream.conns) == 1


def test_many_concurrent_connections(make_proxy, serve):
    upstream = serve(router)
    proxy = make_proxy(upstream.url)

    async def run() -> list[bytes]:
        limits = httpx.Limits(max_connections=20)
        async with httpx.AsyncClient(trust_env=False, timeout=GUARD, limits=limits) as http:
            answers = await asyncio.gather(*(http.get(proxy.url + "/chunked") for _ in range(60)))
        return [a.content for a in answers]

    assert asyncio.run(asyncio.wait_for(run(), GUARD)) == [b"hello world" + b"z" * 26] * 60
    assert 1 <= proxy.accepted <= 20 and len(upstream.conns) == proxy.accepted
    wait_until(lambda: proxy.active == 0, "all connections to be done")


@pytest.mark.parametrize("direction", ["download", "upload"])
def test_backpressure_a_stalled_reader_bounds_what_the_proxy_buffers(
    direction, aio, make_proxy, serve, raw_client
):
    """While one side does not read, the proxy stops reading the other: its buffers stay small
    however much the fast side has to send (checked at every sample, not at a time)."""
    total = 64 << 20
    block = bytes(range(256)) * 4096  # 1 MiB
    release = threading.Event()

    async def fast_or_stalled(conn: Conn) -> None:
        await conn.read_until(b"\r\n\r\n")
        if direction == "download":
            conn.writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % total)
            for _ in range(total // len(block)):
                conn.writer.write(block)
                await conn.writer.drain()
        else:
            while not release.is_set():  # a stalled server: reads nothing until released
                await asyncio.sleep(0.01)
            got = 0
            while got < total:
                got += len(await conn.reader.read(1 << 20))
            conn.writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await conn.fin()

    proxy = make_proxy(serve(fast_or_stalled).url)

    async def buffered() -> int:
        """Bytes the proxy holds in user space: both transports' write buffers, all relays."""
        return sum(
            side.transport.get_write_buffer_size()
            for relay in proxy.connections.relays.values()
            for side in (relay.client, relay.upstream)
            if side.transport is not None
        )

    sock = raw_client(proxy.port)
    if direction == "download":
        sock.send(b"GET /big HTTP/1.1\r\nHost: u\r\n\r\n")
    else:
        sock.send(b"POST /big HTTP/1.1\r\nHost: u\r\nContent-Length: %d\r\n\r\n" % total)
        sender = threading.Thread(target=sock.sock.sendall, args=(block * 64,), daemon=True)
        sender.start()
    samples = []
    for _ in range(100):  # the stalled side reads nothing meanwhile
        samples.append(aio.call(buffered()))
        time.sleep(0.01)
    assert max(samples) <= 8 << 20, f"the proxy buffered up to {max(samples)} bytes"
    if direction == "download":
        head = sock.recv_until(b"\r\n\r\n")
        assert sock.recv_exactly(total, read_size=1 << 20) == block * 64 and head.startswith(b"HTTP/1.1 200")
    else:
        release.set()
        sender.join(GUARD)
        assert sock.recv_until(b"ok").endswith(b"\r\n\r\nok")


# -- the command line -------------------------------------------------------------------------


def test_cli_proxy_subprocess_relays_a_request(serve, curl):
    upstream = serve(one_response(CL_RESPONSE))
    process = subprocess.Popen(
        [sys.executable, "-m", "faultproxy", "proxy", "--listen", "127.0.0.1:0", "--upstream", upstream.url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        banner = process.stderr.readline().decode()  # "faultproxy: http://127.0.0.1:PORT -> ..."
        match = re.search(rf"http://127\.0\.0\.1:(\d+) -> 127\.0\.0\.1:{upstream.port} ", banner)
        assert match, banner
        result = curl("-i", f"http://127.0.0.1:{match.group(1)}/")
        assert result.returncode == 0, result.stderr
        assert result.stdout == CL_RESPONSE
    finally:
        process.terminate()
        process.communicate(timeout=GUARD)
