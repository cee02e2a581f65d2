"""The proxy's limits, through real sockets: a request over a head limit, or one RFC 9112 makes
a server refuse, is answered with its status and never forwarded; the proxy keeps serving.
An upstream's response that breaks the same rules reaches the client as the upstream sent it."""

from __future__ import annotations

import asyncio
import re

import pytest
from proxy_harness import Conn, wait_until
from test_failures import GET, OK, answer_ok, healthy

from faultproxy.proxy.capture_read import capture_records
from faultproxy.proxy.limits import ProxyLimits
from faultproxy.wire.limits import HeadLimits

SMALL = ProxyLimits(HeadLimits(max_head=2048, max_line=256, max_fields=10))
CHUNKED = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"

REFUSED = {
    "head-too-large": (
        b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 200) for i in range(10)) + b"\r\n",
        431,
        "request head larger than 2048 bytes",
    ),
    "too-many-fields": (
        b"GET / HTTP/1.1\r\n" + b"X: 1\r\n" * 11 + b"\r\n",
        431,
        "more than 10 header fields",
    ),
    "header-line-too-long": (
        b"GET / HTTP/1.1\r\nCookie: " + b"c" * 300 + b"\r\n\r\n",
        431,
        "header line longer than 256 bytes",
    ),
    "request-line-too-long": (
        b"GET /" + b"a" * 300 + b" HTTP/1.1\r\n\r\n",
        414,
        "request line longer than 256 bytes",
    ),
    "request-line-without-end": (b"GET /" + b"a" * 300, 414, "request line longer than 256 bytes"),
    "http-9.9": (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505, "HTTP version HTTP/9.9 not supported"),
    "two-hosts": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "2 Host header fields"),
    "chunk-size-over-2^63-1": (
        CHUNKED + b"8000000000000000\r\n",
        400,
        "chunk size 8000000000000000 is over 2^63-1",
    ),
    "whitespace-after-chunk-size": (
        CHUNKED + b"5 \r\nhello\r\n0\r\n\r\n",
        400,
        "whitespace after chunk size",
    ),
}


def read_answer(sock) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    data, end = sock.recv_to_end()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
    assert len(body) == length and b"\r\nConnection: close" in head and end == "fin", data
    sock.close()
    return status, body.decode()


@pytest.mark.parametrize("case", REFUSED)
def test_a_request_over_a_limit_or_against_the_rfc_gets_its_status(case, make_proxy, serve, raw_client):
    request, status, reason = REFUSED[case]
    upstream = serve(answer_ok)
    proxy = make_proxy(upstream.url, limits=SMALL)
    sock = raw_client(proxy.port)
    sock.send(request)
    got, text = read_answer(sock)
    assert (got, reason in text) == (status, True), text
    assert text.startswith("faultproxy: ")
    healthy(proxy.url)
    assert all(not conn.received or conn.received.startswith(b"GET /healthy") for conn in upstream.conns)


def test_the_default_limits_let_an_8k_cookie_and_50_fields_through(make_proxy, serve, raw_client):
    upstream = serve(answer_ok)
    proxy = make_proxy(upstream.url)
    request = (
        b"GET / HTTP/1.1\r\nHost: x\r\nCookie: "
        + b"c" * 8000
        + b"\r\n"
        + b"".join(b"X-%d: %d\r\n" % (i, i) for i in range(50))
        + b"\r\n"
    )
    sock = raw_client(proxy.port)
    sock.send(request)
    assert sock.recv_exactly(len(b"HTTP/1.1 200 OK\r\n")) == b"HTTP/1.1 200 OK\r\n"
    assert bytes(upstream.conn().received) == request


RESPONSES = [
    b"HTTP/9.9 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 \r\nhi\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n" + b"X: 1\r\n" * 11 + b"Content-Length: 2\r\n\r\nhi",  # over SMALL's field count
    b"HTTP/1.1 200 OK\r\nX-Long: " + b"v" * 3000 + b"\r\nContent-Length: 2\r\n\r\nhi",  # over its head size
]


@pytest.mark.parametrize("response", RESPONSES, ids=["http-9.9", "ws-after-size", "fields", "head-size"])
def test_a_response_against_the_same_rules_reaches_the_client_byte_for_byte(
    response, make_proxy, serve, raw_client
):
    async def answer(conn: Conn) -> None:
        await conn.read_request()
        await conn.write(response)
        await conn.fin()

    proxy = make_proxy(serve(answer).url, limits=SMALL)
    sock = raw_client(proxy.port)
    sock.send(GET)
    data, _ = sock.recv_to_end()
    assert data == response


# -- the timeouts and the cap, through real sockets ---------------------------------------------


def test_a_head_that_never_ends_gets_a_408_and_a_silent_client_a_close(make_proxy, serve, raw_client):
    proxy = make_proxy(serve(answer_ok).url, limits=ProxyLimits(header_timeout=0.3, idle_timeout=None))
    slow = raw_client(proxy.port)
    slow.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    assert read_answer(slow) == (408, "faultproxy: request head not complete after 0.3s\n")
    silent = raw_client(proxy.port)
    assert silent.recv_to_end() == (b"", "fin")
    healthy(proxy.url)


def test_a_kept_alive_connection_is_closed_when_idle_and_a_stalled_stream_is_not(
    aio, make_proxy, serve, raw_client
):
    """The stalled stream starts before the other connection's request, so by the time that
    one is closed as idle, the stream has been still for longer than the idle timeout: it must
    then still get its end. No clock is read by the test."""
    release = asyncio.Event()

    async def answer(conn: Conn) -> None:
        while True:
            head, _ = await conn.read_request()
            if head.startswith(b"GET /stall"):
                await conn.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
                await release.wait()
                await conn.write(b"0\r\n\r\n")
            else:
                await conn.write(OK)

    proxy = make_proxy(serve(answer).url, limits=ProxyLimits(header_timeout=None, idle_timeout=0.2))
    streaming = raw_client(proxy.port)
    streaming.send(b"GET /stall HTTP/1.1\r\nHost: x\r\n\r\n")
    streaming.recv_until(b"hello\r\n")
    idle = raw_client(proxy.port)
    idle.send(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
    assert idle.recv_exactly(len(OK)) == OK
    assert idle.recv_to_end() == (b"", "fin")  # kept alive, then idle: closed
    aio.loop.call_soon_threadsafe(release.set)
    assert streaming.recv_until(b"0\r\n\r\n") == b"0\r\n\r\n"  # the stalled stream was never cut


def test_clients_over_the_cap_get_503_and_the_cap_frees_as_connections_end(make_proxy, serve, raw_client):
    proxy = make_proxy(serve(answer_ok).url, limits=ProxyLimits(max_connections=2))
    held = [raw_client(proxy.port) for _ in range(2)]
    for sock in held:
        sock.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv_exactly(len(OK)) == OK  # kept alive: each holds a place
    for _ in range(40):  # more than the places over the cap: each still gets its answer
        over = raw_client(proxy.port)
        over.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_answer(over) == (
            503,
            "faultproxy: too many connections: the proxy relays at most 2 at once\n",
        )
    held[0].close()
    wait_until(lambda: proxy.active < 2, "a place to free")
    healthy(proxy.url)


def test_a_head_the_proxy_allows_over_the_default_limits_is_captured_as_it_passed(
    make_proxy, serve, raw_client, tmp_path
):
    capture = tmp_path / "big.jsonl"
    big = ProxyLimits(HeadLimits(max_head=1 << 20, max_line=1 << 20, max_fields=1000))
    proxy = make_proxy(serve(answer_ok).url, limits=big, capture=capture)
    request = (
        b"GET /big HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 50_000 + b"\r\n\r\n"
    )  # over 8 KiB and 32 KiB
    sock = raw_client(proxy.port)
    sock.send(request)
    assert sock.recv_exactly(len(OK)) == OK
    sock.close()
    wait_until(lambda: proxy.active == 0, "the connection to be done")
    records = [r for r in capture_records(capture) if r.get("dir") == "request"]
    assert records and records[0]["type"] == "head" and records[0]["target"] == "/big", records[:2]
    assert not [r for r in capture_records(capture) if r["type"] == "malformed"]
