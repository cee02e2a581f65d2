"""HTTP/1.1 chunked transfer coding (RFC 9112 §7.1): an incremental decoder and an encoder.

The decoder reports the wire as it is — each size line, each piece of chunk data, each CRLF
that closes a chunk, the zero-size last chunk and its trailer section — and every event keeps
the exact bytes it came from. Joining the ``raw`` of all events gives back the input, which is
what lets the proxy pass a body through untouched while still knowing where each chunk is, and
what lets ``lab chunked --show-wire`` print hex sizes and ``\\r\\n`` delimiters as they arrive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from faultproxy.wire.errors import WireError

MAX_SIZE_LINE = 4096  # a size line plus extensions longer than this is hostile, not HTTP
MAX_TRAILER_SECTION = 65536
_HEX = frozenset(b"0123456789abcdefABCDEF")
# The largest chunk size taken: a signed 64-bit count, what servers such as nginx can hold.
# Larger is no real body, only an overflow for a reader that does not check (RFC 9112 §7.1).
MAX_CHUNK_SIZE = 2**63 - 1
# A whole, well-formed size line; anything else goes the careful way through _read_size_line
# (up to 15 hex digits, as a 16-digit size may be over MAX_CHUNK_SIZE).
_PLAIN_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,15})(?:;[^\r\n]*)?\r\n")


@dataclass(frozen=True, slots=True)
class ChunkHeader:
    """A chunk-size line: ``1a;name=value\\r\\n``. ``size == 0`` is the last chunk."""

    size: int
    extensions: bytes  # everything after the first ';', as sent; b"" when there is none
    raw: bytes


@dataclass(frozen=True, slots=True)
class ChunkData:
    """Some of a chunk's data; one chunk may arrive as several of these."""

    data: bytes

    @property
    def raw(self) -> bytes:
        return self.data


@dataclass(frozen=True, slots=True)
class ChunkEnd:
    """The CRLF that closes a chunk's data."""

    raw: bytes


@dataclass(frozen=True, slots=True)
class ChunkedEnd:
    """The trailer section after the last chunk, ending with an empty line: the body is complete."""

    trailers: tuple[tuple[bytes, bytes], ...]
    raw: bytes


@dataclass(frozen=True, slots=True)
class Malformed:
    """Lenient mode: what was wrong and where. The bytes from there on come as ``Unparsed``.

    ``status``: the answer a server owes a request with this problem (see :class:`WireError`)."""

    reason: str
    offset: int
    status: int = 400

    @property
    def raw(self) -> bytes:
        return b""


@dataclass(frozen=True, slots=True)
class Unparsed:
    """Lenient mode: bytes after a framing error, passed on as they are."""

    raw: bytes


ChunkEvent = ChunkHeader | ChunkData | ChunkEnd | ChunkedEnd | Malformed | Unparsed

_SIZE, _DATA, _DATA_CRLF, _TRAILER, _DONE, _BROKEN = range(6)


class ChunkedDecoder:
    """Incremental chunked-body decoder.

    ``strict=True`` raises :class:`WireError` with the byte offset of the first problem;
    ``strict=False`` emits one :class:`Malformed` and passes the rest on as :class:`Unparsed`,
    so broken traffic can still be watched. ``offset`` is the stream offset of the first body
    byte, so reported offsets are positions in the whole connection, not in this body.
    Bytes fed after the body's end are kept for the caller in :attr:`unconsumed`.
    """

    __slots__ = ("_line", "_remaining", "_state", "chunks", "offset", "strict", "tail", "unconsumed")

    def __init__(self, *, strict: bool = True, offset: int = 0):
        self.strict = strict
        self.offset = offset  # stream offset of the next byte not yet consumed
        self._state = _SIZE
        self._line = bytearray()  # the partial size line, CRLF or trailer section
        self._remaining = 0  # data bytes still due in the current chunk
        self.unconsumed = b""
        self.tail = b""  # skim(): the last (up to 4) body bytes, to tell whether an event just ended
        self.chunks = 0  # complete chunks seen so far, the last one excluded

    @property
    def done(self) -> bool:
        return self._state == _DONE

    def feed(self, data: bytes) -> list[ChunkEvent]:
        events: list[ChunkEvent] = []
        view = memoryview(data)
        pos, end = 0, len(data)
        while pos < end:
            state = self._state
            if state == _DATA:
                take = min(self._remaining, end - pos)
                events.append(ChunkData(bytes(view[pos : pos + take])))
                pos += take
                self.offset += take
                self._remaining -= take
                if self._remaining == 0:
                    self._state = _DATA_CRLF
            elif state == _SIZE:
                line = None if self._line else _PLAIN_SIZE_LINE.match(data, pos)
                if line is not None and line.end() - pos <= MAX_SIZE_LINE:
                    pos = self._plain_size_line(line, events)  # the common case, in one step
                else:
                    pos = self._read_size_line(data, pos, events)
            elif state == _DATA_CRLF:
                if not self._line and data.startswith(b"\r\n", pos):  # the common case
                    events.append(ChunkEnd(b"\r\n"))
                    self.offset += 2
                    self.chunks += 1
                    self._state = _SIZE
                    pos += 2
                else:
                    pos = self._read_data_crlf(data, pos, events)
            elif state == _TRAILER:
                pos = self._read_trailers(data, pos, events)
            elif state == _BROKEN:
                events.append(Unparsed(bytes(view[pos:])))
                self.offset += end - pos
                pos = end
            else:  # _DONE
                self.unconsumed += bytes(view[pos:])
                pos = end
        return events

    def skim(self, data: bytes) -> list[ChunkEvent]:
        """:meth:`feed` for a relay that only needs to know where the body ends.

        Chunk data produces no events and whole, plain size lines are matched in place, so a
        stream of small chunks costs one regex match per chunk instead of three event
        objects and a copy. Everything unusual — a size line or CRLF split across reads, the
        trailer section, malformed framing — goes through :meth:`feed`; only its Malformed and
        Unparsed events are returned (:attr:`done` says when the body is complete).
        :attr:`tail` keeps the last body bytes seen.
        """
        pos, end = 0, len(data)
        match = _PLAIN_SIZE_LINE.match
        if self._state == _SIZE and not self._line and (line := match(data)) is not None:
            # An SSE server's flush: one whole chunk per read. The loop below handles it too, at
            # twice the cost of this check.
            start = line.end()
            size = end - 2 - start
            if size >= 4 and int(line.group(1), 16) == size and data.endswith(b"\r\n"):
                self.offset += end
                self.chunks += 1
                self.tail = data[end - 6 : end - 2]
                return []
        segments: list[tuple[int, int]] = []  # where body data lies in this read (the last few, for the tail)
        while pos < end:
            state = self._state
            if state == _SIZE and not self._line and (line := match(data, pos)) is not None:
                size = int(line.group(1), 16)
                if not size:  # the last chunk: its trailer section is rare enough for feed()
                    break
                start = line.end()
                stop = start + size
                if stop + 2 <= end and data[stop : stop + 2] == b"\r\n":
                    # the common case: a whole chunk in this read, jumped over in one step
                    segments.append((start, stop))
                    self.offset += stop + 2 - pos
                    self.chunks += 1
                    pos = stop + 2
                    continue
                self.offset += start - pos
                pos = start
                self._remaining = size
                self._state = _DATA
            elif state == _DATA:
                take = min(self._remaining, end - pos)
                pos += take
                self.offset += take
                self._remaining -= take
                segments.append((pos - take, pos))
                if not self._remaining:
                    self._state = _DATA_CRLF
            elif state == _DATA_CRLF and not self._line and data.startswith(b"\r\n", pos):
                pos += 2
                self.offset += 2
                self.chunks += 1
                self._state = _SIZE
            else:
                break
            if len(segments) > 8:
                del segments[:-4]  # four segments of at least a byte each hold any tail
        if segments:
            a, b = segments[-1]
            if b - a >= 4:  # the usual case: the last piece alone holds the tail
                self.tail = data[b - 4 : b]
            else:
                self.tail = (self.tail + b"".join(data[a:b] for a, b in segments[-4:]))[-4:]
        if pos >= end:
            return []
        problems = []
        for event in self.feed(data[pos:]):
            if isinstance(event, ChunkData):
                self.tail = (self.tail + event.data[-4:])[-4:]
            elif isinstance(event, (Malformed, Unparsed)):
                problems.append(event)
        return problems

    def close(self) -> list[ChunkEvent]:
        """The connection ended: a body that is not complete is an error (or a Malformed)."""
        if self._state in (_DONE, _BROKEN):
            return []
        if self._state == _DATA:
            what = f"connection closed inside chunk data, {self._remaining} bytes missing"
        elif self._state == _DATA_CRLF:
            what = "connection closed before the CRLF after chunk data"
        elif self._state == _TRAILER:
            what = "connection closed inside the trailer section (no final empty line)"
        elif self._line:
            what = "connection closed inside a chunk-size line"
        else:
            what = "connection closed before the last chunk (no 0-size chunk)"
        events: list[ChunkEvent] = []
        self._broken_rest(b"", 0, events, what, self.offset + len(self._line))
        return events

    # -- states -----------------------------------------------------------------------

    def _fail(self, reason: str, offset: int) -> list[ChunkEvent]:
        if self.strict:
            raise WireError(reason, offset)
        self._state = _BROKEN
        return [Malformed(reason, offset)]

    def _broken_rest(self, data: bytes, pos: int, events: list, reason: str, offset: int) -> int:
        """Report an error; in lenient mode hand on the held and remaining bytes untouched."""
        events.extend(self._fail(reason, offset))
        rest = bytes(self._line) + data[pos:]
        self._line.clear()
        if rest:
            events.append(Unparsed(rest))
            self.offset += len(rest)
        return len(data)

    def _take_line(self, data: bytes, pos: int, limit: int) -> tuple[int, bool]:
        """Move bytes up to and including the next LF into ``_line``.

        True when a whole line within ``limit`` is there. The limit applies to the line with
        its LF, so a line is refused the same way whether it came in one read or in many.
        """
        nl = data.find(b"\n", pos)
        stop = len(data) if nl < 0 else nl + 1
        self._line += data[pos:stop]
        return stop, nl >= 0 and len(self._line) <= limit

    def _plain_size_line(self, line: re.Match[bytes], events: list) -> int:
        """A whole, well-formed size line (what :meth:`_read_size_line` would find, without the
        line-by-line care a broken or split one needs)."""
        raw = line.group()
        semi = raw.find(b";")
        extensions = raw[semi + 1 : -2] if semi >= 0 else b""
        self._start_chunk(ChunkHeader(int(line.group(1), 16), extensions, raw), events)
        return line.end()

    def _start_chunk(self, header: ChunkHeader, events: list) -> None:
        """A size line was read: the chunk's data follows, or (size 0) the trailer section."""
        events.append(header)
        self.offset += len(header.raw)
        if header.size == 0:
            self._state = _TRAILER
        else:
            self._remaining = header.size
            self._state = _DATA

    def _read_size_line(self, data: bytes, pos: int, events: list) -> int:
        start_offset = self.offset
        stop, whole = self._take_line(data, pos, MAX_SIZE_LINE)
        if not whole:
            if len(self._line) > MAX_SIZE_LINE:
                return self._broken_rest(data, stop, events, "chunk-size line too long", start_offset)
            return stop
        line = bytes(self._line)
        problem = _size_line_problem(line, self.strict)
        if problem:
            bad_at, reason = problem
            self._line = bytearray(line)
            return self._broken_rest(data, stop, events, reason, start_offset + bad_at)
        self._line.clear()
        body = line[:-2]
        size_text, _, ext = body.partition(b";")
        size = int(size_text.rstrip(b" \t"), 16)
        self._start_chunk(ChunkHeader(size, ext if b";" in body else b"", line), events)
        return stop

    def _read_data_crlf(self, data: bytes, pos: int, events: list) -> int:
        need = 2 - len(self._line)
        got = data[pos : pos + need]
        self._line += got
        expected = b"\r\n"[: len(self._line)]
        if bytes(self._line) != expected:
            # name only the first wrong byte, so the message does not depend on how reads were split
            bad = next(i for i, b in enumerate(self._line) if b != expected[i])
            found = bytes(self._line[bad : bad + 1])
            reason = f"chunk data not followed by CRLF: {found!r} where {'CR' if bad == 0 else 'LF'} belongs"
            return self._broken_rest(data, pos + len(got), events, reason, self.offset + bad)
        pos += len(got)
        if len(self._line) == 2:
            events.append(ChunkEnd(b"\r\n"))
            self.offset += 2
            self._line.clear()
            self.chunks += 1
            self._state = _SIZE
        return pos

    def _read_trailers(self, data: bytes, pos: int, events: list) -> int:
        """Trailer fields, one line at a time, until the empty line that ends the body."""
        stop, whole = self._take_line(data, pos, MAX_TRAILER_SECTION)
        if not whole:
            if len(self._line) > MAX_TRAILER_SECTION:
                return self._broken_rest(data, stop, events, "trailer section too long", self.offset)
            return stop
        section = bytes(self._line)
        line = section[section.rfind(b"\n", 0, len(section) - 1) + 1 :]
        line_at = self.offset + len(section) - len(line)
        if not line.endswith(b"\r\n"):
            where = self.offset + len(section) - 1
            return self._broken_rest(data, stop, events, "trailer line ends with a bare LF", where)
        if line != b"\r\n":
            name, colon, _ = line.partition(b":")
            if not colon or not name or name != name.strip() or b" " in name:
                reason = f"malformed trailer field {line[:40]!r}"
                return self._broken_rest(data, stop, events, reason, line_at)
            return stop
        fields = section[:-2].split(b"\r\n")[:-1]
        trailers = tuple((n, v.strip(b" \t")) for n, _, v in (f.partition(b":") for f in fields))
        events.append(ChunkedEnd(trailers, section))
        self.offset += len(section)
        self._line.clear()
        self._state = _DONE
        return stop


def _size_line_problem(line: bytes, strict: bool) -> tuple[int, str] | None:
    """Check a whole size line (ending in LF); return (index, reason) for the first fault.

    ``strict`` refuses whitespace after the size with no extension after it (``5 \r\n``): RFC
    9112 §7.1.1 allows whitespace only before a ``;``. Servers do send it, so a lenient reader
    takes it; a request carrying it is refused, as a size one reader takes and another does
    not is how requests are smuggled."""
    if not line.endswith(b"\r\n"):
        return len(line) - 1, "chunk-size line ends with a bare LF, not CRLF"
    body = line[:-2]
    if b"\r" in body:
        return body.index(b"\r"), "stray CR in chunk-size line"
    size_end = 0
    while size_end < len(body) and body[size_end] in _HEX:
        size_end += 1
    if size_end == 0:
        shown = body[:20]
        return 0, f"chunk size is not hexadecimal: {shown!r}"
    if size_end > 16:
        return 0, "chunk size has more than 16 hex digits"
    if int(body[:size_end], 16) > MAX_CHUNK_SIZE:
        return 0, f"chunk size {body[:size_end].decode()} is over 2^63-1"
    after = body[size_end:]
    rest = after.lstrip(b" \t")
    if rest and not rest.startswith(b";"):
        return size_end, f"unexpected bytes after chunk size: {after[:20]!r}"
    if strict and after and not rest:
        return size_end, f"whitespace after chunk size: {after[:20]!r}"
    return None


def encode_chunk(data: bytes, extensions: bytes = b"") -> bytes:
    """One chunk on the wire. Empty data would be the last chunk, so it is refused."""
    if not data:
        raise ValueError("an empty chunk is the last chunk: use encode_last_chunk()")
    ext = b";" + extensions if extensions else b""
    return b"%x%s\r\n%s\r\n" % (len(data), ext, data)


def encode_last_chunk(trailers: tuple[tuple[bytes, bytes], ...] | list = ()) -> bytes:
    """The zero-size chunk and the trailer section that end a chunked body."""
    return b"0\r\n" + b"".join(b"%s: %s\r\n" % (n, v) for n, v in trailers) + b"\r\n"


def encode_chunked(body: bytes, sizes: list[int] | None = None) -> bytes:
    """A whole chunked body; ``sizes`` cuts ``body`` into chunks of those sizes (the rest in one)."""
    out, pos = [], 0
    for size in sizes or ():
        piece = body[pos : pos + size]
        if piece:
            out.append(encode_chunk(piece))
        pos += size
    if pos < len(body):
        out.append(encode_chunk(body[pos:]))
    out.append(encode_last_chunk())
    return b"".join(out)


def chunk_events(data: bytes) -> list[ChunkEvent]:
    """One chunk carrying ``data``, as the events a decoder would have reported for it (for code
    that writes a body chunk by chunk: re-framing SSE events, compressing). Empty data: none."""
    if not data:
        return []
    return [ChunkHeader(len(data), b"", b"%x\r\n" % len(data)), ChunkData(data), ChunkEnd(b"\r\n")]


def last_chunk_events() -> list[ChunkEvent]:
    """The zero-size last chunk and an empty trailer section, as events: the end of a chunked body."""
    return [ChunkHeader(0, b"", b"0\r\n"), ChunkedEnd((), b"\r\n")]
