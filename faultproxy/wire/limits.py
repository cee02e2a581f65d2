"""Size limits on an HTTP/1.1 head, checked while its bytes arrive (docs/reliability.md, "Limits").

A reader buffers a head until its blank line. Without limits a peer that never sends one — or
sends a 1 GB header line — makes the reader hold all of it. The defaults are nginx's, in the
shape servers state them: a request line or header line of at most 8 KiB (nginx's
``large_client_header_buffers 4 8k``; Apache's 8190), a head of at most 32 KiB (nginx's 1 KiB
first buffer plus four 8 KiB ones, rounded down), and at most 100 header fields (Apache's
``LimitRequestFields``; nginx has no count, its buffers bound it).

A head over a limit is refused as soon as the excess is there, never after waiting for the
rest: a request line of 1 MB with no LF ends after 8 KiB. The verdict does not depend on how
the bytes were split into reads — the check reads only the first ``max_head + 1`` bytes, and
among the problems there the earliest line's wins (a line's problem shows before any later
line's can), the head's size last.
"""

from __future__ import annotations

from dataclasses import dataclass

from faultproxy.wire.errors import WireError


@dataclass(frozen=True, slots=True)
class HeadLimits:
    """How large a head may be: ``max_head`` bytes in all, through its blank line;
    ``max_line`` bytes per line, its line ending not counted; ``max_fields`` header lines
    (the start line not counted, a folded continuation counts as a line)."""

    max_head: int = 32 * 1024
    max_line: int = 8 * 1024
    max_fields: int = 100

    def __post_init__(self) -> None:
        for name in ("max_head", "max_line", "max_fields"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}")


DEFAULT_LIMITS = HeadLimits()

_CR = 13


class HeadScanner:
    """Finds the end of the head a reader is buffering, checking it against the limits on the way.

    One pass over the bytes however they arrive: ``_pos`` is where the line still arriving
    starts in the reader's buffer, lines before it are not looked at again. :meth:`reset` once
    a head has been taken out of the buffer. The head ends with the first empty line after a
    line with content; empty lines before the start line belong to the head (RFC 9112 §2.2).
    """

    __slots__ = ("_lines", "_pos", "limits", "role")

    def __init__(self, role: str, limits: HeadLimits = DEFAULT_LIMITS):
        self.role = role
        self.limits = limits
        self._pos = 0  # the start of the first line not yet seen whole
        self._lines = 0  # lines with content so far: the start line, then header lines

    def reset(self) -> None:
        self._pos = 0
        self._lines = 0

    def scan(self, buf: bytes | bytearray, offset: int) -> int:
        """Where the head ends in ``buf`` (just past its empty line), or -1 while it has not.
        Raises :class:`WireError` for the first limit it breaks. ``offset``: the stream offset
        of ``buf[0]``."""
        limits = self.limits
        stop = min(len(buf), limits.max_head + 1)
        pos = self._pos
        while (nl := buf.find(b"\n", pos, stop)) >= 0:
            length = nl - pos - (nl > pos and buf[nl - 1] == _CR)
            if length > limits.max_line:
                raise self._line_too_long(offset + pos)
            start, pos = pos, nl + 1
            if length:
                self._lines += 1
                if self._lines > limits.max_fields + 1:
                    raise WireError(f"more than {limits.max_fields} header fields", offset + start, 431)
            elif self._lines:  # the empty line that ends the head
                self._pos = pos
                if pos > limits.max_head:
                    raise self._too_large(offset)
                return pos
        self._pos = pos
        # the line still arriving: a CR at its end may yet be its line ending
        if stop - pos - (stop > pos and buf[stop - 1] == _CR) > limits.max_line:
            raise self._line_too_long(offset + pos)
        if len(buf) > limits.max_head:
            raise self._too_large(offset)
        return -1

    def _too_large(self, at: int) -> WireError:
        return WireError(f"{self.role} head larger than {self.limits.max_head} bytes", at, 431)

    def _line_too_long(self, at: int) -> WireError:
        size = self.limits.max_line
        if self._lines:
            return WireError(f"header line longer than {size} bytes", at, 431)
        if self.role == "request":
            return WireError(f"request line longer than {size} bytes", at, 414)
        return WireError(f"status line longer than {size} bytes", at, 431)
