"""The http-layer faults, each seen by real clients on loopback: httpx, curl, and raw sockets.

Upstreams are the lab SSE server (a real chunked event stream, with its ground truth) or a
scripted server when the exact upstream bytes matter. Every test checks what the client
really got and the evidence the fault left.
"""

from __future__ import annotations

import gzip as gziplib
import os
import random
import subprocess
import zlib
from collections.abc import Callable

import httpx
import pytest
from proxy_harness import CURL, GUARD, Conn, free_port, wait_event

from faultproxy.faults import FaultSpecError, parse_fault
from faultproxy.wire.chunked import ChunkData, ChunkHeader, encode_chunk, encode_last_chunk
from faultproxy.wire.http import HTTPReader, encode_response
from faultproxy.wire.sse import SSEParser, encode_event

GET = b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
SSE_HEAD = [("Content-Type", "text/event-stream"), ("Cache-Control", "no-store")]


# -- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def curl() -> Callable[..., subprocess.CompletedProcess[bytes]]:
    """``curl(*args)``: curl, silent, with every proxy setting of the environment ignored."""
    if CURL is None:
        pytest.skip("curl is not installed")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}

    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [CURL, "--silent", "--show-error", "--noproxy", "*", *args],
            capture_output=True,
            timeout=GUARD,
            env=env,
            check=False,
        )

    return run


def client() -> httpx.Client:
    return httpx.Client(trust_env=False, timeout=GUARD)


def sse_response(events: list[bytes], *, chunked: bool = True, extra: list[tuple[str, str]] = ()) -> bytes:
    """A whole event-stream response: one chunk per event, or one Content-Length body."""
    body = b"".join(events)
    if chunked:
        head = encode_response(200, "OK", [*SSE_HEAD, ("Transfer-Encoding", "chunked"), *extra])
        return head + b"".join(encode_chunk(e) for e in events) + encode_last_chunk()
    return encode_response(200, "OK", [*SSE_HEAD, ("Content-Length", str(len(body))), *extra], body)


def events(n: int) -> list[bytes]:
    return [encode_event(f"event {i}", id=str(i)) for i in range(1, n + 1)]


def answering(*responses: bytes, then: str = "fin") -> Callable[[Conn], object]:
    """A scripted upstream: reads a request, writes the next response, for each response; then
    ``fin`` (close) or ``wait`` (keep the connection until the other side closes it)."""

    async def handler(conn: Conn) -> None:
        for response in responses:
            await conn.read_request()
            await conn.write(response)
        if then == "wait":
            await conn.read_to_eof()
        else:
            await conn.fin()

    return handler


def decoded(data: bytes, method: bytes = b"GET") -> tuple[list, list[bytes]]:
    """The wire events of a response as a lenient reader sees them, and its chunk data pieces."""
    reader = HTTPReader("response", strict=False)
    reader.expect_response_to(method)
    wire = reader.feed(data) + reader.close()
    return wire, [e.data for e in wire if isinstance(e, ChunkData)]


def ids_in(body: bytes) -> list[str]:
    return [e.id for e in SSEParser().feed(body)]


def fault(fault_type: str, /, **attributes: object) -> dict:
    return {"type": fault_type, "attributes": attributes}


def one(proxy, kind: str):
    """The single evidence record of the fault type ``kind``."""
    found = [e for e in proxy.evidence if e.fault_type == kind]
    assert len(found) == 1, proxy.evidence
    return found[0]


# -- http_status ---------------------------------------------------------------------------------


def test_http_status_answers_429_before_the_upstream_sees_the_request(lab_sse, make_proxy, raw_client, curl):
    server = lab_sse(events=3, interval=0.001)
    proxy = make_proxy(
        f"http://127.0.0.1:{server.port}",
        faults=[
            {"type": "http_status", "attributes": {"status": 429, "headers": {"Retry-After": "2"}}},
        ],
    )
    with client() as http:
        response = http.get(proxy.url + "/events")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.text == "429 Too Many Requests\n"
    assert response.headers["connection"] == "close"

    raw = raw_client(proxy.port)
    raw.send(GET)
    assert raw.recv_to_end() == (
        b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 22\r\n"
        b"Connection: close\r\nRetry-After: 2\r\n\r\n429 Too Many Requests\n",
        "fin",
    )

    result = curl("-i", proxy.url + "/events")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"HTTP/1.1 429 Too Many Requests\r\n")
    assert b"Retry-After: 2\r\n" in result.stdout

    # The upstream never got a request, so its ground truth shows nothing sent: no false loss.
    assert server.requests == [] and server.sent == []
    assert [(e.fault_type, e.conn, e.exchange, e.direction) for e in proxy.evidence] == [
        ("http_status", conn, 1, "response") for conn in (1, 2, 3)
    ]
    assert "answered GET /events with 429" in proxy.evidence[0].detail


def test_a_long_running_proxy_keeps_the_latest_evidence_and_counts_every_firing(
    monkeypatch, lab_sse, make_proxy
):
    """Evidence is a record per firing: a proxy that runs for days must not keep them all."""
    monkeypatch.setattr("faultproxy.faults.faultset.EVIDENCE_KEPT", 5)
    server = lab_sse(events=1, interval=0.001)
    proxy = make_proxy(
        f"http://127.0.0.1:{server.port}",
        faults=[{"name": "teapot", "type": "http_status", "attributes": {"status": 418}}],
    )
    with client() as http:
        assert {http.get(proxy.url + "/events").status_code for _ in range(8)} == {418}
    assert [e.conn for e in proxy.evidence] == [4, 5, 6, 7, 8]  # one connection each: the answer closes it
    assert proxy.faults.fired == {("teapot", "http_status"): 8}


def test_http_status_with_match_answers_a_pipelined_request_after_the_earlier_response(
    serve, make_proxy, raw_client
):
    """GET /health passes (no match); POST /v1/chat is answered by the proxy, after /health's response."""
    ok = encode_response(200, "OK", [("Content-Length", "2")], b"ok")
    upstream = serve(answering(ok, then="wait"))
    proxy = make_proxy(
        upstream.url,
        faults=[
            {
                "type": "http_status",
                "match": {"method": "POST", "path": "/v1/*"},
                "attributes": {
                    "status": 503,
                    "body": "try later",
                    "headers": {"Retry-After": "7", "Content-Type": "text/x"},
                },
            }
        ],
    )
    raw = raw_client(proxy.port)
    post = b"POST /v1/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n{ }\n"
    raw.send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + post)
    data, how = raw.recv_to_end()
    assert data == ok + (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/x\r\nContent-Length: 9\r\n"
        b"Connection: close\r\nRetry-After: 7\r\n\r\ntry later"
    )
    assert how == "fin"
    conn = upstream.conn(1)
    wait_event(conn.eof, "the upstream connection to close")
    assert bytes(conn.received) == b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"  # the POST never went up
    (evidence,) = proxy.evidence
    assert evidence.exchange == 2 and "POST /v1/chat" in evidence.detail


def test_http_status_at_request_time_needs_no_upstream(make_proxy):
    proxy = make_proxy(f"http://127.0.0.1:{free_port()}", faults=[fault("http_status", status=429)])
    with client() as http:
        response = http.get(proxy.url + "/v1/chat")
    assert response.status_code == 429  # not the proxy's own 502: the fault answers first


def test_http_status_when_response_replaces_what_the_upstream_answered(serve, make_proxy, raw_client):
    upstream = serve(answering(sse_response(events(3))))
    proxy = make_proxy(
        upstream.url,
        faults=[
            {"type": "http_status", "attributes": {"status": 502, "when": "response"}},
        ],
    )
    with client() as http:
        response = http.get(proxy.url + "/events")
    assert (response.status_code, response.text) == (502, "502 Bad Gateway\n")
    assert upstream.conn(1).received.startswith(b"GET /events HTTP/1.1\r\n")  # the upstream did the work
    assert "replaced the upstream's 200 to GET /events with 502" in one(proxy, "http_status").detail
    # A HEAD answer has the head only.
    raw = raw_client(proxy.port)
    raw.send(b"HEAD /events HTTP/1.1\r\nHost: x\r\n\r\n")
    data, how = raw.recv_to_end()
    assert data.endswith(b"Content-Length: 16\r\nConnection: close\r\n\r\n") and how == "fin"


# -- empty_response ------------------------------------------------------------------------------


def test_empty_response_is_eof_with_zero_bytes_on_the_chosen_connections(
    lab_sse, make_proxy, raw_client, curl
):
    server = lab_sse(events=2, interval=0.001)
    proxy = make_proxy(
        f"http://127.0.0.1:{server.port}",
        faults=[
            {"type": "empty_response", "connections": [2, 3]},
        ],
    )
    first = raw_client(proxy.port)  # connection 1: not chosen, the stream is whole
    first.send(GET)
    data, how = first.recv_to_end()
    assert data.endswith(b"0\r\n\r\n") and how == "fin"

    with client() as http, pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        http.get(proxy.url + "/events")  # connection 2
    result = curl(proxy.url + "/events")  # connection 3
    assert result.returncode == 52, result.stderr  # CURLE_GOT_NOTHING: "Empty reply from server"
    assert result.stdout == b""
    assert [e.conn for e in proxy.evidence] == [2, 3]
    assert proxy.evidence[0].offset == 0


def test_empty_response_rst(lab_sse, make_proxy, raw_client):
    server = lab_sse(events=2, interval=0.001)
    proxy = make_proxy(
        f"http://127.0.0.1:{server.port}",
        faults=[
            {"type": "empty_response", "attributes": {"mode": "rst"}},
        ],
    )
    raw = raw_client(proxy.port)
    raw.send(GET)
    assert raw.recv_to_end() == (b"", "rst")
    assert one(proxy, "empty_response").detail.startswith("closed (rst) instead of the upstream's 200")


# -- malformed_chunk -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "chunk1", "curl_exit"),
    [
        ("bad_hex", b"zz\r\n%s\r\n", 56),
        ("missing_crlf", b"15\r\n%s", 56),
        # curl 7.88 takes the CR as data, skips to the LF and reads on: exit 0, a stray CR in the body
        ("wrong_size", b"16\r\n%s\r\n", 0),
    ],
)
def test_malformed_chunk_breaks_exactly_one_chunk(
    kind, chunk1, curl_exit, serve, make_proxy, raw_client, curl
):
    evs = events(3)  # 21 bytes each: size line "15"
    upstream = serve(answering(sse_response(evs)))
    proxy = make_proxy(upstream.url, faults=[fault("malformed_chunk", chunk=1, kind=kind)])
    raw = raw_client(proxy.port)
    raw.send(GET)
    data, how = raw.recv_to_end()
    head = encode_response(200, "OK", [*SSE_HEAD, ("Transfer-Encoding", "chunked")])
    assert data == head + encode_chunk(evs[0]) + chunk1 % evs[1] + encode_chunk(evs[2]) + encode_last_chunk()
    assert how == "fin"  # the upstream closed; the fault itself closes nothing

    with client() as http, pytest.raises(httpx.RemoteProtocolError):
        with http.stream("GET", proxy.url + "/events") as response:
            for _ in response.iter_bytes():
                pass
    result = curl(proxy.url + "/events")
    assert result.returncode == curl_exit, result.stderr  # 56: CURLE_RECV_ERROR, the chunked decoder gave up
    if kind == "wrong_size":
        assert result.stdout == evs[0] + evs[1] + b"\r" + evs[2]  # silently corrupted
    evidence = [e for e in proxy.evidence if e.conn == 1]
    assert len(evidence) == 1 and "chunk 1" in evidence[0].detail
    # chunk 1 starts after the head and chunk 0 (2 + 2 + 21 + 2 bytes); the CRLF after its data later
    at = len(head) + len(encode_chunk(evs[0]))
    assert evidence[0].offset == (at + 4 + 21 if kind == "missing_crlf" else at)


def test_malformed_chunk_upstream_reaches_the_server_in_a_chunked_request(serve, make_proxy):
    async def handler(conn: Conn) -> None:
        await conn.read_until(b"\r\n\r\n")
        await conn.read_until(b"0\r\n\r\n")
        await conn.write(encode_response(400, "Bad Request", [("Content-Length", "0")]))
        await conn.fin()

    upstream = serve(handler)
    proxy = make_proxy(
        upstream.url,
        faults=[
            {"stream": "upstream", **fault("malformed_chunk", chunk=0, kind="wrong_size", size_delta=-2)},
        ],
    )
    with client() as http:
        response = http.post(proxy.url + "/upload", content=iter([b"hello", b"world"]))
    assert response.status_code == 400
    received = bytes(upstream.conn(1).received)
    assert received.endswith(b"\r\n\r\n3\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n")
    assert one(proxy, "malformed_chunk").direction == "request"


# -- truncate_chunk ------------------------------------------------------------------------------


def test_truncate_chunk_cuts_inside_a_chunk_after_n_body_bytes(serve, make_proxy, raw_client):
    evs = events(3)
    upstream = serve(answering(sse_response(evs)))
    proxy = make_proxy(upstream.url, faults=[{"type": "truncate_chunk", "attributes": {"after_bytes": 30}}])
    raw = raw_client(proxy.port)
    raw.send(GET)
    data, how = raw.recv_to_end()
    head = encode_response(200, "OK", [*SSE_HEAD, ("Transfer-Encoding", "chunked")])
    assert data == head + encode_chunk(evs[0]) + b"15\r\n" + evs[1][:9]
    assert how == "fin"
    evidence = one(proxy, "truncate_chunk")
    assert evidence.offset == len(data)
    assert evidence.detail == "closed (fin) after 30 body bytes, inside chunk 1 (9 of its 21 bytes sent)"


@pytest.mark.parametrize(("mode", "curl_exit", "how"), [("fin", 18, "fin"), ("rst", 56, "rst")])
def test_truncate_chunk_as_clients_see_it(mode, curl_exit, how, lab_sse, make_proxy, raw_client, curl):
    server = lab_sse(events=5, interval=0.001)
    proxy = make_proxy(
        f"http://127.0.0.1:{server.port}",
        faults=[
            fault("truncate_chunk", after_bytes=22, mode=mode),  # at the boundary of chunks 0 and 1
        ],
    )
    raw = raw_client(proxy.port)
    raw.send(GET)
    data, ended = raw.recv_to_end()
    assert ended == how
    if mode == "fin":
        wire, pieces = decoded(data)
        assert b"".join(pieces) == b'id: 1\ndata: {"n": 1}\n\n'  # 22 bytes, then the next size line only
        assert [e.raw for e in wire if isinstance(e, ChunkHeader)] == [b"16\r\n", b"16\r\n"]
    with client() as http, pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        with http.stream("GET", proxy.url + "/events") as response:
            for _ in response.iter_bytes():
                pass
    result = curl("-N", proxy.url + "/events")
    assert result.returncode == curl_exit, result.stderr
    assert result.stdout == b'id: 1\ndata: {"n": 1}\n\n'
    assert len([e for e in proxy.evidence if e.fault_type == "truncate_chunk"]) == 3


# -- drop_terminal_chunk -------------------------------------------------------------------------


def test_drop_terminal_chunk_delivers_every_event_but_never_the_end(lab_sse, make_proxy, raw_client, curl):
    server = lab_sse(events=3, interval=0.001)
    proxy = make_proxy(f"http://127.0.0.1:{server.port}", faults=[{"type": "drop_terminal_chunk"}])
    raw = raw_client(proxy.port)
    raw.send(GET)
    data, how = raw.recv_to_end()
    wire, pieces = decoded(data)
    assert ids_in(b"".join(pieces)) == ["1", "2", "3"]
    assert not data.endswith(b"0\r\n\r\n") and data.endswith(b"\n\n\r\n") and how == "fin"
    got: list[str] = []
    with client() as http, pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
        with http.stream("GET", proxy.url + "/events") as response:
            for line in response.iter_lines():
                if line.startswith("id: "):
                    got.append(line[4:])
    assert got == ["1", "2", "3"]  # all the data, and still an error
    result = curl("-N", proxy.url + "/events")
    assert result.returncode == 18, result.stderr  # CURLE_PARTIAL_FILE
    assert ids_in(result.stdout) == ["1", "2", "3"]
    assert proxy.evidence[0].detail == "closed (fin) after 3 chunks instead of sending the last chunk"


# -- close_delimited ------------------------------------------------------------------------------


def test_close_delimited_sends_the_body_unframed_and_ends_it_by_closing(lab_sse, make_proxy, raw_client):
    server = lab_sse(events=3, interval=0.001)
    proxy = make_proxy(f"http://127.0.0.1:{server.port}", faults=[{"type": "close_delimited"}])
    raw = raw_client(proxy.port)
    raw.send(GET)
    data, how = raw.recv_to_end()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"Transfer-Encoding" not in head
    assert b"Content-Length" not in head and head.endswith(b"\r\nConnection: close")
    assert body == b"".join(encode_event(s.data, id=str(s.id)) for s in server.sent) and how == "fin"
    assert [e.detail for e in proxy.evidence] == [
        "re-framed the chunked 200 response to GET /events as close-delimited",
        f"closed the connection after {len(body)} body bytes: the end of the body",
    ]


def test_close_delimited_turns_a_cut_that_httpx_reports_into_a_clean_looking_end(lab_sse, make_proxy):
    """The danger of the framing: a body cut mid-stream (no last chunk) is an error for httpx when
    chunked, and an ordinary end when close-delimited."""
    server = lab_sse(events=6, interval=0.001, drop_after=2)
    plain = make_proxy(f"http://127.0.0.1:{server.port}")
    with client() as http, pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
        http.get(plain.url + "/events")
    server.requests.clear()  # the next connection is "connection 1" again: cut after 2 events
    proxy = make_proxy(f"http://127.0.0.1:{server.port}", faults=[{"type": "close_delimited"}])
    with client() as http:
        response = http.get(proxy.url + "/events")  # no exception
    assert ids_in(response.content) == ["1", "2"]
    assert "broke off after" in proxy.evidence[-1].detail


def test_close_delimited_reframes_content_length_bodies_and_leaves_bodiless_ones(
    serve, make_proxy, raw_client
):
    evs = events(2)
    no_content = encode_response(204, "No Content", [("Content-Length", "0")])
    for response, expected in ((sse_response(evs, chunked=False), b"".join(evs)), (no_content, None)):
        upstream = serve(answering(response, response, then="wait"))
        proxy = make_proxy(upstream.url, faults=[{"type": "close_delimited"}])
        raw = raw_client(proxy.port)
        raw.send(GET)
        if expected is None:  # no body to re-frame: the response as it was, the connection kept
            raw.send(GET)
            assert raw.recv_exactly(2 * len(no_content)) == 2 * no_content
            continue
        data, how = raw.recv_to_end()
        head, _, body = data.partition(b"\r\n\r\n")
        assert b"Content-Length" not in head and body == expected and how == "fin"


# -- read_timeout ---------------------------------------------------------------------------------


def test_read_timeout_cuts_an_idle_stream_unfinished(lab_sse, make_proxy, raw_client):
    server = lab_sse(events=3, interval=0.6)  # 600 ms of silence before each event; 300 ms allowed
    proxy = make_proxy(f"http://127.0.0.1:{server.port}", faults=[fault("read_timeout", timeout_ms=300)])
    raw = raw_client(proxy.port)
    raw.send(GET)
    data, how = raw.recv_to_end()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and body == b"" and how == "fin"
    assert not server.sent or server.sent[0].time > proxy.evidence[0].t  # cut before the first event
    assert proxy.evidence[0].detail == (
        "no data from the upstream for 300 ms in the middle of the response to"
        " GET /events: closed it unfinished"
    )
    with client() as http, pytest.raises(httpx.RemoteProtocolError):
        http.get(proxy.url + "/events")


def test_read_timeout_spares_a_stream_that_sends_keepalive_comments(lab_sse, make_proxy):
    server = lab_sse(events=2, interval=0.6, keepalive=0.05)  # a comment every 50 ms; 400 ms allowed
    proxy = make_proxy(f"http://127.0.0.1:{server.port}", faults=[fault("read_timeout", timeout_ms=400)])
    with client() as http:
        response = http.get(proxy.url + "/events")
    assert ids_in(response.content) == ["1", "2"] and proxy.evidence == []


def test_read_timeout_before_the_head_is_a_504(serve, make_proxy, raw_client):
    async def silent(conn: Conn) -> None:
        await conn.read_request()
        await conn.read_to_eof()

    proxy = make_proxy(serve(silent).url, faults=[fault("read_timeout", timeout_ms=100)])
    raw = raw_client(proxy.port)
    raw.send(GET)
    data, how = raw.recv_to_end()
    assert (
        data.startswith(b"HTTP/1.1 504 Gateway Time-out\r\n") and data.endswith(b"in time\n") and how == "fin"
    )
    assert "before the response to GET /events: answered 504" in proxy.evidence[0].detail


# -- early_end -----------------------------------------------------------------------------------


def test_early_end_is_a_clean_end_that_hides_the_loss(lab_sse, make_proxy, raw_client, curl):
    server = lab_sse(events=6, interval=0.001)
    proxy = make_proxy(f"http://127.0.0.1:{server.port}", faults=[fault("early_end", after_events=2)])
    with client() as http:
        response = http.get(proxy.url + "/events")  # no exception: as far as HTTP goes, all is well
    assert ids_in(response.content) == ["1", "2"]
    raw = raw_client(proxy.port)
    raw.send(GET)
    data, how = raw.recv_to_end()
    assert data.endswith(b"\n\n\r\n0\r\n\r\n") and how == "fin"
    wire, pieces = decoded(data)
    assert ids_in(b"".join(pieces)) == ["1", "2"]
    result = curl("-N", proxy.url + "/events")
    assert result.returncode == 0, result.stderr
    assert ids_in(result.stdout) == ["1", "2"]
    evidence = [e for e in proxy.evidence if e.fault_type == "early_end"]
    assert [(e.conn, e.event_index) for e in evidence] == [(1, 1), (2, 1), (3, 1)]


def test_early_end_keep_open_on_a_content_length_stream(serve, make_proxy, raw_client):
    """A Content-Length event stream is re-framed as chunked and ended after event 1; the
    connection stays usable: the next response on it comes through whole."""
    first = sse_response(events(3), chunked=False)
    second = encode_response(200, "OK", [("Content-Length", "5")], b"again")
    upstream = serve(answering(first, second, then="wait"))
    proxy = make_proxy(
        upstream.url,
        faults=[
            {"type": "early_end", "attributes": {"after_events": 1, "then": "keep_open"}},
        ],
    )
    with client() as http:
        response = http.get(proxy.url + "/events")
        assert response.headers["transfer-encoding"] == "chunked" and "content-length" not in response.headers
        assert ids_in(response.content) == ["1"]
        again = http.get(proxy.url + "/next")
        assert again.text == "again"
    assert len(upstream.conns) == 1  # the same connection carried both
    assert one(proxy, "early_end").detail.startswith("ended the body cleanly after 1 events (keeping")


# -- content_length_mismatch ---------------------------------------------------------------------


def test_content_length_claiming_more_leaves_the_client_short(serve, make_proxy, raw_client, curl):
    body = b"0123456789"
    response = encode_response(200, "OK", [("Content-Length", "10")], body)
    upstream = serve(answering(response, response, response, then="wait"))
    proxy = make_proxy(upstream.url, faults=[{"type": "content_length_mismatch", "attributes": {"delta": 5}}])
    raw = raw_client(proxy.port)
    raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert raw.recv_to_end() == (b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n" + body, "fin")
    with client() as http, pytest.raises(httpx.RemoteProtocolError, match="incomplete|received 10 bytes"):
        http.get(proxy.url + "/")
    result = curl(proxy.url + "/")
    assert result.returncode == 18, result.stderr
    assert result.stdout == body
    details = [e.detail for e in proxy.evidence if e.conn == 1]
    assert details[0].startswith("Content-Length: 15 for a body of 10 bytes")
    assert details[1] == "closed after the whole body; the client still waits for 5 bytes"


def test_content_length_claiming_less_corrupts_the_next_response(serve, make_proxy, raw_client):
    body = b"0123456789"
    response = encode_response(200, "OK", [("Content-Length", "10")], body)
    upstream = serve(answering(response, response, then="wait"))
    proxy = make_proxy(upstream.url, faults=[fault("content_length_mismatch", delta=-3)])
    raw = raw_client(proxy.port)
    raw.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n"
    first = raw.recv_exactly(len(head) + 10)
    assert first == head + body  # the whole body is sent; the head claims 7 bytes of it
    raw.send(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
    data = first + raw.recv_exactly(len(head) + 10)
    # A client that trusts the header takes "0123456" as the body; the next response then
    # starts with "789", which is not a status line.
    reader = HTTPReader("response", strict=False)
    reader.expect_response_to(b"GET")
    reader.expect_response_to(b"GET")
    wire = reader.feed(data)
    assert [type(e).__name__ for e in wire][:4] == ["Response", "BodyData", "EndOfMessage", "Malformed"]
    assert wire[1].data == b"0123456" and "status line" in wire[3].reason
    # httpx does exactly that: a short body without complaint, then a broken next response.
    with client() as http:
        assert http.get(proxy.url + "/a").content == b"0123456"
        with pytest.raises(httpx.RemoteProtocolError, match="illegal status line: .*789HTTP/1.1 200 OK"):
            http.get(proxy.url + "/b")
    assert len([e for e in proxy.evidence if e.fault_type == "content_length_mismatch"]) == 4


def test_content_length_mismatch_on_a_chunked_stream_holds_it_to_the_end(lab_sse, make_proxy):
    server = lab_sse(events=4, interval=0.001)
    proxy = make_proxy(
        f"http://127.0.0.1:{server.port}",
        faults=[
            {"type": "content_length_mismatch", "attributes": {"delta": -1}},
        ],
    )
    with client() as http:
        response = http.get(proxy.url + "/events")
    full = b"".join(encode_event(server.data(i), id=str(i)) for i in range(1, 5))
    assert "transfer-encoding" not in response.headers
    assert response.headers["content-length"] == str(len(full) - 1)
    assert response.content == full[:-1]  # the last blank line is lost: event 4 is never dispatched
    assert ids_in(response.content) == ["1", "2", "3"]
    assert "held the chunked body to its end" in one(proxy, "content_length_mismatch").detail


# -- set_header / remove_header ------------------------------------------------------------------


def test_set_and_remove_header_on_the_response(lab_sse, make_proxy):
    server = lab_sse(events=2, interval=0.001)
    proxy = make_proxy(
        f"http://127.0.0.1:{server.port}",
        faults=[
            {"type": "set_header", "attributes": {"header": "Content-Type", "value": "text/plain"}},
            {"type": "remove_header", "attributes": {"header": "cache-control"}},
        ],
    )
    with client() as http:
        response = http.get(proxy.url + "/events")
    assert response.headers["content-type"] == "text/plain"
    assert "cache-control" not in response.headers
    assert ids_in(response.content) == ["1", "2"]  # the body is untouched
    assert [e.detail for e in proxy.evidence] == [
        "Content-Type: 'text/plain' (was 'text/event-stream')",
        "removed cache-control ('no-store')",
    ]


def test_set_header_upstream_changes_what_the_server_is_asked(lab_sse, make_proxy):
    """Last-Event-ID: 3 set on the request: the lab server resumes after event 3."""
    server = lab_sse(events=5, interval=0.001)
    proxy = make_proxy(
        f"http://127.0.0.1:{server.port}",
        faults=[
            {
                "type": "set_header",
                "stream": "upstream",
                "attributes": {"header": "Last-Event-ID", "value": "3"},
            },
        ],
    )
    with client() as http:
        response = http.get(proxy.url + "/events")
    assert ids_in(response.content) == ["4", "5"]
    assert server.requests[0].last_event_id == "3"
    assert one(proxy, "set_header").direction == "request"


# -- gzip ----------------------------------------------------------------------------------------


def _gzip_pieces(data: bytes) -> list[bytes]:
    wire, pieces = decoded(data)
    return pieces


@pytest.mark.parametrize("flush", ["none", "sync"])
def test_gzip_is_decoded_by_httpx_and_streams_only_with_sync_flush(flush, lab_sse, make_proxy, raw_client):
    server = lab_sse(events=4, interval=0.001)
    proxy = make_proxy(f"http://127.0.0.1:{server.port}", faults=[fault("gzip", flush=flush)])
    with client() as http:
        response = http.get(proxy.url + "/events")
    assert response.headers["content-encoding"] == "gzip"
    assert ids_in(response.content) == ["1", "2", "3", "4"]  # httpx decompressed it

    raw = raw_client(proxy.port)
    raw.send(GET)
    data, _ = raw.recv_to_end()
    head, _, _ = data.partition(b"\r\n\r\n")
    assert b"Content-Encoding: gzip" in head and b"Transfer-Encoding: chunked" in head
    pieces = _gzip_pieces(data)
    assert gziplib.decompress(b"".join(pieces)).count(b"id: ") == 4
    inflate = zlib.decompressobj(31)
    first = inflate.decompress(pieces[0])
    if flush == "sync":
        # one chunk per upstream piece, and the first alone inflates to the first event: it streams
        assert len(pieces) == 5 and ids_in(first) == ["1"]
    else:
        # nothing came out before the end: one chunk holds the whole gzip stream
        assert len(pieces) == 1 and ids_in(first) == ["1", "2", "3", "4"]
    (start, end) = [e for e in proxy.evidence if e.conn == 2]
    assert start.detail.startswith(f"gzip (flush {flush}) on the chunked 200 response to GET /events")
    assert end.detail.startswith("compressed ")


def test_gzip_flush_none_sends_full_buffers_only(serve, make_proxy, raw_client):
    """A large stream through a buffering compressor: 8 KiB bursts, never a single event."""
    rng = random.Random(1)
    evs = [encode_event(rng.randbytes(1000).hex(), id=str(i)) for i in range(1, 41)]  # ~80 KB, ~40 KB gzipped
    upstream = serve(answering(sse_response(evs)))
    proxy = make_proxy(upstream.url, faults=[{"type": "gzip", "attributes": {"flush": "none"}}])
    raw = raw_client(proxy.port)
    raw.send(GET)
    data, how = raw.recv_to_end()
    pieces = _gzip_pieces(data)
    assert gziplib.decompress(b"".join(pieces)) == b"".join(evs) and how == "fin"
    assert len(pieces) >= 3 and {len(p) for p in pieces[:-1]} == {8192}


def test_gzip_to_an_http10_client_is_close_delimited(lab_sse, make_proxy, raw_client):
    server = lab_sse(events=3, interval=0.001)
    proxy = make_proxy(f"http://127.0.0.1:{server.port}", faults=[fault("gzip", flush="sync")])
    raw = raw_client(proxy.port)
    raw.send(b"GET /events HTTP/1.0\r\nHost: x\r\n\r\n")
    data, how = raw.recv_to_end()
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head and b"Content-Length" not in head
    assert b"Content-Encoding: gzip" in head
    assert ids_in(gziplib.decompress(body)) == ["1", "2", "3"] and how == "fin"
    assert "sent close-delimited" in proxy.evidence[0].detail


def test_gzip_only_when_asked_with_curl(lab_sse, make_proxy, curl):
    server = lab_sse(events=2, interval=0.001)
    proxy = make_proxy(
        f"http://127.0.0.1:{server.port}",
        faults=[
            {"type": "gzip", "attributes": {"respect_accept_encoding": True, "flush": "sync"}},
        ],
    )
    plain = curl("-N", "-i", proxy.url + "/events")  # curl asks for no encoding
    assert plain.returncode == 0 and b"Content-Encoding" not in plain.stdout
    asked = curl("-N", "-i", "--compressed", proxy.url + "/events")
    assert asked.returncode == 0, asked.stderr
    assert b"Content-Encoding: gzip" in asked.stdout
    assert ids_in(asked.stdout.partition(b"\r\n\r\n")[2]) == ["1", "2"]  # curl inflated it
    assert [e.conn for e in proxy.evidence if e.detail.startswith("gzip")] == [2]


# -- random_data_then_close ----------------------------------------------------------------------


def test_random_data_then_close_sends_seeded_garbage_at_the_byte_asked(serve, make_proxy, raw_client):
    evs = events(3)
    upstream = serve(answering(*[sse_response(evs)] * 2))
    spec = {"name": "junk", "type": "random_data_then_close", "attributes": {"bytes": 32, "after_bytes": 10}}
    proxy = make_proxy(upstream.url, faults=[spec], seed=7)
    head = encode_response(200, "OK", [*SSE_HEAD, ("Transfer-Encoding", "chunked")])
    for conn in (1, 2):
        raw = raw_client(proxy.port)
        raw.send(GET)
        data, how = raw.recv_to_end()
        garbage = random.Random(f"7/junk/{conn}/downstream").randbytes(32)
        assert data == head + encode_chunk(evs[0])[:10] + garbage and how == "fin"
    evidence = [e for e in proxy.evidence if e.fault_type == "random_data_then_close"]
    assert [(e.conn, e.offset) for e in evidence] == [(1, len(head) + 10), (2, len(head) + 10)]


def test_random_data_then_close_as_httpx_and_curl_see_it(lab_sse, make_proxy, curl):
    server = lab_sse(events=3, interval=0.001)
    proxy = make_proxy(
        f"http://127.0.0.1:{server.port}",
        faults=[
            {"type": "random_data_then_close", "attributes": {"bytes": 200, "after_bytes": 0, "mode": "rst"}},
        ],
    )
    with client() as http, pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        with http.stream("GET", proxy.url + "/events") as response:
            for _ in response.iter_bytes():
                pass
    result = curl("-N", proxy.url + "/events")
    assert result.returncode == 56, result.stderr


# -- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            {"type": "malformed_chunk", "attributes": {"kind": "bogus"}},
            "fault #1 (malformed_chunk): attributes.kind: must be one of"
            " 'bad_hex', 'missing_crlf' or 'wrong_size' (got 'bogus')",
        ),
        (
            {"type": "malformed_chunk", "attributes": {"kind": "wrong_size", "size_delta": 0}},
            "fault #1 (malformed_chunk): attributes.size_delta: Value error, must not be 0",
        ),
        (
            {"type": "http_status", "attributes": {"status": 700}},
            "fault #1 (http_status): attributes.status: Input should be less than or equal to 599 (got 700)",
        ),
        (
            {"type": "http_status", "attributes": {"headers": {"Retry-After": "1\r\nX: y"}}},
            "attributes.headers: Value error, the value of Retry-After contains CR, LF or NUL",
        ),
        (
            {"type": "http_status", "attributes": {"when": "later"}},
            "attributes.when: must be one of 'request' or 'response' (got 'later')",
        ),
        (
            {"type": "http_status", "stream": "upstream"},
            "fault #1 (http_status): stream: http_status works only on downstream",
        ),
        (
            {"type": "truncate_chunk", "attributes": {"after_bytes": -1}},
            "attributes.after_bytes: Input should be greater than or equal to 0 (got -1)",
        ),
        (
            {"type": "truncate_chunk", "attributes": {"mode": "hard"}},
            "attributes.mode: must be one of 'fin' or 'rst'",
        ),
        ({"type": "content_length_mismatch", "attributes": {}}, "attributes.delta: Field required"),
        (
            {"type": "content_length_mismatch", "attributes": {"delta": 0}},
            "attributes.delta: Value error, must not be 0",
        ),
        (
            {"type": "set_header", "attributes": {"header": "Bad Name", "value": "x"}},
            "fault #1 (set_header): attributes.header: Value error, 'Bad Name' is not a header field name",
        ),
        ({"type": "remove_header", "attributes": {}}, "attributes.header: Field required"),
        (
            {"type": "gzip", "attributes": {"flush": "full"}},
            "attributes.flush: must be one of 'none' or 'sync'",
        ),
        (
            {"type": "early_end", "attributes": {"after_events": 1, "then": "hold"}},
            "attributes.then: must be one of 'close' or 'keep_open'",
        ),
        (
            {"type": "random_data_then_close", "attributes": {"bytes": 0}},
            "attributes.bytes: Input should be greater than or equal to 1 (got 0)",
        ),
        ({"type": "empty_response", "attributes": {"after": 1}}, "attributes.after: unknown field"),
    ],
)
def test_bad_attributes_are_refused_with_a_precise_message(fault, message):
    with pytest.raises(FaultSpecError) as error:
        parse_fault(fault)
    assert message in str(error.value)
    assert f"({fault['type']})" in str(error.value)
