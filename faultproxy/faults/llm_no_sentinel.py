"""``llm_no_sentinel``: the end sentinel is missing, and the body still ends cleanly.

``data: [DONE]`` (OpenAI Chat), ``message_stop`` (Anthropic) or ``response.completed`` (the
Responses API, which carries the final status and usage; see ``docs/llm-streams.md``) never
arrives; the body then ends with a correct last chunk as the server ended it. Nothing is
wrong at the HTTP level: only a client that insists on the sentinel can tell that the stream
did not finish (here the answer itself is whole, which is what makes the check matter when it
is not).
"""

from __future__ import annotations

from faultproxy.faults.base import Attributes, Context, register
from faultproxy.faults.llm_common import LLMFault, Piece
from faultproxy.wire.sse import Block


@register
class LLMNoSentinel(LLMFault):
    name = "llm_no_sentinel"
    summary = "drop [DONE] / message_stop / response.completed; the body ends cleanly"
    Attributes = Attributes

    def on_piece(self, block: Block, piece: Piece, seen: int, ctx: Context) -> list[object]:
        if piece.kind != "sentinel" or self.stream is None or block.event is None:
            return [block]
        what = "data: [DONE]" if self.stream.dialect == "chat" else block.event.type
        ctx.fired(f"dropped the end sentinel ({what})")
        return []
