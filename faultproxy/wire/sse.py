"""Server-Sent Events (``text/event-stream``): a sans-IO parser and an encoder.

The parser implements WHATWG HTML §9.2.6 ("Interpreting an event stream") over bytes.
Lines are split on bytes and each field is decoded afterwards. That is exact, because
only ASCII bytes (CR, LF, ``:``, space, NUL, digits) matter to the parser and UTF-8 never
uses an ASCII byte inside a multi-byte sequence. It also makes the parser fast, and it
means a multi-byte character split across two feeds is never damaged.

Besides events, the parser reports the stream as *blocks*: every byte from the end of one
blank line through the next. The proxy re-emits the blocks it leaves alone byte for byte
and breaks the others.

The encoder writes valid events by default. Its switches write the wrong variants the
fault engine needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import islice, repeat
from typing import Any

from faultproxy.wire.errors import WireError

BOM = b"\xef\xbb\xbf"
MAX_LINE = 1 << 20  # 1 MiB: a longer line is hostile, not an event
MAX_BLOCK = 64 << 20  # 64 MiB: a block that never ends would otherwise buffer without limit
MAX_RETRY = 2**64 - 1  # like Blink, ignore retry values that do not fit in 64 bits

_EOL_SPLIT = re.compile(rb"(\r\n?|\n)")
_NEWLINE = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class Event:
    """A dispatched event, as an EventSource would deliver it."""

    type: str  # "message" when no/empty event field
    data: str
    id: str  # the last event ID string in effect at dispatch ("" if none)
    retry: int | None  # reconnection time (ms) in effect at dispatch, or None if never set
    raw: bytes = field(default=b"", compare=False, repr=False)  # exact bytes of the block that produced it
    # the valid ``retry`` field of this event's own block (None: it had none): what a client that
    # hands each event's retry to the application (httpx-sse, sseclient-py, fetch-event-source) must report
    own_retry: int | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Block:
    """One event block as it was on the wire: every byte from the end of the previous blank line
    through this block's terminating blank line (comments, unknown fields, a leading BOM included)."""

    raw: bytes
    event: Event | None  # None when the block dispatches nothing (comment-only, id-only, empty data)
    offset: int  # stream offset of raw[0]


class SSEParser:
    """Incremental event-stream parser: feed it bytes, get events or blocks back.

    ``last_event_id`` and ``retry`` seed the parser for a reconnect. Browsers start the new
    connection's last event ID buffer from the last event ID string of the old one, so an
    event without an ``id`` field on the new stream still reports the old ID.

    A line longer than ``max_line`` bytes, or a block (finished or not) longer than
    ``max_block`` bytes, raises :class:`WireError`. Its offset is the stream offset where that line or
    block starts. Without these limits a hostile server could make the proxy buffer
    without bound. After a WireError the parser's state is undefined: drop it.

    A CR ends its line at once. The parser does not wait for the next byte, because that
    could hold back an event for as long as the server stays silent. An LF that follows
    is skipped, even when it arrives in the next feed. When the CR ends a block and is the
    last byte of a feed, the block is returned at once, and that LF, when it comes, is returned
    by :meth:`feed_blocks` as a block of its own that dispatches nothing: re-emitting blocks
    still reproduces the stream exactly, and the LF stays where it was whatever a fault does
    with the events around it.
    """

    def __init__(
        self,
        last_event_id: str = "",
        retry: int | None = None,
        *,
        max_line: int = MAX_LINE,
        max_block: int = MAX_BLOCK,
    ):
        self.max_line = max_line
        self.max_block = max_block
        self._last_id = last_event_id  # the last event ID string: committed at dispatch
        self._id = last_event_id  # the last event ID buffer: set by `id` lines
        self._retry = retry
        self._own_retry: int | None = None  # a valid retry line of the current block
        self._data: list[bytes] = []  # data values; joined with LF at dispatch
        self._type = ""
        self._pending = bytearray()  # the unfinished block; its last `_partial` bytes are an unfinished line
        self._partial = 0
        self._block_offset = 0
        self._offset = 0
        self._skip_lf = False  # the last byte fed was a CR, so an LF next completes a CRLF
        self._first_line = True  # the only line that can start with the BOM
        self._closed = False

    @property
    def last_event_id(self) -> str:
        """The committed last event ID string: what a reconnect sends as ``Last-Event-ID``."""
        return self._last_id

    @property
    def retry(self) -> int | None:
        """The reconnection time in ms. It is set as soon as a valid ``retry`` line is complete."""
        return self._retry

    @property
    def offset(self) -> int:
        """Total bytes consumed (all bytes fed so far)."""
        return self._offset

    @property
    def pending(self) -> bytes:
        """The bytes of the unfinished block so far."""
        return bytes(self._pending)

    def feed(self, data: bytes) -> list[Event]:
        """Parse more of the stream and return the events it completes."""
        return self._parse(data, blocks=False)

    def feed_blocks(self, data: bytes) -> list[Block]:
        """Parse more of the stream and return the blocks it completes, which cover every byte."""
        return self._parse(data, blocks=True)

    def close(self) -> list[Event]:
        """End of stream. The spec discards an unfinished event, its ``id`` included, so this returns []."""
        self.close_blocks()
        return []

    def close_blocks(self) -> list[Block]:
        """End of stream: the unfinished tail, if there is one, as a block that dispatches nothing."""
        tail = bytes(self._pending)
        self._pending.clear()
        self._closed = True
        return [Block(tail, None, self._block_offset)] if tail else []

    def _parse(self, data: bytes, blocks: bool) -> list[Any]:
        """The parse behind both views: returns blocks, or only the events (no Block objects to build).

        The data is split into lines in C (bytes.split, or re.split when line endings are mixed),
        then the lines are walked in Python.
        """
        if self._closed:
            raise RuntimeError("SSEParser is closed; use a new parser for a new stream")
        out: list[Any] = []
        if not data:
            return out
        base = self._offset
        self._offset += len(data)
        skip = 1 if self._skip_lf and data[0] == 0x0A else 0
        self._skip_lf = data[-1] == 0x0D  # a CR at the end has always just ended a line
        text = data[skip:] if skip else data
        lf = text.count(b"\n")
        cr = text.count(b"\r")
        if not cr or not lf or text.count(b"\r\n") == cr == lf:  # one kind of line ending: fast path
            sep = b"\r\n" if cr and lf else b"\r" if cr else b"\n"
            parts = text.split(sep)
            lines, eols, tail = parts[:-1], repeat(sep), parts[-1]
        else:
            parts = _EOL_SPLIT.split(text)
            lines, eols, tail = parts[0:-1:2], parts[1::2], parts[-1]
        pos = skip  # the end of the current line in data
        start = 0  # the first byte of the unfinished block that is not in _pending
        if skip and blocks and not self._pending:
            # the LF of a CRLF whose CR ended the previous block in the previous feed: a block of
            # its own that dispatches nothing, so the next block's bytes are that block's alone
            # (a fault that moves or drops the next event never takes the LF along)
            out.append(Block(data[:1], None, base))
            self._block_offset = base + 1
            start = 1
        if lines:
            if self._partial:
                lines[0] = bytes(self._pending[-self._partial :]) + lines[0]
                pos -= self._partial
                self._partial = 0
            if max(map(len, lines)) > self.max_line:
                long = next(i for i, line in enumerate(lines) if len(line) > self.max_line)
                before = sum(map(len, lines[:long])) + sum(map(len, islice(eols, long)))
                raise WireError(f"SSE line longer than {self.max_line} bytes", base + pos + before)
            if self._first_line:
                self._first_line = False
                if lines[0].startswith(BOM):
                    lines[0] = lines[0][3:]
                    pos += 3
        # The per-line work is inlined: it runs for every line of every stream the proxy carries.
        # Field names are compared as bytes, which is the same as comparing the decoded text.
        # A comment has the name b"", so it falls through like an unknown field.
        for line, eol in zip(lines, eols):
            pos += len(line) + len(eol)
            if line:
                name, _, value = line.partition(b":")
                if value.startswith(b" "):
                    value = value[1:]  # exactly one space
                if name == b"data":
                    self._data.append(value)
                elif name == b"event":
                    self._type = value.decode("utf-8", "replace")
                elif name == b"id":
                    if b"\0" not in value:  # ignored, not cleared: the previous ID stays
                        self._id = value.decode("utf-8", "replace")
                elif name == b"retry":
                    valid = _retry_value(value, None)
                    if valid is not None:
                        self._retry = self._own_retry = valid
                continue
            raw = data[start:pos]
            if self._pending:
                raw = bytes(self._pending) + raw
                self._pending.clear()
            if len(raw) > self.max_block:
                raise WireError(f"SSE block longer than {self.max_block} bytes", self._block_offset)
            event = self._dispatch(raw)
            if blocks:
                out.append(Block(raw, event, self._block_offset))
            elif event is not None:
                out.append(event)
            self._block_offset = base + pos
            start = pos
        self._pending += memoryview(data)[start:]
        self._partial += len(tail)
        if self._partial > self.max_line:
            raise WireError(f"SSE line longer than {self.max_line} bytes", self._offset - self._partial)
        if len(self._pending) > self.max_block:
            raise WireError(f"SSE block longer than {self.max_block} bytes", self._block_offset)
        return out

    def _dispatch(self, raw: bytes) -> Event | None:
        """The spec's dispatch steps. The ID is committed even when no event fires."""
        self._last_id = self._id
        event_type, self._type = self._type, ""
        own_retry, self._own_retry = self._own_retry, None
        if not self._data:
            return None
        data = b"\n".join(self._data).decode("utf-8", "replace")  # "\n".join == append LF each, drop one
        self._data = []
        return Event(event_type or "message", data, self._id, self._retry, raw, own_retry)


def _retry_value(value: bytes, current: int | None) -> int | None:
    """A ``retry`` value of ASCII digits only, as a number; anything else keeps ``current``.

    bytes.isdigit() accepts ASCII digits only and is False for b"". The spec is ambiguous
    about an empty value: we ignore it, as eventsource-parser does (Blink resets to its
    default). Leading zeros are decimal. Values above 2**64-1 are ignored, as in Blink;
    checking the length first keeps int() away from its 4300-digit limit.
    """
    digits = value.lstrip(b"0") or b"0"
    if value.isdigit() and len(digits) <= 20 and int(digits) <= MAX_RETRY:
        return int(digits)
    return current


def encode_event(
    data: str,
    *,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
    comment: str | None = None,
    line_ending: str = "\n",
    space: bool = True,
    terminate: bool = True,
    bom: bool = False,
    invalid_utf8: bool = False,
    field_typo: bool = False,
) -> bytes:
    """One event block: comment lines, ``event``, ``id``, ``retry``, ``data`` lines, blank line.

    Multi-line ``data`` (split on CRLF, CR or LF) becomes one ``data:`` line per line, and
    ``data=""`` becomes a bare ``data:`` line, which still dispatches an event with empty
    data. Values that no stream can carry raise ValueError: an event type or ID with CR
    or LF, an ID with NUL, or a retry outside 0..2**64-1.

    The switches write the wrong variants that faults need:

    - ``line_ending``: ``"\\r"`` (CR only) or ``"\\r\\n"``. A correct parser reads both
      like ``"\\n"``. Naive ``split("\\n\\n")`` clients do not.
    - ``space=False``: ``data:x`` instead of ``data: x``. A correct parser reads it
      identically. So that this stays true, the space is kept before a value that itself
      starts with a space. Clients that slice off ``"data: "`` break.
    - ``terminate=False``: no blank line at the end, so the event merges with the next.
    - ``bom``: the UTF-8 BOM in front. It is stripped at stream offset 0. Anywhere else it
      becomes part of the first field name, so that line is ignored as an unknown field.
    - ``invalid_utf8``: byte 0xFF before the first data value. It decodes to U+FFFD.
    - ``field_typo``: ``dta:`` instead of ``data:``. The unknown field is ignored, so no
      event fires.
    """
    if line_ending not in ("\n", "\r", "\r\n"):
        raise ValueError(f"line_ending must be LF, CR or CRLF, not {line_ending!r}")
    for name, value in (("event", event), ("id", id)):
        if value is not None and ("\r" in value or "\n" in value):
            raise ValueError(f"{name} cannot contain CR or LF: {value!r}")
    if id is not None and "\0" in id:
        raise ValueError(f"parsers ignore an id containing NUL: {id!r}")
    if retry is not None and not 0 <= retry <= MAX_RETRY:
        raise ValueError(f"retry must be in 0..2**64-1 ms, not {retry}")
    fields: list[tuple[bytes, bytes]] = []
    if comment is not None:
        fields += [(b"", text.encode()) for text in _NEWLINE.split(comment)]
    if event is not None:
        fields.append((b"event", event.encode()))
    if id is not None:
        fields.append((b"id", id.encode()))
    if retry is not None:
        fields.append((b"retry", b"%d" % retry))
    values = [text.encode() for text in _NEWLINE.split(data)]
    if invalid_utf8:
        values[0] = b"\xff" + values[0]
    data_name = b"dta" if field_typo else b"data"
    fields += [(data_name, value) for value in values]
    eol = line_ending.encode()
    body = b"".join(_line(name, value, space) + eol for name, value in fields)
    return (BOM if bom else b"") + body + (eol if terminate else b"")


def encode_comment(text: str = "", line_ending: str = "\n") -> bytes:
    """``: text`` lines, one per line of ``text``. They never dispatch, so they make a safe keep-alive."""
    if line_ending not in ("\n", "\r", "\r\n"):
        raise ValueError(f"line_ending must be LF, CR or CRLF, not {line_ending!r}")
    eol = line_ending.encode()
    return b"".join(_line(b"", line.encode(), True) + eol for line in _NEWLINE.split(text))


def _line(name: bytes, value: bytes, space: bool) -> bytes:
    """``name: value``. An empty value gets no space. A value that starts with a space always gets one."""
    if value and (space or value.startswith(b" ")):
        return name + b": " + value
    return name + b":" + value
