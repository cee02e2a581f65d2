"""``sse_disconnect``: the connection ends mid-stream right after event N — the classic drop.

``mode: fin`` closes in an orderly way (the client sees a body that simply stops, which for a
chunked body means no terminating chunk); ``mode: rst`` resets the connection.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from faultproxy.faults.base import Attributes, Close, Context, Fault, SSEOut, register
from faultproxy.wire.sse import Block


class SSEDisconnectAttributes(Attributes):
    after_events: int = Field(..., ge=0, description="events delivered before the connection ends")
    mode: Literal["fin", "rst"] = Field("fin", description="fin: orderly close; rst: TCP reset")


@register
class SSEDisconnect(Fault):
    name = "sse_disconnect"
    layer = "sse"
    directions = ("response",)
    summary = "end the connection (FIN or RST) after N events"
    Attributes = SSEDisconnectAttributes
    takes_over = frozenset({"end"})  # the connection ends after N events (base.TAKES)

    def __init__(self, attributes: SSEDisconnectAttributes):
        super().__init__(attributes)
        self.delivered = 0

    def on_response(self, ctx: Context) -> list[SSEOut]:
        self.delivered = 0
        if self.a.after_events == 0:
            ctx.fired(f"closed ({self.a.mode}) before the first event")
            return [Close(self.a.mode)]
        return []

    def on_block(self, block: Block, ctx: Context) -> list[SSEOut]:
        if block.event is None:
            return [block]
        self.delivered += 1
        if self.delivered == self.a.after_events:
            ctx.fired(f"closed ({self.a.mode}) after event {ctx.event_index + 1}")
            return [block, Close(self.a.mode)]
        return [block]
