"""``slow_close`` (Toxiproxy's): when the source closes, its FIN is passed on ``delay`` ms late.

All the data still arrives at once; only the end of the stream is late, so a client that
waits for the close (a close-delimited body, a stream's end) waits ``delay`` ms longer.

Evidence: the delayed close.
"""

from __future__ import annotations

from pydantic import Field

from faultproxy.faults.base import Attributes, BytesOut, Context, Fault, Wait, register


class SlowCloseAttributes(Attributes):
    delay: int = Field(0, ge=0, description="ms the close (FIN) is held back")


@register
class SlowClose(Fault):
    name = "slow_close"
    layer = "bytes"
    summary = "pass the close (FIN) on delay ms late"
    Attributes = SlowCloseAttributes
    takes_over = frozenset({"end"})  # when the connection's end reaches the client (base.TAKES)

    def on_eof(self, ctx: Context) -> list[BytesOut]:
        ctx.fired(f"close delayed by {self.a.delay} ms")
        return [Wait(self.a.delay / 1000)]
