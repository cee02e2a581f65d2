"""``bandwidth`` (Toxiproxy's): data gets through no faster than ``rate`` KB/s (1 KB = 1000 bytes).

The data is carried as over a link of that speed: cut into pieces of :data:`SLOT` seconds'
worth, each released when the link would have finished carrying it, so the flow is smooth
(a client sees bytes arrive at a steady pace, not a burst after one long sleep per read) and
by any time t after the link got busy at most ``rate × t`` bytes have been delivered. Reads
that come faster than the link queue behind it; past the relay's queue limit the proxy stops
reading, so the sender is slowed down too. ``rate: 0`` means no limit.

Evidence: once per exchange (per connection in raw mode).
"""

from __future__ import annotations

from pydantic import Field

from faultproxy.faults.base import Attributes, BytesOut, Context, Fault, RawBytes, Until, register

SLOT = 0.02  # seconds of data per piece: small steps keep the flow smooth


def paced(data: bytes, start: float, rate: float) -> tuple[list[BytesOut], float]:
    """``data`` as pieces released at ``rate`` bytes/s from ``start``: the outputs, and when the
    link is free again. Each piece waits (:class:`Until`) until the link has carried it."""
    out: list[BytesOut] = []
    step = max(1, int(rate * SLOT))
    t = start
    for pos in range(0, len(data), step):
        piece = data[pos : pos + step]
        t += len(piece) / rate
        out += [Until(t), RawBytes(piece)]
    return out, t


class BandwidthAttributes(Attributes):
    rate: int = Field(0, ge=0, description="KB/s (1 KB = 1000 bytes) at most; 0 = no limit")


@register
class Bandwidth(Fault):
    name = "bandwidth"
    layer = "bytes"
    summary = "limit the data rate to rate KB/s"
    Attributes = BandwidthAttributes

    def __init__(self, attributes: BandwidthAttributes):
        super().__init__(attributes)
        self._free_at = 0.0  # when the simulated link has carried everything so far
        self._noted: int | None = None

    def on_bytes(self, data: bytes, ctx: Context) -> list[BytesOut]:
        if not self.a.rate or not data:
            return [RawBytes(data)]
        if self._noted != ctx.exchange:
            self._noted = ctx.exchange
            ctx.fired(f"limited to {self.a.rate} KB/s")
        out, self._free_at = paced(data, max(ctx.now, self._free_at), self.a.rate * 1000)
        return out
