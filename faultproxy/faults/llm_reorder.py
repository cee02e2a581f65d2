"""``llm_reorder``: the answer's pieces arrive out of order.

``unit: delta`` -- the ``index``-th delta (text or tool-call arguments, 0-based) is held back
and sent right after the delta that follows it: the assembled text has two tokens swapped.

``unit: block`` -- every event of the ``index``-th content block (in order of first appearance:
Anthropic's content blocks, the Responses API's output items, in Chat the text or one tool
call) is held back until the next block has been sent, then follows it; the events keep their
own indexes, so a client that places blocks by index rebuilds the message, and one that
appends in arrival order gets them the wrong way round. An event that belongs to no block
(``message_delta``, the finish chunk, ``response.completed``), or the start of a third block,
releases what is held before it. See ``docs/llm-streams.md`` for the formats.

When nothing overtakes the held piece (the last delta, a message of one block), it goes out
in its own place and the fault does not fire.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from faultproxy.faults.base import Attributes, Context, register
from faultproxy.faults.llm_common import LLMFault, Piece
from faultproxy.faults.sse_common import moved
from faultproxy.wire.sse import Block


class LLMReorderAttributes(Attributes):
    unit: Literal["delta", "block"] = Field(
        "delta", description="delta: swap two deltas; block: swap two content blocks"
    )
    index: int = Field(0, ge=0, description="the delta or block held back (0-based)")


@register
class LLMReorder(LLMFault):
    name = "llm_reorder"
    summary = "deltas or content blocks out of order: the Nth is overtaken by the one after it"
    Attributes = LLMReorderAttributes

    def reset(self) -> None:
        self.blocks: list[str] = []  # content blocks in order of first appearance
        self.held: list[Block] = []
        self.overtaken_by: str | None = None  # what passed the held piece (a block name, or "delta")
        self.done = False

    def on_piece(self, block: Block, piece: Piece, seen: int, ctx: Context) -> list[object]:
        if self.done or piece.kind == "ping":
            return [block]
        if self.a.unit == "delta":
            if not self.held:
                if piece.delta and piece.text and seen == self.a.index:
                    self.held = [moved(block)]
                    return []
                return [block]
            if piece.delta and piece.text:
                self.overtaken_by = "delta"
                return [block, *self._release(ctx, f"delta {seen - 1} after delta {seen}")]
            return [*self._release(ctx, ""), block]
        return self._block_unit(block, piece.block, ctx)

    def _block_unit(self, block: Block, name: str | None, ctx: Context) -> list[object]:
        if name is not None and name not in self.blocks:
            self.blocks.append(name)
        target = self.blocks[self.a.index] if len(self.blocks) > self.a.index else None
        if target is None:
            return [block]
        if name == target:
            self.held.append(moved(block))
            return []
        if name is not None and self.overtaken_by in (None, name):
            self.overtaken_by = name
            return [block]
        how = f"content block {target} after block {self.overtaken_by}" if self.overtaken_by else ""
        return [*self._release(ctx, how), block]

    def on_body_end(self, ctx: Context) -> list[object]:
        return self._release(ctx, "") if self.held else []

    def _release(self, ctx: Context, how: str) -> list[object]:
        held, self.held, self.done = self.held, [], True
        if self.overtaken_by is not None and how:
            ctx.fired(f"sent {how} ({len(held)} event{'s' if len(held) != 1 else ''} held back)")
        return list(held)
