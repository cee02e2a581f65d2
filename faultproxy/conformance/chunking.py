"""How a case's body is cut into the reads a client sees.

A parser that is right for one read of the whole body can still be wrong when the same bytes
come in pieces: a CRLF split between two reads read as two line endings, a BOM or a UTF-8
character split in two, a line that is only finished in the next read. Each case therefore
runs under three cuttings:

- ``whole``: the body in one write;
- ``bytes``: one byte per write;
- ``eol``: a cut after every CR and every LF, so a CRLF always arrives as CR, then LF.

A case may name cuts of its own instead (``Case.cuts``): the status and Content-Type cases, whose
body must not be parsed, run ``whole`` only; the 64 KiB message runs ``whole`` and ``halves`` (two
pieces cut in the middle, as the upstream test sends it), since a byte per write would take minutes.

The server writes each piece on its own, a short gap apart, so the client's reads follow the
pieces (loopback with TCP_NODELAY; a client that is slow to read can still see two pieces at
once, which only makes its task easier).
"""

from __future__ import annotations

import re

CHUNKINGS = ("whole", "bytes", "eol")  # what every case runs under, unless it names its own cuts
KNOWN = (*CHUNKINGS, "halves")
_AFTER_EOL = re.compile(rb"(?<=[\r\n])")


def cut(body: bytes, chunking: str) -> list[bytes]:
    """``body`` in the pieces ``chunking`` says; their concatenation is always ``body``."""
    if chunking == "whole":
        return [body] if body else []
    if chunking == "bytes":
        return [body[i : i + 1] for i in range(len(body))]
    if chunking == "eol":
        return [piece for piece in _AFTER_EOL.split(body) if piece]
    if chunking == "halves":
        middle = len(body) // 2
        return [piece for piece in (body[:middle], body[middle:]) if piece]
    raise ValueError(f"unknown chunking {chunking!r}; known: {', '.join(KNOWN)}")
