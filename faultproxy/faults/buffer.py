"""``buffer``: a buffering reverse proxy (nginx's default) between the server and the client.

The body is held until ``size_bytes`` have gathered, then exactly that many bytes go out as
one piece, and the rest waits for the next full buffer, or for the end of the body, or for
``flush_ms`` after the oldest byte held (0: no timer, only size and end, as in nginx);
``size_bytes: 0`` holds everything until the body ends. So the client sees nothing, then a
batch; events are cut wherever a buffer fills, and finish in the next batch. With small events
the time to the first event is min(end of the stream, time to gather ``size_bytes``).

What real nginx does depends on more than ``proxy_buffering on``; ``faultproxy repro nginx``
measures it side by side with this fault, and ``docs/nginx.md`` has the table. The presets
say which case is emulated:

- ``nginx-http10``: nginx's defaults before 1.29.7. It asks the upstream in HTTP/1.0, so the
  body is close-delimited, and a buffer (one memory page, 4096 bytes) goes out only when full
  or at the end: small events all arrive at the end, 1 KiB events four at a time. (nginx's
  first buffer also holds the upstream's response head, so its first batch is that much
  shorter; here every batch is 4096 bytes of body: the boundaries differ by less than an event.)
  Over that hop an upstream that dies has ended its body: add the ``upstream_http10`` fault
  for that (the two together are nginx's defaults before 1.29.7);
- ``nginx-gzip``: ``gzip on`` for ``text/event-stream`` with buffering: held until the end.
- ``nginx-http11``: ``proxy_http_version 1.1`` (the default since 1.29.7) with a chunked
  upstream: each complete chunk is passed on at once, buffering or not. No body is held;
  the head waits for the first chunk.

The response head waits for the first batch (nginx sends its head together with the first
body it lets out: on the buffered routes the head and the first event arrive together), or for
the connection's end.

It acts on ``text/event-stream`` bodies (the events are where it shows) and works on their
bytes, not on events: it never waits for an event's end, except that the proxy only sees an
event once its blank line has arrived, so a buffer fills at an event's end at the earliest.
If the upstream's body breaks off, what is held still goes out before the connection ends, as
nginx does (a ``read_timeout`` is different: nginx gives up, and what it holds is dropped).
Content-Length bodies are carried chunked, as with every ``sse`` fault.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from faultproxy.faults.base import Attributes, Context, Fault, RawBytes, SSEOut, register
from faultproxy.wire.sse import Block

# preset -> size_bytes (0: to the end of the body; None: nothing is held)
PRESETS: dict[str, int | None] = {"nginx-http10": 4096, "nginx-gzip": 0, "nginx-http11": None}


class BufferAttributes(Attributes):
    preset: Literal["nginx-http10", "nginx-gzip", "nginx-http11"] | None = Field(
        None,
        description=(
            "what real nginx does with proxy_buffering on: nginx-http10 (its defaults before 1.29.7: "
            "4 KiB batches), nginx-gzip (held to the end), nginx-http11 (a chunked upstream: nothing held)"
        ),
    )
    size_bytes: int = Field(
        4096,
        ge=0,
        le=64 << 20,
        description="bytes gathered before a batch goes out (nginx: one page, 4096; 0: hold to the end)",
    )
    flush_ms: float = Field(
        0,
        ge=0,
        le=86_400_000,
        description="also let out what is held this many ms after its oldest byte (0: never)",
    )

    @model_validator(mode="after")
    def _preset_alone(self) -> BufferAttributes:
        if self.preset is not None and self.model_fields_set & {"size_bytes", "flush_ms"}:
            raise ValueError(
                f"preset {self.preset} sets the buffering itself; give a preset or size_bytes/flush_ms, not both"
            )
        return self

    @property
    def size(self) -> int | None:
        """Bytes per batch: 0 holds everything to the end, None holds nothing."""
        return PRESETS[self.preset] if self.preset is not None else self.size_bytes


@register
class Buffer(Fault):
    name = "buffer"
    layer = "sse"
    breaks_blocks = True  # it lets events out as batches of raw bytes: it runs after the other sse faults
    holds_head = True  # the head goes out with the first batch, as nginx's does
    directions = ("response",)
    summary = "hold the body until size_bytes gather, the body ends or flush_ms pass (nginx proxy_buffering; presets)"
    Attributes = BufferAttributes
    takes_over = frozenset({"writes"})  # it lets the body out in batches of its own (base.TAKES)

    def __init__(self, attributes: BufferAttributes):
        super().__init__(attributes)
        self.held = bytearray()
        self.ends: list[int] = []  # where in `held` the events held end
        self.due: float | None = None  # flush_ms timer for what is held now

    def on_response(self, ctx: Context) -> list[SSEOut]:
        self.held.clear()
        self.ends.clear()
        self.due = None
        if self.a.size is None:
            ctx.fired(f"{self.a.preset}: a chunked upstream body passes chunk by chunk; nothing is held")
        return []

    def on_block(self, block: Block, ctx: Context) -> list[SSEOut]:
        size = self.a.size
        if size is None:
            return [block]
        if not block.raw:
            return []
        if not self.held:
            self._arm(ctx)
        self.held += block.raw
        if block.event is not None:
            self.ends.append(len(self.held))
        out: list[SSEOut] = []
        while size and len(self.held) >= size:
            at = f", at event {ctx.event_index + 1}" if ctx.event_index is not None else ""
            out += self._let_out(size, ctx, f"a full buffer{at}")
            if self.held:
                self._arm(ctx)  # the rest starts the next buffer
        return out

    def on_alarm(self, ctx: Context) -> list[SSEOut]:
        if self.due is None or ctx.now < self.due or not self.held:
            return []
        return self._let_out(len(self.held), ctx, f"after {self.a.flush_ms:g} ms")

    def on_body_end(self, ctx: Context) -> list[SSEOut]:
        return self._let_out(len(self.held), ctx, "at the end of the body") if self.held else []

    def on_body_break(self, ctx: Context) -> list[SSEOut]:
        return self._let_out(len(self.held), ctx, "when the upstream's body broke off") if self.held else []

    def _arm(self, ctx: Context) -> None:
        if self.a.flush_ms:
            self.due = ctx.now + self.a.flush_ms / 1000
            ctx.set_alarm(self.due)

    def _let_out(self, size: int, ctx: Context, why: str) -> list[SSEOut]:
        piece = bytes(self.held[:size])
        del self.held[:size]
        done = sum(1 for end in self.ends if end <= size)
        self.ends = [end - size for end in self.ends[done:]]
        if not self.held:
            self.due = None
        ctx.fired(f"let out {size} bytes ({done} events end in them): {why}")
        return [RawBytes(piece)]
