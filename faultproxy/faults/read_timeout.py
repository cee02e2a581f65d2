"""``read_timeout``: the connection is cut when the upstream stays silent for ``timeout_ms``.

The clock starts when a request goes to the upstream and restarts with every piece of the
response that comes back (a keep-alive comment counts: it is data), until the response is
complete. When it runs out, the client gets what nginx's ``proxy_read_timeout`` gives it
(see ``docs/nginx.md``): before the response head, ``504 Gateway Time-out``; after it, the
connection closed with the body unfinished -- no last chunk, so a careful client reports an
incomplete body and a careless one thinks the stream ended. It is an idle limit, not a limit
on the whole response: a stream that sends something more often than ``timeout_ms`` lives on.
"""

from __future__ import annotations

from pydantic import Field

from faultproxy.faults._http import describe, is_message_head
from faultproxy.faults.base import Attributes, BytesOut, Close, Context, Fault, HTTPOut, RawBytes, register
from faultproxy.wire.http import EndOfMessage, HTTPEvent, Request, encode_response


class ReadTimeoutAttributes(Attributes):
    timeout_ms: float = Field(..., gt=0, le=86_400_000,
                              description="ms of silence from the upstream before the connection is cut (nginx: 60000)")


@register
class ReadTimeout(Fault):
    name = "read_timeout"
    layer = "http"
    directions = ("response",)
    summary = "cut the connection after timeout_ms without data from the upstream (nginx proxy_read_timeout)"
    Attributes = ReadTimeoutAttributes

    def __init__(self, attributes: ReadTimeoutAttributes):
        super().__init__(attributes)
        self.due: float | None = None  # when the silence runs out; None: no response awaited
        self.alarm: float | None = None  # the one alarm set (later data moves `due`, not the alarm)
        self.head_sent = False
        self.request = "the request"

    def on_request(self, request: Request, ctx: Context) -> None:
        self.head_sent = False
        self.request = describe(request)
        self._wait(ctx)

    def on_event(self, event: HTTPEvent, ctx: Context) -> list[HTTPOut]:
        if self.due is not None:
            if is_message_head(event, ctx.direction):
                self.head_sent = True
            self.due = None if isinstance(event, EndOfMessage) else ctx.now + self.a.timeout_ms / 1000
        return [event]

    def on_alarm(self, ctx: Context) -> list[BytesOut]:
        self.alarm = None
        if self.due is None:
            return []
        if ctx.now < self.due:  # data came meanwhile: wait for the rest of the silence
            self._set(ctx, self.due)
            return []
        self.due = None
        waited = f"no data from the upstream for {self.a.timeout_ms:g} ms"
        if not self.head_sent:
            ctx.fired(f"{waited} before the response to {self.request}: answered 504")
            body = b"504 Gateway Time-out: the upstream sent nothing in time\n"
            return [RawBytes(encode_response(504, "Gateway Time-out", [
                ("Content-Type", "text/plain"), ("Content-Length", str(len(body))), ("Connection", "close")], body)),
                Close("fin")]
        ctx.fired(f"{waited} in the middle of the response to {self.request}: closed it unfinished")
        return [Close("fin")]

    def _wait(self, ctx: Context) -> None:
        self.due = ctx.now + self.a.timeout_ms / 1000
        if self.alarm is None:
            self._set(ctx, self.due)

    def _set(self, ctx: Context, at: float) -> None:
        self.alarm = at
        ctx.set_alarm(at)
