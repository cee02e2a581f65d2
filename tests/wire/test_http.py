"""HTTP/1.1 heads, body framing and the incremental reader (faultproxy.wire.http)."""

from __future__ import annotations

import pytest

from faultproxy.wire.chunked import ChunkData, ChunkedEnd, ChunkEnd, ChunkHeader, Malformed, Unparsed
from faultproxy.wire.errors import WireError
from faultproxy.wire.http import (
    BodyData,
    EndOfMessage,
    Headers,
    HTTPReader,
    Request,
    Response,
    TunnelData,
    encode_head,
    encode_request,
    encode_response,
    find_head_end,
    parse_request_head,
    parse_response_head,
)

# -- helpers ---------------------------------------------------------------------------------


def feed_pieces(reader: HTTPReader, data: bytes, size: int) -> list:
    """Feed ``data`` in pieces of ``size`` bytes, as a slow connection would deliver it."""
    events = []
    for i in range(0, len(data), size):
        events += reader.feed(data[i : i + size])
    return events


def summary(events: list) -> list:
    """What a user of the reader sees, with body pieces merged so any split compares equal."""
    out: list = []
    for event in events:
        if not isinstance(event, (BodyData, ChunkData, TunnelData, Unparsed)):
            out.append(event)
        elif out and isinstance(out[-1], tuple) and out[-1][0] is type(event):
            out[-1] = (type(event), out[-1][1] + event.raw)
        else:
            out.append((type(event), event.raw))
    return out


def raw_join(events: list) -> bytes:
    return b"".join(e.raw for e in events)


def body_of(events: list) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, (BodyData, ChunkData)))


def error_of(fn) -> WireError:
    with pytest.raises(WireError) as info:
        fn()
    return info.value


# -- request and status lines ----------------------------------------------------------------


def test_request_line_and_headers():
    head = b"POST /api/items?x=1 HTTP/1.1\r\nHost: example.test\r\nContent-Length: 3\r\n\r\n"
    req = parse_request_head(head)
    assert (req.method, req.target, req.version) == (b"POST", b"/api/items?x=1", b"HTTP/1.1")
    assert list(req.headers) == [(b"Host", b"example.test"), (b"Content-Length", b"3")]
    assert req.raw == head
    assert encode_head(req) == head


def test_status_line_with_reason_phrase_keeps_inner_spaces():
    head = b"HTTP/1.1 404 Not  Found Here\r\nContent-Length: 0\r\n\r\n"
    resp = parse_response_head(head)
    assert (resp.version, resp.status, resp.reason) == (b"HTTP/1.1", 404, b"Not  Found Here")
    assert encode_head(resp) == head


@pytest.mark.parametrize("line", [b"HTTP/1.1 200", b"HTTP/1.1 200 "])
def test_status_line_without_reason_phrase_round_trips(line):
    head = line + b"\r\nX: y\r\n\r\n"
    resp = parse_response_head(head)
    assert resp.status == 200
    assert resp.reason == b""
    assert encode_head(resp) == head


def test_status_code_with_leading_zero_round_trips():
    head = b"HTTP/1.1 099 Odd\r\n\r\n"
    resp = parse_response_head(head)
    assert resp.status == 99
    assert encode_head(resp) == head


def test_response_with_changed_status_is_written_canonically():
    from dataclasses import replace

    resp = parse_response_head(b"HTTP/1.1 200\r\nA: b\r\n\r\n")
    assert encode_head(replace(resp, status=503)) == b"HTTP/1.1 503 \r\nA: b\r\n\r\n"


# -- header fields ---------------------------------------------------------------------------


def test_header_lookup_is_case_insensitive():
    resp = parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
    for name in ("content-type", "CONTENT-TYPE", b"Content-Type", b"cOnTeNt-TyPe"):
        assert resp.headers.get(name) == b"text/event-stream"
        assert name in resp.headers
    assert resp.headers.get("content-length") is None
    assert resp.headers.get("content-length", b"0") == b"0"
    assert "content-length" not in resp.headers
    assert 42 not in resp.headers


def test_repeated_headers_kept_in_order_and_joined_by_get():
    head = (
        b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nVary: Accept\r\nset-cookie: b=2\r\n"
        b"SET-COOKIE: c=3\r\nVary: Origin\r\n\r\n"
    )
    headers = parse_response_head(head).headers
    assert headers.get_all("Set-Cookie") == [b"a=1", b"b=2", b"c=3"]
    assert headers.get("vary") == b"Accept, Origin"
    assert [n for n, _ in headers] == [b"Set-Cookie", b"Vary", b"set-cookie", b"SET-COOKIE", b"Vary"]
    assert len(headers) == 5


def test_odd_but_valid_whitespace_is_stripped_from_values_and_kept_on_the_wire():
    head = b"GET / HTTP/1.1\r\nA:value\r\nB:  spaced  \r\nC:\t tabbed\t\r\nD:\r\nE: in  side\r\n\r\n"
    req = parse_request_head(head)
    assert list(req.headers) == [
        (b"A", b"value"),
        (b"B", b"spaced"),
        (b"C", b"tabbed"),
        (b"D", b""),
        (b"E", b"in  side"),
    ]
    assert encode_head(req) == head


def test_headers_built_from_pairs_serialize_canonically():
    headers = Headers([("Content-Type", "text/plain"), (b"X-Id", b"7")])
    assert headers.encode() == b"Content-Type: text/plain\r\nX-Id: 7\r\n"
    assert headers == Headers([(b"Content-Type", b"text/plain"), ("X-Id", "7")])
    assert headers != Headers([("X-Id", "7"), ("Content-Type", "text/plain")])


def test_replaced_keeps_untouched_lines_byte_for_byte():
    head = b"HTTP/1.1 200 OK\r\nA:  1 \r\nContent-Length: 5\r\nB:2\r\ncontent-length: 5\r\n\r\n"
    resp = parse_response_head(head)
    headers = resp.headers.replaced("Content-Length", "9")
    assert headers.encode() == b"A:  1 \r\nB:2\r\nContent-Length: 9\r\n"
    assert resp.headers.replaced(b"content-length", None).encode() == b"A:  1 \r\nB:2\r\n"
    assert resp.headers.get("content-length") == b"5, 5"  # the original is unchanged


def test_leading_empty_lines_before_a_request_are_ignored_and_kept_in_raw():
    for lead in (b"\r\n", b"\r\n\r\n", b"\n", b"\r\n\n\r\n"):
        head = lead + b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n"
        assert find_head_end(head) == len(head)
        req = parse_request_head(head)
        assert req.target == b"/x" and req.headers.get("host") == b"h"
        assert req.raw == head
        events = HTTPReader("request").feed(head + b"GET /y HTTP/1.1\r\n\r\n")
        assert [e.target for e in events if isinstance(e, Request)] == [b"/x", b"/y"]


def test_find_head_end():
    assert find_head_end(b"GET / HTTP/1.1\r\nA: b\r\n") == -1
    assert find_head_end(b"GET / HTTP/1.1\r\n\r\nbody") == 18
    assert find_head_end(b"GET / HTTP/1.1\n\nbody") == 16
    assert find_head_end(b"\r\n\r\n") == -1  # only empty lines: the start line has not come yet


# -- malformed heads: what and where ---------------------------------------------------------


def test_obs_fold_is_an_error_in_strict_mode_at_the_folded_line():
    head = b"GET / HTTP/1.1\r\nX-Long: first\r\n   second\r\n\r\n"
    err = error_of(lambda: parse_request_head(head))
    assert "obsolete line folding" in err.reason
    assert err.offset == head.index(b"   second")


def test_obs_fold_is_joined_in_lenient_mode_and_round_trips():
    head = b"GET / HTTP/1.1\r\nX-Long: first\r\n   second\r\n\tthird\r\nY: z\r\n\r\n"
    req = parse_request_head(head, strict=False)
    assert req.headers.get("x-long") == b"first second third"
    assert req.headers.get("y") == b"z"
    assert encode_head(req) == head


def test_obs_fold_right_after_the_start_line_is_an_error_even_when_lenient():
    head = b"GET / HTTP/1.1\r\n folded\r\n\r\n"
    err = error_of(lambda: parse_request_head(head, strict=False))
    assert "obsolete line folding" in err.reason and err.offset == 16


@pytest.mark.parametrize("strict", [True, False])
def test_whitespace_between_name_and_colon_is_an_error_at_the_whitespace(strict):
    head = b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length \t: 5\r\n\r\n"
    err = error_of(lambda: parse_request_head(head, strict=strict))
    assert "whitespace between header name and ':'" in err.reason
    assert err.offset == head.index(b" \t:")


@pytest.mark.parametrize(
    "head, at",
    [
        (b"GET / HTTP/1.1\nHost: a\r\n\r\n", 14),  # request line
        (b"GET / HTTP/1.1\r\nHost: a\n\r\n", 23),  # a header line
        (b"GET / HTTP/1.1\r\nHost: a\r\n\n", 25),  # the blank line
    ],
)
def test_bare_lf_is_a_strict_error_at_the_lf_and_accepted_when_lenient(head, at):
    err = error_of(lambda: parse_request_head(head))
    assert err.reason == "line ends with a bare LF, not CRLF"
    assert err.offset == at and head[at : at + 1] == b"\n"
    req = parse_request_head(head, strict=False)
    assert req.headers.get("host") == b"a"
    assert req.raw == head


def test_bare_lf_in_a_response_reader():
    data = b"HTTP/1.1 200 OK\nContent-Length: 2\n\nhi"
    err = error_of(lambda: HTTPReader("response").feed(data))
    assert err.offset == 15
    events = HTTPReader("response", strict=False).feed(data)
    assert isinstance(events[0], Response) and events[0].status == 200
    assert body_of(events) == b"hi" and isinstance(events[-1], EndOfMessage)


@pytest.mark.parametrize("char", [b"\x00", b"\x01", b"\x1b", b"\x7f"])
def test_control_character_in_a_value_is_a_strict_error_at_that_byte(char):
    head = b"GET / HTTP/1.1\r\nX-Ok: fine\r\nX-Bad: ab" + char + b"cd\r\n\r\n"
    err = error_of(lambda: parse_request_head(head))
    assert err.reason == f"control character {char!r} in the value of X-Bad"
    assert err.offset == head.index(char, 20)
    assert parse_request_head(head, strict=False).headers.get("x-bad") == b"ab" + char + b"cd"


def test_tab_and_obs_text_in_a_value_are_fine():
    head = b"GET / HTTP/1.1\r\nX: a\tb \xe9\xff\r\n\r\n"
    assert parse_request_head(head).headers.get("x") == b"a\tb \xe9\xff"


@pytest.mark.parametrize("strict", [True, False])
def test_stray_cr_inside_a_line_is_always_an_error(strict):
    head = b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"
    err = error_of(lambda: parse_request_head(head, strict=strict))
    assert err.reason == "stray CR inside a head line" and err.offset == 20


@pytest.mark.parametrize(
    "head, reason, at",
    [
        (b"G@T / HTTP/1.1\r\n\r\n", "invalid method b'G@T'", 0),
        (b"GET / HTTP/1.x\r\n\r\n", "invalid HTTP version b'HTTP/1.x'", 6),
        (b"GET /long/target HTTP/11\r\n\r\n", "invalid HTTP version b'HTTP/11'", 17),
        (b"GET /\r\n\r\n", "request line is not 'METHOD TARGET HTTP/x.y': b'GET /'", 0),
        (b"GET  / HTTP/1.1\r\n\r\n", "request line is not 'METHOD TARGET HTTP/x.y': b'GET  / HTTP/1.1'", 0),
        (
            b"\r\nGET / HTTP/1.1 x\r\n\r\n",
            "request line is not 'METHOD TARGET HTTP/x.y': b'GET / HTTP/1.1 x'",
            2,
        ),
        (b"GET / HTTP/1.1\r\nNoColon\r\n\r\n", "header line without ':' (b'NoColon')", 16),
        (b"GET / HTTP/1.1\r\nA: b\r\nBad(Name): v\r\n\r\n", "invalid header name b'Bad(Name)'", 22),
        (b"GET / HTTP/1.1\r\n: v\r\n\r\n", "invalid header name b''", 16),
        (b"GET / HTTP/1.1\r\nA: b\r\n", "head does not end with an empty line", 22),
        (b"GET / HTTP/1.1\r\n\r\nextra", "bytes after the empty line that ends the head", 18),
    ],
)
def test_malformed_request_heads(head, reason, at):
    err = error_of(lambda: parse_request_head(head))
    assert (err.reason, err.offset) == (reason, at)
    assert str(err) == f"{reason} (at byte {at})"
    shifted = error_of(lambda: parse_request_head(head, offset=1000))
    assert shifted.offset == at + 1000


@pytest.mark.parametrize(
    "head, reason, at",
    [
        (b"HTTP/1.1 20 OK\r\n\r\n", "status code is not three digits: b'20'", 9),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "status code is not three digits: b'2000'", 9),
        (b"HTTP/1.1 abc OK\r\n\r\n", "status code is not three digits: b'abc'", 9),
        (b"HTTP/1.1\r\n\r\n", "status code is not three digits: b''", 9),
        (b"HTTP/2 200 OK\r\n\r\n", "status line does not start with HTTP/x.y: b'HTTP/2 200 OK'", 0),
        (b"ICY 200 OK\r\n\r\n", "status line does not start with HTTP/x.y: b'ICY 200 OK'", 0),
        (b"\r\n\r\n", "empty head", 0),
    ],
)
def test_malformed_status_lines(head, reason, at):
    err = error_of(lambda: parse_response_head(head))
    assert (err.reason, err.offset) == (reason, at)


def test_encode_request_and_response_write_exactly_what_was_given():
    req = encode_request("POST", "/p", [("Host", "h"), ("content-length", "2")], b"ok")
    assert req == b"POST /p HTTP/1.1\r\nHost: h\r\ncontent-length: 2\r\n\r\nok"
    resp = encode_response(200, "OK", [("A", "1"), ("A", "2")], b"")
    assert resp == b"HTTP/1.1 200 OK\r\nA: 1\r\nA: 2\r\n\r\n"
    assert parse_response_head(resp).headers.get("a") == b"1, 2"


# -- HTTPReader: keep-alive and framing ------------------------------------------------------

KEEPALIVE = (
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: v\r\n\r\n"
    b"HTTP/1.1 204 No Content\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nend"
)


def keepalive_expected() -> list:
    return [
        ("head", 200),
        ("body", b"hello"),
        ("end",),
        ("head", 200),
        ("body", b"abcde"),
        ("trailers", ((b"X-T", b"v"),)),
        ("end",),
        ("head", 204),
        ("end",),
        ("head", 200),
        ("end",),
        ("head", 200),
        ("body", b"end"),
        ("end",),
    ]


def messages_view(events: list) -> list:
    out: list = []
    for e in events:
        if isinstance(e, (Request, Response)):
            out.append(("head", e.status if isinstance(e, Response) else e.target))
        elif isinstance(e, (BodyData, ChunkData)):
            if out and out[-1][0] == "body":
                out[-1] = ("body", out[-1][1] + e.data)
            else:
                out.append(("body", e.data))
        elif isinstance(e, ChunkedEnd):
            out.append(("trailers", e.trailers))
        elif isinstance(e, EndOfMessage):
            out.append(("end",))
    return out


def test_keepalive_responses_in_one_feed():
    reader = HTTPReader("response")
    events = reader.feed(KEEPALIVE)
    assert messages_view(events) == keepalive_expected()
    assert raw_join(events) == KEEPALIVE
    assert reader.messages == 5
    assert reader.idle
    assert reader.offset == len(KEEPALIVE)
    assert reader.close() == []


def test_keepalive_responses_split_at_every_byte():
    whole = summary(HTTPReader("response").feed(KEEPALIVE))
    for cut in range(1, len(KEEPALIVE)):
        reader = HTTPReader("response")
        events = reader.feed(KEEPALIVE[:cut]) + reader.feed(KEEPALIVE[cut:])
        assert summary(events) == whole, cut
        assert raw_join(events) == KEEPALIVE
    events = feed_pieces(HTTPReader("response"), KEEPALIVE, 1)
    assert summary(events) == whole


def test_keepalive_requests_split_at_every_byte():
    data = (
        b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
        b"POST /b HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody"
        b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\n0\r\n\r\n"
        b"\r\nGET /d HTTP/1.1\r\n\r\n"
    )
    expected = [
        ("head", b"/a"), ("end",),
        ("head", b"/b"), ("body", b"body"), ("end",),
        ("head", b"/c"), ("body", b"wxyz"), ("trailers", ()), ("end",),
        ("head", b"/d"), ("end",),
    ]  # fmt: skip
    for size in (len(data), 1, 2, 7):
        reader = HTTPReader("request")
        events = feed_pieces(reader, data, size)
        assert messages_view(events) == expected, size
        assert raw_join(events) == data
        assert reader.messages == 4


def test_content_length_body_events():
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel"
    reader = HTTPReader("response")
    events = reader.feed(data)
    assert [type(e) for e in events] == [Response, BodyData]
    assert not reader.idle
    events = reader.feed(b"loHTTP/1.1")
    assert events[:2] == [BodyData(b"lo"), EndOfMessage()]
    assert reader.messages == 1 and not reader.idle  # the next head has begun


def test_chunked_body_with_extensions_and_trailers_reports_every_piece():
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"5;name=value\r\nhello\r\nA\r\n0123456789\r\n0;last\r\nX-Checksum: abc\r\nX-More:  z \r\n\r\n"
    events = HTTPReader("response").feed(head + body)
    assert events[1:] == [
        ChunkHeader(5, b"name=value", b"5;name=value\r\n"),
        ChunkData(b"hello"),
        ChunkEnd(b"\r\n"),
        ChunkHeader(10, b"", b"A\r\n"),
        ChunkData(b"0123456789"),
        ChunkEnd(b"\r\n"),
        ChunkHeader(0, b"last", b"0;last\r\n"),
        ChunkedEnd(((b"X-Checksum", b"abc"), (b"X-More", b"z")), b"X-Checksum: abc\r\nX-More:  z \r\n\r\n"),
        EndOfMessage(),
    ]


def test_chunked_wins_over_content_length_on_a_response():
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    events = HTTPReader("response").feed(data)
    assert body_of(events) == b"ok" and isinstance(events[-1], EndOfMessage)


def test_close_delimited_body_ends_only_at_close():
    reader = HTTPReader("response")
    events = reader.feed(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\n\n")
    events += reader.feed(b"HTTP/1.1 200 OK\r\n\r\n")  # still body: nothing delimits it but the close
    assert not any(isinstance(e, EndOfMessage) for e in events)
    assert body_of(events) == b"data: 1\n\nHTTP/1.1 200 OK\r\n\r\n"
    assert reader.close() == [EndOfMessage()]
    assert reader.messages == 1
    assert reader.feed(b"late") == [Unparsed(b"late")]


@pytest.mark.parametrize("te", [b"gzip", b"chunked, gzip", b"identity"])
def test_transfer_encoding_not_ending_in_chunked_is_close_delimited_on_a_response(te):
    reader = HTTPReader("response")
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: " + te + b"\r\nContent-Length: 2\r\n\r\n"
    events = reader.feed(head + b"abcdef")
    assert body_of(events) == b"abcdef"
    assert reader.close() == [EndOfMessage()]


def test_response_to_head_has_no_body_despite_content_length():
    reader = HTTPReader("response")
    reader.expect_response_to(b"HEAD")
    reader.expect_response_to(b"GET")
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"
    events = reader.feed(data)
    assert messages_view(events) == [("head", 200), ("end",), ("head", 200), ("body", b"hi"), ("end",)]


@pytest.mark.parametrize("status", [204, 304])
def test_204_and_304_have_no_body(status):
    data = b"HTTP/1.1 %d X\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n" % status
    data += b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz"
    events = HTTPReader("response").feed(data)
    assert messages_view(events) == [("head", status), ("end",), ("head", 200), ("body", b"z"), ("end",)]


def test_interim_100_continue_then_final_response():
    reader = HTTPReader("response")
    reader.expect_response_to(b"HEAD")  # the final response answers HEAD: the 1xx must not use it up
    data = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"
    )
    events = reader.feed(data)
    assert messages_view(events) == [
        ("head", 100), ("end",), ("head", 103), ("end",), ("head", 200), ("end",)
    ]  # fmt: skip
    assert reader.idle


def test_connect_2xx_starts_a_tunnel():
    reader = HTTPReader("response")
    reader.expect_response_to(b"CONNECT")
    events = reader.feed(b"HTTP/1.1 200 Connection Established\r\n\r\n\x16\x03\x01")
    events += reader.feed(b"HTTP/1.1 200 OK\r\n\r\n")
    assert events[0].status == 200
    assert events[1:] == [TunnelData(b"\x16\x03\x01"), TunnelData(b"HTTP/1.1 200 OK\r\n\r\n")]
    assert reader.close() == []


def test_connect_refused_is_an_ordinary_response():
    reader = HTTPReader("response")
    reader.expect_response_to(b"CONNECT")
    events = reader.feed(b"HTTP/1.1 407 Proxy Auth\r\nContent-Length: 2\r\n\r\nno")
    assert body_of(events) == b"no" and isinstance(events[-1], EndOfMessage)


def test_101_switching_protocols_starts_a_tunnel():
    reader = HTTPReader("response")
    events = reader.feed(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello")
    assert events[0].status == 101
    assert events[1:] == [TunnelData(b"\x81\x05hello")]


# -- framing errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "head, reason",
    [
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            "request has both Transfer-Encoding and Content-Length",
        ),
        (
            b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            "request Transfer-Encoding does not end with chunked",
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "conflicting Content-Length values [b'3', b'4']",
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\n",
            "conflicting Content-Length values [b'3', b'4']",
        ),
        (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "invalid Content-Length b'-1'"),
        (b"POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", "invalid Content-Length b'0x10'"),
        (b"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", "invalid Content-Length b''"),
    ],
)
def test_request_framing_errors(head, reason):
    prefix = b"GET /first HTTP/1.1\r\n\r\n"
    err = error_of(lambda: HTTPReader("request").feed(prefix + head))
    assert err.reason == reason
    assert err.offset == len(prefix)  # the head that carries the bad framing
    events = HTTPReader("request", strict=False).feed(prefix + head + b"tail")
    assert Malformed(reason, len(prefix)) in events
    assert raw_join(events) == prefix + head + b"tail"


def test_repeated_equal_content_lengths_are_accepted():
    data = b"POST / HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 3, 3\r\n\r\nabc"
    assert body_of(HTTPReader("request").feed(data)) == b"abc"


def test_conflicting_content_length_on_a_response():
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
    err = error_of(lambda: HTTPReader("response", offset=50).feed(data))
    assert err.reason == "conflicting Content-Length values [b'1', b'2']" and err.offset == 50


def test_chunked_error_inside_a_response_has_a_stream_offset():
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    data = head + b"5\r\nhello\r\nzz\r\n"
    err = error_of(lambda: HTTPReader("response").feed(data))
    assert err.reason == "chunk size is not hexadecimal: b'zz'"
    assert err.offset == len(head) + 10


# -- truncation at close() --------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, reason, at",
    [
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
            "connection closed with 7 of the declared body bytes missing",
            42,
        ),
        (b"HTTP/1.1 200 OK\r\nCont", "connection closed inside a response head", 21),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
            "connection closed inside chunk data, 2 bytes missing",
            53,
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
            "connection closed before the last chunk (no 0-size chunk)",
            57,
        ),
    ],
)
def test_truncated_messages_at_close(data, reason, at):
    reader = HTTPReader("response")
    reader.feed(data)
    err = error_of(reader.close)
    assert (err.reason, err.offset) == (reason, at)
    assert at == len(data)

    lenient = HTTPReader("response", strict=False)
    events = lenient.feed(data)
    events += lenient.close()
    assert Malformed(reason, at) in events
    assert raw_join(events) == data
    assert lenient.close() == []


def test_close_when_idle_is_clean():
    reader = HTTPReader("request")
    assert reader.idle
    reader.feed(b"GET / HTTP/1.1\r\n\r\n")
    assert reader.idle and reader.close() == []


# -- lenient mode on garbage ------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\xff\xfe garbage \r\n\r\nmore garbage",
        b"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\nbody",
        b"SSH-2.0-OpenSSH_9.0\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello!!\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 nope\r\n\r\nrest",
        b"\r\n\r\n\r\n",
    ],
)
def test_lenient_reader_on_broken_input_never_raises_and_loses_nothing(data):
    for size in (len(data), 1, 3):
        reader = HTTPReader("response", strict=False)
        events = feed_pieces(reader, data, size)
        events += reader.close()
        assert raw_join(events) == data
        assert sum(isinstance(e, Malformed) for e in events) == 1


def test_lenient_reader_keeps_going_after_an_error_as_unparsed():
    reader = HTTPReader("response", strict=False)
    events = reader.feed(b"NOT HTTP\r\n\r\n")
    assert events == [
        Malformed("status line does not start with HTTP/x.y: b'NOT HTTP'", 0),
        Unparsed(b"NOT HTTP\r\n\r\n"),
    ]
    assert reader.feed(b"HTTP/1.1 200 OK\r\n\r\n") == [Unparsed(b"HTTP/1.1 200 OK\r\n\r\n")]
    assert reader.offset == 31


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\nX: a\x00\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXY",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 17 + b"\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        b"HTTP/1.1 20x OK\r\n\r\n",
    ],
)
def test_strict_errors_do_not_depend_on_how_the_bytes_were_split(data):
    whole = error_of(lambda: HTTPReader("response").feed(data))
    for size in (1, 2, 5):
        err = error_of(lambda size=size: feed_pieces(HTTPReader("response"), data, size))
        assert (err.reason, err.offset) == (whole.reason, whole.offset)


def test_role_must_be_request_or_response():
    with pytest.raises(ValueError):
        HTTPReader("server")
