"""How connections end, and what the proxy answers when they cannot start.

* Client gone: the upstream sees its connection end the same way (FIN as EOF, RST as a reset),
  and an sse-starlette generator is cancelled.
* Upstream gone mid-body: a FIN reaches the client as a clean EOF (so the client itself notices
  the body is short), an RST reaches it as ECONNRESET.
* 502 when the upstream cannot be reached (refused, DNS failure, connect timeout) and 400 for a
  malformed request, each naming the reason; the proxy keeps serving afterwards. A client still
  sending a body gets the answer and a FIN, not an RST (the proxy's lingering close).
* Stopping the proxy ends live streams and abandons upstream connects still in progress.
* ``--raw`` mode passes FIN and RST on the same way.
* The CLI refuses bad arguments, a port in use and an unwritable capture without a traceback.

What a client sees is asserted as bytes and as the kind of end, never as a time.
"""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from proxy_harness import GUARD, LINGER_RST, Conn, wait_event, wait_until

from faultproxy.proxy.capture_read import capture_records

HEAD_CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
HEAD_LENGTH = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
PARTIAL_CHUNKED = HEAD_CHUNKED + b"5\r\nhello\r\n6\r\n world\r\n"  # no last chunk
PARTIAL_LENGTH = HEAD_LENGTH + b"x" * 300  # 700 bytes short
GET = b"GET /stream HTTP/1.1\r\nHost: upstream\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def client() -> httpx.Client:
    return httpx.Client(trust_env=False, timeout=GUARD)


def partial_then(response: bytes, end: str):  # type: ignore[no-untyped-def]
    """An upstream handler: read a request, write ``response``, then end with ``fin`` or ``rst``."""

    async def handler(conn: Conn) -> None:
        await conn.read_request()
        await conn.write(response, [len(response) // 2])
        if end == "fin":
            await conn.fin()
        else:
            await conn.writer.drain()
            conn.rst()

    return handler


async def stream_then_listen(conn: Conn) -> None:
    """Start a body that never finishes, then read until the client side ends."""
    await conn.read_request()
    await conn.write(PARTIAL_CHUNKED)
    while await conn.read():
        pass


async def answer_ok(conn: Conn) -> None:
    while True:
        try:
            await conn.read_request()
        except EOFError:
            return
        await conn.write(OK)


def healthy(proxy_url: str) -> None:
    """The proxy still serves: a new connection gets a normal answer."""
    with client() as http:
        answer = http.get(proxy_url + "/healthy")
    assert (answer.status_code, answer.content) == (200, b"ok")


# -- the client goes away ------------------------------------------------------------------------


def test_client_fin_reaches_the_upstream_as_eof(make_proxy, serve, raw_client):
    upstream = serve(stream_then_listen)
    proxy = make_proxy(upstream.url)
    sock = raw_client(proxy.port)
    sock.send(GET)
    assert sock.recv_exactly(len(PARTIAL_CHUNKED)) == PARTIAL_CHUNKED
    sock.close()
    conn = upstream.conn(1)
    wait_event(conn.ended, "the upstream handler to see the end")
    assert conn.eof.is_set() and not conn.reset.is_set()
    assert conn.received == GET
    wait_until(lambda: proxy.active == 0, "the proxy to drop the connection")


def test_client_rst_reaches_the_upstream_as_reset(make_proxy, serve, raw_client):
    upstream = serve(stream_then_listen)
    proxy = make_proxy(upstream.url)
    sock = raw_client(proxy.port)
    sock.send(GET)
    assert sock.recv_exactly(len(PARTIAL_CHUNKED)) == PARTIAL_CHUNKED
    sock.reset()
    conn = upstream.conn(1)
    wait_event(conn.ended, "the upstream handler to see the end")
    assert conn.reset.is_set() and not conn.eof.is_set()
    wait_until(lambda: proxy.active == 0, "the proxy to drop the connection")


def test_client_half_close_is_passed_on_and_the_response_still_flows(make_proxy, serve, raw_client):
    """A FIN from the client closes only its direction: the upstream answers after seeing EOF."""

    async def answer_after_eof(conn: Conn) -> None:
        request = await conn.read_to_eof()
        await conn.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\ngot %d bytes" % len(request))
        await conn.fin()

    upstream = serve(answer_after_eof)
    proxy = make_proxy(upstream.url)
    sock = raw_client(proxy.port)
    sock.send(GET)
    sock.shutdown_write()
    assert sock.recv_to_end() == (
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\ngot %d bytes" % len(GET),
        "fin",
    )


def test_httpx_closing_an_sse_stream_cancels_the_sse_starlette_generator(make_proxy, sse_server):
    proxy = make_proxy(sse_server.url)
    with client() as http, http.stream("GET", proxy.url + "/forever") as response:
        lines = response.iter_lines()
        seen = [line for line, _ in zip(lines, range(12))]
        assert "data: tick 3" in seen
    wait_event(sse_server.record.cancelled, "the sse-starlette generator to be cancelled")
    wait_until(lambda: proxy.active == 0, "the proxy to drop the connection")


def test_killing_curl_mid_stream_cancels_the_sse_starlette_generator(make_proxy, sse_server, curl):
    proxy = make_proxy(sse_server.url)
    process = subprocess.Popen(
        ["curl", "-sN", "--noproxy", "*", proxy.url + "/forever"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        for _ in range(1000):  # bounded: events arrive every few milliseconds
            if process.stdout.readline().startswith(b"data: tick 5"):
                break
        else:
            pytest.fail("curl never printed event 5")
    finally:
        process.kill()
        process.communicate(timeout=GUARD)
    wait_event(sse_server.record.cancelled, "the sse-starlette generator to be cancelled")
    wait_until(lambda: proxy.active == 0, "the proxy to drop the connection")


def test_proxy_stop_ends_live_streams_on_both_sides(aio, make_proxy, sse_server):
    proxy = make_proxy(sse_server.url)
    with client() as http, http.stream("GET", proxy.url + "/forever") as response:
        lines = response.iter_lines()
        assert any(line == "data: tick 2" for line, _ in zip(lines, range(20)))
        aio.call(proxy.stop())
        with pytest.raises(httpx.RemoteProtocolError):
            for _ in zip(lines, range(100_000)):
                pass
    wait_event(sse_server.record.cancelled, "the sse-starlette generator to be cancelled")


# -- the upstream goes away mid-body --------------------------------------------------------------


@pytest.mark.parametrize("response", [PARTIAL_CHUNKED, PARTIAL_LENGTH], ids=["chunked", "content-length"])
def test_upstream_fin_mid_body_is_a_clean_eof_at_the_client(response, make_proxy, serve, raw_client, curl):
    upstream = serve(partial_then(response, "fin"))
    proxy = make_proxy(upstream.url)

    sock = raw_client(proxy.port)
    sock.send(GET)
    assert sock.recv_to_end() == (response, "fin")

    result = curl("-N", proxy.url + "/stream")
    assert result.returncode == 18, result.stderr  # CURLE_PARTIAL_FILE: the body is short
    assert result.stdout == (b"hello world" if response is PARTIAL_CHUNKED else b"x" * 300)

    with (
        client() as http,
        pytest.raises(httpx.RemoteProtocolError, match="incomplete|without sending complete"),
    ):
        http.get(proxy.url + "/stream")
    wait_until(lambda: len(upstream.conns) == 3 and all(c.ended.is_set() for c in upstream.conns), "handlers")


@pytest.mark.parametrize("response", [PARTIAL_CHUNKED, PARTIAL_LENGTH], ids=["chunked", "content-length"])
def test_upstream_rst_mid_body_is_a_reset_at_the_client(response, make_proxy, serve, raw_client, curl):
    upstream = serve(partial_then(response, "rst"))
    proxy = make_proxy(upstream.url)

    sock = raw_client(proxy.port)
    sock.send(GET)
    received, end = sock.recv_to_end()
    assert end == "rst"
    assert response.startswith(received)  # whatever arrived before the reset is intact

    result = curl("-N", proxy.url + "/stream")
    assert result.returncode == 56, result.stderr  # CURLE_RECV_ERROR
    assert b"Connection reset by peer" in result.stderr

    with client() as http, pytest.raises(httpx.ReadError):
        http.get(proxy.url + "/stream")
    healthy_upstream = serve(answer_ok)
    healthy(make_proxy(healthy_upstream.url).url)
    wait_until(lambda: proxy.active == 0, "the proxy to drop the reset connections")


def test_upstream_fin_before_any_response(make_proxy, serve, raw_client):
    async def hang_up(conn: Conn) -> None:
        await conn.read_request()
        await conn.fin()

    upstream = serve(hang_up)
    proxy = make_proxy(upstream.url)
    sock = raw_client(proxy.port)
    sock.send(GET)
    assert sock.recv_to_end() == (b"", "fin")


# -- 502: the upstream cannot be reached ----------------------------------------------------------


def assert_502(answer: httpx.Response, *words: str) -> None:
    assert answer.status_code == 502
    assert answer.headers["x-faultproxy"] == "proxy-generated"
    assert answer.headers["content-type"].startswith("text/plain")
    for word in words:
        assert word in answer.text, answer.text


def test_502_connection_refused_then_serves_once_the_upstream_is_up(make_proxy, serve, unused_port):
    proxy = make_proxy(f"http://127.0.0.1:{unused_port}")
    with client() as http:
        for _ in range(2):  # still answering after the first failure
            assert_502(http.get(proxy.url + "/x"), f"127.0.0.1:{unused_port}", "connection refused")
    serve(answer_ok, port=unused_port)
    healthy(proxy.url)
    wait_until(lambda: proxy.active == 0, "the proxy to drop finished connections")


def test_502_with_a_request_body_and_with_curl(make_proxy, unused_port, curl):
    proxy = make_proxy(f"http://127.0.0.1:{unused_port}")
    result = curl("-i", "--data-binary", "@-", proxy.url + "/upload", input=b"b" * 5000)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert b"connection refused" in result.stdout


def test_502_raw_client_that_only_half_closes(make_proxy, unused_port, raw_client):
    """A request that arrives with the client's FIN still gets its 502."""
    proxy = make_proxy(f"http://127.0.0.1:{unused_port}")
    sock = raw_client(proxy.port)
    sock.send(GET)
    sock.shutdown_write()
    data, end = sock.recv_to_end()
    assert data.startswith(b"HTTP/1.1 502 Bad Gateway\r\n") and end == "fin"


def test_502_dns_failure(make_proxy, serve):
    # .invalid is reserved (RFC 6761) and never resolves
    proxy = make_proxy("http://no-such-upstream.invalid:8080")
    with client() as http:
        assert_502(http.get(proxy.url + "/x"), "no-such-upstream.invalid:8080", "DNS lookup failed")
        assert_502(http.get(proxy.url + "/y"), "DNS lookup failed")


def full_listener() -> tuple[socket.socket, list[socket.socket]]:
    """A loopback listener whose accept queue is full, so a further connect() gets no answer.

    Linux drops a SYN while the accept queue of the listener is full; with ``listen(0)`` one
    connection fills it. The fill is checked by a probe connect that must time out.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers: list[socket.socket] = []
    for _ in range(8):  # bounded: normally the second connect already times out
        probe = socket.socket()
        probe.settimeout(0.5)
        try:
            probe.connect(("127.0.0.1", port))
        except TimeoutError:
            probe.close()
            return listener, fillers
        fillers.append(probe)
    listener.close()
    for sock in fillers:
        sock.close()
    pytest.skip("could not fill a listener's accept queue on this system")


def test_502_connect_timeout_then_serves_once_the_upstream_accepts(aio, make_proxy, serve):
    listener, fillers = full_listener()
    try:
        port = listener.getsockname()[1]
        proxy = make_proxy(f"http://127.0.0.1:{port}", connect_timeout=0.3)
        with client() as http:
            for _ in range(2):
                assert_502(http.get(proxy.url + "/x"), f"127.0.0.1:{port}", "connect timed out after 0.3s")
        # empty the queue and serve on the same socket: the next request goes through
        for _ in fillers:
            listener.accept()[0].close()
        listener.setblocking(False)
        serve(answer_ok, sock=listener)
        healthy(proxy.url)
    finally:
        for sock in fillers:
            sock.close()


# -- 400: malformed requests ----------------------------------------------------------------------


MALFORMED = {
    "bad-request-line": (b"GARBAGE\r\nHost: x\r\n\r\n", "request line is not"),
    "space-before-colon": (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", "whitespace between header name and ':'"),
    "conflicting-content-length": (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        "conflicting Content-Length",
    ),
    "bare-lf": (b"GET / HTTP/1.1\nHost: x\n\n", "bare LF"),
    "bad-version": (b"GET / HTTP/one\r\nHost: x\r\n\r\n", "invalid HTTP version"),
}


def read_400(sock) -> str:  # type: ignore[no-untyped-def]
    data, end = sock.recv_to_end()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n"), data
    assert b"\r\nConnection: close\r\n" in head + b"\r\n"
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
    assert len(body) == length
    assert end == "fin"
    sock.close()  # as a client does after "Connection: close": the proxy's lingering close ends
    return body.decode()


@pytest.mark.parametrize("case", MALFORMED)
def test_400_malformed_head_is_never_forwarded(case, make_proxy, serve, raw_client):
    request, reason = MALFORMED[case]
    upstream = serve(answer_ok)
    proxy = make_proxy(upstream.url)
    sock = raw_client(proxy.port)
    sock.send(request)
    text = read_400(sock)
    assert text.startswith("faultproxy: malformed request: ") and reason in text, text
    conn = upstream.conn(1)
    wait_event(conn.ended, "the upstream connection to be closed")
    assert conn.received == b""
    healthy(proxy.url)


def test_400_non_hex_chunk_size_after_the_head_was_forwarded(make_proxy, serve, raw_client):
    upstream = serve(answer_ok)
    proxy = make_proxy(upstream.url)
    sock = raw_client(proxy.port)
    head = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    sock.send(head)
    conn = upstream.conn(1)
    wait_until(lambda: bytes(conn.received) == head, "the head to reach the upstream")
    sock.send(b"5\r\nhello\r\nzz\r\nmore\r\n0\r\n\r\n")
    text = read_400(sock)
    assert "chunk size is not hexadecimal" in text and "b'zz'" in text, text
    wait_event(conn.ended, "the upstream connection to be closed")
    assert bytes(conn.received) == head  # the malformed body was not passed on
    healthy(proxy.url)


def test_400_on_the_second_request_of_a_kept_alive_connection(make_proxy, serve, raw_client):
    upstream = serve(answer_ok)
    proxy = make_proxy(upstream.url)
    sock = raw_client(proxy.port)
    sock.send(GET)
    assert sock.recv_exactly(len(OK)) == OK
    sock.send(b"GET /two HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
    assert "invalid Content-Length" in read_400(sock)
    assert bytes(upstream.conn(1).received) == GET


def send_in_background(sock, data: bytes) -> tuple[threading.Thread, list[BaseException | None]]:  # type: ignore[no-untyped-def]
    """Send ``data`` then FIN from a thread, as a client uploading a body does; the outcome
    (None, or the error sending raised) is put in the returned list."""
    outcome: list[BaseException | None] = []

    def send() -> None:
        try:
            sock.sock.sendall(data)
            sock.shutdown_write()
        except OSError as error:
            outcome.append(error)
        else:
            outcome.append(None)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize("status", [400, 502])
def test_proxy_answer_reaches_a_client_still_sending_a_large_body(
    status, make_proxy, serve, unused_port, raw_client
):
    """The proxy answers before the body is in; the client must still read the answer, then a FIN,
    and be able to finish sending (a lingering close, as HTTP servers do).

    Closing a socket with unread data sends an RST, which would reach the client while it is
    still writing, often before it ever reads the answer.
    """
    if status == 400:
        proxy = make_proxy(serve(answer_ok).url)
        head = b"POST /up HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\nContent-Length: 8388608\r\n\r\n"
    else:
        proxy = make_proxy(f"http://127.0.0.1:{unused_port}")
        head = b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 8388608\r\n\r\n"
    sock = raw_client(proxy.port)
    sender, outcome = send_in_background(sock, head + b"b" * 8388608)
    data, end = sock.recv_to_end()
    sender.join(GUARD)
    assert data.startswith(b"HTTP/1.1 %d " % status), data
    assert end == "fin"
    assert outcome == [None], "the proxy reset the connection while the client was still sending"
    wait_until(lambda: proxy.active == 0, "the proxy to close once the client is done")


def test_lingering_close_ends_even_if_the_client_never_closes(make_proxy, serve, raw_client):
    proxy = make_proxy(serve(answer_ok).url, linger=0.2)
    sock = raw_client(proxy.port)
    sock.send(b"GARBAGE\r\n\r\n")
    assert sock.recv_until(b"\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    # the client keeps its side open and says nothing more: the proxy still lets go
    wait_until(lambda: proxy.active == 0, "the proxy to end the lingering close")
    assert sock.recv_to_end()[1] in ("fin", "rst")


def test_curl_uploading_a_large_body_reads_the_400(make_proxy, serve, curl):
    proxy = make_proxy(serve(answer_ok).url)
    for _ in range(3):
        result = curl(
            "-i",
            "-H",
            "Expect:",
            "-H",
            "Bad Header : 1",
            "--data-binary",
            "@-",
            proxy.url + "/up",
            input=b"b" * (8 << 20),
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_stop_while_connecting_leaves_no_upstream_connection(aio, make_proxy, raw_client):
    """A connect still in progress when the proxy stops must not complete into a leaked socket."""
    listener, fillers = full_listener()
    try:
        proxy = make_proxy(f"http://127.0.0.1:{listener.getsockname()[1]}", connect_timeout=600)
        sock = raw_client(proxy.port)
        sock.send(GET)
        wait_until(lambda: proxy.accepted == 1, "the proxy to accept")
        aio.call(proxy.stop())
        assert sock.recv_to_end()[0] == b""

        async def connecting() -> list[str]:
            """The connect tasks still alive, once their cancellation has had time to unwind."""
            for _ in range(1000):
                tasks = [
                    repr(t.get_coro())
                    for t in asyncio.all_tasks()
                    if "_connect_upstream" in repr(t.get_coro())
                ]
                if not tasks:
                    break
                await asyncio.sleep(0.01)
            return tasks

        assert aio.call(connecting()) == [], "the upstream connect outlived the proxy"
        # make room: a connect still being retried would now be accepted (the first SYN retry
        # comes a second after the first SYN); it must then be closed, not left open
        for _ in fillers:
            listener.accept()[0].close()
        listener.settimeout(1.5)
        try:
            leaked, _ = listener.accept()
        except TimeoutError:
            return
        with leaked:
            leaked.settimeout(10)
            assert leaked.recv(100) == b"", "an upstream connection was made after stop() and kept open"
    finally:
        listener.close()
        for filler in fillers:
            filler.close()


def _records(aio, proxy, capture) -> list[dict]:  # type: ignore[no-untyped-def]
    """The capture so far (flushed on the proxy's loop, which writes it)."""

    async def flush() -> None:
        proxy.flush_capture()

    aio.call(flush())
    return list(capture_records(capture))


def _refusals(aio, proxy, capture) -> list[dict]:  # type: ignore[no-untyped-def]
    return [r for r in _records(aio, proxy, capture) if r["type"] == "refused"]


POST_CHUNKED = b"POST /b HTTP/1.1\r\nHost: u\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    ("sends", "forwarded"),
    [
        ([b"GARBAGE\r\n\r\n"], b""),
        ([b"GET /two HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n"], b""),
        ([POST_CHUNKED + b"zz\r\n"], b""),
        ([POST_CHUNKED, b"zz\r\n"], POST_CHUNKED),
    ],
    ids=["malformed-head", "valid-then-malformed", "broken-body", "broken-body-after-its-head-went-up"],
)
def test_400_for_a_pipelined_request_waits_for_the_response_still_streaming(
    aio, make_proxy, serve, raw_client, tmp_path, sends, forwarded
):
    """The 400's head must not land where the next chunk-size line belongs: it follows the
    response in flight, as a server reading pipelined requests in order would answer. Whether
    the request is broken in its head or its body, and whether its head had gone upstream."""
    finish = threading.Event()

    async def slow_chunked(conn: Conn) -> None:
        await conn.read_request()
        await conn.write(HEAD_CHUNKED + b"5\r\nhello\r\n")
        await asyncio.to_thread(finish.wait, GUARD)
        await conn.write(b"5\r\nworld\r\n0\r\n\r\n")
        await conn.read_to_eof()

    capture = tmp_path / "refused.jsonl"
    upstream = serve(slow_chunked)
    proxy = make_proxy(upstream.url, capture=capture)
    sock = raw_client(proxy.port)
    sock.send(GET)
    assert sock.recv_exactly(len(HEAD_CHUNKED) + 10) == HEAD_CHUNKED + b"5\r\nhello\r\n"
    for number, data in enumerate(sends):
        if number:
            wait_until(
                lambda: any(
                    r["type"] == "head" and r.get("dir") == "request" and r.get("exchange") == 2
                    for r in _records(aio, proxy, capture)
                ),
                "the second head to go upstream",
            )
        sock.send(data)
    wait_until(lambda: _refusals(aio, proxy, capture), "the proxy to read the malformed request")
    assert _refusals(aio, proxy, capture)[0]["answer"] == "400 after the responses due"
    finish.set()
    data, end = sock.recv_to_end()
    assert data.startswith(b"5\r\nworld\r\n0\r\n\r\nHTTP/1.1 400 Bad Request\r\n"), data
    assert b"malformed request" in data and end == "fin"
    wait_event(upstream.conn(1).ended, "the upstream connection to be closed")
    # nothing of the refused read reached the upstream, not even a valid request before the bad one
    assert bytes(upstream.conn(1).received) == GET + forwarded


@pytest.mark.parametrize("more", [b"", b"more of the refused head"], ids=["then-fin", "then-more-then-fin"])
def test_400_for_a_pipelined_request_when_the_upstream_cuts_the_response(make_proxy, serve, raw_client, more):
    """The response in flight ends with its connection: a 400 after it would read as part of it.
    Whatever the client still sends then is dropped, and its FIN ends the connection."""
    finish = threading.Event()

    async def cut(conn: Conn) -> None:
        await conn.read_request()
        await conn.write(HEAD_CHUNKED + b"5\r\nhello\r\n")
        await asyncio.to_thread(finish.wait, GUARD)
        await conn.fin()

    proxy = make_proxy(serve(cut).url)
    sock = raw_client(proxy.port)
    sock.send(GET)
    assert sock.recv_exactly(len(HEAD_CHUNKED) + 10) == HEAD_CHUNKED + b"5\r\nhello\r\n"
    sock.send(b"GARBAGE\r\n\r\n")
    finish.set()
    assert sock.recv_to_end() == (b"", "fin")
    if more:
        sock.send(more)
    sock.shutdown_write()
    wait_until(lambda: proxy.active == 0, "the connection to end")


async def close_delimited(conn: Conn) -> None:
    await conn.read_request()
    await conn.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello")
    await conn.fin()


async def first_of_two_then_close(conn: Conn) -> None:
    await conn.read_request()
    await conn.read_request()
    await conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    await conn.fin()


@pytest.mark.parametrize(
    ("handler", "requests"),
    [(close_delimited, GET), (first_of_two_then_close, GET + GET)],
    ids=["close-delimited", "second-request-unanswered"],
)
def test_a_request_refused_after_the_upstream_closed_does_not_keep_the_connection(
    make_proxy, serve, raw_client, handler, requests
):
    """No response can come once the upstream has closed, even for a request it never answered:
    the refusal must not wait for one (and keep the client's close unread, forever)."""
    proxy = make_proxy(serve(handler).url)
    sock = raw_client(proxy.port)
    sock.send(requests)
    data, end = sock.recv_to_end()
    assert end == "fin"
    sock.send(b"GARBAGE\r\n\r\n")
    sock.shutdown_write()
    wait_until(lambda: proxy.active == 0, "the connection to end")


def test_400_follows_a_response_a_fault_delays_longer_than_the_lingering_close(make_proxy, serve, raw_client):
    """The lingering close counts from the FIN after the answer, not from when the answer was
    queued behind a delayed response: the client gets both."""

    async def answer(conn: Conn) -> None:
        await conn.read_request()
        await conn.write(OK)
        await conn.read_to_eof()

    proxy = make_proxy(
        serve(answer).url,
        linger=0.3,
        faults=[{"type": "latency", "stream": "downstream", "attributes": {"latency": 1500}}],
    )
    sock = raw_client(proxy.port)
    sock.send(GET)
    wait_until(
        lambda: proxy.evidence, "the proxy to read the response (and delay it)"
    )  # OK comes in one read
    sock.send(b"GARBAGE\r\n\r\n")
    data, end = sock.recv_to_end()
    assert data.startswith(OK + b"HTTP/1.1 400 Bad Request\r\n") and end == "fin", (data, end)


def test_a_request_body_broken_while_its_own_response_streams_ends_the_connection(
    aio, make_proxy, serve, raw_client, tmp_path
):
    """A server may answer before the body is in. If the body then turns out malformed, the
    response to it is under way and a 400 has no place left: the connection ends, as if the
    server had closed it (and the capture says why)."""

    async def answers_early(conn: Conn) -> None:
        await conn.read_until(b"\r\n\r\n")
        await conn.write(HEAD_CHUNKED + b"5\r\nhello\r\n")
        await conn.read_to_eof()

    capture = tmp_path / "early.jsonl"
    upstream = serve(answers_early)
    proxy = make_proxy(upstream.url, capture=capture)
    sock = raw_client(proxy.port)
    sock.send(b"POST /x HTTP/1.1\r\nHost: u\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert sock.recv_exactly(len(HEAD_CHUNKED) + 10) == HEAD_CHUNKED + b"5\r\nhello\r\n"
    sock.send(b"zz\r\n")
    assert sock.recv_to_end() == (b"", "fin")
    wait_event(upstream.conn(1).ended, "the upstream connection to be closed")
    assert [r["answer"] for r in _refusals(aio, proxy, capture)] == ["close"]


def test_400_after_a_response_followed_by_an_empty_line(make_proxy, serve, raw_client):
    """An empty line between messages is allowed (RFC 9112 §2.2): it does not leave a response due."""

    async def answer(conn: Conn) -> None:
        await conn.read_request()
        await conn.write(OK + b"\r\n")
        await conn.read_to_eof()

    proxy = make_proxy(serve(answer).url)
    sock = raw_client(proxy.port)
    sock.send(GET)
    assert sock.recv_exactly(len(OK) + 2) == OK + b"\r\n"
    sock.send(b"GARBAGE\r\n\r\n")
    data, end = sock.recv_to_end()
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n") and end == "fin"


# -- --raw: plain TCP ------------------------------------------------------------------------------


async def echo(conn: Conn) -> None:
    while data := await conn.read():
        await conn.write(data)
    await conn.fin()


@pytest.mark.parametrize("raw", [True, None], ids=["raw", "auto"])
def test_raw_mode_echo_and_fin_both_ways(make_proxy, serve, raw_client, raw):
    upstream = serve(echo)
    proxy = make_proxy(upstream.url, raw=raw)
    sock = raw_client(proxy.port)
    payload = bytes(range(256)) * 64 + b"\r\n\r\nGARBAGE / HTTP/9\r\n"  # not HTTP: no 400 in raw mode
    sock.send(payload, [1, 255, 4000])
    assert sock.recv_exactly(len(payload), read_size=333) == payload
    sock.shutdown_write()  # FIN -> upstream EOF -> the echo server's FIN -> our EOF
    assert sock.recv_to_end() == (b"", "fin")
    assert upstream.conn(1).eof.is_set()


@pytest.mark.parametrize("raw", [True, None], ids=["raw", "auto"])
def test_raw_mode_server_speaks_first(make_proxy, serve, raw_client, raw):
    async def banner(conn: Conn) -> None:
        await conn.write(b"220 hello from a non-HTTP server\r\n")
        line = await conn.read_until(b"\r\n")
        await conn.write(b"250 " + line)
        await conn.fin()

    proxy = make_proxy(serve(banner).url, raw=raw)
    sock = raw_client(proxy.port)
    greeting = b"220 hello from a non-HTTP server\r\n"
    assert sock.recv_exactly(len(greeting)) == greeting
    sock.send(b"QUIT\r\n")
    assert sock.recv_to_end() == (b"250 QUIT\r\n", "fin")


def test_auto_mode_parses_http_so_http_faults_apply(make_proxy, serve):
    """``raw=None`` (what the control API's proxies use): a client that opens with a request is HTTP."""
    upstream = serve(answer_ok)
    proxy = make_proxy(upstream.url, raw=None)
    with client() as http:
        assert [http.get(proxy.url + "/ok").text for _ in range(2)] == ["ok", "ok"]  # kept alive
        with proxy.add_fault("http_status", {"status": 503}):
            assert http.get(proxy.url + "/again").status_code == 503


def test_auto_mode_with_the_upstream_down(aio, make_proxy, unused_port, raw_client):
    """A client that has not spoken may be waiting for a server that speaks first: it gets the
    close a TCP proxy gives (never a hang, never an HTTP 502); an HTTP client whose request is on
    its way gets its 502.

    "On its way" is made certain, not left to timing: the request is sent while the proxy's loop
    is held, so it is in the socket when the proxy learns the upstream is down. (With httpx sending
    whenever it got to it, a loaded machine let the refusal come first: judged a silent TCP client.)"""
    proxy = make_proxy(f"127.0.0.1:{unused_port}", raw=None)
    assert raw_client(proxy.port).recv_to_end() == (b"", "fin")  # silent client
    half_closed = raw_client(proxy.port)
    half_closed.shutdown_write()
    assert half_closed.recv_to_end() == (b"", "fin")
    with aio.held():
        http = raw_client(proxy.port)
        http.send(b"GET /x HTTP/1.1\r\nHost: u\r\n\r\n")
    answer, end = http.recv_to_end()
    assert answer.startswith(b"HTTP/1.1 502 ") and b"connection refused" in answer and end == "fin"


@pytest.mark.parametrize(
    "opening",
    [b"*1\r\n$4\r\nPING\r\n", b"SET key value\r\n", b"\x16\x03\x01\x02\x00\x01GET / HTTP/1.1\r\n\r\n"],
    ids=["redis-resp", "redis-inline", "tls-hello"],
)
def test_auto_mode_relays_other_protocols_as_tcp(make_proxy, serve, raw_client, opening):
    """Not a request: relayed byte for byte, never answered 400, and HTTP faults leave it alone."""
    proxy = make_proxy(
        serve(echo).url, raw=None, faults=[{"type": "http_status", "attributes": {"status": 503}}]
    )
    sock = raw_client(proxy.port)
    payload = opening + bytes(range(256))
    sock.send(payload, [len(opening), 100])
    assert sock.recv_exactly(len(payload)) == payload
    sock.shutdown_write()
    assert sock.recv_to_end() == (b"", "fin")


def test_raw_mode_rst_both_ways(make_proxy, serve, raw_client):
    async def write_then_reset(conn: Conn) -> None:
        await conn.read_until(b"\n")
        await conn.write(b"partial answer")
        conn.rst()

    upstream = serve(write_then_reset)
    proxy = make_proxy(upstream.url, raw=True)
    sock = raw_client(proxy.port)
    sock.send(b"go\n")
    received, end = sock.recv_to_end()
    assert end == "rst" and b"partial answer".startswith(received)

    listener = serve(echo)
    proxy2 = make_proxy(listener.url, raw=True)
    sock2 = raw_client(proxy2.port)
    sock2.send(b"ping")
    assert sock2.recv_exactly(4) == b"ping"
    sock2.reset()
    wait_event(listener.conn(1).ended, "the echo server to see the end")
    assert listener.conn(1).reset.is_set()


def test_raw_mode_unreachable_upstream_just_closes(make_proxy, unused_port, raw_client):
    proxy = make_proxy(f"127.0.0.1:{unused_port}", raw=True)
    sock = raw_client(proxy.port)
    sock.send(b"hello?")
    data, _ = sock.recv_to_end()
    assert data == b""  # no HTTP answer in raw mode


# -- the command line ------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faultproxy", "proxy", *args],
        capture_output=True,
        text=True,
        timeout=GUARD,
        check=False,
    )


def test_cli_bad_upstream_is_a_usage_error():
    result = run_cli("--listen", "127.0.0.1:0", "--upstream", "ftp://x")
    assert result.returncode == 2
    assert "scheme must be http or https" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_port_in_use_is_a_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli("--listen", f"127.0.0.1:{port}", "--upstream", "http://127.0.0.1:9")
    assert result.returncode == 2  # bad input, as for every command
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "in use" in result.stderr.lower()
    assert "Traceback" not in result.stderr


def test_cli_port_in_use_leaves_an_existing_capture_alone(tmp_path):
    """A second proxy that cannot listen must not truncate the capture the first one is writing."""
    capture = tmp_path / "run.jsonl"
    capture.write_text('{"type":"meta","version":1}\n')
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli(
            "--listen", f"127.0.0.1:{port}", "--upstream", "http://127.0.0.1:9", "--capture", str(capture)
        )
    assert result.returncode not in (0, None) and "cannot listen" in result.stderr
    assert capture.read_text() == '{"type":"meta","version":1}\n'


def test_cli_capture_that_cannot_be_written_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_cli(
        "--listen", "127.0.0.1:0", "--upstream", "http://127.0.0.1:9", "--capture", str(blocker / "run.jsonl")
    )
    assert result.returncode == 2  # bad input, as for every command
    assert "cannot write capture" in result.stderr and "cannot listen" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("sends", [b"", GET], ids=["silent", "mid-request"])
def test_a_client_reset_while_the_upstream_connects_is_forgotten(sends, make_proxy):
    """A client that resets its connection while the proxy is still connecting upstream leaves
    nothing behind: no relay, no task, once the upstream connection resolves. (uvloop reports
    the reset at once, while the connect is in progress; before the fix the relay forgot to
    count the never-made upstream socket as gone and stayed in the proxy's table forever.)"""
    backlog = socket.socket()
    backlog.bind(("127.0.0.1", 0))
    backlog.listen(0)  # an accept queue of one, never accepted: the next connect hangs in SYN_SENT
    filler = socket.create_connection(backlog.getsockname())
    proxy = make_proxy(f"http://127.0.0.1:{backlog.getsockname()[1]}", connect_timeout=GUARD * 4)
    try:
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", proxy.port))
            sock.sendall(sends)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
            sock.close()
        wait_until(lambda: proxy.accepted == 3, "the proxy accepted the three clients")
        filler.close()  # the upstream now answers: a relay still waiting sees its client's reset
        # let the queued connects through until no relay is left, so nothing waits for connect_timeout
        # (it stopped at the first 0.5 s without a connect: on a loaded machine one came later, and
        # waited out the 120 s connect timeout)
        backlog.settimeout(0.05)
        deadline = time.monotonic() + GUARD
        while proxy.active and time.monotonic() < deadline:
            try:
                backlog.accept()[0].close()
            except TimeoutError:
                pass
        assert proxy.active == 0, "every reset client forgotten"
    finally:
        filler.close()
        backlog.close()
