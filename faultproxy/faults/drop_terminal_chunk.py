"""``drop_terminal_chunk``: every chunk arrives, the terminating ``0\\r\\n\\r\\n`` never does.

When the upstream ends a chunked body, the proxy closes the connection instead of passing
the last chunk (and its trailer section) on. Every byte of data got through, yet the body is
incomplete: a careful client reports it (httpx ``RemoteProtocolError``, curl exit 18), a
careless one treats the close as the end. This is what nginx does when ``proxy_read_timeout``
fires mid-stream. Responses, or chunked requests with ``stream: upstream``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from faultproxy.faults._http import chunked_message, is_message_head
from faultproxy.faults.base import Attributes, Close, Context, Fault, HTTPOut, register
from faultproxy.wire.chunked import ChunkHeader
from faultproxy.wire.http import HTTPEvent


class DropTerminalChunkAttributes(Attributes):
    mode: Literal["fin", "rst"] = Field("fin", description="fin: orderly close; rst: TCP reset")


@register
class DropTerminalChunk(Fault):
    name = "drop_terminal_chunk"
    layer = "http"
    summary = "close after the last full chunk, without the terminating 0-size chunk"
    Attributes = DropTerminalChunkAttributes
    takes_over = frozenset({"framing", "end"})  # the chunked framing's end is what it takes away (base.TAKES)

    def __init__(self, attributes: DropTerminalChunkAttributes):
        super().__init__(attributes)
        self.chunked = False
        self.chunks = 0

    def on_event(self, event: HTTPEvent, ctx: Context) -> list[HTTPOut]:
        if is_message_head(event, ctx.direction):
            self.chunked = chunked_message(event, ctx)
            self.chunks = 0
        elif self.chunked and isinstance(event, ChunkHeader):
            if event.size:
                self.chunks += 1
            else:
                self.chunked = False
                ctx.fired(
                    f"closed ({self.a.mode}) after {self.chunks} chunks instead of sending the last chunk"
                )
                return [Close(self.a.mode)]
        return [event]
