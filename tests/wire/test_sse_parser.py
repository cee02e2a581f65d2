"""SSEParser against the WHATWG rules for text/event-stream (HTML §9.2.5-9.2.7).

Most tests go through ``parse``, which feeds the stream whole and again one byte at a
time, and checks that both give the same events, last event ID and retry. So every
case here is also a test of chunk-boundary handling.
"""

import pytest

from faultproxy.wire.errors import WireError
from faultproxy.wire.sse import Block, Event, SSEParser

BOM = "\ufeff".encode()


def ev(data: str, type: str = "message", id: str = "", retry: int | None = None) -> Event:
    return Event(type, data, id, retry)


def parse(stream: bytes, **seed) -> tuple[list[Event], SSEParser]:
    """Events and the closed parser. Feeding byte by byte must give the same result."""
    whole = SSEParser(**seed)
    events = whole.feed(stream) + whole.close()
    bytewise = SSEParser(**seed)
    one_by_one = [e for i in range(len(stream)) for e in bytewise.feed(stream[i : i + 1])]
    assert one_by_one + bytewise.close() == events
    assert (bytewise.last_event_id, bytewise.retry) == (whole.last_event_id, whole.retry)
    return events, whole


def datas(stream: bytes) -> list[str]:
    return [e.data for e in parse(stream)[0]]


# -- decoding and the BOM -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        (b"\xed\xa0\x80", "\ufffd" * 3),  # an encoded surrogate: three maximal subparts
        (b"\xef\xbbd", "\ufffdd"),  # a truncated sequence then ASCII: one U+FFFD
        (b"\xf0\x9f\x98", "\ufffd"),  # a truncated 4-byte sequence
        (b"\xff", "\ufffd"),
        (b"\xc0\xaf", "\ufffd\ufffd"),  # overlong
        (b"ok\xe2\x80\xa6", "ok\u2026"),  # format-utf-8: UTF-8 whatever the charset says
    ],
)
def test_utf8_decoded_with_one_replacement_per_maximal_subpart(value, expected):
    assert datas(b"data: " + value + b"\n\n") == [expected]


def test_multibyte_characters_survive_any_split():
    stream = "data: é€😀\n\n".encode()
    for cut in range(len(stream) + 1):
        p = SSEParser()
        assert p.feed(stream[:cut]) + p.feed(stream[cut:]) == [ev("é€😀")]


def test_bom_at_stream_start_is_stripped():
    assert datas(BOM + b"data: 1\n\n") == ["1"]


@pytest.mark.parametrize(
    "pieces", [[b"\xef", b"\xbb\xbf"], [b"\xef\xbb", b"\xbf"], [b"", b"\xef", b"", b"\xbb", b"\xbf"]]
)
def test_bom_split_across_feeds_is_stripped(pieces):
    p = SSEParser()
    assert [e for piece in pieces for e in p.feed(piece)] == []
    assert p.feed(b"data: 1\n\n") == [ev("1")]


def test_format_bom_only_the_bom_at_offset_0_is_stripped():
    # WPT format-bom: a BOM at the start of a later line makes "\ufeffdata" an unknown field.
    assert datas(BOM + b"data:1\n\n" + BOM + b"data:2\n\ndata:3\n\n") == ["1", "3"]


def test_format_bom_2_a_doubled_bom_suppresses_the_first_event():
    assert datas(BOM + BOM + b"data:1\n\ndata:2\n\ndata:3\n\n") == ["2", "3"]


def test_truncated_bom_is_not_a_bom():
    # EF BB followed by "d" decodes to U+FFFD "d", so the first field is "\ufffddata".
    assert datas(b"\xef\xbbdata: 1\n\ndata: 2\n\n") == ["2"]


def test_bom_inside_a_value_is_data():
    assert datas(b"data: " + BOM + b"x\n\n") == ["\ufeffx"]


# -- line endings -----------------------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"])
def test_each_line_ending(eol):
    stream = b"data: a" + eol + b"data: b" + eol + eol + b"data: c" + eol + eol
    assert datas(stream) == ["a\nb", "c"]


def test_cr_only_line_endings():
    assert datas(b"event: t\rdata: a\rdata: b\r\rdata: c\r\r") == ["a\nb", "c"]


def test_mixed_line_endings_in_one_event():
    assert datas(b"data: a\rdata: b\ndata: c\r\ndata: d\n\r\n") == ["a\nb\nc\nd"]


def test_crlf_split_across_feeds_is_one_line_ending():
    # The classic bug: the LF at the start of the next chunk read as a blank line.
    stream = b"data: a\r\ndata: b\r\n\r\n"
    for cut in range(len(stream) + 1):
        p = SSEParser()
        assert p.feed(stream[:cut]) + p.feed(stream[cut:]) + p.close() == [ev("a\nb")], cut


def test_cr_ends_a_line_without_waiting_for_the_next_byte():
    p = SSEParser()
    assert p.feed(b"data: a\r") == []
    assert p.feed(b"\r") == [ev("a")]  # dispatched now, not when the next byte arrives
    assert p.feed(b"\ndata: b\r\r") == [ev("b")]  # that LF was the CRLF partner, not a blank line


def test_cr_then_crlf_is_one_blank_line():
    blocks = SSEParser().feed_blocks(b"data: a\r\r\ndata: b\r\n\r\n")
    assert [b.raw for b in blocks] == [b"data: a\r\r\n", b"data: b\r\n\r\n"]
    assert [b.event for b in blocks] == [ev("a"), ev("b")]


def test_cr_cr_lf_lf_is_three_line_endings():
    blocks = SSEParser().feed_blocks(b"data: a\r\r\n\n")
    assert [(b.raw, b.event) for b in blocks] == [(b"data: a\r\r\n", ev("a")), (b"\n", None)]


def test_lf_then_cr_at_eof_dispatches():
    p = SSEParser()
    assert p.feed(b"data: x\n\r") == [ev("x")]
    assert p.close() == []


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x85", "\x0b", "\x0c"])
def test_unicode_line_separators_are_not_line_endings(char):
    assert datas(f"data: a{char}b\n\n".encode()) == [f"a{char}b"]


# -- lines and fields -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, data",
    [
        (b"data: x", "x"),
        (b"data:x", "x"),
        (b"data:  x", " x"),  # only_one_leading_space_removed
        (b"data:  Hello", " Hello"),  # llm_token_with_leading_space
        (b"data:\ttest", "\ttest"),  # TAB is not the space
        (b"data: x  ", "x  "),  # trailing whitespace kept
        (b"data: a:b:c", "a:b:c"),  # first colon splits
        (b"data::", ":"),
        (b"data:", ""),
        (b"data: ", ""),
        (b"data", ""),  # no colon: whole line is the name, value ""
        (b"data:\0", "\0"),  # no NUL rule for data
        (b"data: [DONE]", "[DONE]"),  # OpenAI's end marker is an ordinary event
    ],
)
def test_data_line_value(line, data):
    assert datas(line + b"\n\n") == [data]


def test_llm_tokens_keep_their_leading_spaces():
    assert datas(b"data: Hello\n\ndata:  world\n\ndata: !\n\n") == ["Hello", " world", "!"]


@pytest.mark.parametrize("line", [b" data: x", b"data : x", b"Data: x", b"DATA: x", b"dat: x", b"\tdata: x"])
def test_field_names_are_literal_and_case_sensitive(line):
    assert datas(line + b"\n\n") == []


def test_data_lines_are_joined_with_lf():
    assert datas(b"data: a\ndata: b\ndata: c\n\n") == ["a\nb\nc"]


def test_only_one_trailing_lf_is_removed():
    assert datas(b"data: x\ndata:\n\n") == ["x\n"]
    assert datas(b"data\ndata\n\n") == ["\n"]


def test_comments_are_ignored():
    stream = b": hello\ndata: a\n:\n:data: b\n\n: keep-alive\n\n"
    assert parse(stream)[0] == [ev("a")]


def test_unknown_fields_are_ignored():
    assert datas(b"foo: bar\ndata: x\nbaz\n\n") == ["x"]


def test_whitespace_only_line_is_not_blank():
    assert datas(b"data: x\n \n\t\ndata: y\n\n") == ["x\ny"]


def test_block_without_data_fires_nothing():
    events, p = parse(b"event: foo\nretry: 10\n:c\n\n")
    assert events == []
    assert p.retry == 10


# -- event ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stream, expected",
    [
        (b"event: foo\ndata: x\n\n", ev("x", "foo")),
        (b"event:\ndata: x\n\n", ev("x")),  # format-field-event-empty
        (b"event\ndata: x\n\n", ev("x")),
        (b"event:  x\ndata: y\n\n", ev("y", " x")),
        (b"event: a\nevent: b\ndata: x\n\n", ev("x", "b")),  # the last one wins
        (b"data: x\nevent: late\n\n", ev("x", "late")),  # order inside the block does not matter
        (b"event: error\ndata: {}\n\n", ev("{}", "error")),  # Anthropic-style, no special meaning
        (b"event: ping\ndata: {}\n\n", ev("{}", "ping")),
    ],
)
def test_event_type(stream, expected):
    assert parse(stream)[0] == [expected]


def test_event_type_is_cleared_by_every_blank_line():
    assert parse(b"event: foo\n\ndata: x\n\n")[0] == [ev("x")]
    assert parse(b"event: foo\ndata: a\n\ndata: b\n\n")[0] == [ev("a", "foo"), ev("b")]


# -- id ------------------------------------------------------------------------------------------------


def test_id_is_reported_and_persists_across_events():
    events, p = parse(b"id: 1\ndata: a\n\ndata: b\n\nid: 2\ndata: c\n\n")
    assert events == [ev("a", id="1"), ev("b", id="1"), ev("c", id="2")]
    assert p.last_event_id == "2"


def test_id_after_data_in_the_same_block_applies():
    assert parse(b"data: a\nid: 9\n\n")[0] == [ev("a", id="9")]


@pytest.mark.parametrize("line", [b"id", b"id:", b"id: "])
def test_empty_id_resets_last_event_id(line):
    events, p = parse(b"id: 1\ndata: a\n\n" + line + b"\ndata: b\n\n")
    assert events == [ev("a", id="1"), ev("b", id="")]
    assert p.last_event_id == ""


@pytest.mark.parametrize("value", [b"\0\0", b"x\0", b"\0x", b"x\0x", b" \0"])
def test_id_with_nul_is_ignored(value):
    # WPT format-field-id-null: from a fresh stream, lastEventId stays "".
    events, p = parse(b"id:" + value + b"\ndata: a\n\n")
    assert events == [ev("a", id="")]
    assert p.last_event_id == ""
    # Ignored, not cleared: a previous ID is kept.
    events, p = parse(b"id: keep\ndata: a\n\nid:" + value + b"\ndata: b\n\n")
    assert events == [ev("a", id="keep"), ev("b", id="keep")]
    assert p.last_event_id == "keep"


def test_id_is_decoded_as_utf8():
    assert parse("id: é".encode() + b"\xff\ndata: a\n\n")[0] == [ev("a", id="é\ufffd")]


def test_id_only_block_commits_id():
    events, p = parse(b"id: 5\n\ndata: x\n\n")
    assert events == [ev("x", id="5")]
    p = SSEParser()
    assert p.feed(b"id: 5\n\n") == []
    assert p.last_event_id == "5"  # committed by the blank line, without any event


def test_id_only_final_block_updates_last_event_id():
    events, p = parse(b"data: a\n\nid: 7\n\n")
    assert events == [ev("a")]
    assert p.last_event_id == "7"


def test_id_in_unfinished_final_block_is_not_committed():
    events, p = parse(b"id: 1\ndata: a\n\nid: 7\n")
    assert events == [ev("a", id="1")]
    assert p.last_event_id == "1"


def test_last_event_id_not_committed_before_the_blank_line():
    p = SSEParser()
    p.feed(b"id: 3\ndata: x\n")
    assert p.last_event_id == ""
    assert p.feed(b"\n") == [ev("x", id="3")]
    assert p.last_event_id == "3"


def test_last_event_id_seed_for_reconnect():
    # WPT format-field-id: after a reconnect the server answers without an id field and the
    # event still carries the old ID.
    events, p = parse(b"data: x\n\n", last_event_id="abc")
    assert events == [ev("x", id="abc")]
    assert p.last_event_id == "abc"
    assert parse(b"id\ndata: y\n\n", last_event_id="abc")[0] == [ev("y", id="")]


def test_retry_seed_for_reconnect():
    assert parse(b"data: x\n\n", retry=1500)[0] == [ev("x", retry=1500)]
    assert parse(b"retry: 20\ndata: x\n\n", retry=1500)[0] == [ev("x", retry=20)]


# -- retry -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        (b"3000", 3000),
        (b"0", 0),
        (b"02000", 2000),  # leading zeros are decimal (WPT format-field-retry)
        (b"00000000000000000000000000000001", 1),
        (b"86400000", 86400000),
        (b"18446744073709551615", 2**64 - 1),
    ],
)
def test_retry_valid(value, expected):
    events, p = parse(b"retry: " + value + b"\ndata: x\n\n")
    assert events == [ev("x", retry=expected)]
    assert p.retry == expected


@pytest.mark.parametrize(
    "value",
    [
        "1000x",  # WPT format-field-retry-bogus
        "+5",
        "-5",
        "5.0",
        "1e3",
        "0x10",
        " 5",  # a second leading space
        "5 ",
        "5 5",
        "\t5",
        "١٢٣",  # Arabic-Indic digits: str.isdigit() would accept them
        "１２３",  # fullwidth
        "²",
        "",  # empty: ambiguous in the spec, ignored here
        "18446744073709551616",  # does not fit in 64 bits
        "9" * 5000,  # beyond int()'s 4300-digit limit: must not raise
    ],
)
def test_retry_invalid_is_ignored(value):
    stream = b"retry:2000\n\nretry: " + value.encode() + b"\ndata: x\n\n"
    events, p = parse(stream)
    assert events == [ev("x", retry=2000)]
    assert p.retry == 2000


@pytest.mark.parametrize("line", [b"retry", b"retry:"])
def test_retry_empty_without_colon_or_space_is_ignored(line):
    assert parse(b"retry:2000\n" + line + b"\ndata: x\n\n")[0] == [ev("x", retry=2000)]


def test_retry_in_undispatched_block_still_applies():
    events, p = parse(b"data: a\n\nretry: 5000\ndata: b\n")
    assert events == [ev("a")]
    assert p.retry == 5000
    p = SSEParser()
    p.feed(b"retry: 5000\n")
    assert p.retry == 5000  # at once, before any blank line


def test_retry_unterminated_last_line_discarded():
    events, p = parse(b"retry: 1000\ndata: a\n\nretry: 7000")
    assert events == [ev("a", retry=1000)]
    assert p.retry == 1000


def test_retry_is_none_until_set():
    events, p = parse(b"data: a\n\n")
    assert events == [ev("a", retry=None)]
    assert p.retry is None


def test_own_retry_is_the_valid_retry_of_the_events_own_block():
    """What httpx-sse, sseclient-py and fetch-event-source hand over with each event: the block's
    own retry field, never one carried over from an earlier block, never an invalid one."""
    events, _ = parse(
        b"retry: 50\ndata: a\n\ndata: b\n\nretry: -1\ndata: c\n\nretry: 7\n\ndata: d\n\n"
        b"retry: 9\nretry: x\ndata: e\n\n"
    )
    assert [(e.data, e.retry, e.own_retry) for e in events] == [
        ("a", 50, 50),
        ("b", 50, None),
        ("c", 50, None),
        ("d", 7, None),
        ("e", 9, 9),
    ]


# -- end of stream ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stream", [b"data: x", b"data: x\n", b"data: x\r\n", b"data: x\r", b"event: a\ndata: x\n"]
)
def test_unfinished_final_event_is_discarded(stream):
    assert parse(stream)[0] == []


def test_data_before_final_empty_line():
    # WPT format-data-before-final-empty-line.
    events, p = parse(b"retry:1000\ndata:test1\n\nid:test\ndata:test2")
    assert events == [ev("test1", retry=1000)]
    assert p.last_event_id == ""
    assert p.retry == 1000


def test_feed_after_close_is_refused():
    p = SSEParser()
    p.close()
    with pytest.raises(RuntimeError):
        p.feed(b"data: x\n\n")


# -- limits -----------------------------------------------------------------------------------------------


def test_line_of_exactly_max_line_is_accepted():
    assert SSEParser(max_line=10).feed(b"data: 1234\n\n") == [ev("1234")]


def test_line_longer_than_max_line_raises_with_its_offset():
    stream = b"data: a\n\n" + b"data: 12345\n\n"  # the long line starts at byte 9
    with pytest.raises(WireError) as whole:
        SSEParser(max_line=10).feed(stream)
    assert whole.value.offset == 9
    p = SSEParser(max_line=10)
    with pytest.raises(WireError) as bytewise:
        for i in range(len(stream)):
            p.feed(stream[i : i + 1])
    assert bytewise.value.offset == 9
    assert p.offset == 20  # noticed as soon as the unfinished line got too long


def test_long_line_without_line_ending_raises():
    p = SSEParser(max_line=100)
    p.feed(b"data: ok\n\ndata: ")
    with pytest.raises(WireError) as err:
        p.feed(b"x" * 200)
    assert err.value.offset == 10


def test_default_max_line_is_one_mib():
    line = b"data: " + b"x" * ((1 << 20) - 6)
    assert SSEParser().feed(line + b"\n\n") == [ev("x" * ((1 << 20) - 6))]
    with pytest.raises(WireError):
        SSEParser().feed(line + b"x\n\n")


def test_block_longer_than_max_block_raises():
    p = SSEParser(max_block=100)
    p.feed(b"data: a\n\n")
    with pytest.raises(WireError) as err:
        for _ in range(20):
            p.feed(b"data: 123456\n")  # lines are fine, but the block never ends
    assert err.value.offset == 9


# -- blocks -------------------------------------------------------------------------------------------------


STREAM = BOM + b": hi\nid: 1\n\nevent: e\ndata: a\r\nfoo\r\n\r\n:ping\r\rdata:b\n\ndata: tail"


def test_blocks_cover_every_byte_with_their_events():
    p = SSEParser()
    blocks = p.feed_blocks(STREAM)
    assert blocks == [
        Block(BOM + b": hi\nid: 1\n\n", None, 0),
        Block(b"event: e\ndata: a\r\nfoo\r\n\r\n", ev("a", "e", "1"), 15),
        Block(b":ping\r\r", None, 40),
        Block(b"data:b\n\n", ev("b", id="1"), 47),
    ]
    assert p.pending == b"data: tail"
    assert p.close_blocks() == [Block(b"data: tail", None, 55)]
    assert p.offset == len(STREAM)
    assert all(b.event is None or b.event.raw == b.raw for b in blocks)


def test_blocks_fed_byte_by_byte_join_to_the_input():
    p = SSEParser()
    blocks = [b for i in range(len(STREAM)) for b in p.feed_blocks(STREAM[i : i + 1])] + p.close_blocks()
    assert b"".join(b.raw for b in blocks) == STREAM
    # The blank line "\r\n" ends the second block at its CR, so its LF is a block of its own.
    assert [b.raw for b in blocks[1:4]] == [b"event: e\ndata: a\r\nfoo\r\n\r", b"\n", b":ping\r\r"]
    assert [b.offset for b in blocks] == [0, 15, 39, 40, 47, 55]
    assert [b.event for b in blocks if b.event] == [ev("a", "e", "1"), ev("b", id="1")]


def test_lf_of_a_crlf_split_after_a_blank_line_is_a_block_of_its_own():
    """The LF belongs to the block before it: a fault that moves or drops the next event must
    not take it along (sse_reorder once moved it, and the client saw different events)."""
    p = SSEParser()
    first = p.feed_blocks(b"data: a\r\n\r")
    assert first == [Block(b"data: a\r\n\r", ev("a"), 0)]  # dispatched without waiting for the LF
    rest = p.feed_blocks(b"\ndata: b\r\n\r\n")
    assert rest == [Block(b"\n", None, 10), Block(b"data: b\r\n\r\n", ev("b"), 11)]


def test_event_raw_is_the_block_bytes():
    [event] = SSEParser().feed(b": c\nid: 4\ndata: x\n\n")
    assert event.raw == b": c\nid: 4\ndata: x\n\n"


def test_feed_and_feed_blocks_can_be_mixed():
    p = SSEParser()
    assert p.feed(b"data: a\n\ndata: ") == [ev("a")]
    assert p.feed_blocks(b"b\n\n") == [Block(b"data: b\n\n", ev("b"), 9)]


def test_close_without_tail_gives_no_block():
    p = SSEParser()
    p.feed_blocks(b"data: a\n\n")
    assert p.pending == b""
    assert p.close_blocks() == []


def test_close_discards_unfinished_block():
    p = SSEParser()
    assert p.feed(b"data: a\n\ndata: b\n") == [ev("a")]
    assert p.close() == []
    assert p.pending == b""
