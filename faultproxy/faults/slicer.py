"""``slicer`` (Toxiproxy's): every piece of data is cut into small slices, sent ``delay`` µs apart.

Slices are ``average_size`` ± ``size_variation`` bytes (at least 1), the sizes drawn from
the proxy's seed, so the same seed cuts the same data the same way. It shows whether a client
copes with events, lines and even UTF-8 characters split across reads. A ``delay`` long
enough keeps the slices apart on the client's side too (otherwise its kernel may join them).

Evidence: once per exchange (per connection in raw mode), with the first piece's slice sizes.
"""

from __future__ import annotations

from pydantic import Field

from faultproxy.faults.base import Attributes, BytesOut, Context, Fault, RawBytes, Wait, register


class SlicerAttributes(Attributes):
    average_size: int = Field(..., ge=1, description="bytes per slice on average")
    size_variation: int = Field(0, ge=0, description="± bytes of random variation (seeded)")
    delay: int = Field(0, ge=0, description="µs between slices")


@register
class Slicer(Fault):
    name = "slicer"
    layer = "bytes"
    summary = "cut data into slices of average_size ± size_variation bytes, delay µs apart"
    Attributes = SlicerAttributes

    def __init__(self, attributes: SlicerAttributes):
        super().__init__(attributes)
        self._noted: int | None = None

    def sizes(self, total: int, ctx: Context) -> list[int]:
        """The slice sizes for ``total`` bytes (seeded)."""
        a, out = self.a, []
        while total > 0:
            size = a.average_size
            if a.size_variation:
                size = max(1, size + ctx.rng.randint(-a.size_variation, a.size_variation))
            size = min(size, total)
            out.append(size)
            total -= size
        return out

    def on_bytes(self, data: bytes, ctx: Context) -> list[BytesOut]:
        sizes = self.sizes(len(data), ctx)
        if self._noted != ctx.exchange and len(sizes) > 1:
            self._noted = ctx.exchange
            shown = ",".join(map(str, sizes[:20])) + (",…" if len(sizes) > 20 else "")
            ctx.fired(f"sliced {len(data)} bytes into {len(sizes)} slices: {shown}")
        out: list[BytesOut] = []
        pos = 0
        for size in sizes:
            if out and self.a.delay:
                out.append(Wait(self.a.delay / 1_000_000))
            out.append(RawBytes(data[pos : pos + size]))
            pos += size
        return out
