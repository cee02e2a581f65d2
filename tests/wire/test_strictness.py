"""Where RFC 9112 makes a server refuse a request the grammar alone would let through, and the
response side that stays lenient: what an upstream sends reaches the client as bytes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultproxy.wire.chunked import ChunkData, ChunkedDecoder, ChunkHeader, Malformed
from faultproxy.wire.errors import WireError
from faultproxy.wire.http import BodyData, EndOfMessage, HTTPReader, Request, Response

CHUNKED = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"


def read(data: bytes, *, strict: bool = True, role: str = "request", piece: int | None = None):
    reader = HTTPReader(role, strict=strict)
    size = piece or len(data)
    try:
        events = [e for i in range(0, len(data), size) for e in reader.feed(data[i : i + size])]
    except WireError as error:
        return error.reason, error.offset, error.status
    return events


# (request bytes, reason, offset, status, whether a lenient reader refuses it too)
REFUSED = [
    (
        b"GET / HTTP/9.9\r\nHost: h\r\n\r\n",
        "HTTP version HTTP/9.9 not supported (only HTTP/1.x)",
        6,
        505,
        False,
    ),
    (b"GET / HTTP/2.0\r\n\r\n", "HTTP version HTTP/2.0 not supported (only HTTP/1.x)", 6, 505, False),
    (b"GET /x HTTP/0.9\r\n\r\n", "HTTP version HTTP/0.9 not supported (only HTTP/1.x)", 7, 505, False),
    (
        b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nhost: b\r\n\r\n",
        "2 Host header fields (one is allowed)",
        31,
        400,
        False,
    ),
    (
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
        "2 Host header fields (one is allowed)",
        25,
        400,
        False,
    ),
    (
        b"POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "Transfer-Encoding in an HTTP/1.0 request",
        26,
        400,
        False,
    ),
    (
        CHUNKED + b"8000000000000000\r\n",
        "chunk size 8000000000000000 is over 2^63-1",
        len(CHUNKED),
        400,
        True,
    ),
    (
        CHUNKED + b"ffffffffffffffff;x\r\n",
        "chunk size ffffffffffffffff is over 2^63-1",
        len(CHUNKED),
        400,
        True,
    ),
    (
        CHUNKED + b"5 \r\nhello\r\n0\r\n\r\n",
        "whitespace after chunk size: b' '",
        len(CHUNKED) + 1,
        400,
        False,
    ),
    (
        CHUNKED + b"5\t\t\r\nhello\r\n0\r\n\r\n",
        "whitespace after chunk size: b'\\t\\t'",
        len(CHUNKED) + 1,
        400,
        False,
    ),
    (
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "request has both Transfer-Encoding and Content-Length",
        0,
        400,
        True,
    ),
    (
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\n",
        "conflicting Content-Length values [b'3', b'30']",
        0,
        400,
        True,
    ),
]


@pytest.mark.parametrize("data, reason, at, status, lenient_too", REFUSED)
def test_a_request_the_rfc_makes_a_server_refuse_is_refused_with_its_status(
    data, reason, at, status, lenient_too
):
    for piece in (None, 1, 5):
        assert read(data, piece=piece) == (reason, at, status)
    events = read(data, strict=False)
    assert b"".join(e.raw for e in events) == data  # a lenient reader (a capture) loses nothing
    malformed = [e for e in events if isinstance(e, Malformed)]
    assert malformed == ([Malformed(reason, at, status)] if lenient_too else [])


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.2\r\nHost: h\r\n\r\n",  # a later HTTP/1.x minor is read as 1.1 (RFC 9112 §2.3)
        b"GET / HTTP/1.0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX-Host: other\r\nHosts: x\r\n\r\n",
        CHUNKED + b"5 ;ext=1\r\nhello\r\n0\r\n\r\n",  # whitespace before ';' is allowed (BWS)
        CHUNKED + b"7fffffffffffffff\r\n",  # the largest size there is: refused only by the wait
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc",
    ],
)
def test_what_the_rfc_allows_passes(data):
    events = read(data)
    assert isinstance(events, list) and isinstance(events[0], Request)
    assert b"".join(e.raw for e in events) == data


def test_the_largest_chunk_size_is_read_as_a_number():
    events = ChunkedDecoder().feed(b"7fffffffffffffff\r\nabc")
    assert events == [ChunkHeader(2**63 - 1, b"", b"7fffffffffffffff\r\n"), ChunkData(b"abc")]


def test_a_chunk_size_over_the_limit_is_refused_in_a_plain_read_too():
    """The fast path for whole size lines (skim) leaves 16-digit sizes to the careful one."""
    decoder = ChunkedDecoder(strict=False)
    events = decoder.skim(b"8000000000000000\r\n" + b"x" * 20 + b"\r\n")
    assert events[0] == Malformed("chunk size 8000000000000000 is over 2^63-1", 0)


# -- the response side stays lenient --------------------------------------------------------


@pytest.mark.parametrize(
    "data, body",
    [
        (b"HTTP/9.9 200 OK\r\nContent-Length: 2\r\n\r\nhi", b"hi"),
        (b"HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\nContent-Length: 2\r\n\r\nhi", b"hi"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 \r\nhi\r\n0\r\n\r\n", b"hi"),
        # Transfer-Encoding overrides Content-Length (RFC 9112 §6.3): the chunked body is read
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
            b"hi",
        ),
    ],
)
def test_a_response_the_request_side_would_refuse_is_read_as_sent(data, body):
    for piece in (len(data), 1):
        events = read(data, strict=False, role="response", piece=piece)
        assert isinstance(events[0], Response) and events[-1] == EndOfMessage()
        assert b"".join(e.data for e in events if isinstance(e, (BodyData, ChunkData))) == body
        assert b"".join(e.raw for e in events) == data


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from([r[0] for r in REFUSED]), min_size=1, max_size=4),
    st.binary(max_size=60),
    st.lists(st.integers(1, 300), max_size=6),
)
def test_a_lenient_reader_passes_any_mix_of_refused_requests_and_garbage_on_byte_for_byte(parts, noise, cuts):
    """Also for the response role: HTTP-shaped garbage from an upstream reaches the client."""
    data = b"".join(parts) + noise
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    for role in ("request", "response"):
        reader = HTTPReader(role, strict=False)
        events = [e for a, b in zip(points, points[1:]) for e in reader.feed(data[a:b])] + reader.close()
        assert b"".join(e.raw for e in events) == data
        assert sum(isinstance(e, Malformed) for e in events) <= 1
        strict = read(data)
        if isinstance(strict, tuple) and role == "request":  # the strict reader said why, and where
            assert 0 <= strict[1] <= len(data) and strict[2] in (400, 414, 431, 505)
