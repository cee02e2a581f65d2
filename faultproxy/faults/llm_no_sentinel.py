"""``llm_no_sentinel``: the end sentinel is missing, and the body still ends cleanly.

``data: [DONE]`` (OpenAI Chat), ``message_stop`` (Anthropic) or ``response.completed`` (the
Responses API, which carries the final status and usage; see ``docs/llm-streams.md``) never
arrives; the body then ends with a correct last chunk as the server ended it. Nothing is
wrong at the HTTP level: only a client that insists on the sentinel can tell that the stream
did not finish (here the answer itself is whole, which is what makes the check matter when it
is not).
"""

from __future__ import annotations

from faultproxy.faults.base import Attributes, Context, Fault, register
from faultproxy.faults.llm_common import LLMStream
from faultproxy.wire.sse import Block


@register
class LLMNoSentinel(Fault):
    name = "llm_no_sentinel"
    layer = "sse"
    directions = ("downstream",)
    summary = "drop [DONE] / message_stop / response.completed; the body ends cleanly"
    Attributes = Attributes

    def __init__(self, attributes: Attributes):
        super().__init__(attributes)
        self.stream: LLMStream | None = None

    def on_response(self, ctx: Context) -> list[object]:
        self.stream = LLMStream(ctx)
        return []

    def on_block(self, block: Block, ctx: Context) -> list[object]:
        piece = self.stream.observe(block) if self.stream is not None else None
        if piece is None or piece.kind != "sentinel" or self.stream is None or block.event is None:
            return [block]
        what = "data: [DONE]" if self.stream.dialect == "chat" else block.event.type
        ctx.fired(f"dropped the end sentinel ({what})")
        return []
