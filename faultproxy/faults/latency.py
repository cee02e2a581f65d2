"""``latency`` (Toxiproxy's): every piece of data arrives ``latency`` ± ``jitter`` ms late.

Delays are pipelined, as on a long link: a piece read at time t goes out at t + delay, not
after the previous piece's delay has run out, so throughput is kept and only timing moves.
With jitter a piece may be due before the one read before it; it still goes out after it
(bytes keep their order, as on TCP). The jitter is drawn from the proxy's seed.

Evidence: the first piece of each exchange (each connection, in raw mode), with its delay.
"""

from __future__ import annotations

from pydantic import Field

from faultproxy.faults.base import Attributes, BytesOut, Context, Fault, RawBytes, Until, register


class LatencyAttributes(Attributes):
    latency: int = Field(0, ge=0, description="ms added to every piece")
    jitter: int = Field(0, ge=0, description="± ms of random variation (seeded)")


@register
class Latency(Fault):
    name = "latency"
    layer = "bytes"
    summary = "delay every piece of data by latency ± jitter ms"
    Attributes = LatencyAttributes

    def __init__(self, attributes: LatencyAttributes):
        super().__init__(attributes)
        self._noted: int | None = None  # the exchange last reported in the evidence

    def on_bytes(self, data: bytes, ctx: Context) -> list[BytesOut]:
        delay = self.a.latency
        if self.a.jitter:
            delay += ctx.rng.randint(-self.a.jitter, self.a.jitter)
        delay = max(delay, 0)
        if self._noted != ctx.exchange:
            self._noted = ctx.exchange
            ctx.fired(f"delayed by {delay} ms (latency {self.a.latency} ± {self.a.jitter} ms)")
        return [Until(ctx.now + delay / 1000), RawBytes(data)]
