"""``latency`` (Toxiproxy's): every piece of data arrives ``latency`` ± ``jitter`` ms late.

Delays are pipelined, as on a long link: a piece read at time t goes out at t + delay, not
after the previous piece's delay has run out, so throughput is kept and only timing moves.
"""

from __future__ import annotations

from pydantic import Field

from faultproxy.faults.base import Attributes, Context, Fault, RawBytes, Until, register


class LatencyAttributes(Attributes):
    latency: int = Field(0, ge=0, description="ms added to every piece")
    jitter: int = Field(0, ge=0, description="± ms of random variation (seeded)")


@register
class Latency(Fault):
    name = "latency"
    layer = "bytes"
    summary = "delay every piece of data by latency ± jitter ms"
    Attributes = LatencyAttributes

    def on_bytes(self, data: bytes, ctx: Context) -> list[object]:
        delay = self.a.latency
        if self.a.jitter:
            delay += ctx.rng.randint(-self.a.jitter, self.a.jitter)
        return [Until(ctx.now + max(delay, 0) / 1000), RawBytes(data)]
