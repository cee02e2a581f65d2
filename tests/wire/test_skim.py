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
    body = b"".join(encode_chunk(p, ext.lstrip(b";")) for p in pieces) + encode_last_chunk(
        [(b"T", b"1")] if ext else ()
    )
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
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"".join(map(encode_chunk, b))
        + encode_last_chunk()
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


def _mangle(chunk: bytes, how: str) -> bytes:
    """One encoded chunk, as given or broken the ways a one-chunk read could still look whole."""
    if how == "size+1":
        size_line, _, rest = chunk.partition(b"\r\n")
        return b"%x\r\n" % (int(size_line.split(b";")[0], 16) + 1) + rest
    if how == "size-1":
        size_line, _, rest = chunk.partition(b"\r\n")
        return b"%x\r\n" % (int(size_line.split(b";")[0], 16) - 1) + rest
    if how == "no-crlf":
        return chunk[:-2] + b"XX"
    return chunk


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.binary(min_size=1, max_size=40), st.sampled_from(["ok", "ok", "size+1", "size-1", "no-crlf"])
        ),
        min_size=1,
        max_size=10,
    ),
    extension,
)
def test_skim_of_one_chunk_per_read_agrees_with_feed(pieces: list[tuple[bytes, str]], ext: bytes) -> None:
    # What an SSE server's flushes look like on the wire, one read each: the case skim
    # takes a shortcut for. Mangled chunks must not slip through that shortcut.
    reads = [_mangle(encode_chunk(p, ext.lstrip(b";")), how) for p, how in pieces] + [encode_last_chunk()]
    full, skim = ChunkedDecoder(strict=False), ChunkedDecoder(strict=False)
    data, problems_full, problems_skim = b"", [], []
    for part in reads:
        for event in full.feed(part):
            if isinstance(event, ChunkData):
                data += event.data
            elif type(event).__name__ in ("Malformed", "Unparsed"):
                problems_full.append(event)
        problems_skim += skim.skim(part)
    assert problems_skim == problems_full
    assert (skim.offset, skim.done, skim.chunks) == (full.offset, full.done, full.chunks)
    if not problems_full:
        assert skim.tail == data[-4:]
