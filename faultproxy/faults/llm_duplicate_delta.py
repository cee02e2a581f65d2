"""``llm_duplicate_delta``: one delta reaches the client twice, as a retrying intermediary sends it.

The ``delta_index``-th delta (0-based; text or tool-call argument fragments, in any dialect)
is sent ``copies`` more times right after itself, byte for byte (a Responses event keeps its
``sequence_number``, so a client that checks it could tell). The LLM formats carry no SSE ids,
so nothing lets a client drop the copy: the assembled text repeats a token, or the tool-call
arguments stop being the JSON that was sent.
"""

from __future__ import annotations

from pydantic import Field

from faultproxy.faults.base import Attributes, Context, register
from faultproxy.faults.llm_common import LLMFault, Piece
from faultproxy.faults.sse_common import moved
from faultproxy.wire.sse import Block


class LLMDuplicateDeltaAttributes(Attributes):
    delta_index: int = Field(
        2, ge=0, description="the delta to repeat (0-based, counting deltas with content)"
    )
    copies: int = Field(1, ge=1, le=100, description="extra copies sent right after it")


@register
class LLMDuplicateDelta(LLMFault):
    name = "llm_duplicate_delta"
    summary = "send the Nth text / tool-argument delta twice (a retrying intermediary)"
    Attributes = LLMDuplicateDeltaAttributes

    def on_piece(self, block: Block, piece: Piece, seen: int, ctx: Context) -> list[object]:
        if not piece.delta or not piece.text or seen != self.a.delta_index:
            return [block]
        ctx.fired(f"sent delta {seen} ({piece.text[:20]!r}) {1 + self.a.copies} times")
        return [block] + [moved(block)] * self.a.copies
