"""``llm_error_event``: the API reports an error *inside* a stream that began with ``200 OK``.

After ``after_deltas`` deltas (text or tool-call argument fragments) the rest of the answer is
replaced by the dialect's in-stream error (see ``docs/llm-streams.md``): Anthropic's
``event: error`` (``overloaded_error`` by default: what a 529 is once the stream has begun);
OpenAI Chat's ``data: {"error": {...}}`` then ``data: [DONE]``; the Responses API's nested
``error`` event then ``response.failed``. Then the body ends cleanly and the upstream's rest
of it is dropped. The HTTP status stays 200, so only a client that reads the error event can
tell the application: a client that ignores it returns a truncated answer as if complete.

The error comes before the first event that carries content (or ends the answer) once
``after_deltas`` deltas have passed, so with ``after_deltas: 0`` the stream has its opening
events (``message_start``, the role chunk, ``response.created``) and nothing else.
"""

from __future__ import annotations

from pydantic import Field

from faultproxy.faults.base import Attributes, Context, EndBody, RawBytes, register
from faultproxy.faults.llm_common import LLMFault, Piece
from faultproxy.wire.sse import Block


class LLMErrorEventAttributes(Attributes):
    after_deltas: int = Field(3, ge=0, description="deltas delivered before the error event")
    error_type: str | None = Field(
        None, description="the error's type; default overloaded_error (Anthropic), server_error (OpenAI)"
    )
    message: str | None = Field(None, description="the error's message; default the API's usual text")


@register
class LLMErrorEvent(LLMFault):
    name = "llm_error_event"
    summary = (
        "after N deltas, the API's in-stream error event (Anthropic overloaded_error, OpenAI error object)"
    )
    Attributes = LLMErrorEventAttributes
    takes_over = frozenset({"end"})  # the error, then the body ends (base.TAKES)

    def on_piece(self, block: Block, piece: Piece, seen: int, ctx: Context) -> list[object]:
        if not self.strikes(piece, seen, self.a.after_deltas) or self.stream is None:
            return [block]
        out = self.stream.error_blocks(self.a.error_type, self.a.message)
        ctx.fired(
            f"replaced the rest of the {self.stream.dialect} stream after {seen} deltas with its error event"
        )
        return [*(RawBytes(b) for b in out), EndBody()]
