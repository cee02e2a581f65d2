"""``slow_reader`` (faultproxy's): the proxy reads from the source no faster than a slow reader
would — at most ``rate`` bytes/s, and/or stopping for ``pause`` ms after every ``pause_every``
bytes — so the *sender* feels it: its socket buffers fill and its writes block.

That is what makes it different from ``bandwidth``: while the data it has read waits to go
out, the proxy reads nothing more (:attr:`~faultproxy.faults.base.Fault.queue_limit` 0), so
it holds at most one read, instead of soaking up to the relay's 1 MiB queue and letting the
server run ahead. On ``downstream`` (the default) the server feels a slow client (its
generator blocks in ``send``, a broadcast queue feeding it grows); on ``upstream`` the client
feels a slow server reading its upload.

Evidence: once per exchange (per connection in raw mode).
"""

from __future__ import annotations

from pydantic import Field

from faultproxy.faults.bandwidth import SLOT
from faultproxy.faults.base import Attributes, BytesOut, Context, Fault, RawBytes, Until, register


class SlowReaderAttributes(Attributes):
    rate: int = Field(0, ge=0, description="bytes/s read at most; 0 = no rate limit")
    pause: int = Field(0, ge=0, description="ms without reading after every pause_every bytes; 0 = no pauses")
    pause_every: int = Field(16384, ge=1, description="bytes read between pauses")


@register
class SlowReader(Fault):
    name = "slow_reader"
    layer = "bytes"
    summary = "read from the source at rate bytes/s and/or with pauses, so the sender's writes block"
    Attributes = SlowReaderAttributes

    def __init__(self, attributes: SlowReaderAttributes):
        super().__init__(attributes)
        self._free_at = 0.0  # when the reader is ready for more
        self._since_pause = 0
        self._noted: int | None = None

    @property
    def queue_limit(self) -> int:
        return 0  # read nothing while anything waits

    def on_bytes(self, data: bytes, ctx: Context) -> list[BytesOut]:
        a = self.a
        if not data or not (a.rate or a.pause):
            return [RawBytes(data)]
        if self._noted != ctx.exchange:
            self._noted = ctx.exchange
            parts = [f"{a.rate} B/s"] if a.rate else []
            parts += [f"{a.pause} ms pause every {a.pause_every} B"] if a.pause else []
            ctx.fired("reading slowly: " + ", ".join(parts))
        out: list[BytesOut] = []
        t = max(ctx.now, self._free_at)
        pos = 0
        while pos < len(data):
            size = len(data) - pos
            if a.rate:
                size = min(size, max(1, int(a.rate * SLOT)))
            if a.pause:
                size = min(size, a.pause_every - self._since_pause)
            if a.rate:
                t += size / a.rate
            out += [Until(t), RawBytes(data[pos : pos + size])]
            pos += size
            self._since_pause += size
            if a.pause and self._since_pause >= a.pause_every:
                self._since_pause = 0
                t += a.pause / 1000
        if t > ctx.now:
            out.append(Until(t))  # a pause still running: nothing is read meanwhile
        self._free_at = t
        return out
