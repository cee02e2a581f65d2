"""Byte-exactness: whatever the framing, the write sizes and the read sizes, the client gets exactly
the upstream's bytes and the upstream gets exactly the client's.

* Hypothesis properties over kept-alive exchanges (Content-Length, chunked with extensions and
  trailers, close-delimited, HEAD, 204/304) and over raw TCP, comparing whole byte strings.
* Large streams (``slow``, but part of every run): 1 GiB down, and up, through the proxy with
  Content-Length and chunked framing, compared by SHA-256 computed while streaming by an
  upstream and a client that run as separate processes, so the proxy has its interpreter to
  itself. The rate is printed (``-s``) but never asserted.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proxy_harness import GUARD, LOOPS, Conn, LoopThread, RawClient, ScriptedServer

from faultproxy.proxy.server import Proxy

# -- one scripted exchange -----------------------------------------------------------------------


@dataclass
class Exchange:
    request: bytes
    client_writes: list[int]
    response: bytes
    upstream_writes: list[int]


@dataclass
class Script:
    exchanges: list[Exchange]
    close_delimited: bool  # the last response ends with the upstream's FIN
    read_sizes: list[int]


TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
VALUE = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30)


def chunked(body: bytes, sizes: list[int], extensions: list[bytes], trailers: list[tuple[str, str]]) -> bytes:
    out, pos, i = [], 0, 0
    while pos < len(body):
        size = max(1, sizes[i % len(sizes)]) if sizes else len(body)
        piece = body[pos : pos + size]
        ext = extensions[i % len(extensions)] if extensions else b""
        out.append(b"%x%s\r\n%s\r\n" % (len(piece), ext, piece))
        pos += len(piece)
        i += 1
    out.append(b"0\r\n" + b"".join(b"%s: %s\r\n" % (n.encode(), v.encode()) for n, v in trailers) + b"\r\n")
    return b"".join(out)


@st.composite
def body_and_framing(draw: Any, allow_close: bool) -> tuple[list[tuple[str, str]], bytes, str]:
    body = draw(st.binary(max_size=4000))
    kinds = ["length", "chunked"] + (["close"] if allow_close else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "length":
        return [("Content-Length", str(len(body)))], body, kind
    if kind == "close":
        return [("Connection", "close")], body, kind
    sizes = draw(st.lists(st.integers(1, 1500), min_size=1, max_size=6))
    extensions = draw(st.lists(st.sampled_from([b"", b";a=b", b';name="quoted value"', b";x"]), max_size=3))
    trailers = draw(st.lists(st.tuples(TOKEN, VALUE), max_size=2))
    return [("Transfer-Encoding", "chunked")], chunked(body, sizes, extensions, trailers), kind


def head(first_line: str, fields: list[tuple[str, str]]) -> bytes:
    return (first_line + "\r\n" + "".join(f"{n}: {v}\r\n" for n, v in fields) + "\r\n").encode("latin-1")


WRITES = st.lists(st.integers(1, 3000), max_size=8)


@st.composite
def scripts(draw: Any) -> Script:
    count = draw(st.integers(1, 3))
    close_delimited = False
    exchanges = []
    for i in range(count):
        last = i == count - 1
        kind = draw(st.sampled_from(["get", "post", "head", "no-body"]))
        extra = draw(st.lists(st.tuples(TOKEN.map(lambda t: "x-" + t), VALUE), max_size=3))
        target = "/" + draw(TOKEN)
        if kind == "post":
            framing, body, _ = draw(body_and_framing(allow_close=False))
            request = head(f"POST {target} HTTP/1.1", [("Host", "upstream"), *extra, *framing]) + body
        else:
            method = "HEAD" if kind == "head" else "GET"
            request = head(f"{method} {target} HTTP/1.1", [("Host", "upstream"), *extra])
        if kind == "head":  # the head says how long the body would be; none follows
            response = head("HTTP/1.1 200 OK", [("Content-Length", str(draw(st.integers(0, 10**9))))])
        elif kind == "no-body":
            status = draw(st.sampled_from(["204 No Content", "304 Not Modified"]))
            response = head(f"HTTP/1.1 {status}", [("ETag", '"e"')])
        else:
            framing, body, framing_kind = draw(body_and_framing(allow_close=last))
            close_delimited = framing_kind == "close"
            status = draw(
                st.sampled_from(["200 OK", "201 Created", "404 Not Found", "500 Internal Server Error"])
            )
            response = head(f"HTTP/1.1 {status}", [*framing, *extra]) + body
        exchanges.append(Exchange(request, draw(WRITES), response, draw(WRITES)))
    return Script(exchanges, close_delimited, draw(st.lists(st.integers(1, 5000), min_size=1, max_size=8)))


# -- a proxy and an upstream shared by all examples ----------------------------------------------


class Bench:
    """One proxy (HTTP and raw) and one upstream, reused by every example: each example sets
    the script the upstream follows on its next connection."""

    def __init__(self, kind: str) -> None:
        self.aio = LoopThread("byte-exact", kind)
        self.script: Any = None
        self.upstream = ScriptedServer(self.aio, self._serve).start()

        async def start(raw: bool) -> Proxy:
            return await Proxy(self.upstream.url, "127.0.0.1:0", raw=raw).start()

        self.http = self.aio.call(start(False))
        self.raw = self.aio.call(start(True))

    async def _serve(self, conn: Conn) -> None:
        script = self.script
        if isinstance(script, Script):
            for exchange in script.exchanges:
                await conn.read_exactly(len(exchange.request))
                await conn.write(exchange.response, exchange.upstream_writes)
            if not script.close_delimited:
                assert await conn.read_to_eof() == b""  # nothing more: the client closes
        else:  # raw: (expected request bytes, response bytes, write sizes)
            request, response, writes = script
            await conn.read_exactly(len(request))
            await conn.write(response, writes)
            assert await conn.read_to_eof() == b""
        await conn.fin()

    def close(self) -> None:
        for proxy in (self.http, self.raw):
            self.aio.call(proxy.stop())
        self.upstream.stop()
        self.aio.stop()


@pytest.fixture(scope="module", params=LOOPS)
def bench(request: pytest.FixtureRequest) -> Iterator[Bench]:
    bench = Bench(request.param)
    yield bench
    bench.close()


def read_sized(sock: RawClient, n: int, sizes: list[int], turn: int) -> tuple[bytes, int]:
    """Exactly ``n`` bytes, read with recv sizes taken in turn from ``sizes``."""
    out = bytearray()
    while len(out) < n:
        data = sock.sock.recv(min(sizes[turn % len(sizes)], n - len(out)))
        turn += 1
        assert data, f"EOF after {len(out)} of {n} bytes"
        out += data
    return bytes(out), turn


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(script=scripts())
def test_http_exchanges_are_relayed_byte_for_byte(bench: Bench, script: Script) -> None:
    bench.script = script
    before = len(bench.upstream.conns)
    sock = RawClient(bench.http.port)
    try:
        received, turn = bytearray(), 0
        for exchange in script.exchanges:
            sock.send(exchange.request, exchange.client_writes)
            data, turn = read_sized(sock, len(exchange.response), script.read_sizes, turn)
            received += data
        if script.close_delimited:
            rest, end = sock.recv_to_end()
            assert (rest, end) == (b"", "fin")
        else:
            sock.shutdown_write()
            assert sock.recv_to_end() == (b"", "fin")
    finally:
        sock.close()
    assert bytes(received) == b"".join(e.response for e in script.exchanges)
    conn = bench.upstream.conn(before + 1)
    assert conn.ended.wait(GUARD)
    assert conn.error is None, conn.error
    assert bytes(conn.received) == b"".join(e.request for e in script.exchanges)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    request=st.binary(min_size=1, max_size=20000),
    response=st.binary(min_size=1, max_size=20000),
    client_writes=WRITES,
    upstream_writes=WRITES,
    read_sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=5),
)
def test_raw_bytes_are_relayed_byte_for_byte(
    bench: Bench,
    request: bytes,
    response: bytes,
    client_writes: list[int],
    upstream_writes: list[int],
    read_sizes: list[int],
) -> None:
    bench.script = (request, response, upstream_writes)
    before = len(bench.upstream.conns)
    sock = RawClient(bench.raw.port)
    try:
        sock.send(request, client_writes)
        received, _ = read_sized(sock, len(response), read_sizes, 0)
        sock.shutdown_write()
        assert sock.recv_to_end() == (b"", "fin")
    finally:
        sock.close()
    assert received == response
    conn = bench.upstream.conn(before + 1)
    assert conn.ended.wait(GUARD)
    assert conn.error is None, conn.error
    assert bytes(conn.received) == request


# -- large streams -------------------------------------------------------------------------------

GIB = 1 << 30

# The upstream and the client of the large-stream tests, run as their own processes. Data is a
# 1 MiB block from a seeded PRNG, sent over and over in pieces of varying size; each side hashes
# every byte it sends or receives (heads and chunk framing included) as it goes.
BULK = r'''
import hashlib, random, socket, sys

BLOCK = memoryview(random.Random(20240601).randbytes(1 << 20))


def pieces(total, chunked):
    """The body's wire pieces: 1 MiB blocks less a varying amount, with chunk framing if asked."""
    sent = i = 0
    while sent < total:
        n = min(len(BLOCK) - (i % 5) * 4099, total - sent)
        if chunked:
            yield b"%x;i=%d\r\n" % (n, i)
        yield BLOCK[:n]
        if chunked:
            yield b"\r\n"
        sent += n
        i += 1
    if chunked:
        yield b"0\r\nX-Sent: %d\r\n\r\n" % total


def framing(size, chunked):
    return b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % size


def send_all(sock, parts, digest):
    count = 0
    for part in parts:
        sock.sendall(part)
        digest.update(part)
        count += len(part)
    return count


def receive_all(sock, digest):
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    count = 0
    while n := sock.recv_into(buf):
        digest.update(view[:n])
        count += n
    return count


def read_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(1)
        if not more:
            raise SystemExit("EOF inside the request head")
        data += more
    return data


role, direction, framing_kind, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
chunked = framing_kind == "chunked"
digest = hashlib.sha256()
if role == "upstream":
    server = socket.create_server(("127.0.0.1", 0))
    print(server.getsockname()[1], flush=True)
    conn, _ = server.accept()
    if direction == "down":
        read_head(conn)
        head = b"HTTP/1.1 200 OK\r\n%s\r\nContent-Type: application/octet-stream\r\n\r\n" % framing(size, chunked)
        count = send_all(conn, [head, *pieces(size, chunked)], digest)
        conn.shutdown(socket.SHUT_WR)
        assert conn.recv(1) == b""
    else:  # up: everything the client sends, until its FIN, then an answer
        count = receive_all(conn, digest)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        conn.shutdown(socket.SHUT_WR)
    print(digest.hexdigest(), count, flush=True)
else:
    sock = socket.create_connection(("127.0.0.1", int(sys.argv[5])))
    if direction == "down":
        sock.sendall(b"GET /bulk HTTP/1.1\r\nHost: upstream\r\n\r\n")
        count = receive_all(sock, digest)
    else:
        head = b"POST /bulk HTTP/1.1\r\nHost: upstream\r\n%s\r\n\r\n" % framing(size, chunked)
        count = send_all(sock, [head, *pieces(size, chunked)], digest)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while more := sock.recv(65536):
            answer += more
        assert answer.startswith(b"HTTP/1.1 200 OK"), answer
    print(digest.hexdigest(), count, flush=True)
'''

LARGE = [
    ("down", "content-length", GIB),
    ("down", "chunked", GIB),
    ("up", "content-length", GIB),
    ("up", "chunked", GIB),
]


@pytest.fixture(params=LOOPS)
def bulk_proxy(request: pytest.FixtureRequest) -> Iterator[Any]:
    aio = LoopThread("bulk-proxy", request.param)
    proxies: list[Proxy] = []

    def start(upstream_port: int) -> Proxy:
        async def run() -> Proxy:
            return await Proxy(f"http://127.0.0.1:{upstream_port}", "127.0.0.1:0").start()

        proxy = aio.call(run())
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        aio.call(proxy.stop())
    aio.stop()


@pytest.mark.slow
@pytest.mark.parametrize("direction, framing, size", LARGE, ids=[f"{d}-{f}" for d, f, _ in LARGE])
def test_large_stream_sha256_matches(direction: str, framing: str, size: int, bulk_proxy: Any) -> None:
    limit = 600  # a hang guard for a whole GiB on a shared machine, not a measurement
    upstream = subprocess.Popen(
        [sys.executable, "-c", BULK, "upstream", direction, framing, str(size)],
        stdout=subprocess.PIPE,
        text=True,
    )
    client = None
    try:
        assert upstream.stdout is not None
        port = int(upstream.stdout.readline())
        proxy = bulk_proxy(port)
        started = time.monotonic()
        client = subprocess.Popen(
            [sys.executable, "-c", BULK, "client", direction, framing, str(size), str(proxy.port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        client_out, _ = client.communicate(timeout=limit)
        upstream_out, _ = upstream.communicate(timeout=limit)
        elapsed = time.monotonic() - started
    finally:
        for process in (upstream, client):
            if process is not None and process.poll() is None:
                process.kill()
                process.communicate()
    assert client.returncode == 0 and upstream.returncode == 0
    sent, received = (upstream_out, client_out) if direction == "down" else (client_out, upstream_out)
    sent_hash, sent_count = sent.split()
    received_hash, received_count = received.split()
    assert int(sent_count) > size
    assert (received_hash, int(received_count)) == (sent_hash, int(sent_count))
    rate = int(sent_count) / elapsed / 1e6
    print(f"\n{direction} {framing}: {int(sent_count) / GIB:.3f} GiB in {elapsed:.1f} s = {rate:.0f} MB/s")


def test_bulk_script_is_exercised_quickly(bulk_proxy: Any) -> None:
    """The same machinery on 3 MiB, so a broken bulk script shows up in a fast run as well."""
    for direction, framing in [("down", "chunked"), ("up", "content-length")]:
        upstream = subprocess.Popen(
            [sys.executable, "-c", BULK, "upstream", direction, framing, str(3 << 20)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert upstream.stdout is not None
            proxy = bulk_proxy(int(upstream.stdout.readline()))
            client = subprocess.run(
                [sys.executable, "-c", BULK, "client", direction, framing, str(3 << 20), str(proxy.port)],
                capture_output=True,
                text=True,
                timeout=GUARD,
                check=False,
            )
            upstream_out, _ = upstream.communicate(timeout=GUARD)
        finally:
            if upstream.poll() is None:
                upstream.kill()
                upstream.communicate()
        assert client.returncode == 0, client.stderr
        assert client.stdout.split() == upstream_out.split()
