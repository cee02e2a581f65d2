"""``close_delimited``: a response body re-framed so that only closing the connection ends it.

The upstream sends a chunked (or Content-Length) response; the client gets the same bytes of
body with no ``Transfer-Encoding`` and no ``Content-Length``, ``Connection: close``, and the
end of the body is the end of the connection (RFC 9112 §6.3, rule 8). That is what nginx sends
an HTTP/1.1 client with ``chunked_transfer_encoding off`` -- a line many "SSE behind nginx"
recipes carry -- and what any HTTP/1.0-style hop produces (see ``docs/nginx.md``).

Nothing is lost while the upstream behaves. What changes is that the client can no longer tell
the end of the stream from a cut: when the upstream's body breaks off (no last chunk, a broken
chunk, fewer bytes than its Content-Length) the connection is closed exactly as at a clean end.
Some clients also hold data of a close-delimited body until the connection closes (requests'
``iter_lines`` did, through real nginx). Responses without a body (HEAD, 204, 304) are left
alone. ``stream: downstream`` only.
"""

from __future__ import annotations

from faultproxy.faults._http import describe, framing, is_message_head, with_headers
from faultproxy.faults.base import Attributes, Close, Context, Fault, HTTPOut, register
from faultproxy.wire.chunked import ChunkData, ChunkedEnd, ChunkEnd, ChunkHeader, Malformed, Unparsed
from faultproxy.wire.http import BodyData, EndOfMessage, HTTPEvent, Response


@register
class CloseDelimited(Fault):
    name = "close_delimited"
    layer = "http"
    directions = ("response",)
    summary = "send chunked or sized bodies without framing: the body ends when the connection closes"
    Attributes = Attributes
    takes_over = frozenset({"framing"})  # the body ends by the close, not by its framing (base.TAKES)

    def __init__(self, attributes: Attributes):
        super().__init__(attributes)
        self.active = False  # a body is being re-framed
        self.bytes = 0

    def on_event(self, event: HTTPEvent, ctx: Context) -> list[HTTPOut]:
        if is_message_head(event, ctx.direction):
            return self._head(event, ctx)
        if not self.active:
            return [event]
        if isinstance(event, ChunkData):
            self.bytes += len(event.data)
            return [BodyData(event.data)]
        if isinstance(event, BodyData):
            self.bytes += len(event.data)
            return [event]
        if isinstance(event, (ChunkHeader, ChunkEnd, ChunkedEnd)):
            return []  # the upstream's framing: the client's body has none
        if isinstance(event, EndOfMessage):
            self.active = False
            ctx.fired(f"closed the connection after {self.bytes} body bytes: the end of the body")
            return [event, Close("fin")]
        if isinstance(event, (Malformed, Unparsed)):
            self.active = False
            ctx.fired(
                f"the upstream's body broke off after {self.bytes} bytes; closed the connection,"
                " which to the client looks like the end of the body"
            )
            return [Close("fin")]
        return [event]

    def _head(self, head: Response, ctx: Context) -> list[HTTPOut]:
        kind = framing(head, ctx.request)
        self.active = kind in ("chunked", "length")
        self.bytes = 0
        if not self.active:
            return [head]
        headers = head.headers.replaced("transfer-encoding", None).replaced("content-length", None)
        headers = headers.replaced("Connection", "close")
        ctx.fired(
            f"re-framed the {kind} {head.status} response to {describe(ctx.request)} as close-delimited"
        )
        return [with_headers(head, headers)]
