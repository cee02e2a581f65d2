"""Head size limits (faultproxy.wire.limits): each limit at its edge, refused the moment it is
passed whatever the reads, with the status a server answers; lenient readers pass the bytes on."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faultproxy.wire.chunked import Malformed, Unparsed
from faultproxy.wire.errors import WireError
from faultproxy.wire.http import EndOfMessage, HTTPReader, Request, find_head_end
from faultproxy.wire.limits import DEFAULT_LIMITS, HeadLimits

MAX_LINE, MAX_FIELDS, MAX_HEAD = DEFAULT_LIMITS.max_line, DEFAULT_LIMITS.max_fields, DEFAULT_LIMITS.max_head


def fields(count: int, value: bytes = b"v") -> bytes:
    return b"".join(b"X-%d: %s\r\n" % (i, value) for i in range(count))


def read(
    data: bytes, piece: int | None = None, *, role: str = "request", limits: HeadLimits = DEFAULT_LIMITS
):
    """The events, or the error as (reason, offset, status); fed whole or in ``piece``-byte reads."""
    reader = HTTPReader(role, limits=limits)
    size = piece or len(data) or 1
    try:
        return [e for i in range(0, len(data), size) for e in reader.feed(data[i : i + size])]
    except WireError as error:
        return error.reason, error.offset, error.status


def verdict_everywhere(data: bytes, **kw):
    """The reader's verdict, checked to be the same however the bytes were split."""
    whole = read(data, **kw)
    for piece in (1, 7, 1000):
        assert read(data, piece, **kw) == whole
    return whole


def accepted(result) -> bool:
    return (
        isinstance(result, list)
        and bool(result)
        and isinstance(result[0], Request)
        and result[-1] == EndOfMessage()
    )


# -- each limit at its edge --------------------------------------------------------------------


def test_the_defaults_are_nginx_sized():
    assert (MAX_LINE, MAX_FIELDS, MAX_HEAD) == (8192, 100, 32768)


def test_a_request_line_of_the_limit_passes_and_one_byte_more_is_414():
    start = b"GET /"
    tail = b" HTTP/1.1"
    line = start + b"a" * (MAX_LINE - len(start) - len(tail)) + tail
    assert len(line) == MAX_LINE
    assert accepted(verdict_everywhere(line + b"\r\n\r\n"))
    longer = start + b"a" * (MAX_LINE - len(start) - len(tail) + 1) + tail
    assert verdict_everywhere(longer + b"\r\n\r\n") == (f"request line longer than {MAX_LINE} bytes", 0, 414)


def test_a_request_line_that_never_ends_is_refused_after_the_limit_not_at_the_end():
    reader = HTTPReader("request")
    assert reader.feed(b"GET /" + b"a" * (MAX_LINE - 5)) == []  # the limit itself: still waiting
    with pytest.raises(WireError) as caught:
        reader.feed(b"a")
    assert (caught.value.reason, caught.value.status) == (f"request line longer than {MAX_LINE} bytes", 414)


def test_a_cr_at_the_limit_may_still_be_the_line_ending():
    reader = HTTPReader("request")
    line = b"GET /" + b"a" * (MAX_LINE - 14) + b" HTTP/1.1"
    assert reader.feed(line + b"\r") == []
    events = reader.feed(b"\n\r\n")
    assert events[0].target == b"/" + b"a" * (MAX_LINE - 14)


def test_a_header_line_over_the_limit_is_431_at_its_offset():
    before = b"GET / HTTP/1.1\r\nHost: h\r\n"
    ok = b"X-Long: " + b"a" * (MAX_LINE - 8)
    assert accepted(verdict_everywhere(before + ok + b"\r\n\r\n"))
    over = ok + b"a"
    assert verdict_everywhere(before + over + b"\r\n\r\n") == (
        f"header line longer than {MAX_LINE} bytes",
        len(before),
        431,
    )


def test_more_header_fields_than_the_limit_is_431_at_the_first_one_too_many():
    start = b"GET / HTTP/1.1\r\n"
    assert accepted(verdict_everywhere(start + fields(MAX_FIELDS) + b"\r\n"))
    data = start + fields(MAX_FIELDS + 1) + b"\r\n"
    assert verdict_everywhere(data) == (
        f"more than {MAX_FIELDS} header fields",
        len(start + fields(MAX_FIELDS)),
        431,
    )


def test_a_head_of_exactly_the_limit_passes_and_one_byte_more_is_431():
    start = b"GET / HTTP/1.1\r\n"
    body = fields(8, b"a" * 3995)  # 8 lines of 4002 bytes
    pad = MAX_HEAD - len(start) - len(body) - len(b"X-Pad: \r\n\r\n")
    assert 0 < pad < MAX_LINE - 7
    head = start + body + b"X-Pad: " + b"p" * pad + b"\r\n\r\n"
    assert len(head) == MAX_HEAD
    assert accepted(verdict_everywhere(head))
    bigger = head.replace(b"X-Pad: ", b"X-Pad: p")
    assert verdict_everywhere(bigger) == (f"request head larger than {MAX_HEAD} bytes", 0, 431)


@pytest.mark.parametrize(
    "size, lines, reason",
    [
        (10, MAX_FIELDS + 1, f"more than {MAX_FIELDS} header fields"),
        (
            400,
            (MAX_HEAD - 16) // 400 + 1,
            f"request head larger than {MAX_HEAD} bytes",
        ),  # 16: the request line
    ],
)
def test_header_lines_that_never_end_are_refused_at_the_first_limit_they_pass(size, lines, reason):
    """Header lines forever and no blank line: the slowloris of bytes, bounded either way."""
    reader = HTTPReader("request")
    reader.feed(b"GET / HTTP/1.1\r\n")
    with pytest.raises(WireError) as caught:
        for i in range(MAX_HEAD):
            reader.feed(b"X-%05d: %s\r\n" % (i, b"v" * (size - 11)))
    assert (caught.value.reason, caught.value.status, i + 1) == (reason, 431, lines)


def test_empty_lines_before_a_request_are_no_fields_but_count_as_head_bytes():
    data = b"\r\n" * (MAX_FIELDS + 5) + b"GET / HTTP/1.1\r\n\r\n"
    assert accepted(verdict_everywhere(data))
    endless = b"\r\n" * (MAX_HEAD // 2 + 1)
    assert verdict_everywhere(endless) == (f"request head larger than {MAX_HEAD} bytes", 0, 431)


def test_each_head_on_a_kept_alive_connection_is_checked_afresh():
    one = b"GET / HTTP/1.1\r\n" + fields(MAX_FIELDS) + b"\r\n"
    events = verdict_everywhere(one * 3)
    assert sum(isinstance(e, Request) for e in events) == 3
    reason, offset, _ = verdict_everywhere(one * 2 + b"GET / HTTP/1.1\r\n" + fields(MAX_FIELDS + 1) + b"\r\n")
    assert reason == f"more than {MAX_FIELDS} header fields"
    assert offset == 2 * len(one) + 16 + len(fields(MAX_FIELDS))


def test_limits_are_configurable():
    small = HeadLimits(max_head=64, max_line=30, max_fields=2)
    assert read(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n", limits=small)[0].headers.get("b") == b"2"
    assert (
        read(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits=small)[0]
        == "more than 2 header fields"
    )
    assert read(b"GET /" + b"a" * 30 + b" HTTP/1.1\r\n\r\n", limits=small)[2] == 414
    big = HeadLimits(max_head=1 << 20, max_line=1 << 20, max_fields=10_000)
    assert accepted(read(b"GET / HTTP/1.1\r\n" + fields(5000, b"x" * 100) + b"\r\n", limits=big))


@pytest.mark.parametrize("field", ["max_head", "max_line", "max_fields"])
@pytest.mark.parametrize("value", [0, -1, True, 1.5, "8k"])
def test_a_limit_that_is_no_positive_whole_number_is_refused(field, value):
    with pytest.raises(ValueError, match=f"{field} must be a whole number of at least 1, not {value!r}"):
        HeadLimits(**{field: value})


# -- the response side: the bytes go on -------------------------------------------------------


@pytest.mark.parametrize(
    "head, reason",
    [
        (b"HTTP/1.1 200 " + b"K" * MAX_LINE + b"\r\n\r\n", f"status line longer than {MAX_LINE} bytes"),
        (b"HTTP/1.1 200 OK\r\n" + fields(MAX_FIELDS + 1) + b"\r\n", f"more than {MAX_FIELDS} header fields"),
        (
            b"HTTP/1.1 200 OK\r\n" + fields(10, b"v" * 4000) + b"\r\n",
            f"response head larger than {MAX_HEAD} bytes",
        ),
    ],
)
def test_a_response_head_over_a_limit_is_passed_on_as_bytes_by_a_lenient_reader(head, reason):
    data = head + b"body bytes"
    for piece in (len(data), 1, 333):
        reader = HTTPReader("response", strict=False)
        events = [e for i in range(0, len(data), piece) for e in reader.feed(data[i : i + piece])]
        assert [e for e in events if isinstance(e, Malformed)] == [Malformed(reason, events[0].offset, 431)]
        assert b"".join(e.raw for e in events) == data
        assert all(isinstance(e, (Malformed, Unparsed)) for e in events)


# -- any head, any limits, any reads -----------------------------------------------------------


@st.composite
def heads(draw):
    """Requests of random line lengths and counts, some without their blank line yet."""
    leading = b"\r\n" * draw(st.integers(0, 3))
    start = b"GET /" + b"a" * draw(st.integers(0, 60)) + b" HTTP/1.1"
    lines = [
        b"X-%d: %s" % (i, b"v" * n) for i, n in enumerate(draw(st.lists(st.integers(0, 60), max_size=10)))
    ]
    ending = draw(st.sampled_from([b"\r\n", b"\r", b""]))
    return leading + b"".join(line + b"\r\n" for line in [start, *lines]) + ending


limit_sets = st.builds(HeadLimits, st.integers(20, 400), st.integers(5, 70), st.integers(1, 8))
cut_lists = st.lists(st.integers(min_value=1, max_value=500), max_size=8)


def line_at(data: bytes, offset: int) -> bytes:
    line = data[offset:].split(b"\n", 1)[0]
    return line.removesuffix(b"\r")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(heads(), limit_sets, cut_lists)
def test_a_head_is_refused_exactly_when_over_a_limit_and_whatever_the_reads(data, limits, cuts):
    whole = read(data, limits=limits)
    assert read(data, 1, limits=limits) == whole
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    reader, split = HTTPReader("request", limits=limits), []
    try:
        for a, b in zip(points, points[1:]):
            split += reader.feed(data[a:b])
    except WireError as error:
        split = (error.reason, error.offset, error.status)
    assert split == whole

    end = find_head_end(data)
    head = data[: end if end >= 0 else len(data)]
    lines = [line.removesuffix(b"\r") for line in head.split(b"\n")]
    with_content = [line for line in lines if line]
    within = (
        all(len(line) <= limits.max_line for line in lines)
        and len(with_content) - 1 <= limits.max_fields
        and len(head) <= limits.max_head
    )
    if isinstance(whole, list):  # accepted, or still waiting for the rest of the head
        assert within
        assert accepted(whole) == (end >= 0)
        return
    reason, offset, status = whole
    if "line longer" in reason:
        assert len(line_at(data, offset)) > limits.max_line
        assert status == (414 if line_at(data, offset).startswith(b"GET") else 431)
    elif "header fields" in reason:
        assert line_at(data, offset).startswith(b"X-%d:" % limits.max_fields)  # the first one too many
    else:
        assert reason == f"request head larger than {limits.max_head} bytes" and (
            end < 0 or end > limits.max_head
        )
        assert status == 431 and offset == 0
