"""``sse_stall``: the stream goes silent after event N — for ``duration_ms``, or for good.

After the ``after_events``-th event has gone out, nothing more is delivered for
``duration_ms``; then everything the server sent meanwhile follows at once and the stream
carries on (the proxy keeps reading meanwhile up to its queue limit, then pushes back on the
server, as a stalled network would). It happens once per response.

Without ``duration_ms`` (or with 0) the stall never ends: the connection stays open and
nothing more arrives, not even the end of the body or a FIN when the server finishes — a
hung stream, which is what a client's read timeout or heartbeat check must catch. The stall
is in the delivery queue, so removing the fault afterwards does not resume a stream that is
already stalled (new responses and connections are not stalled any more).
"""

from __future__ import annotations

import math

from pydantic import Field

from faultproxy.faults.base import Attributes, Context, Fault, SSEOut, Wait, register
from faultproxy.wire.sse import Block


class SSEStallAttributes(Attributes):
    after_events: int = Field(
        ..., ge=0, description="events delivered before the silence (0: before the first)"
    )
    duration_ms: float | None = Field(
        None, ge=0, le=86_400_000, description="ms of silence; absent or 0: silent for good (a hung stream)"
    )


@register
class SSEStall(Fault):
    name = "sse_stall"
    layer = "sse"
    directions = ("response",)
    summary = "go silent after N events, for duration_ms (then resume) or forever"
    Attributes = SSEStallAttributes

    @classmethod
    def takes(cls, attributes: SSEStallAttributes) -> frozenset[str]:
        """A stall that never ends is the end of the stream for the client (base.TAKES)."""
        return frozenset() if attributes.duration_ms else frozenset({"end"})

    def __init__(self, attributes: SSEStallAttributes):
        super().__init__(attributes)
        self.delivered = 0

    def on_response(self, ctx: Context) -> list[SSEOut]:
        self.delivered = 0
        return self._stall(ctx, "before the first event") if self.a.after_events == 0 else []

    def on_block(self, block: Block, ctx: Context) -> list[SSEOut]:
        if block.event is None:
            return [block]
        self.delivered += 1
        if self.delivered != self.a.after_events:
            return [block]
        return [block, *self._stall(ctx, f"after event {ctx.event_index + 1}")]

    def _stall(self, ctx: Context, where: str) -> list[SSEOut]:
        ms = self.a.duration_ms
        if ms:
            ctx.fired(f"stalled {ms:g} ms {where}")
            return [Wait(ms / 1000)]
        ctx.fired(f"stalled for good {where}")
        return [Wait(math.inf)]
