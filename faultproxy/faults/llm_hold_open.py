"""``llm_hold_open``: the answer is complete, but the connection is never closed.

The stream's end sentinel arrives (``data: [DONE]``, ``message_stop``, the Responses API's
``response.completed``; see ``docs/llm-streams.md``) and then nothing more: no last chunk, no
FIN. A client that stops at the sentinel is done; one that waits for the end of the body
hangs until its read timeout, although it holds the whole answer.
"""

from __future__ import annotations

from faultproxy.faults.base import Attributes, Context, Hold, register
from faultproxy.faults.llm_common import LLMFault, Piece
from faultproxy.wire.sse import Block


@register
class LLMHoldOpen(LLMFault):
    name = "llm_hold_open"
    summary = "keep the connection open and silent after [DONE] / message_stop / response.completed"
    Attributes = Attributes
    takes_over = frozenset({"end"})  # the stream never ends for the client (base.TAKES)

    def on_piece(self, block: Block, piece: Piece, seen: int, ctx: Context) -> list[object]:
        if piece.kind != "sentinel":
            return [block]
        self.stream = None
        ctx.fired("held the connection open after the end sentinel (no last chunk, no FIN)")
        return [block, Hold()]
