"""``upstream_http10``: the proxy asks its upstream in HTTP/1.0, so an upstream that dies has *ended*.

nginx before 1.29.7 speaks HTTP/1.0 to its upstream unless told ``proxy_http_version 1.1``
(``docs/nginx.md``). A correct server answers an HTTP/1.0 request close-delimited: no chunks,
no Content-Length, the body ends when the connection closes. So when the server dies in the
middle of a stream, nginx cannot tell that from the end, and gives its HTTP/1.1 client a
complete chunked body -- with the last chunk. The client sees a clean end; the events that were
never sent are lost without a trace (measured: with ``proxy_buffering`` on and off).

faultproxy's upstream speaks HTTP/1.1 and sends chunks, so it *can* see the break; this fault
does what the HTTP/1.0 hop would have done with it: when the upstream's body breaks off (the
connection closes before the last chunk, or the framing breaks), the client's body ends
cleanly instead, after whatever other faults still hold. A healthy stream passes unchanged
(re-chunked event by event, as with every ``sse`` fault). nginx's default *buffering* over
that hop is the ``buffer`` fault's ``nginx-http10`` preset: the two together are nginx's
defaults before 1.29.7.
"""

from __future__ import annotations

from faultproxy.faults.base import Attributes, Context, EndBody, Fault, register


@register
class UpstreamHTTP10(Fault):
    name = "upstream_http10"
    layer = "sse"
    directions = ("response",)
    summary = "an upstream body that breaks off ends the client's cleanly, as over nginx's old HTTP/1.0 upstream hop"
    Attributes = Attributes
    takes_over = frozenset({"framing"})  # how a broken body ends on the wire (base.TAKES)

    def on_body_break(self, ctx: Context) -> list[object]:
        ctx.fired(
            "the upstream's body broke off; over HTTP/1.0 its close is its end, so the client's body ends cleanly"
        )
        return [EndBody()]
