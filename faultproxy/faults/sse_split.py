"""``sse_split``: events arrive in pieces, each its own chunk and its own write.

The body is cut on a grid over the whole stream: every ``size`` bytes (``mode: fixed``), at
seeded random sizes between ``min_size`` and ``max_size`` (``mode: random``), or after every
byte (``mode: byte``). Events straddle the cuts, so a client must join lines and events
across reads — including a CRLF cut between its CR and its LF. Nothing is held back: the end
of an event is always also a cut, so no event arrives later than it would have.

Each piece is one chunk (or one plain write) and a write of its own: a ``Wait`` of
``gap_ms`` separates them (0 still makes separate writes). With ``gap_ms: 0`` the pieces leave
in separate TCP segments (the proxy sets TCP_NODELAY) but a client that reads less often than
they arrive may still get several in one read; a gap of a few ms makes separate reads likely.

It turns events into pieces that no ``sse`` fault could act on any more, so it always runs after
the other ``sse`` faults of a response, whatever order they were given in (``breaks_blocks``):
``sse_split`` then ``sse_drop`` drops the event, then splits the rest.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from faultproxy.faults.base import Attributes, Context, Fault, RawBytes, SSEOut, Wait, register
from faultproxy.wire.sse import Block


class SSESplitAttributes(Attributes):
    mode: Literal["fixed", "random", "byte"] = Field(
        "fixed",
        description="fixed: every size bytes; random: min_size..max_size (seeded); byte: one byte per piece",
    )
    size: int = Field(8, ge=1, le=1 << 20, description="fixed: bytes per piece")
    min_size: int = Field(1, ge=1, le=1 << 20, description="random: the smallest piece")
    max_size: int = Field(16, ge=1, le=1 << 20, description="random: the largest piece")
    gap_ms: float = Field(
        0, ge=0, le=60_000, description="pause after every piece (0: none, but still separate writes)"
    )

    @model_validator(mode="after")
    def _sizes(self) -> SSESplitAttributes:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) is larger than max_size ({self.max_size})")
        return self


@register
class SSESplit(Fault):
    name = "sse_split"
    layer = "sse"
    directions = ("response",)
    summary = "re-chunk the stream so events straddle writes: fixed size, random sizes, or byte by byte"
    Attributes = SSESplitAttributes
    takes_over = frozenset({"writes"})  # it cuts the body into pieces of its own (base.TAKES)
    breaks_blocks = True  # the pipeline runs it after the other sse faults (it turns events into pieces)

    def __init__(self, attributes: SSESplitAttributes):
        super().__init__(attributes)
        self.left = 0  # bytes still to go into the current grid cell

    def on_response(self, ctx: Context) -> list[SSEOut]:
        self.left = 0
        return []

    def _size(self, ctx: Context) -> int:
        a = self.a
        if a.mode == "byte":
            return 1
        if a.mode == "fixed":
            return a.size
        return ctx.rng.randint(a.min_size, a.max_size)

    def on_block(self, block: Block, ctx: Context) -> list[SSEOut]:
        raw, pos, out = block.raw, 0, []
        gap = Wait(self.a.gap_ms / 1000)
        while pos < len(raw):
            if self.left == 0:
                self.left = self._size(ctx)
            take = min(self.left, len(raw) - pos)
            out += [RawBytes(raw[pos : pos + take]), gap]
            pos += take
            self.left -= take
        if block.event is not None and len(out) > 2:
            ctx.fired(f"event {ctx.event_index + 1} sent in {len(out) // 2} pieces")
        return out
