"""``early_end``: the body ends cleanly after N events — data loss that looks like success.

After the ``after_events``-th event the response body is ended the way its framing ends a
body: a correct last chunk (``0\\r\\n\\r\\n``) for a chunked body, and also for a
Content-Length body, which the pipeline re-frames as chunked whenever an SSE fault is active
(for an HTTP/1.0 client it becomes close-delimited instead). Nothing at the HTTP level is
wrong, so no client can complain; only an end sentinel (``[DONE]``, ``message_stop``) or the
ids say that events are missing. The rest of the upstream's body is dropped.

``then`` says what the connection does after the clean end:

- ``close`` (default): the proxy closes it (FIN), as a server that ends the stream and hangs
  up does. The upstream's connection is closed too.
- ``keep_open``: the connection stays open and goes quiet while the upstream's remaining
  body is swallowed; a response to a later request on the same connection comes through
  once the upstream has finished the cut one.

A close-delimited body can only end by closing, so there ``then`` does not matter. This is an
``sse``-layer fault: it needs event boundaries, which the ``http`` layer does not see.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from faultproxy.faults.base import Attributes, Close, Context, EndBody, Fault, SSEOut, register
from faultproxy.wire.sse import Block


class EarlyEndAttributes(Attributes):
    after_events: int = Field(..., ge=0, description="events delivered before the body ends cleanly")
    then: Literal["close", "keep_open"] = Field(
        "close", description="close: FIN after the clean end; keep_open: the connection stays open, quiet"
    )


@register
class EarlyEnd(Fault):
    name = "early_end"
    layer = "sse"
    directions = ("response",)
    summary = "end the body cleanly (a correct 0\\r\\n\\r\\n) after N events, hiding the loss"
    Attributes = EarlyEndAttributes
    takes_over = frozenset({"end"})  # the body ends after N events (base.TAKES)

    def __init__(self, attributes: EarlyEndAttributes):
        super().__init__(attributes)
        self.delivered = 0

    def _end(self, ctx: Context) -> list[SSEOut]:
        ctx.fired(
            f"ended the body cleanly after {self.delivered} events"
            f" ({'closing' if self.a.then == 'close' else 'keeping'} the connection); the rest is dropped"
        )
        return [EndBody(), Close("fin")] if self.a.then == "close" else [EndBody()]

    def on_response(self, ctx: Context) -> list[SSEOut]:
        self.delivered = 0
        return self._end(ctx) if self.a.after_events == 0 else []

    def on_block(self, block: Block, ctx: Context) -> list[SSEOut]:
        if block.event is None:
            return [block]
        self.delivered += 1
        if self.delivered == self.a.after_events:
            return [block, *self._end(ctx)]
        return [block]
