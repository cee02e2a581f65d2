"""``content_length_mismatch``: the Content-Length header lies about the body by ``delta`` bytes.

The body itself is delivered exactly; only the header claims ``length + delta`` (never below 0):

- ``delta < 0``: the client takes the first ``length + delta`` bytes as the whole body and
  sees nothing wrong; the rest is left on the connection, where it is read as the start of
  the next response if the client reuses it. The proxy keeps the connection open so that
  can happen.
- ``delta > 0``: the client waits for bytes that never come. Once the whole real body has
  gone out the proxy closes the connection (FIN), so the client sees a body cut short
  (httpx ``RemoteProtocolError``, curl exit 18) rather than waiting for its own timeout.

A response framed by ``Content-Length`` keeps streaming: only its head changes. A chunked or
close-delimited response has no length to falsify until it has ended, so the fault holds it
(head and body) until its end and then sends it as a Content-Length response (chunk framing
and trailers removed): it stops streaming, like a buffering intermediary, and a body that
never ends is never delivered (nor is the memory it takes freed), so use it on finite
responses. Responses without a body (to ``HEAD``, ``1xx``, ``204``, ``304``) are left alone.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from faultproxy.faults._http import describe, framing, is_message_head, with_headers
from faultproxy.faults.base import Attributes, Close, Context, Fault, HTTPOut, register
from faultproxy.wire.chunked import ChunkData, Malformed, Unparsed
from faultproxy.wire.http import BodyData, EndOfMessage, HTTPEvent, Response


class ContentLengthMismatchAttributes(Attributes):
    delta: int = Field(
        ..., description="Content-Length claims the body length plus this (not 0; negative: fewer bytes)"
    )

    @field_validator("delta")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must not be 0 (the length would be right)")
        return value


@register
class ContentLengthMismatch(Fault):
    name = "content_length_mismatch"
    layer = "http"
    directions = ("response",)
    summary = "Content-Length claims the body length + delta (chunked bodies are held and re-framed)"
    Attributes = ContentLengthMismatchAttributes
    # a Content-Length of its own, and a chunked body held to its end (base.TAKES)
    takes_over = frozenset({"framing", "writes"})

    def __init__(self, attributes: ContentLengthMismatchAttributes):
        super().__init__(attributes)
        self.state: str | None = None  # "length": head rewritten; "hold": collecting the body
        self.head: Response | None = None
        self.held: list[HTTPOut] = []  # the events held back, as they came
        self.body = bytearray()

    def on_event(self, event: HTTPEvent, ctx: Context) -> list[HTTPOut]:
        if is_message_head(event, ctx.direction):
            return self._head(event, ctx)
        if self.state == "hold":
            return self._hold(event, ctx)
        if self.state == "length" and isinstance(event, EndOfMessage):
            self.state = None
            if self.a.delta > 0:
                ctx.fired(f"closed after the whole body; the client still waits for {self.a.delta} bytes")
                return [event, Close("fin")]
        elif self.state == "length" and isinstance(event, (Malformed, Unparsed)):
            self.state = None
        return [event]

    def _head(self, head: Response, ctx: Context) -> list[HTTPOut]:
        self.state, self.head, self.held, self.body = None, None, [], bytearray()
        kind = framing(head, ctx.request)
        no_body = head.status in (204, 304) or (ctx.request is not None and ctx.request.method == b"HEAD")
        if no_body:
            return [head]
        if kind in ("length", "none") and "content-length" in head.headers:
            length = int(head.headers.get("content-length").split(b",")[0])
            claimed = max(0, length + self.a.delta)
            ctx.fired(f"Content-Length: {claimed} for a body of {length} bytes ({describe(ctx.request)})")
            self.state = "length"
            return [with_headers(head, head.headers.replaced("Content-Length", str(claimed)))]
        if kind in ("chunked", "close"):
            self.state, self.head = "hold", head
            self.held = [head]
            return []
        return [head]

    def _hold(self, event: HTTPEvent, ctx: Context) -> list[HTTPOut]:
        if isinstance(event, (Malformed, Unparsed)):  # broken framing: give up, pass on what was held
            out, self.state, self.held = [*self.held, event], None, []
            return out
        self.held.append(event)
        if isinstance(event, (ChunkData, BodyData)):
            self.body += event.data
        if not isinstance(event, EndOfMessage):
            return []
        assert self.head is not None
        length = len(self.body)
        claimed = max(0, length + self.a.delta)
        headers = self.head.headers.replaced("transfer-encoding", None)
        headers = headers.replaced("Content-Length", str(claimed))
        ctx.fired(
            f"held the {framing(self.head, ctx.request)} body to its end, then sent it with"
            f" Content-Length: {claimed} for {length} bytes ({describe(ctx.request)})"
        )
        out: list[HTTPOut] = [with_headers(self.head, headers), BodyData(bytes(self.body)), event]
        self.state, self.head, self.held, self.body = None, None, [], bytearray()
        if self.a.delta > 0:
            out.append(Close("fin"))
        return out
