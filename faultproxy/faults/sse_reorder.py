"""``sse_reorder``: an event is held back and overtaken by the events after it.

With ``after: 1`` (the default) event N and event N+1 swap places; with ``after: M`` event N
goes out right after the M events that follow it. Only one event is held at a time: an event
picked while another is held passes (and counts as one that overtakes it). Blocks that
dispatch nothing (comments, id-only blocks) pass and do not count. If the body ends before M
events have overtaken it, the held event goes out last, just before the end; if the
connection breaks first, it is lost with the rest.

The held event keeps its bytes, so its ``id`` line (if it has one) comes late too: a client
that tracks the last event id sees it go backwards. An event without an ``id`` line takes the
id in effect where it lands.
"""

from __future__ import annotations

from pydantic import Field

from faultproxy.faults.base import Context, Fault, SSEOut, register
from faultproxy.faults.sse_common import EventSelection, moved, selected
from faultproxy.wire.sse import Block


class SSEReorderAttributes(EventSelection):
    after: int = Field(
        1, ge=1, le=10_000, description="how many later events overtake the held one (1: swap with the next)"
    )


@register
class SSEReorder(Fault):
    name = "sse_reorder"
    layer = "sse"
    directions = ("response",)
    summary = "hold an event back until M later events have passed (M=1: swap with the next)"
    Attributes = SSEReorderAttributes

    def __init__(self, attributes: SSEReorderAttributes):
        super().__init__(attributes)
        self.held: Block | None = None
        self.held_index = 0
        self.overtaken = 0

    def on_response(self, ctx: Context) -> list[SSEOut]:
        self.held = None
        return []

    def on_block(self, block: Block, ctx: Context) -> list[SSEOut]:
        if block.event is None:
            return [block]
        index = ctx.event_index or 0
        picked = selected(self.a, ctx)  # drawn for every event, so the choice never depends on state
        if self.held is None:
            if not picked:
                return [block]
            self.held, self.held_index, self.overtaken = moved(block), index, 0
            ctx.fired(f"held event {index + 1} (id {block.event.id or '-'})")
            return []
        self.overtaken += 1
        if self.overtaken < self.a.after:
            return [block]
        return [block, *self._release(ctx, f"after event {index + 1}")]

    def on_body_end(self, ctx: Context) -> list[SSEOut]:
        if self.held is None:
            return []
        return self._release(ctx, f"at the end of the body, overtaken by only {self.overtaken}")

    def _release(self, ctx: Context, where: str) -> list[SSEOut]:
        held, self.held = self.held, None
        assert held is not None
        ctx.fired(f"sent event {self.held_index + 1} {where}")
        return [held]
