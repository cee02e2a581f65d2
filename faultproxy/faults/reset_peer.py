"""``reset_peer`` (Toxiproxy's): the connection is reset (TCP RST, both ways) ``timeout`` ms
after it started, or, with ``timeout: 0``, as soon as data comes (that data is not delivered).

Until the reset, data flows as usual: a stream that runs for a while and then dies with
"connection reset by peer". The clock starts when the connection is set up, or when the fault
is added to a live connection; removing the fault first cancels the reset.

Evidence: the reset.
"""

from __future__ import annotations

from pydantic import Field

from faultproxy.faults.base import Attributes, BytesOut, Close, Context, Fault, RawBytes, register


class ResetPeerAttributes(Attributes):
    timeout: int = Field(0, ge=0, description="ms after the connection starts; 0 = at the first data")


@register
class ResetPeer(Fault):
    name = "reset_peer"
    layer = "bytes"
    summary = "reset the connection (TCP RST) after timeout ms, or at the first data with 0"
    Attributes = ResetPeerAttributes
    takes_over = frozenset({"end"})  # the connection is reset (base.TAKES)

    @classmethod
    def takes(cls, attributes: ResetPeerAttributes) -> frozenset[str]:
        """At the first data, nothing of the response gets through: it is dropped whole (base.TAKES)."""
        return cls.takes_over if attributes.timeout else frozenset({"end", "response"})

    def on_start(self, ctx: Context) -> list[BytesOut]:
        if self.a.timeout:
            ctx.set_alarm(ctx.now + self.a.timeout / 1000)
        return []

    def on_bytes(self, data: bytes, ctx: Context) -> list[BytesOut]:
        if self.a.timeout:
            return [RawBytes(data)]
        ctx.fired(f"reset at the first data ({len(data)} bytes not delivered)")
        return [Close("rst")]

    def on_alarm(self, ctx: Context) -> list[BytesOut]:
        ctx.fired(f"reset after {self.a.timeout} ms")
        return [Close("rst")]
