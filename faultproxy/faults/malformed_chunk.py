"""``malformed_chunk``: one chunk of a chunked body is framed wrongly; the rest is untouched.

``chunk`` is the 0-based index of the chunk (zero-size last chunk excluded) in each chunked
message the fault applies to. ``kind`` says what is wrong with it:

- ``bad_hex``: the digits of its size line become ``z`` characters (``1a\\r\\n`` → ``zz\\r\\n``),
  extensions and CRLF kept: a size line that is not hexadecimal;
- ``missing_crlf``: the CRLF after its data is left out, so the next size line (or the
  last chunk) follows the data directly;
- ``wrong_size``: its size line claims ``size + size_delta`` bytes (never fewer than 1)
  while the real data follows, so the reader's framing slips: it takes framing for data
  (more) or data for framing (less).

Nothing is closed by the fault: what the client does with the broken framing, and what
happens to the connection, is the point of the test. A message with fewer chunks is left
alone. Works on responses (``stream: downstream``) and chunked request bodies (``upstream``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from faultproxy.faults._http import chunked_message, is_message_head
from faultproxy.faults.base import Attributes, Context, Fault, HTTPOut, RawBytes, register
from faultproxy.wire.chunked import ChunkEnd, ChunkHeader
from faultproxy.wire.http import HTTPEvent

_HEX = frozenset(b"0123456789abcdefABCDEF")


class MalformedChunkAttributes(Attributes):
    chunk: int = Field(0, ge=0, description="0-based index of the chunk to break, per message")
    kind: Literal["bad_hex", "missing_crlf", "wrong_size"] = Field(
        "bad_hex",
        description="bad_hex: size not hex; missing_crlf: no CRLF after the data; wrong_size: size line lies",
    )
    size_delta: int = Field(1, description="wrong_size: the size line claims the real size plus this (not 0)")

    @field_validator("size_delta")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must not be 0 (the size would be right)")
        return value


@register
class MalformedChunk(Fault):
    name = "malformed_chunk"
    layer = "http"
    summary = "break the framing of chunk N: size line not hex, missing CRLF, or a wrong size"
    Attributes = MalformedChunkAttributes
    takes_over = frozenset({"framing"})  # it breaks the chunked framing (base.TAKES)

    def __init__(self, attributes: MalformedChunkAttributes):
        super().__init__(attributes)
        self.chunked = False  # the current message has a chunked body
        self.index = -1  # index of the current chunk
        self.drop_crlf = False

    def on_event(self, event: HTTPEvent, ctx: Context) -> list[HTTPOut]:
        if is_message_head(event, ctx.direction):
            self.chunked = chunked_message(event, ctx)
            self.index = -1
            self.drop_crlf = False
            return [event]
        if not self.chunked:
            return [event]
        if isinstance(event, ChunkHeader) and event.size:
            self.index += 1
            if self.index == self.a.chunk:
                return self._break(event, ctx)
        elif isinstance(event, ChunkEnd) and self.drop_crlf:
            self.drop_crlf = False
            ctx.fired(f"left out the CRLF after the data of chunk {self.index}")
            return []
        return [event]

    def _break(self, header: ChunkHeader, ctx: Context) -> list[HTTPOut]:
        kind = self.a.kind
        if kind == "missing_crlf":
            self.drop_crlf = True
            return [header]
        digits = 0
        while digits < len(header.raw) and header.raw[digits] in _HEX:
            digits += 1
        rest = header.raw[digits:]
        if kind == "bad_hex":
            line = b"z" * digits + rest
            ctx.fired(f"chunk {self.index}: size line {header.raw!r} sent as {line!r}")
        else:
            claimed = max(1, header.size + self.a.size_delta)
            line = b"%x" % claimed + rest
            ctx.fired(f"chunk {self.index}: size line claims {claimed} bytes, {header.size} follow")
        return [RawBytes(line)]
