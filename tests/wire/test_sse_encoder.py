"""encode_event / encode_comment: exact bytes, and what a correct parser makes of each variant."""

import pytest

from faultproxy.wire.sse import Event, SSEParser, encode_comment, encode_event


def ev(data: str, type: str = "message", id: str = "", retry: int | None = None) -> Event:
    return Event(type, data, id, retry)


def parse(*pieces: bytes) -> list[Event]:
    p = SSEParser()
    return [e for piece in pieces for e in p.feed(piece)] + p.close()


# -- valid output -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, wire",
    [
        ({"data": "hello"}, b"data: hello\n\n"),
        ({"data": ""}, b"data:\n\n"),
        ({"data": " Hello"}, b"data:  Hello\n\n"),  # the leading space of an LLM token survives
        ({"data": "a\nb\r\nc\rd"}, b"data: a\ndata: b\ndata: c\ndata: d\n\n"),
        ({"data": "x\n"}, b"data: x\ndata:\n\n"),
        ({"data": "é😀"}, "data: é😀\n\n".encode()),
        ({"data": "[DONE]"}, b"data: [DONE]\n\n"),
        (
            {"data": "x", "comment": "c", "event": "e", "id": "7", "retry": 3000},
            b": c\nevent: e\nid: 7\nretry: 3000\ndata: x\n\n",
        ),
        ({"data": "x", "id": ""}, b"id:\ndata: x\n\n"),  # resets the last event ID
        ({"data": "x", "event": ""}, b"event:\ndata: x\n\n"),
        ({"data": "x", "retry": 0}, b"retry: 0\ndata: x\n\n"),
        ({"data": "x", "comment": "one\ntwo"}, b": one\n: two\ndata: x\n\n"),
        ({"data": "x", "comment": ""}, b":\ndata: x\n\n"),
    ],
)
def test_encode_event_bytes(kwargs, wire):
    assert encode_event(**kwargs) == wire


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"data": "hello"}, ev("hello")),
        ({"data": ""}, ev("")),  # an empty data line still fires an event
        ({"data": " Hello"}, ev(" Hello")),
        ({"data": "a\nb\r\nc\rd"}, ev("a\nb\nc\nd")),
        ({"data": "x\n"}, ev("x\n")),
        ({"data": "x", "comment": "c", "event": "e", "id": "7", "retry": 3000}, ev("x", "e", "7", 3000)),
        ({"data": "x", "event": ""}, ev("x")),
    ],
)
def test_encoded_event_parses_back(kwargs, expected):
    assert parse(encode_event(**kwargs)) == [expected]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"event": "a\nb"},
        {"event": "a\r"},
        {"id": "1\n"},
        {"id": "\r1"},
        {"id": "x\0"},  # parsers ignore such an id
        {"retry": -1},
        {"retry": 2**64},
        {"line_ending": "\n\n"},
        {"line_ending": ""},
    ],
)
def test_values_no_stream_can_carry_are_refused(kwargs):
    with pytest.raises(ValueError):
        encode_event("x", **kwargs)


def test_nul_in_event_and_data_is_allowed():
    assert parse(encode_event("\0", event="a\0")) == [ev("\0", "a\0")]


# -- comments -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, wire",
    [
        ((), b":\n"),
        (("ping",), b": ping\n"),
        (("a\nb",), b": a\n: b\n"),
        (("ping", "\r\n"), b": ping\r\n"),
        (("ping", "\r"), b": ping\r"),
    ],
)
def test_encode_comment_bytes(args, wire):
    assert encode_comment(*args) == wire


def test_comment_keep_alive_fires_nothing_and_does_not_disturb_the_next_event():
    assert parse(encode_comment("ping") + encode_comment() + encode_event("x")) == [ev("x")]
    assert parse(encode_comment("ping") + b"\n") == []


def test_encode_comment_refuses_bad_line_ending():
    with pytest.raises(ValueError):
        encode_comment("x", line_ending="\n\r")


# -- the broken variants -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, wire",
    [
        ({"line_ending": "\r"}, b"event: t\rdata: a\rdata: b\r\r"),
        ({"line_ending": "\r\n"}, b"event: t\r\ndata: a\r\ndata: b\r\n\r\n"),
        ({"space": False}, b"event:t\ndata:a\ndata:b\n\n"),
        ({"terminate": False}, b"event: t\ndata: a\ndata: b\n"),
        ({"bom": True}, b"\xef\xbb\xbfevent: t\ndata: a\ndata: b\n\n"),
        ({"invalid_utf8": True}, b"event: t\ndata: \xffa\ndata: b\n\n"),
        ({"field_typo": True}, b"event: t\ndta: a\ndta: b\n\n"),
    ],
)
def test_variant_bytes(kwargs, wire):
    assert encode_event("a\nb", event="t", **kwargs) == wire


@pytest.mark.parametrize("line_ending", ["\n", "\r", "\r\n"])
@pytest.mark.parametrize("space", [True, False])
def test_line_ending_and_space_variants_parse_like_the_default(line_ending, space):
    kwargs = {"event": "t", "id": "9", "retry": 5, "comment": "c"}
    wire = encode_event("a\n b", line_ending=line_ending, space=space, **kwargs)
    assert parse(wire) == parse(encode_event("a\n b", **kwargs)) == [ev("a\n b", "t", "9", 5)]


def test_space_false_keeps_the_space_a_value_needs():
    # Dropping it would turn " x" into "x": the variant must not change the event.
    assert encode_event(" x", space=False) == b"data:  x\n\n"
    assert parse(encode_event(" x", space=False)) == [ev(" x")]


def test_cr_only_event_dispatches_without_waiting_for_more_bytes():
    p = SSEParser()
    assert p.feed(encode_event("x", line_ending="\r")) == [ev("x")]


def test_unterminated_event_merges_with_the_next():
    wire = encode_event("a", event="first", terminate=False) + encode_event("b", event="second")
    assert parse(wire) == [ev("a\nb", "second")]


def test_unterminated_event_at_end_of_stream_is_lost():
    assert parse(encode_event("a"), encode_event("b", terminate=False)) == [ev("a")]


def test_field_typo_drops_the_event():
    assert parse(encode_event("a", field_typo=True)) == []
    assert parse(encode_event("a", field_typo=True) + encode_event("b")) == [ev("b")]


def test_field_typo_block_still_commits_its_id():
    assert parse(encode_event("a", id="5", field_typo=True) + encode_event("b")) == [ev("b", id="5")]


def test_bom_at_stream_start_is_stripped():
    assert parse(encode_event("1", bom=True) + encode_event("2")) == [ev("1"), ev("2")]


def test_bom_mid_stream_makes_the_line_an_unknown_field():
    wire = encode_event("1") + encode_event("2", bom=True) + encode_event("3")
    assert parse(wire) == [ev("1"), ev("3")]


def test_bom_mid_stream_spoils_only_the_first_line():
    # With an event line first, only that line is lost; the data still fires as "message".
    wire = encode_event("1") + encode_event("2", event="t", bom=True)
    assert parse(wire) == [ev("1"), ev("2")]


def test_invalid_utf8_becomes_a_replacement_character():
    assert parse(encode_event("a\nb", invalid_utf8=True)) == [ev("\ufffda\nb")]
    assert parse(encode_event("", invalid_utf8=True)) == [ev("\ufffd")]
