"""Skimming a body (what the relay does when no fault looks) ends where reading it fully ends."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from faultproxy.wire.chunked import ChunkData, ChunkedDecoder, encode_chunk, encode_last_chunk
from faultproxy.wire.http import EndOfMessage, HTTPReader, Response


def _splits(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)]) if b > a]


chunks = st.lists(st.binary(min_size=1, max_size=40), max_size=12)
extension = st.sampled_from([b"", b";a=1", b";x"])


@settings(max_examples=300, deadline=None)
@given(chunks, extension, st.lists(st.integers(0, 1000), max_size=8), st.binary(max_size=10))
def test_skim_agrees_with_feed(pieces: list[bytes], ext: bytes, cuts: list[int], after: bytes) -> None:
    body = b"".join(encode_chunk(p, ext.lstrip(b";")) for p in pieces) + encode_last_chunk([(b"T", b"1")] if ext else ())
    wire = body + after
    full, skim = ChunkedDecoder(), ChunkedDecoder()
    data = b""
    for part in _splits(wire, cuts):
        data += b"".join(e.data for e in full.feed(part) if isinstance(e, ChunkData))
        assert not any(isinstance(e, ChunkData) for e in skim.skim(part))
    assert full.done and skim.done
    assert (skim.offset, skim.unconsumed, skim.chunks) == (full.offset, full.unconsumed, full.chunks)
    assert skim.tail == data[-4:]


@settings(max_examples=200, deadline=None)
@given(st.lists(chunks, min_size=1, max_size=3), st.lists(st.integers(0, 2000), max_size=8))
def test_a_skimming_reader_finds_every_response_of_a_kept_alive_connection(bodies, cuts) -> None:
    wire = b"".join(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"".join(map(encode_chunk, b)) + encode_last_chunk()
        for b in bodies
    )
    reader = HTTPReader("response")
    reader.skim = True
    for _ in bodies:
        reader.expect_response_to(b"GET")
    seen = []
    for part in _splits(wire, cuts):
        seen += [type(e) for e in reader.feed(part)]
    assert seen == [Response, EndOfMessage] * len(bodies)
    assert reader.offset == len(wire) and reader.idle
    assert reader.body_tail == b"".join(bodies[-1])[-4:]


def test_skim_still_reports_malformed_framing() -> None:
    reader = HTTPReader("response", strict=False)
    reader.skim = True
    reader.expect_response_to(b"GET")
    events = reader.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX")
    assert [type(e).__name__ for e in events][-2:] == ["Malformed", "Unparsed"]
