"""``buffer``: a buffering reverse proxy (nginx's default) between the server and the client.

The body is held until ``size_bytes`` have gathered, then exactly that many bytes go out as
one piece, and the rest waits for the next full buffer, or for the end of the body, or for
``flush_ms`` after the oldest byte held (0: no timer, only size and end, as in nginx). So
the client sees nothing, then a batch; events are cut wherever a buffer fills, and finish in
the next batch. With small events the time to the first event is
min(end of the stream, time to gather ``size_bytes``), which is what nginx 1.22 measurably
does with its defaults: ``proxy_buffering on`` and an HTTP/1.0 upstream, buffers of one memory
page (4096 bytes; 40 events of 24 B every 250 ms all arrive at the end, in one read; 1 KiB
events arrive four at a time). See ``intermediaries.md`` §4.

It acts on ``text/event-stream`` bodies (the events are where it shows) and works on their
bytes, not on events: it never waits for an event's end, except that the proxy only sees an
event once its blank line has arrived, so a buffer fills at an event's end at the earliest.
If the body breaks off, what is held still goes out before the connection ends, as nginx
does; Content-Length bodies are carried chunked, as with every ``sse`` fault.
"""

from __future__ import annotations

from pydantic import Field

from faultproxy.faults.base import Attributes, Context, Fault, RawBytes, register
from faultproxy.wire.sse import Block


class BufferAttributes(Attributes):
    size_bytes: int = Field(4096, ge=1, le=64 << 20, description="bytes gathered before a batch goes out (nginx: one page, 4096)")
    flush_ms: float = Field(0, ge=0, le=86_400_000, description="also let out what is held this many ms after its oldest byte (0: never)")


@register
class Buffer(Fault):
    name = "buffer"
    layer = "sse"
    breaks_blocks = True  # it lets events out as batches of raw bytes: it runs after the other sse faults
    directions = ("downstream",)
    summary = "hold the body until size_bytes gather, the body ends or flush_ms pass (nginx proxy_buffering)"
    Attributes = BufferAttributes

    def __init__(self, attributes: BufferAttributes):
        super().__init__(attributes)
        self.held = bytearray()
        self.ends: list[int] = []  # where in `held` the events held end
        self.due: float | None = None  # flush_ms timer for what is held now

    def on_response(self, ctx: Context) -> list[object]:
        self.held.clear()
        self.ends.clear()
        self.due = None
        return []

    def on_block(self, block: Block, ctx: Context) -> list[object]:
        if not block.raw:
            return []
        if not self.held:
            self._arm(ctx)
        self.held += block.raw
        if block.event is not None:
            self.ends.append(len(self.held))
        out: list[object] = []
        while len(self.held) >= self.a.size_bytes:
            out += self._let_out(self.a.size_bytes, ctx, f"a full buffer, at event {ctx.event_index}")
            if self.held:
                self._arm(ctx)  # the rest starts the next buffer
        return out

    def on_alarm(self, ctx: Context) -> list[object]:
        if self.due is None or ctx.now < self.due or not self.held:
            return []
        return self._let_out(len(self.held), ctx, f"after {self.a.flush_ms:g} ms")

    def on_body_end(self, ctx: Context) -> list[object]:
        return self._let_out(len(self.held), ctx, "at the end of the body") if self.held else []

    def _arm(self, ctx: Context) -> None:
        if self.a.flush_ms:
            self.due = ctx.now + self.a.flush_ms / 1000
            ctx.set_alarm(self.due)

    def _let_out(self, size: int, ctx: Context, why: str) -> list[object]:
        piece = bytes(self.held[:size])
        del self.held[:size]
        done = sum(1 for end in self.ends if end <= size)
        self.ends = [end - size for end in self.ends[done:]]
        if not self.held:
            self.due = None
        ctx.fired(f"let out {size} bytes ({done} events end in them): {why}")
        return [RawBytes(piece)]
