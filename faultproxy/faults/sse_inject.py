"""``sse_inject``: something the server never sent appears in the stream.

What: a comment (``kind: comment``, ``: text`` and a blank line, as a keep-alive), an event
(``kind: event``, by default ``event: error`` with ``text`` as its data, as some servers and
gateways report failures in-band), or any bytes (``kind: raw``: ``text`` with backslash escapes
such as ``\\r``, ``\\n`` and ``\\xff`` turned into bytes; they can break the stream's syntax).

When: once after the ``after_events``-th event (0: at the start of the body), and/or every
``every_ms`` ms while the body lasts. Injections always go between events, never inside one.
The timer runs even while the server is silent (it is an alarm the relay rings), so
``every_ms`` also shows what a keep-alive comment does to an idle stream. It starts with the
response and stops when the body ends; while the stream is held back (``sse_stall``,
``sse_delay``) the injections queue behind what is held.
"""

from __future__ import annotations

import codecs
from typing import Literal

from pydantic import Field, model_validator

from faultproxy.faults.base import Attributes, Context, Fault, RawBytes, SSEOut, register
from faultproxy.wire.sse import Block, encode_comment, encode_event


class SSEInjectAttributes(Attributes):
    kind: Literal["comment", "event", "raw"] = Field(
        "comment", description="comment, event (type event_type, data text) or raw bytes"
    )
    text: str = Field(
        "faultproxy",
        description="the comment's text, the event's data, or the raw bytes (backslash escapes allowed)",
    )
    event_type: str = Field("error", description="kind event: the event's type")
    after_events: int | None = Field(
        None, ge=0, description="inject once after this many events (0: at the start of the body)"
    )
    every_ms: float | None = Field(
        None, ge=1, le=86_400_000, description="inject every this many ms while the body lasts"
    )

    @model_validator(mode="after")
    def _when(self) -> SSEInjectAttributes:
        if self.after_events is None and self.every_ms is None:
            raise ValueError("give after_events, every_ms or both")
        if self.kind == "event":
            encode_event(self.text, event=self.event_type)  # a type no stream can carry fails here
        if self.kind == "raw":
            raw_bytes(self.text)
        return self


def raw_bytes(text: str) -> bytes:
    """``text`` with Python backslash escapes as bytes (``\\xff`` is byte 0xFF, other text UTF-8)."""
    try:
        return codecs.escape_decode(text.encode("utf-8"))[0]  # type: ignore[attr-defined]
    except ValueError as error:
        raise ValueError(f"text: bad backslash escape: {error}") from None


@register
class SSEInject(Fault):
    name = "sse_inject"
    layer = "sse"
    directions = ("response",)
    summary = "inject a comment, an error event or raw bytes after event N and/or every T ms"
    Attributes = SSEInjectAttributes

    def __init__(self, attributes: SSEInjectAttributes):
        super().__init__(attributes)
        a = attributes
        if a.kind == "comment":
            self.payload = encode_comment(a.text) + b"\n"
        elif a.kind == "event":
            self.payload = encode_event(a.text, event=a.event_type)
        else:
            self.payload = raw_bytes(a.text)
        self.events = 0
        self.due: float | None = None  # when the next timed injection is due; None: not running
        self.cr = False  # what went out last ends in a CR (whose LF may still be on its way)
        self.drop_lf = False  # an injection went between that CR and its LF: drop the LF

    def on_response(self, ctx: Context) -> list[SSEOut]:
        self.events = 0
        self.due = None
        self.cr = self.drop_lf = False
        if self.a.every_ms is not None:
            self._arm(ctx.now, ctx)
        return self._inject(ctx, "at the start of the body") if self.a.after_events == 0 else []

    def on_block(self, block: Block, ctx: Context) -> list[SSEOut]:
        out: list[SSEOut] = self._timed(ctx)  # a timed injection already due goes before the block
        if self.drop_lf:
            self.drop_lf = False
            if block.raw.startswith(b"\n"):
                block = Block(block.raw[1:], block.event, block.offset + 1)
        out.append(block)
        if block.raw:
            self.cr = block.raw.endswith(b"\r")
        if block.event is not None:
            self.events += 1
            if self.events == self.a.after_events:
                out += self._inject(ctx, f"after event {ctx.event_index + 1}")
        return out

    def on_alarm(self, ctx: Context) -> list[SSEOut]:
        return self._timed(ctx)

    def on_body_end(self, ctx: Context) -> list[SSEOut]:
        self.due = None  # the stale alarm, if any, finds nothing to do
        return []

    def _timed(self, ctx: Context) -> list[SSEOut]:
        if self.due is None or ctx.now < self.due:
            return []
        self._arm(ctx.now, ctx)
        return self._inject(ctx, "on the timer")

    def _arm(self, now: float, ctx: Context) -> None:
        assert self.a.every_ms is not None
        self.due = now + self.a.every_ms / 1000
        ctx.set_alarm(self.due)

    def _inject(self, ctx: Context, when: str) -> list[SSEOut]:
        ctx.fired(f"injected {self.a.kind} ({len(self.payload)} bytes) {when}")
        payload = self.payload
        if self.cr:
            # A CR went out last and its LF, if any, comes with the next block. The injection
            # starts with that LF instead (after a CR, an LF is always skipped: a no-op), and the
            # next block's is dropped, so the stream reads the same however the reads fell.
            payload = b"\n" + payload
            self.drop_lf = True
        if payload:
            self.cr = payload.endswith(b"\r")
        return [RawBytes(payload)]
