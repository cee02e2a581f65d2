"""The conformance cases: exact response bytes and what a WHATWG EventSource makes of them.

Each case restates one published conformance test -- a web-platform-tests ``eventsource/``
test (``suite="wpt"``) or a LaunchDarkly ``sse-contract-tests`` test (``suite="ld"``),
named in ``upstream`` -- as the bytes a server sends and the events that the WHATWG HTML
§9.2.6 algorithm ("Interpreting an event stream") derives from them. The bytes and the
expectations were derived here from the spec, not taken from those suites; ``docs/conformance.md``
explains each rule and lists the cases.

``events`` are what the application must see, in order: type, data and the last event ID
(``lastEventId``: "" when none is set). ``check_ids`` says whether a client's ids are judged
(only in the cases about ids: many libraries expose only an event's own ``id`` field, which
is a limitation to report where it matters, not in every parsing case).

A case with several ``responses`` is a reconnection case: the server sends response *k* to
the *k*-th request, and ``last_event_ids[k-1]`` is the ``Last-Event-ID`` header request *k+1*
must carry (None: no header). A case with ``stops`` must make the client give up: no event,
no second request (WHATWG "fail the connection").
"""

from __future__ import annotations

from dataclasses import dataclass

BOM = b"\xef\xbb\xbf"
SPEC = "https://html.spec.whatwg.org/multipage/server-sent-events.html"
WPT = "web-platform-tests eventsource/"
LD = "sse-contract-tests"


@dataclass(frozen=True)
class Expected:
    """One event as the application must receive it."""

    data: str
    type: str = "message"
    id: str = ""  # the last event ID string at dispatch


@dataclass(frozen=True)
class Response:
    """What the server answers one request with; the body is never framed (the connection's end ends it)."""

    body: bytes
    status: int = 200
    content_type: str = "text/event-stream"


@dataclass(frozen=True)
class Case:
    name: str
    suite: str  # "wpt" or "ld"
    upstream: str  # the upstream test this case restates
    rule: str  # the spec rule it checks, in a few words, with the spec's anchor
    responses: tuple[Response, ...]
    events: tuple[Expected, ...] = ()
    check_ids: bool = False
    last_event_ids: tuple[str | None, ...] = ()  # the Last-Event-ID of requests 2, 3, ...
    stops: bool = False  # the client must fail the connection: no events, no reconnect
    cuts: tuple[str, ...] | None = None  # its own chunkings (None: every chosen one); see chunking.py
    retry: int | None = None  # the reconnection time after the last response (checked on wire/sse.py)

    @property
    def reconnects(self) -> bool:
        return len(self.responses) > 1

    @property
    def kind(self) -> str:
        return "request" if self.reconnects or self.stops else "parsing"


def _one(
    name: str,
    suite: str,
    upstream: str,
    rule: str,
    body: bytes,
    *events: Expected,
    check_ids: bool = False,
    content_type: str = "text/event-stream",
    retry: int | None = None,
) -> Case:
    return Case(
        name,
        suite,
        upstream,
        rule,
        (Response(body, content_type=content_type),),
        tuple(events),
        check_ids=check_ids,
        retry=retry,
    )


def _status(code: int) -> Case:
    return Case(
        f"wpt-status-{code}",
        "wpt",
        f"{WPT}request-status-error.window.js ({code})",
        "a status other than 200 fails the connection: no event, no reconnect (#sse-processing-model)",
        (Response(b"" if code in (204, 205) else b"data: must not be seen\n\n", status=code),),
        stops=True,
        cuts=WHOLE,
    )


E = Expected
WHOLE = ("whole",)  # a body that must not be parsed at all is sent in one piece
_LONG = b"x" * 300

_WPT_CASES = (
    _one(
        "wpt-bom",
        "wpt",
        f"{WPT}format-bom.any.js",
        "one BOM is stripped at stream offset 0 only; a later one makes its line an unknown field",
        BOM + b"data:1\n\n" + BOM + b"data:2\n\ndata:3\n\n",
        E("1"),
        E("3"),
    ),
    _one(
        "wpt-bom-2",
        "wpt",
        f"{WPT}format-bom-2.any.js",
        "only the first of two BOMs is stripped, so the first block's field is unknown",
        BOM + BOM + b"data:1\n\ndata:2\n\ndata:3\n\n",
        E("2"),
        E("3"),
    ),
    _one(
        "wpt-comments",
        "wpt",
        f"{WPT}format-comments.any.js",
        "comment lines (any content, any line ending) are ignored inside a block",
        b"data:1\r:\x00\n:\r\ndata:2\n:" + _LONG + b"\rdata:3\n:data:fail\r:" + _LONG + b"\ndata:4\n\n",
        E("1\n2\n3\n4"),
    ),
    _one(
        "wpt-field-parsing",
        "wpt",
        f"{WPT}format-field-parsing.any.js",
        "field names are exact: case, NUL, leading space and other characters make unknown fields",
        b"data:\x00\ndata:  2\rData:1\ndata\x00:2\ndata:1\r\x00data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n"
        b" data:32\ndata:4\n\n",
        E("\x00\n 2\n1\n3\n\n4"),
    ),
    _one(
        "wpt-field-data",
        "wpt",
        f"{WPT}format-field-data.any.js",
        "'data:' and a bare 'data' append an empty line; one trailing LF is removed at dispatch",
        b"data:\n\ndata\ndata\n\ndata:test\n\n",
        E(""),
        E("\n"),
        E("test"),
    ),
    _one(
        "wpt-leading-space",
        "wpt",
        f"{WPT}format-leading-space.any.js",
        "exactly one leading U+0020 is removed from a value; a TAB is kept",
        b"data:\ttest\rdata: \ndata:  two\n\n",
        E("\ttest\n\n two"),
    ),
    _one(
        "wpt-newlines",
        "wpt",
        f"{WPT}format-newlines.any.js",
        "CRLF, LF and CR all end lines, mixed in one block",
        b"data:test\r\ndata\ndata:test\r\n\r\n",
        E("test\n\ntest"),
    ),
    _one(
        "wpt-null-character",
        "wpt",
        f"{WPT}format-null-character.html",
        "a NUL in data is data",
        b"data:\x00\n\n",
        E("\x00"),
    ),
    _one(
        "wpt-field-event",
        "wpt",
        f"{WPT}format-field-event.any.js",
        "'event' sets the type of the next dispatch only; the type resets after every blank line",
        b"event:test\ndata:x\n\ndata:x\n\n",
        E("x", "test"),
        E("x"),
    ),
    _one(
        "wpt-field-event-empty",
        "wpt",
        f"{WPT}format-field-event-empty.htm",
        "an empty 'event' value dispatches as 'message'",
        b"event: \ndata:data\n\n",
        E("data"),
    ),
    _one(
        "wpt-field-unknown",
        "wpt",
        f"{WPT}format-field-unknown.htm",
        "unknown fields are ignored",
        b"data:test\n unknown_field:unknown\n\n",
        E("test"),
    ),
    _one(
        "wpt-field-id",
        "wpt",
        f"{WPT}format-field-id.any.js",
        "the last event ID persists to later events that carry no 'id' (#dispatchMessage)",
        b"id: 1\ndata: a\n\ndata: b\n\n",
        E("a", id="1"),
        E("b", id="1"),
        check_ids=True,
    ),
    _one(
        "wpt-field-id-2",
        "wpt",
        f"{WPT}format-field-id-2.any.js",
        "an 'id' line may come after the data lines of its block",
        b"data: a\nid: x\n\ndata: b\nid: y\n\n",
        E("a", id="x"),
        E("b", id="y"),
        check_ids=True,
    ),
    _one(
        "wpt-field-id-3",
        "wpt",
        f"{WPT}format-field-id-3.window.js",
        "an empty 'id' resets the last event ID to ''",
        b"id: 1\ndata: a\n\nid\ndata: b\n\n",
        E("a", id="1"),
        E("b", id=""),
        check_ids=True,
    ),
    _one(
        "wpt-field-id-null",
        "wpt",
        f"{WPT}format-field-id-null.window.js",
        "an 'id' containing NUL is ignored: the previous last event ID stays (#processField)",
        b"id: 1\ndata: a\n\nid: x\x00y\ndata: b\n\n",
        E("a", id="1"),
        E("b", id="1"),
        check_ids=True,
    ),
    _one(
        "wpt-field-retry",
        "wpt",
        f"{WPT}format-field-retry.htm",
        "'retry' with leading zeros is decimal milliseconds; it dispatches nothing itself",
        b"retry:03000\ndata:x\n\n",
        E("x"),
        retry=3000,
    ),
    _one(
        "wpt-field-retry-bogus",
        "wpt",
        f"{WPT}format-field-retry-bogus.htm",
        "a 'retry' that is not only ASCII digits is ignored (the earlier value stays) and breaks nothing",
        b"retry:2000\nretry:1000x\ndata:x\n\n",
        E("x"),
        retry=2000,
    ),
    _one(
        "wpt-field-retry-empty",
        "wpt",
        f"{WPT}format-field-retry-empty.any.js",
        "an empty 'retry' is ignored and the event still fires",
        b"retry\ndata:test\n\n",
        E("test"),
    ),
    _one(
        "wpt-final-block",
        "wpt",
        f"{WPT}format-data-before-final-empty-line.any.js",
        "an unfinished block at end of stream is discarded, its 'id' too",
        b"retry:1000\ndata:test1\n\nid:test\ndata:test2",
        E("test1"),
        check_ids=True,
        retry=1000,
    ),
    _one(
        "wpt-utf-8",
        "wpt",
        f"{WPT}format-utf-8.any.js",
        "the stream is always UTF-8, whatever the charset parameter says",
        b"data:ok\xe2\x80\xa6\n\n",
        E("ok\u2026"),
        content_type="text/event-stream;charset=windows-1252",
    ),
    _one(
        "wpt-mime-trailing-semicolon",
        "wpt",
        f"{WPT}format-mime-trailing-semicolon.any.js",
        "the Content-Type is compared by essence: 'text/event-stream;' is accepted",
        b"data:x\n\n",
        E("x"),
        content_type="text/event-stream;",
    ),
    Case(
        "wpt-mime-bogus",
        "wpt",
        f"{WPT}format-mime-valid-bogus.any.js",
        "a Content-Type other than text/event-stream fails the connection",
        (Response(b"data:x\n\n", content_type="text/x-bogus"),),
        stops=True,
        cuts=WHOLE,
    ),
    *(_status(code) for code in (204, 205, 210, 299, 404, 410, 500, 503)),
    Case(
        "wpt-reconnect",
        "wpt",
        f"{WPT}eventsource-reconnect.window.js; format-field-id.any.js",
        "a body that ends cleanly is reconnected, with Last-Event-ID; the ID persists on the new stream",
        (Response(b"retry: 100\nid: 1\ndata: a\n\n"), Response(b"data: b\n\n")),
        (E("a", id="1"), E("b", id="1")),
        check_ids=True,
        last_event_ids=("1",),
    ),
    Case(
        "wpt-reconnect-final-block",
        "wpt",
        f"{WPT}format-data-before-final-empty-line.any.js",
        "the 'id' of a discarded final block is not sent as Last-Event-ID",
        (Response(b"retry: 100\ndata:test1\n\nid:test\ndata:test2"), Response(b"data: again\n\n")),
        (E("test1"), E("again")),
        check_ids=True,
        last_event_ids=(None,),
    ),
    Case(
        "wpt-reconnect-id-null",
        "wpt",
        f"{WPT}format-field-id-null.window.js; {LD}: reconnection / sends ID of last received event",
        "an 'id' with NUL is ignored, so the reconnect carries the last ID that was "
        "set (#processField, #reestablish-the-connection)",
        (Response(b"retry: 100\nid: 1\ndata: a\n\nid: x\x00y\ndata: b\n\n"), Response(b"data: c\n\n")),
        (E("a", id="1"), E("b", id="1"), E("c", id="1")),
        check_ids=True,
        last_event_ids=("1",),
    ),
)

_LINES = {"lf": b"\n", "crlf": b"\r\n", "cr": b"\r"}


def _linefeeds(label: str, eol: bytes) -> Case:
    body = b"".join(
        line + eol
        for line in (
            b"data: event 1",
            b"",
            b"data: event 2 line 1",
            b"data: event 2 line 2",
            b"",
            b"data:",
            b"data: line2",
            b"data: line3",
            b"",
            b"data: line1",
            b"data:",
            b"data: line3",
            b"",
            b"",
            b"data: event 3",
            b"",
            b"",
            b"",
            b"data: event 4",
            b"",
        )
    )
    return Case(
        f"ld-linefeeds-{label}",
        "ld",
        f"{LD}: linefeeds / {label.upper()} separator (one-line event + two-line event; 3-line event with "
        "empty line at beginning / in middle; ignores 1 / 2 extra empty lines)",
        f"{label.upper()} ends lines; extra blank lines dispatch nothing",
        (Response(body),),
        (
            E("event 1"),
            E("event 2 line 1\nevent 2 line 2"),
            E("\nline2\nline3"),
            E("line1\n\nline3"),
            E("event 3"),
            E("event 4"),
        ),
    )


_LD_CASES = (
    _one(
        "ld-one-line",
        "ld",
        f"{LD}: basic parsing / one-line message in one chunk",
        "one 'data' line, one event",
        b"data: Hello\n\n",
        E("Hello"),
    ),
    _one(
        "ld-shared-chunk",
        "ld",
        f"{LD}: basic parsing / two messages spanning 3 chunks with shared chunk",
        "lines and blocks are independent of reads",
        b"data: testtest\n\ndata:test\n\n",
        E("testtest"),
        E("test"),
    ),
    Case(
        "ld-large-message",
        "ld",
        f"{LD}: basic parsing / large message in one chunk / in two chunks",
        "a 64 KiB line is one event",
        (Response(b"data: " + b"0123456789abcdef" * 4096 + b"\n\n"),),
        (E("0123456789abcdef" * 4096),),
        cuts=("whole", "halves"),
    ),
    _one(
        "ld-two-messages",
        "ld",
        f"{LD}: basic parsing / two one-line messages in one chunk",
        "two blocks, two events",
        b"data: Hello\n\ndata: World\n\n",
        E("Hello"),
        E("World"),
    ),
    _one(
        "ld-two-line-message",
        "ld",
        f"{LD}: basic parsing / one two-line message in one chunk",
        "data lines join with LF",
        b"data: Hello\ndata:World\n\n",
        E("Hello\nWorld"),
    ),
    _one(
        "ld-empty-data",
        "ld",
        f"{LD}: basic parsing / empty data",
        "'data:' alone dispatches ''",
        b"data:\n\n",
        E(""),
    ),
    _one(
        "ld-event-type",
        "ld",
        f"{LD}: basic parsing / event with specific type; default event type",
        "'event' names the type; none means 'message'",
        b"event: greeting\ndata: Hello\n\ndata: Hello\n\n",
        E("Hello", "greeting"),
        E("Hello"),
    ),
    _one(
        "ld-type-and-id",
        "ld",
        f"{LD}: basic parsing / event with ID; event with type and ID",
        "type and id fields together",
        b"event: greeting\nid: abc\ndata: Hello\n\n",
        E("Hello", "greeting", "abc"),
        check_ids=True,
    ),
    _one(
        "ld-id-null",
        "ld",
        f"{LD}: basic parsing / ID field is ignored if it contains a null",
        "an 'id' with NUL is ignored",
        b"id: a\x00bc\ndata: Hello\n\n",
        E("Hello", id=""),
        check_ids=True,
    ),
    _one(
        "ld-id-persists",
        "ld",
        f"{LD}: basic parsing / last ID persists if not overridden by later event",
        "the last event ID persists",
        b"id: abc\ndata: first\n\ndata: second\n\n",
        E("first", id="abc"),
        E("second", id="abc"),
        check_ids=True,
    ),
    _one(
        "ld-id-empty-overrides",
        "ld",
        f"{LD}: basic parsing / last ID can be overridden by an empty value",
        "an empty 'id' resets the last event ID",
        b"id: abc\ndata: first\n\nid: \ndata: second\n\n",
        E("first", id="abc"),
        E("second", id=""),
        check_ids=True,
    ),
    _one(
        "ld-bom-start",
        "ld",
        f"{LD}: BOM / BOM at start of stream is stripped; BOM stripped with multiple "
        "messages; BOM split across first two chunks; BOM split byte by byte across chunks",
        "the BOM at offset 0 is stripped, however it is split",
        BOM + b"data: First\n\ndata: Second\n\n",
        E("First"),
        E("Second"),
    ),
    _one(
        "ld-bom-type-and-id",
        "ld",
        f"{LD}: BOM / BOM stripped before first event with type and ID",
        "after the BOM the first field is an ordinary field",
        BOM + b"event: greeting\nid: abc\ndata: Hello\n\n",
        E("Hello", "greeting", "abc"),
        check_ids=True,
    ),
    _one(
        "ld-bom-later-data",
        "ld",
        f"{LD}: BOM / BOM only stripped at stream start, not from later data",
        "a BOM inside a value is data",
        b"data: First\n\ndata: " + BOM + b"Second\n\n",
        E("First"),
        E("\ufeffSecond"),
    ),
    _one(
        "ld-bom-only-first",
        "ld",
        f"{LD}: BOM / only first BOM at start is stripped",
        "the BOM is stripped once",
        BOM + b"data: " + BOM + b"Hello\n\n",
        E("\ufeffHello"),
    ),
    _one(
        "ld-bom-multiline",
        "ld",
        f"{LD}: BOM / BOM with multi-line data",
        "the BOM does not touch later lines",
        BOM + b"data: Line1\ndata: Line2\n\n",
        E("Line1\nLine2"),
    ),
    _one(
        "ld-bom-comment",
        "ld",
        f"{LD}: BOM / BOM with comment at start",
        "a comment after the BOM is a comment",
        BOM + b":comment\ndata: Hello\n\n",
        E("Hello"),
    ),
    _one(
        "ld-bom-empty-data",
        "ld",
        f"{LD}: BOM / BOM does not affect empty data field",
        "'data:' after the BOM dispatches ''",
        BOM + b"data:\n\n",
        E(""),
    ),
    _one(
        "ld-comments",
        "ld",
        f"{LD}: comments / single comment; two comments in a row; comment before event; comment after event",
        "comments dispatch nothing",
        b":Hello\n:World\ndata: Hello\n\n:Hello\n",
        E("Hello"),
    ),
    *(_linefeeds(label, eol) for label, eol in _LINES.items()),
    *(
        _one(
            f"ld-one-line-events-{label}",
            "ld",
            f"{LD}: linefeeds / {label.upper()} separator / one-line event",
            f"{label.upper()} ends lines and blocks",
            b"data: event 1" + eol * 2 + b"data: event 2" + eol * 2,
            E("event 1"),
            E("event 2"),
        )
        for label, eol in _LINES.items()
    ),
    _one(
        "ld-crlf-split",
        "ld",
        f"{LD}: linefeeds / CRLF where CR is end of 1 chunk",
        "a CR ends its line at once and a following LF is skipped, even in the next read",
        b"data: Hello\r\ndata: World\r\n\r\ndata: OK\r\n\r\n",
        E("Hello\nWorld"),
        E("OK"),
    ),
    Case(
        "ld-reconnect-id",
        "ld",
        f"{LD}: reconnection / sends ID of last received event",
        "the reconnect carries the last event ID",
        (Response(b"retry: 100\nid: abc\ndata: Hello\n\n"), Response(b"data: Thanks\n\n")),
        (E("Hello", id="abc"), E("Thanks", id="abc")),
        check_ids=True,
        last_event_ids=("abc",),
    ),
    Case(
        "ld-reconnect-id-persists",
        "ld",
        f"{LD}: reconnection / sends ID of last received event that had an ID if later events did not",
        "the last ID is the last one set, not the last event's own",
        (Response(b"retry: 100\nid: abc\ndata: Hello\n\ndata: World\n\n"), Response(b"data: Thanks\n\n")),
        (E("Hello", id="abc"), E("World", id="abc"), E("Thanks", id="abc")),
        check_ids=True,
        last_event_ids=("abc",),
    ),
    Case(
        "ld-reconnect-id-cleared",
        "ld",
        f"{LD}: reconnection / last event ID can be explicitly overridden with an empty value",
        "an empty last event ID sends no Last-Event-ID",
        (
            Response(b"retry: 100\nid: abc\ndata: Hello\n\nid: \ndata: World\n\n"),
            Response(b"data: Thanks\n\n"),
        ),
        (E("Hello", id="abc"), E("World"), E("Thanks")),
        check_ids=True,
        last_event_ids=(None,),
    ),
    Case(
        "ld-reconnect-partial",
        "ld",
        f"{LD}: reconnection / discards partial messages on retry",
        "an unfinished block is dropped at the end of its stream, its id too",
        (
            Response(b"retry: 100\nid: abc\ndata: Hello\n\nid: def\ndata: Goodbye"),
            Response(b"data: We meet again\n\n"),
        ),
        (E("Hello", id="abc"), E("We meet again", id="abc")),
        check_ids=True,
        last_event_ids=("abc",),
    ),
    Case(
        "ld-204-halts",
        "ld",
        f"{LD}: HTTP behavior / 204 halts re-connection attempts",
        "204 No Content fails the connection: no reconnect",
        (Response(b"", status=204),),
        stops=True,
        cuts=WHOLE,
    ),
)

CASES: tuple[Case, ...] = _WPT_CASES + _LD_CASES
BY_NAME = {case.name: case for case in CASES}
assert len(BY_NAME) == len(CASES), "case names must be unique"

# The CI subset: a few cases that between them cover BOM, every line ending, CRLF split across
# reads, comments, field parsing, ids, the final block, a status that must stop, a reconnect.
QUICK = (
    "wpt-bom",
    "wpt-comments",
    "wpt-field-parsing",
    "wpt-final-block",
    "ld-crlf-split",
    "ld-id-persists",
    "wpt-status-204",
    "ld-reconnect-id",
)


def select(names: list[str] | None = None, *, quick: bool = False) -> list[Case]:
    """The cases named (every one by default; the CI subset with ``quick``); unknown names raise KeyError."""
    if names:
        unknown = [n for n in names if n not in BY_NAME]
        if unknown:
            raise KeyError(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
        return [BY_NAME[n] for n in names]
    if quick:
        return [BY_NAME[n] for n in QUICK]
    return list(CASES)
