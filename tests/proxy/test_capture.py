"""Captures: both directions of every connection, decoded, timestamped, with secrets redacted.

The capture file is read back as JSON Lines and checked against what the real servers and
clients sent: the wire bytes of each direction (joined from the records), the heads, chunks and
SSE events decoded from them, connection ids, exchange numbers and how each side ended. Secret
header values must not appear anywhere in the file: neither in its text nor in any base64
payload. ``faultproxy capture show`` is run through click's CliRunner on the same files.
"""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from proxy_harness import GUARD, Conn, wait_event, wait_until

from faultproxy.cli import main as cli_main
from faultproxy.proxy.capture import CaptureWriter, server_side

WIRE_TYPES = {"head", "body", "chunk", "chunk_data", "chunk_end", "trailers", "unparsed"}


def read_records(path: Path, *, upstream: bool = False) -> list[dict[str, Any]]:
    """The capture's records; without ``upstream``, those of the server's side left out (what the
    proxy read from the server before any fault: these tests are about what crossed to the client)."""
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return records if upstream else [r for r in records if r.get("dir") != "upstream"]


def stopped(aio, proxy) -> None:  # type: ignore[no-untyped-def]
    """Stop the proxy so the capture is complete and flushed."""
    aio.call(proxy.stop())


def wire(records: list[dict[str, Any]], conn: int, direction: str) -> bytes:
    """The bytes of one direction of one connection, joined from the records that carry them."""
    return b"".join(
        base64.b64decode(r["b64"])
        for r in records
        if r.get("conn") == conn and r.get("dir") == direction and r["type"] in WIRE_TYPES
    )


def check_shape(records: list[dict[str, Any]]) -> None:
    """Meta first; then every record has a connection id and a time that never goes back."""
    meta, *rest = records
    assert meta["type"] == "meta" and meta["version"] == 1
    times = [r["t"] for r in rest if r["type"] != "fault"]
    assert times == sorted(times) and all(isinstance(t, (int, float)) and t >= 0 for t in times)
    assert all(isinstance(r["conn"], int) and r["conn"] >= 1 for r in rest if r["type"] != "fault")
    for r in rest:
        if "dir" in r:
            assert r["dir"] in ("request", "response")


def show(path: Path, *options: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli_main, ["capture", "show", str(path), *options])
    return result.exit_code, result.output


# -- what is recorded --------------------------------------------------------------------------


def test_sse_capture_decodes_heads_chunks_and_events(aio, make_proxy, sse_server, tmp_path):
    capture = tmp_path / "sse.jsonl"
    proxy = make_proxy(sse_server.url, capture=capture)
    with (
        httpx.Client(trust_env=False, timeout=GUARD) as http,
        http.stream("GET", proxy.url + "/events?n=6", headers={"Accept": "text/event-stream"}) as response,
    ):
        body = response.read()
    wait_until(lambda: proxy.active == 0, "the connection to be done")
    stopped(aio, proxy)
    records = read_records(capture)
    check_shape(records)
    meta = records[0]
    assert (
        meta["upstream"] == f"127.0.0.1:{sse_server.port}"
        and meta["raw"] is False
        and meta["redacted"] is True
    )

    heads = [r for r in records if r["type"] == "head"]
    assert [(h["dir"], h["exchange"]) for h in heads] == [("request", 1), ("response", 1)]
    # the server's own bytes (the ground truth of a server with no log): no fault could change them,
    # so the response records are they -- no second copy in the file, and server_side() says so
    both = read_records(capture, upstream=True)
    assert meta["upstream_side"] == "when_changed" and wire(both, 1, "upstream") == b""
    assert wire(server_side(both), 1, "upstream") == wire(both, 1, "response") != b""
    assert heads[0]["method"] == "GET" and heads[0]["target"] == "/events?n=6"
    assert heads[1]["status"] == 200
    assert base64.b64decode(heads[1]["b64"]).startswith(b"HTTP/1.1 200 OK\r\n")

    events = [r for r in records if r["type"] == "event"]
    assert [r["index"] for r in events] == list(range(6))
    assert all(r["exchange"] == 1 and r["dir"] == "response" for r in events)
    sent = sse_server.record.sent
    assert [r["event"]["id"] for r in events] == [e["id"] for e in sent]
    assert [r["event"]["type"] for r in events] == [e["event"] for e in sent]
    assert [r["event"]["data"] for r in events] == [e["data"] for e in sent]
    assert {r["event"]["retry"] for r in events} == {1500}  # set by the first, in effect after

    chunks = [r for r in records if r["type"] == "chunk"]
    assert chunks[-1]["size"] == 0 and all(c["size"] > 0 for c in chunks[:-1])
    joined = b"".join(base64.b64decode(r["b64"]) for r in records if r["type"] == "chunk_data")
    assert joined == body  # the chunk data is the body httpx decoded
    assert any(r["type"] == "end" and r["dir"] == "response" for r in records)
    assert records[-1]["type"] == "done"


KEEP_ALIVE_ANSWERS = {
    b"/chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"3;a=b\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: yes\r\n\r\n",
    b"/head": b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n",
    b"/204": b"HTTP/1.1 204 No Content\r\n\r\n",
    b"/304": b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n",
}


def echo_answer(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


async def keep_alive_upstream(conn: Conn) -> None:
    """Several exchanges: chunked with extensions and trailers, HEAD, 204, 304, 100-continue."""
    while True:
        try:
            head = await conn.read_until(b"\r\n\r\n")
        except EOFError:
            return
        if b"expect: 100-continue" in head.lower():
            await conn.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await conn.read_body(head)
        target = head.split(b" ")[1]
        await conn.write(KEEP_ALIVE_ANSWERS.get(target) or echo_answer(body), [5, 9, 2])


def test_keep_alive_capture_bytes_exchanges_and_ends(aio, make_proxy, serve, raw_client, tmp_path):
    capture = tmp_path / "keepalive.jsonl"
    upstream = serve(keep_alive_upstream)
    proxy = make_proxy(upstream.url, capture=capture)
    sock = raw_client(proxy.port)
    exchanges = [
        (b"GET /chunked HTTP/1.1\r\nHost: u\r\n\r\n", KEEP_ALIVE_ANSWERS[b"/chunked"]),
        (b"HEAD /head HTTP/1.1\r\nHost: u\r\n\r\n", KEEP_ALIVE_ANSWERS[b"/head"]),
        (b"GET /204 HTTP/1.1\r\nHost: u\r\n\r\n", KEEP_ALIVE_ANSWERS[b"/204"]),
        (b"GET /304 HTTP/1.1\r\nHost: u\r\n\r\n", KEEP_ALIVE_ANSWERS[b"/304"]),
        (
            b"POST /echo HTTP/1.1\r\nHost: u\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nping\r\n0\r\nT: 1\r\n\r\n",
            echo_answer(b"ping"),
        ),
    ]
    sent = bytearray()
    for request, answer in exchanges:
        sock.send(request, [7])
        sent += request
        assert sock.recv_exactly(len(answer)) == answer
    continue_head = b"PUT /echo HTTP/1.1\r\nHost: u\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
    sock.send(continue_head)
    assert sock.recv_exactly(25) == b"HTTP/1.1 100 Continue\r\n\r\n"
    sock.send(b"pong")
    sent += continue_head + b"pong"
    assert sock.recv_exactly(len(echo_answer(b"pong"))) == echo_answer(b"pong")
    sock.close()
    conn = upstream.conn(1)
    wait_event(conn.ended, "the upstream to see the end")
    wait_until(lambda: proxy.active == 0, "the connection to be done")
    stopped(aio, proxy)

    records = read_records(capture)
    check_shape(records)
    assert wire(records, 1, "request") == bytes(sent) == bytes(conn.received)
    assert wire(records, 1, "response") == bytes(conn.sent)

    requests = [
        (r["exchange"], r["method"], r["target"])
        for r in records
        if r["type"] == "head" and r["dir"] == "request"
    ]
    assert requests == [
        (1, "GET", "/chunked"),
        (2, "HEAD", "/head"),
        (3, "GET", "/204"),
        (4, "GET", "/304"),
        (5, "POST", "/echo"),
        (6, "PUT", "/echo"),
    ]
    responses = [
        (r["exchange"], r["status"]) for r in records if r["type"] == "head" and r["dir"] == "response"
    ]
    assert responses == [(1, 200), (2, 200), (3, 204), (4, 304), (5, 200), (6, 100), (6, 200)]
    ends = [r["exchange"] for r in records if r["type"] == "end" and r["dir"] == "response"]
    assert ends == [1, 2, 3, 4, 5, 6, 6]  # the 100 is a complete message of its own
    assert not [r for r in records if r["type"] in ("malformed", "unparsed")]

    chunks = [(r["dir"], r["exchange"], r["size"]) for r in records if r["type"] == "chunk"]
    assert chunks == [
        ("response", 1, 3),
        ("response", 1, 16),
        ("response", 1, 0),
        ("request", 5, 4),
        ("request", 5, 0),
    ]
    trailers = [base64.b64decode(r["b64"]) for r in records if r["type"] == "trailers"]
    assert trailers == [b"X-Trailer: yes\r\n\r\n", b"T: 1\r\n\r\n"]
    ext = [base64.b64decode(r["b64"]) for r in records if r["type"] == "chunk" and r["exchange"] == 1]
    assert ext[0] == b"3;a=b\r\n"

    conn_records = [r for r in records if r.get("conn") == 1]
    assert conn_records[0]["type"] == "open" and conn_records[0]["client"].startswith("127.0.0.1:")
    notes = [(r["type"], r.get("side"), r.get("how")) for r in conn_records if r["type"] in ("eof", "closed")]
    assert ("eof", "client", None) in notes
    assert ("closed", "client", "fin") in notes and ("closed", "upstream", "fin") in notes
    assert conn_records[-1]["type"] == "done"


def test_pipelined_requests_are_decoded_as_separate_exchanges(aio, make_proxy, serve, raw_client, tmp_path):
    capture = tmp_path / "pipelined.jsonl"
    upstream = serve(keep_alive_upstream)
    proxy = make_proxy(upstream.url, capture=capture)
    sock = raw_client(proxy.port)
    requests = (
        b"HEAD /head HTTP/1.1\r\nHost: u\r\n\r\n"
        b"GET /chunked HTTP/1.1\r\nHost: u\r\n\r\n"
        b"GET /304 HTTP/1.1\r\nHost: u\r\n\r\n"
        b"POST /echo HTTP/1.1\r\nHost: u\r\nContent-Length: 3\r\n\r\nabc"
    )
    answers = (
        KEEP_ALIVE_ANSWERS[b"/head"]
        + KEEP_ALIVE_ANSWERS[b"/chunked"]
        + KEEP_ALIVE_ANSWERS[b"/304"]
        + echo_answer(b"abc")
    )
    sock.send(requests)  # all four in one write
    assert sock.recv_exactly(len(answers)) == answers
    sock.close()
    wait_until(lambda: proxy.active == 0, "the connection to be done")
    stopped(aio, proxy)
    records = read_records(capture)
    assert wire(records, 1, "request") == requests and wire(records, 1, "response") == answers
    heads = [
        (r["dir"], r["exchange"], r.get("method") or r.get("status")) for r in records if r["type"] == "head"
    ]
    assert sorted(heads, key=lambda h: (h[1], h[0])) == [
        ("request", 1, "HEAD"),
        ("response", 1, 200),
        ("request", 2, "GET"),
        ("response", 2, 200),
        ("request", 3, "GET"),
        ("response", 3, 304),
        ("request", 4, "POST"),
        ("response", 4, 200),
    ]
    body = [base64.b64decode(r["b64"]) for r in records if r["type"] == "body" and r["dir"] == "response"]
    assert body == [echo_answer(b"abc")[-3:]]  # the HEAD response's Content-Length: 99 has no body
    assert not [r for r in records if r["type"] in ("malformed", "unparsed")]


def test_two_connections_get_their_own_ids_and_close_delimited_body_ends(
    aio, make_proxy, serve, raw_client, tmp_path
):
    async def close_delimited(conn: Conn) -> None:
        await conn.read_request()
        await conn.write(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nthe body ends with the connection", [20]
        )
        await conn.fin()

    capture = tmp_path / "two.jsonl"
    upstream = serve(close_delimited)
    proxy = make_proxy(upstream.url, capture=capture)
    for n in (1, 2):
        sock = raw_client(proxy.port)
        sock.send(b"GET /%d HTTP/1.1\r\nHost: u\r\n\r\n" % n)
        assert sock.recv_to_end()[1] == "fin"
        sock.close()
    wait_until(lambda: proxy.active == 0, "both connections to be done")
    stopped(aio, proxy)
    records = read_records(capture)
    check_shape(records)
    assert sorted({r["conn"] for r in records[1:]}) == [1, 2]
    for n in (1, 2):
        targets = [
            r["target"]
            for r in records
            if r.get("conn") == n and r["type"] == "head" and r["dir"] == "request"
        ]
        assert targets == [f"/{n}"]
        body = b"".join(
            base64.b64decode(r["b64"]) for r in records if r.get("conn") == n and r["type"] == "body"
        )
        assert body == b"the body ends with the connection"
        mine = [r for r in records if r.get("conn") == n]
        kinds = [r["type"] for r in mine]
        # a close-delimited body is complete only once the upstream's FIN has come
        ends = [i for i, r in enumerate(mine) if r["type"] == "end" and r["dir"] == "response"]
        assert len(ends) == 1
        end = ends[0]
        assert end > max(i for i, k in enumerate(kinds) if k == "body")
        # ... and the client's side ends when that FIN has been passed on to it (what went to the
        # client ends there: a fault may still have been delaying bytes after the upstream's FIN)
        upstream_eof = next(i for i, r in enumerate(mine) if r["type"] == "eof" and r["side"] == "upstream")
        assert upstream_eof < end
        assert kinds[0] == "open" and kinds[-1] == "done"


def test_upstream_reset_is_recorded_as_rst(aio, make_proxy, serve, raw_client, tmp_path):
    async def reset(conn: Conn) -> None:
        await conn.read_request()
        await conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
        conn.rst()

    capture = tmp_path / "rst.jsonl"
    proxy = make_proxy(serve(reset).url, capture=capture)
    sock = raw_client(proxy.port)
    sock.send(b"GET / HTTP/1.1\r\nHost: u\r\n\r\n")
    assert sock.recv_to_end()[1] == "rst"
    wait_until(lambda: proxy.active == 0, "the connection to be done")
    stopped(aio, proxy)
    records = read_records(capture)
    assert {"type": "closed", "side": "upstream", "how": "rst"}.items() <= next(
        r for r in records if r["type"] == "closed" and r["side"] == "upstream"
    ).items()
    code, text = show(capture)
    assert code == 0
    assert "#1.1  GET /" in text and "incomplete" in text
    assert "the client got an RST (the upstream reset its side; the proxy passed the RST on)" in text


def test_upstream_error_is_recorded(aio, make_proxy, unused_port, tmp_path):
    capture = tmp_path / "502.jsonl"
    proxy = make_proxy(f"http://127.0.0.1:{unused_port}", capture=capture)
    with httpx.Client(trust_env=False, timeout=GUARD) as http:
        assert http.get(proxy.url + "/x").status_code == 502
    wait_until(lambda: proxy.active == 0, "the connection to be done")
    stopped(aio, proxy)
    records = read_records(capture)
    errors = [r for r in records if r["type"] == "upstream_error"]
    assert len(errors) == 1 and errors[0]["reason"] == "connection refused"
    statuses = [r["status"] for r in records if r["type"] == "head" and r["dir"] == "response"]
    assert statuses == [502]  # the proxy's own answer is in the capture too
    # and the request it answers, though it never crossed to an upstream: the oracle knows who answered
    [asked] = [r for r in records if r.get("dir") == "request"]
    assert (asked["type"], asked["method"], asked["target"], asked["exchange"]) == (
        "answered",
        "GET",
        "/x",
        1,
    )
    assert "request" not in {
        r["dir"] for r in records if r["type"] in WIRE_TYPES
    }  # no byte of it went anywhere


def test_a_broken_event_stream_is_still_relayed_whole(aio, make_proxy, serve, raw_client, tmp_path):
    """Decoding for the capture must never cut the relay short (an SSE line over the parser's limit)."""
    body = b"data: " + b"a" * (2 << 20) + b"\n\ndata: after\n\n"
    response = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )

    async def long_line(conn: Conn) -> None:
        await conn.read_request()
        await conn.write(response)
        await conn.fin()

    capture = tmp_path / "long.jsonl"
    proxy = make_proxy(serve(long_line).url, capture=capture)
    sock = raw_client(proxy.port)
    sock.send(b"GET /events HTTP/1.1\r\nHost: u\r\n\r\n")
    assert sock.recv_to_end() == (response, "fin")
    sock.close()
    wait_until(lambda: proxy.active == 0, "the connection to be done")
    stopped(aio, proxy)
    records = read_records(capture)
    assert wire(records, 1, "response") == response
    malformed = [r for r in records if r["type"] == "malformed"]
    assert malformed and "event stream" in malformed[0]["reason"]


def test_raw_mode_capture_keeps_every_byte(aio, make_proxy, serve, raw_client, tmp_path):
    async def echo(conn: Conn) -> None:
        while data := await conn.read():
            await conn.write(data)
        await conn.fin()

    capture = tmp_path / "raw.jsonl"
    proxy = make_proxy(serve(echo).url, raw=True, capture=capture)
    sock = raw_client(proxy.port)
    payload = b"\x00\x01 not http \xff\r\n\r\n" * 50
    sock.send(payload, [3, 100])
    assert sock.recv_exactly(len(payload)) == payload
    sock.shutdown_write()
    assert sock.recv_to_end() == (b"", "fin")
    sock.close()
    wait_until(lambda: proxy.active == 0, "the connection to be done")
    stopped(aio, proxy)
    records = read_records(capture)
    assert records[0]["raw"] is True
    assert wire(records, 1, "request") == payload and wire(records, 1, "response") == payload


# -- secrets -----------------------------------------------------------------------------------


SECRETS = [
    b"sk-AUTH-SECRET-1111",
    b"KEY-SECRET-2222",
    b"COOKIE-SECRET-3333",
    b"SETCOOKIE-SECRET-4444",
    b"SETCOOKIE-SECRET-5555",
    b"PROXYAUTH-SECRET-6666",
]


def assert_no_secret(path: Path, secrets: list[bytes]) -> None:
    """Not in the file's text, and not in any base64 payload (nor anywhere in a decoded record)."""
    text = path.read_bytes()
    decoded = [base64.b64decode(r["b64"]) for r in read_records(path) if "b64" in r]
    for secret in secrets:
        assert secret not in text, f"{secret!r} is in the capture file"
        for payload in decoded:
            assert secret not in payload, f"{secret!r} is in a base64 payload: {payload[:200]!r}"


async def secret_upstream(conn: Conn) -> None:
    while True:
        try:
            await conn.read_request()
        except EOFError:
            return
        await conn.write(
            b"HTTP/1.1 200 OK\r\nSet-Cookie: id=SETCOOKIE-SECRET-4444; HttpOnly\r\n"
            b"set-cookie:b=SETCOOKIE-SECRET-5555\r\nContent-Length: 2\r\n\r\nok",
            [30, 1, 1, 1],
        )


def test_secret_headers_are_redacted_everywhere(aio, make_proxy, serve, raw_client, tmp_path):
    capture = tmp_path / "secrets.jsonl"
    upstream = serve(secret_upstream)
    proxy = make_proxy(upstream.url, capture=capture)
    request = (
        b"GET /a HTTP/1.1\r\nHost: u\r\nAUTHORIZATION: Bearer sk-AUTH-SECRET-1111\r\n"
        b"x-api-key:KEY-SECRET-2222\r\nCookie: a=COOKIE-SECRET-3333; b=2\r\n"
        b"Proxy-Authorization: Basic PROXYAUTH-SECRET-6666\r\n\r\n"
    )
    sock = raw_client(proxy.port)
    for _ in range(2):
        sock.send(request, [1] * 80)  # the secrets arrive a byte at a time, split across reads
        assert sock.recv_until(b"\r\n\r\nok").endswith(b"ok")
    # and once with httpx, the way an SDK sends its key
    with httpx.Client(trust_env=False, timeout=GUARD, cookies={"s": "COOKIE-SECRET-3333"}) as http:
        http.get(
            proxy.url + "/b",
            headers={"Authorization": "Bearer sk-AUTH-SECRET-1111", "X-API-Key": "KEY-SECRET-2222"},
        )
    sock.close()
    wait_until(lambda: proxy.active == 0, "the connections to be done")
    stopped(aio, proxy)
    assert_no_secret(capture, SECRETS)
    assert upstream.conn(1).received == request * 2  # redaction is for the capture only
    heads = [base64.b64decode(r["b64"]) for r in read_records(capture) if r["type"] == "head"]
    assert heads[0] == (
        b"GET /a HTTP/1.1\r\nHost: u\r\nAUTHORIZATION: [redacted]\r\nx-api-key: [redacted]\r\n"
        b"Cookie: [redacted]\r\nProxy-Authorization: [redacted]\r\n\r\n"
    )
    assert b"Set-Cookie: [redacted]\r\nset-cookie: [redacted]\r\n" in heads[1]
    code, text = show(capture, "--raw")
    assert code == 0 and "[redacted]" in text


def test_no_redact_keeps_the_secrets(aio, make_proxy, serve, raw_client, tmp_path):
    """The check above is meaningful: without redaction the same secrets are found."""
    capture = tmp_path / "plain.jsonl"
    proxy = make_proxy(serve(secret_upstream).url, capture=capture, redact=False)
    sock = raw_client(proxy.port)
    sock.send(b"GET / HTTP/1.1\r\nAuthorization: Bearer sk-AUTH-SECRET-1111\r\n\r\n")
    sock.recv_until(b"\r\n\r\nok")
    sock.close()
    wait_until(lambda: proxy.active == 0, "the connection to be done")
    stopped(aio, proxy)
    with pytest.raises(AssertionError):
        assert_no_secret(capture, [b"sk-AUTH-SECRET-1111"])
    assert read_records(capture)[0]["redacted"] is False


MALFORMED_WITH_SECRETS = {
    # another header is malformed: the head cannot be parsed, but holds a secret
    "space-before-colon-elsewhere": b"GET / HTTP/1.1\r\nAuthorization: Bearer sk-AUTH-SECRET-1111\r\nBad : 1\r\n\r\n",
    # the secret header itself is malformed
    "space-before-colon": b"GET / HTTP/1.1\r\nX-Api-Key : KEY-SECRET-2222\r\n\r\n",
    "no-colon": b"GET / HTTP/1.1\r\nAuthorization Bearer sk-AUTH-SECRET-1111\r\n\r\n",
    "obs-fold": b"GET / HTTP/1.1\r\nCookie: a=1;\r\n b=COOKIE-SECRET-3333\r\n\r\n",
    "bare-lf": b"GET / HTTP/1.1\nCookie: COOKIE-SECRET-3333\n\n",
    "bad-request-line": b"GET /\r\nAuthorization: Bearer sk-AUTH-SECRET-1111\r\n\r\n",
}


@pytest.mark.parametrize("case", MALFORMED_WITH_SECRETS)
def test_secrets_in_malformed_requests_are_redacted(case, aio, make_proxy, serve, raw_client, tmp_path):
    capture = tmp_path / "malformed.jsonl"
    proxy = make_proxy(serve(secret_upstream).url, capture=capture)
    sock = raw_client(proxy.port)
    sock.send(MALFORMED_WITH_SECRETS[case])
    data, _ = sock.recv_to_end()
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    sock.close()  # as a client does after "Connection: close": the proxy's lingering close ends
    wait_until(lambda: proxy.active == 0, "the connection to be done")
    stopped(aio, proxy)
    assert_no_secret(capture, SECRETS)


def test_secrets_in_a_folded_response_header_are_redacted(aio, make_proxy, serve, raw_client, tmp_path):
    async def folded(conn: Conn) -> None:
        await conn.read_request()
        await conn.write(
            b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1;\r\n SETCOOKIE-SECRET-4444\r\nContent-Length: 2\r\n\r\nok"
        )
        await conn.fin()

    capture = tmp_path / "folded.jsonl"
    proxy = make_proxy(serve(folded).url, capture=capture)
    sock = raw_client(proxy.port)
    sock.send(b"GET / HTTP/1.1\r\nHost: u\r\n\r\n")
    assert sock.recv_to_end()[0].endswith(b"ok")  # relayed as sent
    sock.close()
    wait_until(lambda: proxy.active == 0, "the connection to be done")
    stopped(aio, proxy)
    assert_no_secret(capture, SECRETS)


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nSet-Cookie SETCOOKIE-SECRET-4444\r\nContent-Length: 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nSet-Cookie : SETCOOKIE-SECRET-4444\r\nContent-Length: 2\r\n\r\n",
        b"HTTP/1.1 200 OK\nSet-Cookie: SETCOOKIE-SECRET-4444\nBad Header: 1\n\n",
    ],
    ids=["no-colon", "space-before-colon", "bare-lf-and-bad-name"],
)
def test_secrets_in_a_malformed_response_head_are_redacted(
    head, aio, make_proxy, serve, raw_client, tmp_path
):
    async def broken(conn: Conn) -> None:
        await conn.read_request()
        await conn.write(head + b"ok")
        await conn.fin()

    capture = tmp_path / "broken.jsonl"
    proxy = make_proxy(serve(broken).url, capture=capture)
    sock = raw_client(proxy.port)
    sock.send(b"GET / HTTP/1.1\r\nHost: u\r\n\r\n")
    assert sock.recv_to_end() == (head + b"ok", "fin")  # relayed as sent, however broken
    sock.close()
    wait_until(lambda: proxy.active == 0, "the connection to be done")
    stopped(aio, proxy)
    assert any(r["type"] == "malformed" for r in read_records(capture))
    assert_no_secret(capture, SECRETS)


def test_secret_trailer_is_redacted(aio, make_proxy, serve, raw_client, tmp_path):
    response = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Set-Cookie\r\n\r\n"
        b"2\r\nok\r\n0\r\nSet-Cookie: late=SETCOOKIE-SECRET-4444\r\n\r\n"
    )

    async def trailer(conn: Conn) -> None:
        await conn.read_request()
        await conn.write(response)
        await conn.fin()

    capture = tmp_path / "trailer.jsonl"
    proxy = make_proxy(serve(trailer).url, capture=capture)
    sock = raw_client(proxy.port)
    sock.send(b"GET / HTTP/1.1\r\nHost: u\r\n\r\n")
    assert sock.recv_to_end() == (response, "fin")
    sock.close()
    wait_until(lambda: proxy.active == 0, "the connection to be done")
    stopped(aio, proxy)
    assert_no_secret(capture, SECRETS)


def test_secret_in_a_huge_request_head_is_redacted(aio, make_proxy, serve, raw_client, tmp_path):
    capture = tmp_path / "huge.jsonl"
    proxy = make_proxy(serve(secret_upstream).url, capture=capture)
    sock = raw_client(proxy.port)
    sock.send(b"GET / HTTP/1.1\r\nCookie: COOKIE-SECRET-3333\r\nX-Pad: " + b"p" * 70000 + b"\r\n\r\n")
    data, _ = sock.recv_to_end()
    assert data.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    sock.close()  # as a client does after "Connection: close": the proxy's lingering close ends
    wait_until(lambda: proxy.active == 0, "the connection to be done")
    stopped(aio, proxy)
    assert_no_secret(capture, SECRETS)


def capture_pieces(path: Path, direction: str, pieces: list[bytes]) -> list[dict[str, Any]]:
    """Feed one direction of one connection to a CaptureWriter directly, as reads would come."""
    writer = CaptureWriter(path)
    writer.meta()
    writer.open(1, client=("127.0.0.1", 1))
    for piece in pieces:
        writer.data(1, direction, piece)
    writer.note(1, "eof", side="client" if direction == "request" else "upstream")
    writer.note(1, "done")
    writer.close()
    return read_records(path)


BROKEN_STREAMS = [
    b"GET / HTTP/1.1\r\nAuthorization: Bearer sk-AUTH-SECRET-1111\r\nBad : 1\r\n\r\n",
    b"GET / HTTP/1.1\r\nX\r\nCookie: a=1;\r\n\tCOOKIE-SECRET-3333\r\nx-api-key KEY-SECRET-2222\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nProxy-Authorization: PROXYAUTH-SECRET-6666",
    b"GET / HTTP/1.1\r\nCookie: " + b"c" * 9000 + b"COOKIE-SECRET-3333\r\nBad Header: 1\r\n\r\n",
    # broken early, then a secret line longer than what the redactor holds back, in pieces
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nSet-Cookie: "
    + b"s" * 12000
    + b"SETCOOKIE-SECRET-4444\r\nplain line "
    + b"p" * 9000
    + b"\r\nCookie:\r\n COOKIE-SECRET-3333\r\n",
]


@settings(max_examples=60, deadline=None)
@given(stream=st.sampled_from(BROKEN_STREAMS), cuts=st.lists(st.integers(1, 3000), max_size=30))
def test_unparsed_bytes_are_redacted_however_they_are_split(tmp_path_factory, stream: bytes, cuts: list[int]):
    """After a framing error the rest is recorded as unparsed bytes: a secret split across two
    reads must be redacted as surely as a whole one, and the bytes kept must not depend on the split."""
    pieces, pos = [], 0
    for cut in cuts:
        if pos < len(stream):
            pieces.append(stream[pos : pos + cut])
            pos += cut
    pieces.append(stream[pos:])
    directory = tmp_path_factory.mktemp("split")
    split = capture_pieces(directory / "split.jsonl", "request", [p for p in pieces if p])
    whole = capture_pieces(directory / "whole.jsonl", "request", [stream])
    assert_no_secret(directory / "split.jsonl", SECRETS)
    unparsed = [
        wire([r for r in records if r["type"] == "unparsed"], 1, "request") for records in (split, whole)
    ]
    assert unparsed[0] == unparsed[1] and unparsed[0]
    reasons = [next(r["reason"] for r in records if r["type"] == "malformed") for records in (split, whole)]
    assert reasons[0] == reasons[1]


# -- capture show ------------------------------------------------------------------------------


@pytest.fixture
def sse_capture(aio, make_proxy, sse_server, tmp_path) -> Path:  # type: ignore[no-untyped-def]
    capture = tmp_path / "show.jsonl"
    proxy = make_proxy(sse_server.url, capture=capture)
    with httpx.Client(trust_env=False, timeout=GUARD) as http:
        http.get(proxy.url + "/events?n=3")
        http.get(proxy.url + "/events?n=2")
    wait_until(lambda: proxy.active == 0, "the connection to be done")
    stopped(aio, proxy)
    return capture


def test_capture_show_summary(sse_capture):
    code, text = show(sse_capture)
    assert code == 0, text
    lines = [line for line in text.splitlines() if line.startswith("#")]
    assert lines[0].startswith("#1.1  GET /events?n=3") and " 200 " in lines[0]
    assert "3 events" in lines[0] and lines[0].endswith("complete")
    assert lines[1].startswith("#1.2  GET /events?n=2") and "2 events" in lines[1]
    assert "closed: client FIN, upstream FIN" in text.splitlines()[-1]  # under the connection's last exchange


def test_capture_show_raw(sse_capture):
    code, text = show(sse_capture, "--raw")
    assert code == 0, text
    assert "→ GET /events?n=3 HTTP/1.1\\r\\n" in text
    assert "← HTTP/1.1 200 OK\\r\\n" in text
    assert "← 0\\r\\n" in text  # the last chunk, as curl --raw would show it
    assert "#1" in text and " ms " in text
    assert "· closed" in text


def test_capture_show_events(sse_capture):
    code, text = show(sse_capture, "--events")
    assert code == 0, text
    heads = [line for line in text.splitlines() if " type=" in line]
    assert len(heads) == 5
    assert "#1.1 event 1: type=tick id=1 retry=1500" in heads[0]  # events counted from 1, as everywhere
    assert "#1.2 event 2: type=tock id=2 retry=1500" in heads[4]
    assert "    event 3\n    line two of 3" in text


def test_capture_show_corrupt_file_names_file_and_line(tmp_path):
    good = json.dumps({"type": "meta", "version": 1})
    cases = {
        "bad-json.jsonl": (
            good + "\n" + json.dumps({"t": 0, "conn": 1, "type": "open"}) + "\n{oops\n",
            ":3:",
        ),
        "no-meta.jsonl": (json.dumps({"t": 0, "conn": 1, "type": "open"}) + "\n", ":1:"),
        "no-type.jsonl": (good + "\n[1, 2]\n", ":2:"),
    }
    for name, (content, where) in cases.items():
        path = tmp_path / name
        path.write_text(content)
        for view in ((), ("--raw",), ("--events",)):
            code, text = show(path, *view)
            assert code == 2, (name, view, text)
            assert f"{path}{where}" in text, text
            assert "Traceback" not in text
    code, text = show(tmp_path / "missing.jsonl")
    assert code == 2 and "cannot read capture" in text


def test_a_proxy_stopped_mid_stream_leaves_a_whole_capture_and_no_failure(
    aio, make_proxy, sse_server, tmp_path, caplog
):
    """Stopping a proxy aborts its open connections; their sockets go a moment later, after the
    capture is closed. What they tell then must not reach the closed file (a traceback per
    connection: 'capture of connection #1 failed')."""
    capture = tmp_path / "stopped.jsonl"
    proxy = make_proxy(sse_server.url, capture=capture)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=GUARD) as sock:
        sock.sendall(b"GET /events?n=1000 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        stopped(aio, proxy)
        wait_until(lambda: proxy.active == 0, "the aborted connection to be gone")
    assert not [r for r in caplog.records if "capture of connection" in r.getMessage()]
    records = read_records(capture)  # whole lines only: the file was closed once, after its last record
    assert [r["type"] for r in records][:2] == ["meta", "open"]
