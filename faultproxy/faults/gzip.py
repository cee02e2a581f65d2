"""``gzip``: the response body is compressed on the way, as a compressing intermediary does.

The head gets ``Content-Encoding: gzip``, loses ``Content-Length`` and is sent chunked (to an
HTTP/1.0 client: delimited by closing the connection). The body is one gzip stream; how it
is flushed decides whether events still stream:

- ``flush: none``: data goes through the compressor with no flush, and its output is
  collected into 8 KiB buffers, each sent only when full, and the rest at the end: a
  compressing middleware or CDN that never flushes. A small event stream arrives all at once
  when the upstream finishes; a large one in 8 KiB bursts of compressed bytes;
- ``flush: sync``: every piece of body the upstream sends is followed by ``Z_SYNC_FLUSH``
  and goes out as one chunk, so each event arrives when it was sent, compressed — nginx's
  ``gzip on`` with ``proxy_buffering off`` (``docs/nginx.md``, route ``gzip-unbuffered``).

nginx's ``gzip on`` *with* buffering is this fault with ``flush: sync`` behind the ``buffer``
fault's ``nginx-gzip`` preset, which holds the stream to the end, as measured
with SSE-sized events (``docs/nginx.md``, route ``gzip``).

A client that does not decompress sees binary. ``respect_accept_encoding: true`` compresses
only when the request's ``Accept-Encoding`` allows gzip, as a real server does; by default
every response is compressed, asked for or not. Responses already carrying a
``Content-Encoding``, and responses without a body, are left alone.
"""

from __future__ import annotations

import zlib
from typing import Literal

from pydantic import Field

from faultproxy.faults._http import can_chunk, describe, framing, is_message_head, with_headers
from faultproxy.faults.base import Attributes, Close, Context, Fault, HTTPOut, register
from faultproxy.wire.chunked import (
    ChunkData,
    ChunkedEnd,
    ChunkEnd,
    ChunkHeader,
    Malformed,
    Unparsed,
    chunk_events,
    last_chunk_events,
)
from faultproxy.wire.http import BodyData, EndOfMessage, HTTPEvent, Request, Response

BUFFER = 8192  # flush none: compressed bytes held before they are sent


class GzipAttributes(Attributes):
    flush: Literal["none", "sync"] = Field(
        "none",
        description="none: no flushes (a small stream arrives at the end); sync: Z_SYNC_FLUSH per piece",
    )
    level: int = Field(6, ge=1, le=9, description="compression level, 1 (fast) to 9 (small)")
    respect_accept_encoding: bool = Field(
        False, description="compress only when the request's Accept-Encoding allows gzip"
    )


def accepts_gzip(request: Request | None) -> bool:
    """Whether ``Accept-Encoding`` allows gzip (RFC 9110 §12.5.3: ``gzip`` or ``*`` with q > 0)."""
    if request is None:
        return False
    value = (request.headers.get("accept-encoding") or b"").decode("latin-1").lower()
    for item in value.split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip() in ("gzip", "x-gzip", "*"):
            q = params.strip()
            if q.startswith("q="):
                try:
                    return float(q[2:]) > 0
                except ValueError:
                    return False
            return True
    return False


@register
class Gzip(Fault):
    name = "gzip"
    layer = "http"
    directions = ("response",)
    summary = "gzip the response body: buffered to the end (flush none) or streaming (flush sync)"
    Attributes = GzipAttributes

    @classmethod
    def takes(cls, attributes: GzipAttributes) -> frozenset[str]:
        """Without flushes the body is held in the compressor: it decides the writes (base.TAKES)."""
        return frozenset({"writes"}) if attributes.flush == "none" else frozenset()

    def __init__(self, attributes: GzipAttributes):
        super().__init__(attributes)
        self.z: zlib._Compress | None = None  # set while a body is being compressed
        self.chunked_in = False
        self.chunked_out = False
        self.size_in = 0
        self.size_out = 0
        self.held = bytearray()  # compressed, not sent yet

    def on_event(self, event: HTTPEvent, ctx: Context) -> list[HTTPOut]:
        if is_message_head(event, ctx.direction):
            return self._head(event, ctx)
        if self.z is None:
            return [event]
        if isinstance(event, (ChunkData, BodyData)):
            self.size_in += len(event.data)
            self.held += self.z.compress(event.data)
            if self.a.flush == "sync":
                self.held += self.z.flush(zlib.Z_SYNC_FLUSH)
            else:  # only full buffers go out before the end
                out: list[HTTPOut] = []
                while len(self.held) >= BUFFER:
                    out += self._piece(BUFFER)
                return out
            return self._piece()
        if isinstance(event, ChunkEnd) or (isinstance(event, ChunkHeader) and event.size):
            return []  # the upstream's chunk framing; ours is written in _piece
        if isinstance(event, ChunkHeader):  # the upstream's last chunk: the body is complete
            return self._end(ctx) + ([event] if self.chunked_out else [])
        if isinstance(event, ChunkedEnd):
            return [event] if self.chunked_out else []
        if isinstance(event, EndOfMessage):
            out = [] if self.chunked_in else self._end(ctx)
            if self.chunked_out and not self.chunked_in:
                out += last_chunk_events()
            out.append(event)
            if not self.chunked_out:
                out.append(Close("fin"))  # a close-delimited body ends with the connection
            self.z = None
            return out
        if isinstance(event, (Malformed, Unparsed)):
            self.z = None  # the upstream's framing broke: nothing more can be compressed
        return [event]

    def _head(self, head: Response, ctx: Context) -> list[HTTPOut]:
        self.z = None
        kind = framing(head, ctx.request)
        encoded = (head.headers.get("content-encoding") or b"identity").strip().lower() != b"identity"
        if (
            kind in ("none", "tunnel")
            or encoded
            or (self.a.respect_accept_encoding and not accepts_gzip(ctx.request))
        ):
            return [head]
        self.z = zlib.compressobj(self.a.level, zlib.DEFLATED, 31)  # wbits 31: gzip header and trailer
        self.chunked_in = kind == "chunked"
        self.chunked_out = can_chunk(head, ctx.request)
        self.size_in = self.size_out = 0
        self.held = bytearray()
        headers = head.headers.replaced("content-length", None)
        if self.chunked_out and not self.chunked_in:
            headers = headers.replaced("Transfer-Encoding", "chunked")
        elif not self.chunked_out:
            headers = headers.replaced("transfer-encoding", None)
        headers = headers.replaced("Content-Encoding", "gzip")
        ctx.fired(
            f"gzip (flush {self.a.flush}) on the {kind} {head.status} response to {describe(ctx.request)},"
            f" sent {'chunked' if self.chunked_out else 'close-delimited'}"
        )
        return [with_headers(head, headers)]

    def _piece(self, size: int | None = None) -> list[HTTPOut]:
        """What is held (or its first ``size`` bytes), as one piece of body in the outgoing framing."""
        size = len(self.held) if size is None else size
        data = bytes(self.held[:size])
        del self.held[:size]
        if not data:
            return []
        self.size_out += len(data)
        if self.chunked_out:
            return chunk_events(data)
        return [BodyData(data)]

    def _end(self, ctx: Context) -> list[HTTPOut]:
        assert self.z is not None
        self.held += self.z.flush(zlib.Z_FINISH)
        out = self._piece()
        ctx.fired(f"compressed {self.size_in} body bytes into {self.size_out}")
        return out
