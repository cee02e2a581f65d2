"""Property tests for the HTTP/1.1 and chunked wire layer.

Each property feeds the bytes under arbitrary splits, because on a real connection the reads
fall wherever TCP puts them and the result must not depend on it.
"""

from __future__ import annotations

from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultproxy.wire.chunked import (
    ChunkData,
    ChunkedDecoder,
    ChunkedEnd,
    ChunkHeader,
    Malformed,
    encode_chunked,
)
from faultproxy.wire.errors import WireError
from faultproxy.wire.http import (
    BodyData,
    EndOfMessage,
    Headers,
    HTTPReader,
    Response,
    encode_head,
    parse_request_head,
    parse_response_head,
)

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given positions (taken modulo its length, in order)."""
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in pairwise(points)] or [b""]


cut_lists = st.lists(st.integers(min_value=0, max_value=10_000), max_size=12)


def raw_join(events: list) -> bytes:
    return b"".join(e.raw for e in events)


# -- (1) chunked: encode, then decode under any split ----------------------------------------


def hex_size(size: int, upper: bool, zeros: int) -> bytes:
    return b"0" * zeros + (b"%X" if upper else b"%x") % size


@st.composite
def chunked_bodies(draw):
    chunks = draw(st.lists(st.binary(min_size=1, max_size=300), max_size=8))
    ext_text = st.binary(min_size=0, max_size=12).map(lambda b: bytes(c for c in b if c not in b"\r\n"))
    lines = []
    for data in chunks:
        size = hex_size(len(data), draw(st.booleans()), draw(st.integers(0, 3)))
        ext = draw(st.one_of(st.just(b""), ext_text.map(lambda e: b";" + e)))
        lines.append((size + ext + b"\r\n", data, ext[1:] if ext else b""))
    names = st.text("abcdefghijXYZ-", min_size=1, max_size=8).map(str.encode)
    values = st.binary(max_size=10).map(lambda b: bytes(c for c in b if c > 0x20 and c != 0x7F))
    trailers = tuple(draw(st.lists(st.tuples(names, values), max_size=3)))
    last = b"0" * draw(st.integers(1, 3)) + b"\r\n"
    section = b"".join(b"%s: %s\r\n" % t for t in trailers) + b"\r\n"
    wire = b"".join(line + data + b"\r\n" for line, data, _ in lines) + last + section
    return wire, lines, trailers


@SETTINGS
@given(chunked_bodies(), cut_lists)
def test_chunked_decode_any_split(body, cuts):
    wire, lines, trailers = body
    decoder = ChunkedDecoder()
    events = [e for piece in pieces(wire, cuts) for e in decoder.feed(piece)]
    assert decoder.done and decoder.close() == []
    assert raw_join(events) == wire
    assert b"".join(e.data for e in events if isinstance(e, ChunkData)) == b"".join(d for _, d, _ in lines)
    headers = [e for e in events if isinstance(e, ChunkHeader)]
    assert [(h.raw, h.size, h.extensions) for h in headers[:-1]] == [(ln, len(d), x) for ln, d, x in lines]
    assert headers[-1].size == 0
    assert events[-1] == ChunkedEnd(trailers, events[-1].raw)
    assert decoder.chunks == len(lines)


@SETTINGS
@given(st.binary(max_size=2000), st.lists(st.integers(0, 400), max_size=10), cut_lists)
def test_encode_chunked_round_trips(body, sizes, cuts):
    wire = encode_chunked(body, sizes)
    decoder = ChunkedDecoder()
    events = [e for piece in pieces(wire, cuts) for e in decoder.feed(piece)]
    assert decoder.done
    assert b"".join(e.data for e in events if isinstance(e, ChunkData)) == body
    assert raw_join(events) == wire


# -- (2) heads: parse, then encode gives the same bytes ---------------------------------------

TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
tokens = st.text(TCHAR, min_size=1, max_size=12).map(str.encode)
VCHAR = bytes(range(0x21, 0x7F)) + bytes(range(0x80, 0x100))
vchars = st.sampled_from([bytes([c]) for c in VCHAR])
ows = st.sampled_from([b"", b" ", b"  ", b"\t", b" \t "])


@st.composite
def field_values(draw) -> bytes:
    """A field-value per RFC 9110 §5.5: no whitespace at either end, SP and HTAB inside."""
    if draw(st.booleans()):
        return b""
    inner = draw(st.lists(st.one_of(vchars, st.sampled_from([b" ", b"\t", b"  "])), max_size=10))
    if not inner:
        return draw(vchars)
    return draw(vchars) + b"".join(inner) + draw(vchars)


@st.composite
def header_sections(draw):
    pool = draw(st.lists(tokens, min_size=1, max_size=4))  # a few names, so some repeat
    fields = []
    for _ in range(draw(st.integers(0, 8))):
        name = draw(st.sampled_from(pool)) if draw(st.booleans()) else draw(tokens)
        if draw(st.booleans()):  # the same name in another case
            name = name.swapcase()
        fields.append((name, draw(ows), draw(field_values()), draw(ows)))
    wire = b"".join(n + b":" + a + v + b + b"\r\n" for n, a, v, b in fields)
    return wire, [(n, v) for n, _, v, _ in fields]


targets = st.one_of(
    st.just(b"*"),
    st.text("abcxyz0123-._~/?=&%:@!$'()*+,;", min_size=0, max_size=30).map(lambda t: b"/" + t.encode()),
    st.just(b"example.test:443"),
    st.just(b"http://example.test/p?q=1"),
)
versions = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0"])


@SETTINGS
@given(tokens, targets, versions, header_sections(), cut_lists)
def test_request_head_round_trip(method, target, version, section, cuts):
    wire_fields, fields = section
    head = b"%s %s %s\r\n%s\r\n" % (method, target, version, wire_fields)
    req = parse_request_head(head)
    assert (req.method, req.target, req.version) == (method, target, version)
    assert list(req.headers) == fields
    assert encode_head(req) == head
    for name, _ in fields:
        values = [v for n, v in fields if n.lower() == name.lower()]
        assert req.headers.get_all(name.decode().upper()) == values
        assert req.headers.get(name) == b", ".join(values)
    # Headers made from the same pairs are written canonically, ``Name: value``
    rebuilt = Headers(fields)
    assert rebuilt == req.headers
    assert rebuilt.encode() == b"".join(b"%s: %s\r\n" % f for f in fields)
    # and the same head read off a connection in pieces gives the same request
    if not {b"content-length", b"transfer-encoding"} & {n.lower() for n, _ in fields}:
        reader = HTTPReader("request")
        events = [e for piece in pieces(head, cuts) for e in reader.feed(piece)]
        assert events == [req, EndOfMessage()]


reasons = st.one_of(
    st.just(None),  # no SP either: "HTTP/1.1 200"
    st.just(b""),
    st.lists(st.one_of(vchars, st.just(b" "), st.just(b"\t")), max_size=15).map(b"".join),
)


@SETTINGS
@given(versions, st.integers(100, 599), reasons, header_sections())
def test_response_head_round_trip(version, status, reason, section):
    wire_fields, fields = section
    line = b"%s %d" % (version, status) + (b"" if reason is None else b" " + reason)
    head = line + b"\r\n" + wire_fields + b"\r\n"
    resp = parse_response_head(head)
    assert (resp.version, resp.status, resp.reason) == (version, status, reason or b"")
    assert list(resp.headers) == fields
    assert encode_head(resp) == head


# -- (3) a kept-alive connection of random responses -------------------------------------------


@st.composite
def response_streams(draw):
    """Responses one after another, as a server writes them; the last may end at the close."""
    messages = []  # (method it answers, status, body expected, wire bytes)
    for i in range(draw(st.integers(1, 6))):
        for _ in range(draw(st.integers(0, 2))):  # interim responses first
            code = draw(st.sampled_from([100, 102, 103]))
            messages.append((None, code, b"", b"HTTP/1.1 %d Interim\r\nX-N: %d\r\n\r\n" % (code, i)))
        kind = draw(st.sampled_from(["length", "chunked", "head", "204", "304", "empty"]))
        body = draw(st.binary(max_size=200))
        head = b"HTTP/1.1 %d OK\r\nX-N: %d\r\n"
        if kind == "length":
            wire = head % (200, i) + b"Content-Length: %d\r\n\r\n" % len(body) + body
        elif kind == "chunked":
            sizes = draw(st.lists(st.integers(1, 64), max_size=5))
            wire = head % (200, i) + b"Transfer-Encoding: chunked\r\n\r\n" + encode_chunked(body, sizes)
        elif kind == "head":
            wire, body = head % (200, i) + b"Content-Length: %d\r\n\r\n" % len(body), b""
        elif kind == "empty":
            wire, body = head % (200, i) + b"Content-Length: 0\r\n\r\n", b""
        else:
            wire, body = head % (int(kind), i) + b"\r\n", b""
        status = 200 if kind in ("length", "chunked", "head", "empty") else int(kind)
        messages.append((b"HEAD" if kind == "head" else b"GET", status, body, wire))
    if draw(st.booleans()):
        body = draw(st.binary(max_size=200))
        messages.append((b"GET", 200, body, b"HTTP/1.1 200 OK\r\nX-N: last\r\n\r\n" + body))
    return messages


@SETTINGS
@given(response_streams(), cut_lists)
def test_reader_on_keepalive_responses(messages, cuts):
    wire = b"".join(m[3] for m in messages)
    reader = HTTPReader("response")
    for method, *_ in messages:
        if method is not None:
            reader.expect_response_to(method)
    events = [e for piece in pieces(wire, cuts) for e in reader.feed(piece)]
    events += reader.close()
    assert raw_join(events) == wire

    seen: list = []
    for event in events:
        if isinstance(event, Response):
            seen.append([event.status, event.headers.get("x-n"), b"", False])
        elif isinstance(event, (BodyData, ChunkData)):
            seen[-1][2] += event.data
        elif isinstance(event, EndOfMessage):
            seen[-1][3] = True
    assert [s[0] for s in seen] == [m[1] for m in messages]
    assert [s[2] for s in seen] == [m[2] for m in messages]
    assert all(s[3] for s in seen)
    assert reader.messages == len(messages)
    heads = [e for e in events if isinstance(e, Response)]
    assert [h.raw for h in heads] == [m[3][: len(h.raw)] for h, m in zip(heads, messages)]


# -- (4) anything at all: lenient never raises, strict raises only WireError ------------------

http_ish = st.one_of(
    st.binary(max_size=300),
    st.tuples(
        st.sampled_from(
            [
                b"HTTP/1.1 200 OK\r\n",
                b"GET / HTTP/1.1\r\n",
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n",
                b"HTTP/1.1 101 Switching\r\n\r\n",
            ]
        ),
        st.binary(max_size=200),
        st.sampled_from([b"", b"\r\n", b"\r\n\r\n", b"0\r\n\r\n", b"\n\n"]),
    ).map(b"".join),
)


@SETTINGS
@given(
    http_ish,
    st.sampled_from(["request", "response"]),
    st.lists(st.sampled_from([b"GET", b"HEAD", b"CONNECT"]), max_size=3),
    cut_lists,
)
def test_lenient_reader_never_raises_and_loses_nothing(data, role, methods, cuts):
    reader = HTTPReader(role, strict=False)
    for method in methods:
        reader.expect_response_to(method)
    events = [e for piece in pieces(data, cuts) for e in reader.feed(piece)]
    events += reader.close()
    assert raw_join(events) == data
    assert sum(isinstance(e, Malformed) for e in events) <= 1
    assert reader.offset == len(data)


@SETTINGS
@given(http_ish, st.sampled_from(["request", "response"]), cut_lists)
def test_strict_reader_raises_only_wire_errors_and_independently_of_splits(data, role, cuts):
    def run(chunks, strict=True):
        reader = HTTPReader(role, strict=strict)
        try:
            events = [e for piece in chunks for e in reader.feed(piece)]
            return events + reader.close()
        except WireError as error:
            return (error.reason, error.offset)

    whole = run([data])
    split = run(pieces(data, cuts))
    if isinstance(whole, tuple):
        assert split == whole
        assert 0 <= whole[1] <= len(data)
    else:
        assert raw_join(whole) == raw_join(split) == data
        # what strict mode accepts, lenient mode reads the same way
        assert run(pieces(data, cuts), strict=False) == split


@SETTINGS
@given(st.binary(max_size=300), cut_lists)
def test_lenient_chunked_decoder_on_anything(data, cuts):
    decoder = ChunkedDecoder(strict=False)
    events = [e for piece in pieces(data, cuts) for e in decoder.feed(piece)]
    events += decoder.close()
    assert raw_join(events) + decoder.unconsumed == data
