"""The chunked transfer coding (faultproxy.wire.chunked): every event, every malformation."""

from __future__ import annotations

import pytest

from faultproxy.wire.chunked import (
    MAX_SIZE_LINE,
    MAX_TRAILER_SECTION,
    ChunkData,
    ChunkedDecoder,
    ChunkedEnd,
    ChunkEnd,
    ChunkHeader,
    Malformed,
    Unparsed,
    encode_chunk,
    encode_chunked,
    encode_last_chunk,
)
from faultproxy.wire.errors import WireError


def feed_bytewise(decoder: ChunkedDecoder, data: bytes) -> list:
    events = []
    for i in range(len(data)):
        events += decoder.feed(data[i : i + 1])
    return events


def data_of(events: list) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, ChunkData))


def raw_join(events: list) -> bytes:
    return b"".join(e.raw for e in events)


def strict_error(data: bytes, *, close: bool = False, offset: int = 0) -> WireError:
    decoder = ChunkedDecoder(offset=offset)
    with pytest.raises(WireError) as info:
        decoder.feed(data)
        if close:
            decoder.close()
    return info.value


# -- events ---------------------------------------------------------------------------------


def test_every_event_type_with_its_exact_bytes():
    decoder = ChunkedDecoder()
    events = decoder.feed(b"5\r\nhello\r\n0\r\n\r\n")
    assert events == [
        ChunkHeader(5, b"", b"5\r\n"),
        ChunkData(b"hello"),
        ChunkEnd(b"\r\n"),
        ChunkHeader(0, b"", b"0\r\n"),
        ChunkedEnd((), b"\r\n"),
    ]
    assert decoder.done
    assert decoder.chunks == 1
    assert decoder.offset == 15
    assert decoder.close() == []


@pytest.mark.parametrize(
    "line, size",
    [(b"1a", 26), (b"1A", 26), (b"fF", 255), (b"000000000000000a", 10), (b"DEADbeef", 0xDEADBEEF), (b"0", 0)],
)
def test_hex_sizes_in_either_case(line, size):
    event = ChunkedDecoder().feed(line + b"\r\n")[0]
    assert event == ChunkHeader(size, b"", line + b"\r\n")


@pytest.mark.parametrize(
    "line, ext",
    [
        (b"5;name=value", b"name=value"),
        (b'5;a=1;b="q;uoted"', b'a=1;b="q;uoted"'),
        (b"5 ;a", b"a"),
        (b"5\t; a = b", b" a = b"),
        (b"5;", b""),
    ],
)
def test_chunk_extensions_are_reported_as_sent(line, ext):
    events = ChunkedDecoder().feed(line + b"\r\nhello\r\n")
    assert events == [ChunkHeader(5, ext, line + b"\r\n"), ChunkData(b"hello"), ChunkEnd(b"\r\n")]


def test_trailers_are_parsed_and_kept_raw():
    section = b"X-Checksum: abc\r\nX-Empty:\r\nX-Spaced:   v  w \t\r\n\r\n"
    events = ChunkedDecoder().feed(b"3\r\nabc\r\n0;final\r\n" + section)
    assert events[-2] == ChunkHeader(0, b"final", b"0;final\r\n")
    trailers = ((b"X-Checksum", b"abc"), (b"X-Empty", b""), (b"X-Spaced", b"v  w"))
    assert events[-1] == ChunkedEnd(trailers, section)


def test_chunk_data_arrives_as_it_comes():
    decoder = ChunkedDecoder()
    assert decoder.feed(b"a\r\n0123") == [ChunkHeader(10, b"", b"a\r\n"), ChunkData(b"0123")]
    assert decoder.feed(b"45") == [ChunkData(b"45")]
    assert decoder.feed(b"6789\r") == [ChunkData(b"6789")]
    assert decoder.feed(b"\n") == [ChunkEnd(b"\r\n")]
    assert decoder.chunks == 1 and not decoder.done


def test_bytewise_feed_gives_the_same_data_and_raw():
    body = b"4;x=y\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nA: b\r\n\r\n"
    decoder = ChunkedDecoder()
    events = feed_bytewise(decoder, body)
    assert data_of(events) == b"Wikipedia in\r\n\r\nchunks."
    assert raw_join(events) == body
    assert [e.size for e in events if isinstance(e, ChunkHeader)] == [4, 5, 14, 0]
    assert events[-1] == ChunkedEnd(((b"A", b"b"),), b"A: b\r\n\r\n")
    assert decoder.done and decoder.chunks == 3


def test_bytes_after_the_body_are_left_for_the_caller():
    decoder = ChunkedDecoder()
    events = decoder.feed(b"1\r\nx\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n")
    assert raw_join(events) == b"1\r\nx\r\n0\r\n\r\n"
    assert decoder.unconsumed == b"HTTP/1.1 200 OK\r\n"
    decoder.feed(b"more")
    assert decoder.unconsumed == b"HTTP/1.1 200 OK\r\nmore"


# -- malformed framing: reason and offset ---------------------------------------------------

MALFORMED = [
    # (input, reason, offset of the problem)
    (b"zz\r\n", "chunk size is not hexadecimal: b'zz'", 0),
    (b"\r\n", "chunk size is not hexadecimal: b''", 0),
    (b"5\r\nhello\r\n-1\r\n", "chunk size is not hexadecimal: b'-1'", 10),
    (b"0x5\r\n", "unexpected bytes after chunk size: b'x5'", 1),
    (b"5 5\r\n", "unexpected bytes after chunk size: b' 5'", 1),
    (b"5\n", "chunk-size line ends with a bare LF, not CRLF", 1),
    (b"5;ext\n", "chunk-size line ends with a bare LF, not CRLF", 5),
    (b"5\r;x\r\n", "stray CR in chunk-size line", 1),
    (b"1" * 17 + b"\r\n", "chunk size has more than 16 hex digits", 0),
    (b"5\r\nhelloXY", "chunk data not followed by CRLF: b'X' where CR belongs", 8),
    (b"5\r\nhello\rX", "chunk data not followed by CRLF: b'X' where LF belongs", 9),
    (b"5\r\nhello\n0\r\n", "chunk data not followed by CRLF: b'\\n' where CR belongs", 8),
    (b"5\r\nhello world\r\n", "chunk data not followed by CRLF: b' ' where CR belongs", 8),
    (b"1;" + b"e" * MAX_SIZE_LINE + b"\r\n", "chunk-size line too long", 0),
    (b"0\r\nA: b\n", "trailer line ends with a bare LF", 7),
    (b"0\r\nA: b\r\n\n", "trailer line ends with a bare LF", 9),
    (b"0\r\nA: b\r\nno colon here\r\n", "malformed trailer field b'no colon here\\r\\n'", 9),
    (b"0\r\nBad Name: v\r\n", "malformed trailer field b'Bad Name: v\\r\\n'", 3),
    (b"0\r\n: v\r\n", "malformed trailer field b': v\\r\\n'", 3),
    (b"0\r\n folded: v\r\n", "malformed trailer field b' folded: v\\r\\n'", 3),
    (b"0\r\nX: " + b"v" * MAX_TRAILER_SECTION + b"\r\n", "trailer section too long", 3),
]


@pytest.mark.parametrize("data, reason, at", MALFORMED)
def test_malformed_strict_reports_reason_and_offset(data, reason, at):
    err = strict_error(data)
    assert (err.reason, err.offset) == (reason, at)
    assert str(err) == f"{reason} (at byte {at})"


@pytest.mark.parametrize("data, reason, at", MALFORMED)
def test_malformed_is_reported_the_same_when_fed_byte_by_byte(data, reason, at):
    decoder = ChunkedDecoder()
    with pytest.raises(WireError) as info:
        feed_bytewise(decoder, data)
    assert (info.value.reason, info.value.offset) == (reason, at)


@pytest.mark.parametrize("data, reason, at", MALFORMED)
def test_malformed_offsets_are_stream_offsets(data, reason, at):
    err = strict_error(data, offset=4000)
    assert err.offset == at + 4000


@pytest.mark.parametrize("data, reason, at", MALFORMED)
def test_malformed_lenient_reports_once_and_passes_everything_on(data, reason, at):
    for feed in (lambda d, x: d.feed(x), feed_bytewise):
        decoder = ChunkedDecoder(strict=False)
        events = feed(decoder, data)
        events += decoder.feed(b"after")
        events += decoder.close()
        assert [e for e in events if isinstance(e, Malformed)] == [Malformed(reason, at)]
        assert raw_join(events) == data + b"after"
        assert events[-1] == Unparsed(b"after")
        assert decoder.offset == len(data) + 5
        assert not decoder.done


def test_sixteen_hex_digits_are_still_a_size():
    assert ChunkedDecoder().feed(b"0" * 15 + b"1\r\n")[0].size == 1


def test_size_line_at_the_limit_is_accepted():
    line = b"1;" + b"e" * (MAX_SIZE_LINE - 4) + b"\r\n"
    assert len(line) == MAX_SIZE_LINE
    assert ChunkedDecoder().feed(line)[0] == ChunkHeader(1, b"e" * (MAX_SIZE_LINE - 4), line)


# -- truncation at close(), one case per decoder state ---------------------------------------

TRUNCATED = [
    (b"", "connection closed before the last chunk (no 0-size chunk)", 0),
    (b"5\r\nhello\r\n", "connection closed before the last chunk (no 0-size chunk)", 10),
    (b"5", "connection closed inside a chunk-size line", 1),
    (b"5;ext\r", "connection closed inside a chunk-size line", 6),
    (b"5\r\nhel", "connection closed inside chunk data, 2 bytes missing", 6),
    (b"5\r\n", "connection closed inside chunk data, 5 bytes missing", 3),
    (b"5\r\nhello", "connection closed before the CRLF after chunk data", 8),
    (b"5\r\nhello\r", "connection closed before the CRLF after chunk data", 9),
    (b"0\r\n", "connection closed inside the trailer section (no final empty line)", 3),
    (b"0\r\nA: b\r\n", "connection closed inside the trailer section (no final empty line)", 9),
    (b"0\r\nA: b\r", "connection closed inside the trailer section (no final empty line)", 8),
]


@pytest.mark.parametrize("data, reason, at", TRUNCATED)
def test_truncation_strict(data, reason, at):
    err = strict_error(data, close=True)
    assert (err.reason, err.offset) == (reason, at)
    assert at == len(data)  # the problem is where the stream stopped


@pytest.mark.parametrize("data, reason, at", TRUNCATED)
def test_truncation_lenient_keeps_the_held_bytes(data, reason, at):
    decoder = ChunkedDecoder(strict=False)
    events = feed_bytewise(decoder, data)
    tail = decoder.close()
    assert tail[0] == Malformed(reason, at)
    assert raw_join(events + tail) == data
    assert decoder.close() == []


# -- encoder ---------------------------------------------------------------------------------


def test_encode_chunk():
    assert encode_chunk(b"hello") == b"5\r\nhello\r\n"
    assert encode_chunk(b"x" * 26, b"a=b") == b"1a;a=b\r\n" + b"x" * 26 + b"\r\n"
    with pytest.raises(ValueError, match="last chunk"):
        encode_chunk(b"")


def test_encode_last_chunk():
    assert encode_last_chunk() == b"0\r\n\r\n"
    assert encode_last_chunk([(b"X-A", b"1"), (b"X-B", b"2")]) == b"0\r\nX-A: 1\r\nX-B: 2\r\n\r\n"
    events = ChunkedDecoder().feed(encode_last_chunk(((b"X-A", b"1"),)))
    assert events[-1].trailers == ((b"X-A", b"1"),)


def test_encode_chunked():
    assert encode_chunked(b"") == b"0\r\n\r\n"
    assert encode_chunked(b"abcdef") == b"6\r\nabcdef\r\n0\r\n\r\n"
    assert encode_chunked(b"abcdef", [2, 0, 3]) == b"2\r\nab\r\n3\r\ncde\r\n1\r\nf\r\n0\r\n\r\n"
    assert encode_chunked(b"ab", [5, 5]) == b"2\r\nab\r\n0\r\n\r\n"
    assert data_of(ChunkedDecoder().feed(encode_chunked(b"x" * 300, [17, 255]))) == b"x" * 300
