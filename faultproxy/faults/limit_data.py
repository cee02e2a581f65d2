"""``limit_data`` (Toxiproxy's): the connection is closed (FIN, both ways) once ``bytes`` bytes
have gone through on this direction: exactly that many are delivered, not one more.

``bytes: 0`` closes at the first data. Counted per connection and direction, on the bytes as
they go out (after the faults of the layers above).

Evidence: the close, with the offset where it happened.
"""

from __future__ import annotations

from pydantic import Field

from faultproxy.faults.base import Attributes, BytesOut, Close, Context, Fault, RawBytes, register


class LimitDataAttributes(Attributes):
    bytes: int = Field(0, ge=0, description="bytes delivered on this direction, then it is closed")


@register
class LimitData(Fault):
    name = "limit_data"
    layer = "bytes"
    summary = "close the connection after exactly `bytes` bytes on this direction"
    Attributes = LimitDataAttributes
    takes_over = frozenset({"end"})  # the connection ends after N bytes (base.TAKES)

    def __init__(self, attributes: LimitDataAttributes):
        super().__init__(attributes)
        self.passed = 0

    def on_bytes(self, data: bytes, ctx: Context) -> list[BytesOut]:
        left = self.a.bytes - self.passed
        if len(data) < left:
            self.passed += len(data)
            return [RawBytes(data)]
        self.passed += left
        ctx.fired(f"closed after {self.a.bytes} bytes", offset=ctx.offset + left)
        return ([RawBytes(data[:left])] if left else []) + [Close("fin")]
