"""``llm_stall``: the answer stops for a while, but the stream stays alive with pings.

After ``after_deltas`` deltas nothing of the answer arrives for ``duration_ms``, while the
dialect's keep-alive comes every ``ping_ms``: Anthropic's ``event: ping``, and for OpenAI's
formats (which have no ping event) a ``: keep-alive`` comment (see ``docs/llm-streams.md``).
Bytes keep flowing, so a client's *read* (idle) timeout never fires: only a total deadline
catches a model that thinks for minutes. Then the held answer follows and the stream ends as
the server sent it.

The keep-alives are scheduled when the stall starts (a wait of ``ping_ms``, a ping, a wait of
``ping_ms``, a ping ..., then what is left of the stall), so the stall is exact whatever the
server does meanwhile; it happens once per response.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from faultproxy.faults.base import Attributes, Context, RawBytes, Wait, register
from faultproxy.faults.llm_common import LLMFault, Piece
from faultproxy.wire.sse import Block

MAX_PINGS = 10_000


class LLMStallAttributes(Attributes):
    after_deltas: int = Field(3, ge=0, description="deltas delivered before the stall")
    duration_ms: float = Field(..., gt=0, le=3_600_000, description="ms the answer stalls")
    ping_ms: float = Field(1000, ge=10, description="ms between keep-alives during the stall")

    @model_validator(mode="after")
    def _bounded(self) -> LLMStallAttributes:
        if self.duration_ms / self.ping_ms > MAX_PINGS:
            raise ValueError(f"duration_ms / ping_ms must be at most {MAX_PINGS} pings")
        return self


@register
class LLMStall(LLMFault):
    name = "llm_stall"
    summary = "after N deltas the answer stalls for duration_ms while pings / keep-alive comments keep coming"
    Attributes = LLMStallAttributes

    def on_piece(self, block: Block, piece: Piece, seen: int, ctx: Context) -> list[object]:
        if not self.strikes(piece, seen, self.a.after_deltas) or self.stream is None:
            return [block]
        return [*self.schedule(ctx, seen), block]

    def schedule(self, ctx: Context, seen: int) -> list[object]:
        """Pings every ``ping_ms`` through the stall, then the rest of the wait."""
        assert self.stream is not None
        ping = self.stream.ping_block()
        step, left = self.a.ping_ms / 1000, self.a.duration_ms / 1000
        out: list[object] = []
        while left > step:
            out += [Wait(step), RawBytes(ping)]
            left -= step
        out.append(Wait(left))
        pings = len(out) // 2
        ctx.fired(f"stalled {self.a.duration_ms:g} ms after {seen} deltas, with {pings} keep-alives")
        return out
