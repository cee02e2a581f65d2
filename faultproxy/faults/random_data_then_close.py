"""``random_data_then_close``: garbage in the middle of a response, then the connection ends.

After the response head and the first ``after_bytes`` bytes of its body *as they are on the
wire* (chunk-size lines and CRLFs count), ``bytes`` random bytes are sent, then the
connection closes (``mode``: FIN or RST); nothing of the response after that point is sent.
``after_bytes: 0`` puts the garbage right after the head. A cut inside a chunk-size line or
a CRLF is made where it falls: what the client gets is exactly the first bytes of the body,
then garbage. If the body is shorter than ``after_bytes``, the garbage follows the complete
response (where the next response would start on a kept-alive connection).

The bytes come from the fault's seeded generator (the proxy's seed, the fault's name, the
connection number), so a run with the same seed sends the same garbage.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from faultproxy.faults._http import describe, is_message_head
from faultproxy.faults.base import Attributes, Close, Context, Fault, HTTPOut, RawBytes, register
from faultproxy.wire.chunked import ChunkData
from faultproxy.wire.http import BodyData, EndOfMessage, HTTPEvent


class RandomDataThenCloseAttributes(Attributes):
    bytes: int = Field(64, ge=1, le=1 << 24, description="how many random bytes are sent (1 to 16 MiB)")
    after_bytes: int = Field(
        0, ge=0, description="body bytes (as on the wire, framing included) sent before them"
    )
    mode: Literal["fin", "rst"] = Field("fin", description="fin: orderly close; rst: TCP reset")


@register
class RandomDataThenClose(Fault):
    name = "random_data_then_close"
    layer = "http"
    directions = ("response",)
    summary = "inject N seeded random bytes into the response after M body bytes, then close"
    Attributes = RandomDataThenCloseAttributes
    takes_over = frozenset({"framing", "end"})  # garbage where the framing goes on, then the end (base.TAKES)

    def __init__(self, attributes: RandomDataThenCloseAttributes):
        super().__init__(attributes)
        self.armed = False
        self.count = 0  # body bytes sent so far, framing included

    def on_event(self, event: HTTPEvent, ctx: Context) -> list[HTTPOut]:
        if is_message_head(event, ctx.direction):
            self.armed, self.count = True, 0
            if self.a.after_bytes == 0:
                return [event, *self._fire(len(event.raw), ctx)]
            return [event]
        if not self.armed:
            return [event]
        if isinstance(event, EndOfMessage):
            return [event, *self._fire(0, ctx, short=True)]
        raw = event.raw
        need = self.a.after_bytes - self.count
        if len(raw) < need:
            self.count += len(raw)
            return [event]
        if isinstance(event, (ChunkData, BodyData)):
            head = [type(event)(event.data[:need])] if need else []
        else:
            head = [RawBytes(raw[:need])] if need else []
        self.count += need
        return [*head, *self._fire(need, ctx)]

    def _fire(self, pending: int, ctx: Context, short: bool = False) -> list[HTTPOut]:
        self.armed = False
        where = (
            f"after the whole body ({self.count} bytes, fewer than {self.a.after_bytes})"
            if short
            else f"after {self.count} body bytes"
        )
        ctx.fired(
            f"sent {self.a.bytes} random bytes {where} of the response to {describe(ctx.request)},"
            f" then closed ({self.a.mode})",
            offset=ctx.offset + pending,
        )
        return [RawBytes(ctx.rng.randbytes(self.a.bytes)), Close(self.a.mode)]
