"""``sse_drop``: an event never reaches the client, as if lost by a buggy intermediary.

The rest of the stream is untouched and ends cleanly, so only a client that checks ids or an
end sentinel can tell: the kind of loss a report must show as ``silent_loss``.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from faultproxy.faults.base import Attributes, Context, Fault, SSEOut, register
from faultproxy.wire.sse import Block


class SSEDropAttributes(Attributes):
    event_index: int | None = Field(
        None, ge=0, description="drop the event with this index (0-based, per response)"
    )
    event_type: str | None = Field(None, description="drop every event of this type")
    every: int | None = Field(None, ge=1, description="drop every Nth event (the Nth, 2Nth, …)")

    @model_validator(mode="after")
    def _something(self) -> SSEDropAttributes:
        if self.event_index is None and self.event_type is None and self.every is None:
            raise ValueError("drops nothing as given: say which events -- event_index, event_type or every")
        return self


@register
class SSEDrop(Fault):
    name = "sse_drop"
    layer = "sse"
    directions = ("response",)
    summary = "drop one event (by index), every event of a type, or every Nth event"
    Attributes = SSEDropAttributes

    def on_block(self, block: Block, ctx: Context) -> list[SSEOut]:
        event, a = block.event, self.a
        if event is None:
            return [block]
        index = ctx.event_index or 0
        hit = (
            (a.event_index is not None and index == a.event_index)
            or (a.event_type is not None and event.type == a.event_type)
            or (a.every is not None and (index + 1) % a.every == 0)
        )
        if not hit:
            return [block]
        ctx.fired(f"dropped event {index + 1} (type {event.type}, id {event.id or '-'})")
        return []
