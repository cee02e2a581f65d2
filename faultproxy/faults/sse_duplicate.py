"""``sse_duplicate``: an event reaches the client twice (or more), byte for byte the same.

What a retrying intermediary or a server that replays after a reconnect does. The copy carries
the same ``id``, so a client that de-duplicates by id can cope; one that does not shows the
event twice (a ``duplicated`` verdict).
"""

from __future__ import annotations

from pydantic import Field

from faultproxy.faults.base import Context, Fault, SSEOut, register
from faultproxy.faults.sse_common import EventSelection, moved, selected
from faultproxy.wire.sse import Block


class SSEDuplicateAttributes(EventSelection):
    copies: int = Field(1, ge=1, le=100, description="extra copies sent right after the event")


@register
class SSEDuplicate(Fault):
    name = "sse_duplicate"
    layer = "sse"
    directions = ("response",)
    summary = "send an event twice: by index, every Nth, or a seeded fraction (default: every event)"
    Attributes = SSEDuplicateAttributes

    def on_block(self, block: Block, ctx: Context) -> list[SSEOut]:
        if block.event is None or not selected(self.a, ctx):
            return [block]
        copy = moved(block)
        ctx.fired(f"sent event {ctx.event_index + 1} (id {block.event.id or '-'}) {1 + self.a.copies} times")
        return [block] + [copy] * self.a.copies
