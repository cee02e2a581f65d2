"""HTTP/1.1 messages (RFC 9112), sans-IO: heads, body framing, and an incremental reader.

A reader is fed the bytes of one direction of a connection and returns events: the head
(:class:`Request` or :class:`Response`), body pieces, :class:`EndOfMessage`, then the next
message on a kept-alive connection. Every event keeps the exact bytes it was parsed from
(``raw``), so a proxy can forward what it saw byte for byte and a capture can show it.

``strict=True`` raises :class:`WireError` naming what is malformed and the byte offset;
``strict=False`` reports a :class:`Malformed` event and hands the rest on as
:class:`Unparsed`, so broken traffic can still be relayed and watched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from faultproxy.wire.chunked import (
    ChunkData,
    ChunkedDecoder,
    ChunkedEnd,
    ChunkEnd,
    ChunkHeader,
    Malformed,
    Unparsed,
)
from faultproxy.wire.errors import WireError
from faultproxy.wire.limits import DEFAULT_LIMITS, HeadLimits, HeadScanner

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_VERSION = re.compile(rb"HTTP/[0-9]\.[0-9]\Z")
_FIELD_VALUE_BAD = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("latin-1") if isinstance(value, str) else value


class Headers:
    """Header fields in the order sent, repeated names kept; names compared case-insensitively.

    Each field remembers the line it came from, so a parsed head serializes back to exactly
    the bytes received; fields added or changed later are written in canonical form.
    """

    __slots__ = ("_fields",)

    def __init__(self, fields: Iterable[tuple[str | bytes, str | bytes]] = ()):
        self._fields: list[tuple[bytes, bytes, bytes | None]] = [
            (_as_bytes(n), _as_bytes(v), None) for n, v in fields
        ]

    @classmethod
    def _parsed(cls, fields: list[tuple[bytes, bytes, bytes]]) -> Headers:
        headers = cls()
        headers._fields = fields
        return headers

    def get(self, name: str | bytes, default: bytes | None = None) -> bytes | None:
        """The value of ``name``; repeated fields are joined with ``, `` as RFC 9110 §5.3 allows."""
        values = self.get_all(name)
        return b", ".join(values) if values else default

    def get_all(self, name: str | bytes) -> list[bytes]:
        key = _as_bytes(name).lower()
        return [v for n, v, _ in self._fields if n.lower() == key]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, (str, bytes)) and bool(self.get_all(name))

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        return ((n, v) for n, v, _ in self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"Headers({list(self)!r})"

    def replaced(self, name: str | bytes, value: str | bytes | None) -> Headers:
        """A copy with every ``name`` field removed and, unless ``value`` is None, one set at the end."""
        key = _as_bytes(name).lower()
        fields = [f for f in self._fields if f[0].lower() != key]
        if value is not None:
            fields.append((_as_bytes(name), _as_bytes(value), None))
        return Headers._parsed(fields)

    def put(self, name: str | bytes, value: str | bytes, *, first: bool = False) -> Headers:
        """A copy with ``name`` set to ``value`` where its first field was (the other fields of
        that name dropped), or, when absent, added at the end (``first``: at the start, where
        ``Host`` belongs). Every other line stays byte for byte."""
        key, field = _as_bytes(name).lower(), (_as_bytes(name), _as_bytes(value), None)
        fields, placed = [], False
        for item in self._fields:
            if item[0].lower() != key:
                fields.append(item)
            elif not placed:
                fields.append(field)
                placed = True
        if not placed:
            fields.insert(0, field) if first else fields.append(field)
        return Headers._parsed(fields)

    def encode(self) -> bytes:
        return b"".join(line if line is not None else b"%s: %s\r\n" % (n, v) for n, v, line in self._fields)


@dataclass(frozen=True, slots=True)
class Request:
    method: bytes
    target: bytes
    version: bytes
    headers: Headers
    raw: bytes  # the head exactly as received, through the blank line


@dataclass(frozen=True, slots=True)
class Response:
    version: bytes
    status: int
    reason: bytes
    headers: Headers
    raw: bytes


@dataclass(frozen=True, slots=True)
class BodyData:
    """Body bytes of a Content-Length or close-delimited body."""

    data: bytes

    @property
    def raw(self) -> bytes:
        return self.data


@dataclass(frozen=True, slots=True)
class TunnelData:
    """Bytes after a successful CONNECT or a 101 Switching Protocols: no longer HTTP/1.1."""

    raw: bytes


@dataclass(frozen=True, slots=True)
class EndOfMessage:
    """The message is complete; on a kept-alive connection the next head follows."""

    raw: bytes = b""


HTTPEvent = (
    Request
    | Response
    | BodyData
    | ChunkHeader
    | ChunkData
    | ChunkEnd
    | ChunkedEnd
    | EndOfMessage
    | TunnelData
    | Malformed
    | Unparsed
)


_BLANK_LINE = re.compile(rb"\n\r?\n")
_LEADING_EMPTY_LINES = re.compile(rb"(?:\r?\n)*")


# A request line as clients send it, and any start of one that a short first read may hold.
_REQUEST_LINE = re.compile(rb"[A-Z][A-Za-z-]* \S+ HTTP/1\.[01]\r?\n")
_REQUEST_LINE_START = re.compile(rb"[A-Z][A-Za-z-]*(?: \S*(?: (?:H(?:T(?:T(?:P(?:/[0-9.]*\r?)?)?)?)?)?)?)?")


def opens_like_http(first: bytes) -> bool:
    """Whether a connection's first bytes from the client begin an HTTP/1.x request.

    For a proxy that relays whatever its clients speak (Toxiproxy's way): HTTP/1.1 is parsed,
    anything else — a database protocol, TLS, a server that speaks first — is not. A first
    read cut short inside the request line counts as HTTP while it still could be one.
    """
    if _REQUEST_LINE.match(first):
        return True
    return b"\n" not in first and _REQUEST_LINE_START.fullmatch(first) is not None


def find_head_end(buf: bytes | bytearray, start: int = 0) -> int:
    """Index just past the blank line that ends a head, or -1 if it has not arrived yet.

    Bare-LF variants are found too, so lenient readers can accept them and strict readers
    can say exactly which line is wrong. Empty lines before the start line are not the end
    of anything: RFC 9112 §2.2 lets them precede a message, and they belong to its head.
    """
    lead = _LEADING_EMPTY_LINES.match(buf).end()
    found = _BLANK_LINE.search(buf, max(start, lead))
    return found.end() if found else -1


def _split_lines(head: bytes, strict: bool, offset: int) -> list[tuple[bytes, bytes, int]]:
    """Split a head into (content, raw line, offset of the line) triples, the blank line excluded.

    The head must end exactly with its blank line: bytes missing or left over would otherwise
    vanish from, or hide in, a ``raw`` that no longer matches what was parsed.
    """
    lines = []
    pos = 0
    while True:
        nl = head.find(b"\n", pos)
        if nl < 0:
            raise WireError("head does not end with an empty line", offset + len(head))
        raw = head[pos : nl + 1]
        if raw.endswith(b"\r\n"):
            content = raw[:-2]
        else:
            if strict:
                raise WireError("line ends with a bare LF, not CRLF", offset + nl)
            content = raw[:-1]
        if not content:
            if nl + 1 < len(head):
                raise WireError("bytes after the empty line that ends the head", offset + nl + 1)
            return lines
        if b"\r" in content:
            raise WireError("stray CR inside a head line", offset + pos + content.index(b"\r"))
        lines.append((content, raw, offset + pos))
        pos = nl + 1


def _parse_fields(lines: list[tuple[bytes, bytes, int]], strict: bool) -> Headers:
    fields: list[tuple[bytes, bytes, bytes]] = []
    for content, raw, at in lines:
        if content[:1] in (b" ", b"\t"):
            if strict or not fields:
                raise WireError("obsolete line folding (a header line starting with whitespace)", at)
            name, value, prev = fields[-1]
            fields[-1] = (name, value + b" " + content.strip(b" \t"), prev + raw)
            continue
        name, colon, value = content.partition(b":")
        if not colon:
            raise WireError(f"header line without ':' ({content[:40]!r})", at)
        if not _TOKEN.match(name):
            if name.rstrip(b" \t") != name:
                raise WireError(f"whitespace between header name and ':' ({name!r})", at + len(name.rstrip()))
            raise WireError(f"invalid header name {name[:40]!r}", at)
        bad = _FIELD_VALUE_BAD.search(content, len(name) + 1)
        if bad and strict:
            reason = f"control character {bad.group()!r} in the value of {name.decode()}"
            raise WireError(reason, at + bad.start())
        fields.append((name, value.strip(b" \t"), raw))
    return Headers._parsed(fields)


def _head_lines(head: bytes, strict: bool, offset: int) -> tuple[bytes, int, list[tuple[bytes, bytes, int]]]:
    """The start line, its offset, and the header lines (content, raw line, offset)."""
    # RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request-line.
    skip = _LEADING_EMPTY_LINES.match(head).end()
    if skip == len(head):
        raise WireError("empty head", offset)
    # after the skip the first line has content, so there is always a start line
    (first, _, at), *rest = _split_lines(head[skip:], strict, offset + skip)
    return first, at, rest


def parse_request_head(head: bytes, *, strict: bool = True, offset: int = 0) -> Request:
    """Parse a whole request head (through its blank line). Raises WireError when malformed.

    ``strict`` adds what RFC 9112 asks of a server beyond the grammar (:func:`_refuse_request`).
    """
    line, at, lines = _head_lines(head, strict, offset)
    headers = _parse_fields(lines, strict)
    parts = line.split(b" ")
    if len(parts) != 3 or not all(parts):
        raise WireError(f"request line is not 'METHOD TARGET HTTP/x.y': {line[:80]!r}", at)
    method, target, version = parts
    if not _TOKEN.match(method):
        raise WireError(f"invalid method {method[:20]!r}", at)
    if not _VERSION.match(version):
        raise WireError(f"invalid HTTP version {version[:20]!r}", at + len(method) + len(target) + 2)
    if strict:
        _refuse_request(version, at + len(method) + len(target) + 2, lines, headers)
    return Request(method, target, version, headers, head)


def _refuse_request(
    version: bytes, version_at: int, lines: list[tuple[bytes, bytes, int]], headers: Headers
) -> None:
    """What a server must refuse though the grammar allows it; each would let two readers of
    one request see different requests (smuggling) or was never HTTP/1.1:

    - a major version other than 1 (``HTTP/9.9``, ``HTTP/2.0``): 505 (RFC 9112 §2.3, RFC 9110 §15.6.6);
    - more than one ``Host`` line: 400 (RFC 9112 §3.2);
    - ``Transfer-Encoding`` in an HTTP/1.0 request, whose framing is then faulty (RFC 9112 §6.1).
    """
    if not version.startswith(b"HTTP/1."):
        raise WireError(f"HTTP version {version.decode()} not supported (only HTTP/1.x)", version_at, 505)

    def where(name: bytes) -> list[int]:
        return [at for content, _, at in lines if content.partition(b":")[0].lower() == name]

    hosts = where(b"host")
    if len(hosts) > 1:
        raise WireError(f"{len(hosts)} Host header fields (one is allowed)", hosts[1])
    if version == b"HTTP/1.0" and b"transfer-encoding" in headers:
        raise WireError("Transfer-Encoding in an HTTP/1.0 request", where(b"transfer-encoding")[0])


def parse_response_head(head: bytes, *, strict: bool = True, offset: int = 0) -> Response:
    """Parse a whole response head (through its blank line). Raises WireError when malformed."""
    line, at, lines = _head_lines(head, strict, offset)
    headers = _parse_fields(lines, strict)
    version, _, rest = line.partition(b" ")
    if not _VERSION.match(version):
        raise WireError(f"status line does not start with HTTP/x.y: {line[:40]!r}", at)
    code, _, reason = rest.partition(b" ")
    if len(code) != 3 or not code.isdigit():
        raise WireError(f"status code is not three digits: {code[:20]!r}", at + len(version) + 1)
    return Response(version, int(code), reason, headers, head)


def encode_head(head: Request | Response) -> bytes:
    """A head as bytes: its fields written back, lines that came off the wire reproduced exactly."""
    if isinstance(head, Request):
        first = b"%s %s %s\r\n" % (head.method, head.target, head.version)
    else:
        first = b"%s %03d %s\r\n" % (head.version, head.status, head.reason)
        # "HTTP/1.1 200" without the SP before an empty reason is common; keep it as received
        bare = b"%s %03d\r\n" % (head.version, head.status)
        if not head.reason and head.raw.startswith(bare):
            first = bare
    return first + head.headers.encode() + b"\r\n"


def encode_request(method: str, target: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    """A request as written by hand: headers exactly as given, nothing added."""
    lines = "".join(f"{n}: {v}\r\n" for n, v in headers)
    return f"{method} {target} HTTP/1.1\r\n{lines}\r\n".encode("latin-1") + body


def encode_response(status: int, reason: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    """A response as written by hand: headers exactly as given, nothing added."""
    lines = "".join(f"{n}: {v}\r\n" for n, v in headers)
    return f"HTTP/1.1 {status} {reason}\r\n{lines}\r\n".encode("latin-1") + body


# -- body framing ---------------------------------------------------------------------------

FramingKind = Literal["none", "length", "chunked", "close", "tunnel"]


@dataclass(frozen=True, slots=True)
class Framing:
    """How the body after a head is delimited (RFC 9112 §6.3).

    ``none``: no body; ``length``: ``length`` bytes (Content-Length); ``chunked``; ``close``: the
    body runs until the sender closes the connection; ``tunnel``: the connection stops being
    HTTP/1.1 (a 101 Switching Protocols, a 2xx to CONNECT).
    """

    kind: FramingKind
    length: int = 0


_NO_BODY = Framing("none")
_TUNNEL_FRAMING = Framing("tunnel")


def is_event_stream(headers: Headers) -> bool:
    """Whether ``Content-Type`` says ``text/event-stream`` (its essence: parameters and case ignored)."""
    value = headers.get("content-type")
    return value is not None and value.split(b";", 1)[0].strip().lower() == b"text/event-stream"


def body_framing(head: Request | Response, method: bytes | None = None, *, offset: int = 0) -> Framing:
    """How the body after ``head`` is delimited: the one place the project decides it.

    ``method`` is, for a response, the method of the request it answers (``None``: not known,
    read as GET). Raises :class:`WireError` (at ``offset``) when the framing cannot be known:
    conflicting or invalid Content-Length values, and, for a request, Transfer-Encoding with
    Content-Length or not ending in chunked (RFC 9112 §6.3 makes both a 400).
    """
    headers = head.headers
    codings = [c.strip().lower() for v in headers.get_all(b"transfer-encoding") for c in v.split(b",")]
    if isinstance(head, Request):
        if codings and b"content-length" in headers:
            raise WireError("request has both Transfer-Encoding and Content-Length", offset)
        if codings:
            if codings[-1] != b"chunked":
                raise WireError("request Transfer-Encoding does not end with chunked", offset)
            return Framing("chunked")
        length = _content_length(headers, offset)
        return Framing("length", length) if length else _NO_BODY
    status = head.status
    if status < 200:
        return _TUNNEL_FRAMING if status == 101 else _NO_BODY
    if method == b"CONNECT" and status < 300:
        return _TUNNEL_FRAMING
    if method == b"HEAD" or status in (204, 304):
        return _NO_BODY
    if codings:
        return Framing("chunked") if codings[-1] == b"chunked" else Framing("close")
    length = _content_length(headers, offset)
    if length is None:
        return Framing("close")
    return Framing("length", length) if length else _NO_BODY


def _content_length(headers: Headers, at: int) -> int | None:
    values = headers.get_all(b"content-length")
    if not values:
        return None
    items = {v.strip() for value in values for v in value.split(b",")}
    if len(items) != 1:
        raise WireError(f"conflicting Content-Length values {sorted(items)!r}", at)
    (value,) = items
    if not value.isdigit() or len(value) > 18:
        raise WireError(f"invalid Content-Length {value[:20]!r}", at)
    return int(value)


_HEAD, _FIXED, _CHUNKED, _UNTIL_CLOSE, _TUNNEL, _BROKEN = range(6)
_STATE_OF = {"none": _HEAD, "length": _FIXED, "chunked": _CHUNKED, "close": _UNTIL_CLOSE, "tunnel": _TUNNEL}


class HTTPReader:
    """Incremental reader for one direction of an HTTP/1.1 connection.

    ``role="request"`` reads what a client sends; ``role="response"`` reads what a server
    sends and needs :meth:`expect_response_to` for each request (so a response to HEAD has no
    body and a 2xx to CONNECT starts a tunnel). Framing follows RFC 9112 §6.3. ``limits``
    bound each head (:mod:`faultproxy.wire.limits`): a head over them is a :class:`WireError`
    whose ``status`` is the answer it deserves (414, 431), or in lenient mode a ``Malformed``
    with that status, the bytes passed on as ``Unparsed``.
    """

    __slots__ = (
        "_buf",
        "_chunked",
        "_methods",
        "_scanner",
        "_remaining",
        "_state",
        "body_tail",
        "head",
        "messages",
        "offset",
        "role",
        "skim",
        "strict",
    )

    def __init__(
        self, role: str, *, strict: bool = True, offset: int = 0, limits: HeadLimits = DEFAULT_LIMITS
    ):
        if role not in ("request", "response"):
            raise ValueError("role must be 'request' or 'response'")
        self.role = role
        self._scanner = HeadScanner(role, limits)
        self.strict = strict
        self.offset = offset  # stream offset of the next byte not yet consumed
        self._state = _HEAD
        self._buf = bytearray()
        self._remaining = 0
        self._chunked: ChunkedDecoder | None = None
        self._methods: list[bytes] = []  # a list, not a deque: it rarely holds more than one, and is small
        self.messages = 0  # complete messages so far
        self.head: Request | Response | None = None  # the head of the current (or last) message
        # skim: report heads and message ends only, no body events (a relay with nothing to
        # change in the body need not pay for them); body_tail keeps the body's last 4 bytes.
        self.skim = False
        self.body_tail = b""

    def expect_response_to(self, method: bytes) -> None:
        self._methods.append(method)

    @property
    def between_messages(self) -> bool:
        """No body is being read: the next bytes (and any buffered) belong to a new head."""
        return self._state == _HEAD

    @property
    def idle(self) -> bool:
        """Between messages with nothing buffered but empty lines (which may precede a head,
        RFC 9112 §2.2): a close here is a clean end."""
        return self._state == _HEAD and not self._buf.strip(b"\r\n")

    def feed(self, data: bytes) -> list[HTTPEvent]:
        events: list[HTTPEvent] = []
        while data:
            state = self._state
            if state == _HEAD:
                data = self._read_head(data, events)
            elif state == _FIXED:
                take = min(self._remaining, len(data))
                if self.skim:
                    self.body_tail = (self.body_tail + data[max(0, take - 4) : take])[-4:]
                else:
                    events.append(BodyData(data[:take]))
                self._remaining -= take
                self.offset += take
                data = data[take:]
                if self._remaining == 0:
                    self._end_message(events)
            elif state == _CHUNKED:
                data = self._read_chunked(data, events)
            else:  # the rest of the connection is one undelimited piece
                if self.skim:
                    self.body_tail = (self.body_tail + data[-4:])[-4:]
                else:
                    kind = {_UNTIL_CLOSE: BodyData, _TUNNEL: TunnelData, _BROKEN: Unparsed}[state]
                    events.append(kind(data))
                self.offset += len(data)
                data = b""
        return events

    def close(self) -> list[HTTPEvent]:
        """The peer closed its side. Ends a close-delimited body; anything unfinished is an error."""
        state = self._state
        events: list[HTTPEvent] = []
        if state == _UNTIL_CLOSE:
            self._end_message(events)
            self._state = _BROKEN  # nothing may follow a close
            return events
        if state == _CHUNKED:
            assert self._chunked is not None
            events = self._chunked.close()  # never complete here: a finished body left this state
            self.offset = self._chunked.offset
            self._state = _BROKEN
            return events
        if state == _FIXED:
            return self._fail(
                WireError(
                    f"connection closed with {self._remaining} of the declared body bytes missing",
                    self.offset,
                )
            )
        if state == _HEAD and self._buf:
            error = WireError(f"connection closed inside a {self.role} head", self.offset + len(self._buf))
            self._broken(error, b"", events)
        return events

    # -- internals ----------------------------------------------------------------------

    def _fail(self, error: WireError) -> list[HTTPEvent]:
        if self.strict:
            raise error
        self._state = _BROKEN
        return [Malformed(error.reason, error.offset, error.status)]

    def _broken(self, error: WireError, rest: bytes, events: list) -> bytes:
        """Report an error; lenient mode passes the unparseable bytes on untouched."""
        events.extend(self._fail(error))
        pending = bytes(self._buf) + rest
        self._buf.clear()
        if pending:
            events.append(Unparsed(pending))
            self.offset += len(pending)
        return b""

    def _read_head(self, data: bytes, events: list) -> bytes:
        self._buf += data
        try:
            end = self._scanner.scan(self._buf, self.offset)
        except WireError as error:
            return self._broken(error, b"", events)
        if end < 0:
            return b""
        head = bytes(self._buf[:end])
        rest = bytes(self._buf[end:])
        self._buf.clear()
        self._scanner.reset()
        try:
            parse = parse_request_head if self.role == "request" else parse_response_head
            message = parse(head, strict=self.strict, offset=self.offset)
            state, length = self._framing(message)
        except WireError as error:
            self._buf += head
            return self._broken(error, rest, events)
        self.head = message
        self.body_tail = b""
        events.append(message)
        self.offset += len(head)
        self._state = state
        if state == _FIXED:
            self._remaining = length
            if length == 0:
                self._end_message(events)
        elif state == _CHUNKED:
            self._chunked = ChunkedDecoder(strict=self.strict, offset=self.offset)
        elif state == _HEAD:  # no body at all
            self._end_message(events)
        return rest

    def _framing(self, message: Request | Response) -> tuple[int, int]:
        """The reader state that reads the body after this head, and its length."""
        method = (self._methods[0] if self._methods else b"GET") if isinstance(message, Response) else None
        framing = body_framing(message, method, offset=self.offset)
        return _STATE_OF[framing.kind], framing.length

    def _read_chunked(self, data: bytes, events: list) -> bytes:
        decoder = self._chunked
        assert decoder is not None
        try:
            chunk_events = decoder.skim(data) if self.skim else decoder.feed(data)
            if self.skim:
                self.body_tail = decoder.tail
        except WireError:
            self._state = _BROKEN
            raise
        events.extend(chunk_events)
        self.offset = decoder.offset
        if chunk_events and any(isinstance(e, Malformed) for e in chunk_events):
            self._state = _BROKEN
            return b""
        if decoder.done:
            rest = decoder.unconsumed
            self._chunked = None
            self._end_message(events)
            return rest
        return b""

    def _end_message(self, events: list) -> None:
        events.append(EndOfMessage())
        self.messages += 1
        head = self.head
        if isinstance(head, Response):
            if head.status >= 200 and self._methods:
                del self._methods[0]
        elif isinstance(head, Request) and (head.method == b"CONNECT" or b"upgrade" in head.headers):
            # What a client sends after CONNECT or an Upgrade request is meant for the tunnel
            # (TLS, WebSocket, h2c), not HTTP/1.1 — unless the server refuses, which a
            # request-side reader cannot know; relaying it as opaque bytes is right either way.
            self._state = _TUNNEL
            return
        self._state = _HEAD
