"""``timeout`` (Toxiproxy's): no data gets through any more, and after ``timeout`` ms the
connection is closed (FIN, both ways).

With ``timeout: 0`` the connection is never closed by the fault: data is dropped, and the
connection held open, until the fault is removed; then data flows again (what was dropped
meanwhile is lost). The clock starts when the connection is set up, or when the fault is added
to a live connection. If the source closes meanwhile, its FIN is passed on (as in Toxiproxy,
where the end of the input closes the link).

Evidence: when data is first dropped (per exchange), and when the connection is closed.
"""

from __future__ import annotations

from pydantic import Field

from faultproxy.faults.base import Attributes, BytesOut, Close, Context, Fault, register


class TimeoutAttributes(Attributes):
    timeout: int = Field(0, ge=0, description="ms until the connection is closed; 0 = never (hold it open)")


@register
class Timeout(Fault):
    name = "timeout"
    layer = "bytes"
    summary = "drop all data; close the connection after timeout ms (0: hold it open)"
    Attributes = TimeoutAttributes
    takes_over = frozenset({"response"})  # no data gets through (base.TAKES)

    def __init__(self, attributes: TimeoutAttributes):
        super().__init__(attributes)
        self._noted: int | None = None
        self.dropped = 0

    def on_start(self, ctx: Context) -> list[BytesOut]:
        if self.a.timeout:
            ctx.set_alarm(ctx.now + self.a.timeout / 1000)
        return []

    def on_bytes(self, data: bytes, ctx: Context) -> list[BytesOut]:
        if self._noted != ctx.exchange:
            self._noted = ctx.exchange
            until = f" until the close at {self.a.timeout} ms" if self.a.timeout else ""
            ctx.fired("dropping data" + until)
        self.dropped += len(data)
        return []

    def on_alarm(self, ctx: Context) -> list[BytesOut]:
        ctx.fired(f"closed after {self.a.timeout} ms ({self.dropped} bytes dropped)")
        return [Close("fin")]
