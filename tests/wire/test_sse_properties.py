"""Property tests: chunking never changes the parse, and the encoder round-trips through the parser."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from faultproxy.wire.sse import MAX_RETRY, Block, Event, SSEParser, encode_event

SETTINGS = settings(max_examples=300, deadline=None)

FRAGMENTS = [
    b"data", b"event", b"id", b"retry", b"foo", b"Data",
    b":", b": ", b" ", b"\t", b"\r", b"\n", b"\r\n", b"\n\n", b"\r\r\n",
    b"\xef\xbb\xbf", b"\xef\xbb", b"\xef", b"\xff", b"\xed\xa0\x80", b"\0",
    "é€😀\u2028\x85".encode(), b"0", b"7", b"02000", b"x", b"[DONE]",
]  # fmt: skip

# SSE-ish streams: mostly whole lines (field, separator, value, line ending, sometimes after a
# BOM or a truncated one), and between them loose fragments and arbitrary bytes.
lines = st.tuples(
    st.sampled_from([b"", b"", b"", b"\xef\xbb\xbf", b"\xef\xbb", b" "]),
    st.sampled_from([b"data", b"data", b"event", b"id", b"retry", b"", b"foo", b"Data"]),
    st.sampled_from([b":", b": ", b":  ", b""]),
    st.lists(st.sampled_from(FRAGMENTS[15:]) | st.binary(max_size=2), max_size=3).map(b"".join),
    st.sampled_from([b"\n", b"\r", b"\r\n", b"\n\n", b"\r\r", b"\r\n\r\n", b"\r\r\n", b""]),
).map(b"".join)
stream_parts = lines | lines | st.sampled_from(FRAGMENTS) | st.binary(max_size=3)
streams = st.lists(stream_parts, max_size=30).map(b"".join)


@st.composite
def split_streams(draw) -> tuple[bytes, list[bytes]]:
    stream = draw(streams)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=8)))
    bounds = [0, *cuts, len(stream)]
    return stream, [stream[a:b] for a, b in zip(bounds, bounds[1:])]


def run_events(pieces: list[bytes]) -> tuple[list[Event], str, int | None, int]:
    p = SSEParser()
    events = [e for piece in pieces for e in p.feed(piece)] + p.close()
    return events, p.last_event_id, p.retry, p.offset


def run_blocks(pieces: list[bytes]) -> list[Block]:
    p = SSEParser()
    return [b for piece in pieces for b in p.feed_blocks(piece)] + p.close_blocks()


def bytewise(stream: bytes) -> list[bytes]:
    return [stream[i : i + 1] for i in range(len(stream))]


def canonical(blocks: list[Block]) -> list[Block]:
    """Undo the one documented chunking effect on block bounds.

    When a feed ends with the CR of a blank line, the block is returned at once, so the LF
    that completes that CRLF comes at the start of the next block. Move it back.
    """
    out: list[Block] = []
    for block in blocks:
        if out and out[-1].raw.endswith(b"\r") and block.raw.startswith(b"\n"):
            prev = out.pop()
            out.append(Block(prev.raw + b"\n", prev.event, prev.offset))
            block = Block(block.raw[1:], block.event, block.offset + 1)
            if not block.raw:
                continue
        out.append(block)
    return out


@SETTINGS
@given(split_streams())
def test_feed_is_split_invariant(case):
    stream, pieces = case
    whole = run_events([stream])
    assert run_events(pieces) == whole
    assert run_events(bytewise(stream)) == whole


@SETTINGS
@given(split_streams())
def test_feed_blocks_is_split_invariant_and_covers_every_byte(case):
    stream, pieces = case
    whole = run_blocks([stream])
    for blocks in (whole, run_blocks(pieces), run_blocks(bytewise(stream))):
        assert b"".join(b.raw for b in blocks) == stream
        assert [b.offset for b in blocks] == [sum(len(b.raw) for b in blocks[:i]) for i in range(len(blocks))]
        assert all(b.event is None or b.event.raw == b.raw for b in blocks)
        assert canonical(blocks) == whole
    assert [b.event for b in whole if b.event] == run_events([stream])[0]


# -- encoder round trip ---------------------------------------------------------------------------

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
line_texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=20)
ids = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\0"), max_size=20)
retries = st.none() | st.integers(0, MAX_RETRY)
event_kwargs = st.fixed_dictionaries(
    {"data": texts},
    optional={"event": line_texts, "id": ids, "retry": retries, "comment": texts},
)


def expected_event(kwargs: dict, last_id: str = "", retry: int | None = None) -> Event:
    data = re.sub(r"\r\n?", "\n", kwargs["data"])
    event_id, retry = kwargs.get("id", last_id), kwargs.get("retry", retry)
    return Event(kwargs.get("event") or "message", data, event_id, retry)


@SETTINGS
@given(event_kwargs)
def test_encoded_event_parses_back_exactly(kwargs):
    wire = encode_event(**kwargs)
    p = SSEParser()
    [event] = p.feed(wire)
    assert event == expected_event(kwargs)
    assert event.raw == wire
    assert p.pending == b""


@SETTINGS
@given(st.lists(event_kwargs, max_size=5), st.integers(1, 7))
def test_encoded_stream_parses_back_with_ids_and_retry_carried_over(many, chunk):
    wire = b"".join(encode_event(**kwargs) for kwargs in many)
    expected, last_id, retry = [], "", None
    for kwargs in many:
        if kwargs.get("retry") is not None:
            retry = kwargs["retry"]
        last_id = kwargs.get("id", last_id)
        expected.append(expected_event({**kwargs, "id": last_id, "retry": retry}))
    p = SSEParser()
    assert [e for i in range(0, len(wire), chunk) for e in p.feed(wire[i : i + chunk])] == expected


@SETTINGS
@given(event_kwargs, st.sampled_from(["\n", "\r", "\r\n"]), st.booleans())
def test_line_ending_and_space_variants_parse_like_the_default(kwargs, line_ending, space):
    variant = encode_event(**kwargs, line_ending=line_ending, space=space)
    assert SSEParser().feed(variant) == SSEParser().feed(encode_event(**kwargs)) == [expected_event(kwargs)]
