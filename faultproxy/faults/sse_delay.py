"""``sse_delay``: every event waits ``delay_ms`` (± ``jitter_ms``, seeded) before it goes out.

The waits add up, as on a slow producer: each event leaves at least ``delay_ms`` after the
one before it left, so a burst of events arrives spread out, and a stream whose events come
faster than one per ``delay_ms`` falls further and further behind (the proxy holds what waits,
then pushes back on the server). Blocks that dispatch nothing (comments) are not delayed
themselves, but wait behind the events before them. For latency that keeps throughput, use
the byte-level ``latency`` fault instead.
"""

from __future__ import annotations

from pydantic import Field

from faultproxy.faults.base import Attributes, Context, Fault, SSEOut, Wait, register
from faultproxy.wire.sse import Block


class SSEDelayAttributes(Attributes):
    delay_ms: float = Field(..., ge=0, le=3_600_000, description="ms each event waits before it goes out")
    jitter_ms: float = Field(
        0, ge=0, le=3_600_000, description="± ms of random variation per event (seeded); never below 0"
    )
    event_type: str | None = Field(None, description="delay only events of this type")


@register
class SSEDelay(Fault):
    name = "sse_delay"
    layer = "sse"
    directions = ("response",)
    summary = "hold every event delay_ms ± jitter_ms before it goes out (the waits add up)"
    Attributes = SSEDelayAttributes

    def on_block(self, block: Block, ctx: Context) -> list[SSEOut]:
        if block.event is None or (self.a.event_type is not None and block.event.type != self.a.event_type):
            return [block]
        delay = self.a.delay_ms
        if self.a.jitter_ms:
            delay = max(0.0, delay + ctx.rng.uniform(-self.a.jitter_ms, self.a.jitter_ms))
        ctx.fired(f"event {ctx.event_index + 1} waits {delay:.1f} ms")
        return [Wait(delay / 1000), block]
