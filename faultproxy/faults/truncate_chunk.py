"""``truncate_chunk``: the connection ends inside a chunk, after N bytes of body data.

The cut is placed in the chunk that holds data byte ``after_bytes + 1``: its size line and
the bytes of it that come before the cut go out, the rest of it, its CRLF and everything
after never do. At a chunk boundary that means the next chunk's size line goes out with none
of its data (so ``after_bytes: 0`` sends the first size line only). The client sees a body
cut in the middle of a chunk: httpx ``RemoteProtocolError`` (incomplete chunked read), curl
exit 18 with a FIN or 56 with an RST. A body with no data byte ``after_bytes + 1`` is left
alone. Only chunked bodies are cut (responses, or chunked requests with ``stream: upstream``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from faultproxy.faults._http import chunked_message, is_message_head
from faultproxy.faults.base import Attributes, Close, Context, Fault, HTTPOut, register
from faultproxy.wire.chunked import ChunkData, ChunkHeader
from faultproxy.wire.http import HTTPEvent


class TruncateChunkAttributes(Attributes):
    after_bytes: int = Field(0, ge=0, description="body data bytes delivered before the cut, per message")
    mode: Literal["fin", "rst"] = Field("fin", description="fin: orderly close; rst: TCP reset")


@register
class TruncateChunk(Fault):
    name = "truncate_chunk"
    layer = "http"
    summary = "close (FIN or RST) in the middle of a chunk, after N body bytes"
    Attributes = TruncateChunkAttributes
    takes_over = frozenset({"framing", "end"})  # it ends the connection inside a chunk (base.TAKES)

    def __init__(self, attributes: TruncateChunkAttributes):
        super().__init__(attributes)
        self.chunked = False
        self.sent = 0  # data bytes of this body passed on
        self.index = -1  # the current chunk
        self.size = 0  # its size
        self.left = 0  # its data bytes still to come

    def on_event(self, event: HTTPEvent, ctx: Context) -> list[HTTPOut]:
        if is_message_head(event, ctx.direction):
            self.chunked = chunked_message(event, ctx)
            self.sent, self.index, self.size, self.left = 0, -1, 0, 0
            return [event]
        if not self.chunked:
            return [event]
        if isinstance(event, ChunkHeader) and event.size:
            self.index += 1
            self.size = self.left = event.size
            if self.sent == self.a.after_bytes:
                return [event, self._cut(len(event.raw), ctx)]
        elif isinstance(event, ChunkData) and self.left:
            room = self.a.after_bytes - self.sent  # > 0: at 0 the cut has been made already
            if len(event.data) > room:  # the cut falls inside this piece
                self.sent += room
                self.left -= room
                return [ChunkData(event.data[:room]), self._cut(room, ctx)]
            self.sent += len(event.data)
            self.left -= len(event.data)
            if self.sent == self.a.after_bytes and self.left:
                return [event, self._cut(len(event.data), ctx)]
        return [event]

    def _cut(self, pending: int, ctx: Context) -> Close:
        """``pending``: bytes of this event's output before the cut (for the offset)."""
        done = self.size - self.left
        ctx.fired(
            f"closed ({self.a.mode}) after {self.sent} body bytes, inside chunk {self.index}"
            f" ({done} of its {self.size} bytes sent)",
            offset=ctx.offset + pending,
        )
        self.chunked = False
        return Close(self.a.mode)
