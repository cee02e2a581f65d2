"""``body_framing``, ``is_event_stream`` and the chunk events: the one place framing is decided.

The reader, the faults, the capture, the oracle and the replay server all ask these; the cases
here are RFC 9112 §6.3 read line by line, and each is checked against what the reader then does
with a real body, so the function and the reader can never disagree.
"""

from __future__ import annotations

import pytest

from faultproxy.wire.chunked import ChunkData, ChunkedDecoder, chunk_events, encode_chunked, last_chunk_events
from faultproxy.wire.errors import WireError
from faultproxy.wire.http import (
    BodyData,
    EndOfMessage,
    Framing,
    Headers,
    HTTPReader,
    TunnelData,
    body_framing,
    is_event_stream,
    parse_request_head,
    parse_response_head,
)


def response(status: int, *fields: str) -> bytes:
    return (f"HTTP/1.1 {status} X\r\n" + "".join(f"{f}\r\n" for f in fields) + "\r\n").encode()


def request(*fields: str, method: str = "POST") -> bytes:
    return (f"{method} / HTTP/1.1\r\nHost: x\r\n" + "".join(f"{f}\r\n" for f in fields) + "\r\n").encode()


RESPONSES = [
    # (head, method, framing)
    (response(200, "Content-Length: 5"), b"GET", Framing("length", 5)),
    (response(200, "Content-Length: 0"), b"GET", Framing("none")),
    (response(200, "Content-Length: 5, 5"), b"GET", Framing("length", 5)),
    (response(200, "Transfer-Encoding: chunked"), b"GET", Framing("chunked")),
    (response(200, "Transfer-Encoding: gzip, chunked"), b"GET", Framing("chunked")),
    # chunked must be the final coding: anything after it leaves the body delimited by the close
    (response(200, "Transfer-Encoding: chunked, gzip"), b"GET", Framing("close")),
    (response(200, "Transfer-Encoding: chunked", "Content-Length: 5"), b"GET", Framing("chunked")),
    (response(200), b"GET", Framing("close")),
    (response(200, "Content-Length: 5"), b"HEAD", Framing("none")),
    (response(204), b"GET", Framing("none")),
    (response(304, "Content-Length: 5"), b"GET", Framing("none")),
    (response(100), b"GET", Framing("none")),
    (response(101, "Upgrade: websocket"), b"GET", Framing("tunnel")),
    (response(200), b"CONNECT", Framing("tunnel")),
    (response(407, "Content-Length: 5"), b"CONNECT", Framing("length", 5)),
    (response(200, "Content-Length: 5"), None, Framing("length", 5)),
]


@pytest.mark.parametrize(("head", "method", "expected"), RESPONSES)
def test_response_framing_and_the_reader_agree(head: bytes, method: bytes | None, expected: Framing) -> None:
    assert body_framing(parse_response_head(head), method) == expected
    reader = HTTPReader("response", strict=True)
    reader.expect_response_to(method or b"GET")
    body = encode_chunked(b"hello") if expected.kind == "chunked" else b"hello"
    events = reader.feed(head + body)
    data = b"".join(e.data for e in events if isinstance(e, (BodyData, ChunkData)))
    if expected.kind in ("length", "chunked"):
        assert data == b"hello" and isinstance(events[-1], EndOfMessage)
    elif expected.kind == "tunnel":
        assert [e for e in events if isinstance(e, TunnelData)] == [TunnelData(b"hello")]
    elif expected.kind == "close":
        assert data == b"hello" and reader.close() == [EndOfMessage()]
    else:  # no body: "hello" is where the next response starts
        assert not data and reader.between_messages


REQUESTS = [
    (request("Content-Length: 3"), Framing("length", 3)),
    (request(), Framing("none")),
    (request("Transfer-Encoding: chunked"), Framing("chunked")),
]


@pytest.mark.parametrize(("head", "expected"), REQUESTS)
def test_request_framing(head: bytes, expected: Framing) -> None:
    assert body_framing(parse_request_head(head)) == expected


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        (
            request("Transfer-Encoding: chunked", "Content-Length: 3"),
            "both Transfer-Encoding and Content-Length",
        ),
        (request("Transfer-Encoding: gzip"), "does not end with chunked"),
        (request("Content-Length: 3", "Content-Length: 4"), "conflicting Content-Length"),
        (request("Content-Length: -3"), "invalid Content-Length"),
    ],
)
def test_framing_that_cannot_be_known_is_an_error_at_the_offset_given(head: bytes, reason: str) -> None:
    with pytest.raises(WireError, match=reason) as caught:
        body_framing(parse_request_head(head), offset=77)
    assert caught.value.offset == 77


def test_a_response_with_an_invalid_length_is_an_error_too() -> None:
    with pytest.raises(WireError, match="invalid Content-Length"):
        body_framing(parse_response_head(response(200, "Content-Length: 1e3")), b"GET")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ([("Content-Type", "text/event-stream")], True),
        ([("content-type", "Text/Event-Stream; charset=utf-8")], True),
        ([("Content-Type", " text/event-stream ;x=1")], True),
        ([("Content-Type", "text/event-streams")], False),
        ([("Content-Type", "application/json")], False),
        ([("X-Type", "text/event-stream")], False),
        ([], False),
    ],
)
def test_is_event_stream_reads_the_essence_of_content_type(
    fields: list[tuple[str, str]], expected: bool
) -> None:
    assert is_event_stream(Headers(fields)) is expected


def test_chunk_events_decode_back_to_the_data() -> None:
    wire = b"".join(e.raw for e in chunk_events(b"hello") + chunk_events(b"") + chunk_events(b"x" * 300))
    wire += b"".join(e.raw for e in last_chunk_events())
    assert wire == encode_chunked(b"hello" + b"x" * 300, [5])
    decoder = ChunkedDecoder()
    decoder.feed(wire)
    assert decoder.done and not decoder.unconsumed
