"""``llm_no_usage``: the token usage never reaches the client; everything else does.

OpenAI Chat: the ``choices: []`` usage chunk before ``[DONE]`` is dropped (a ``usage`` on any
other chunk becomes ``null``), which is what the API itself warns of for an interrupted stream.
The Responses API: ``usage`` of the final ``response`` object becomes ``null``. Anthropic: the
``usage`` of ``message_delta`` (the output token count) is removed. See ``docs/llm-streams.md``.
The answer is intact, so only an application that meters tokens notices -- or its SDK, if it
counts on the field being there.
"""

from __future__ import annotations

from faultproxy.faults.base import Attributes, Context, register
from faultproxy.faults.llm_common import LLMFault, Piece, rewritten
from faultproxy.wire.sse import Block


@register
class LLMNoUsage(LLMFault):
    name = "llm_no_usage"
    summary = "the usage never arrives: Chat's usage chunk dropped, Responses' usage null, message_delta without usage"
    Attributes = Attributes

    def on_piece(self, block: Block, piece: Piece, seen: int, ctx: Context) -> list[object]:
        body = piece.data
        if not isinstance(body, dict):
            return [block]
        if piece.kind == "usage":
            ctx.fired("dropped the usage chunk")
            return []
        if isinstance(body.get("response"), dict) and body["response"].get("usage") is not None:
            ctx.fired(f"set usage to null in {body.get('type')}")
            return [rewritten(block, {**body, "response": {**body["response"], "usage": None}})]
        if body.get("type") == "message_delta" and "usage" in body:
            ctx.fired("removed usage from message_delta")
            return [rewritten(block, {k: v for k, v in body.items() if k != "usage"})]
        if self.stream is not None and self.stream.dialect == "chat" and body.get("usage") is not None:
            ctx.fired("set usage to null on a chunk")
            return [rewritten(block, {**body, "usage": None})]
        return [block]
