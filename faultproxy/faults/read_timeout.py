"""``read_timeout``: the connection is cut when the upstream stays silent for ``timeout_ms``.

nginx's ``proxy_read_timeout`` (see ``docs/nginx.md``): the clock starts when a request goes to
the upstream and restarts with every read from the upstream (a keep-alive comment counts: it is
data), until the response is complete. It counts the upstream's reads as they came, before any
other fault acts on them (:attr:`~faultproxy.faults.base.Fault.watches_reads`): an upstream that
sends an event every 250 ms never times out, even while a ``buffer`` holds those events for
seconds -- as through nginx, where buffering and the read timeout are the same process's doing.

When it runs out: before the upstream's response head, ``504 Gateway Time-out``; after it, the
connection closed with the body unfinished -- no last chunk, so a careful client reports an
incomplete body and a careless one thinks the stream ended. What a ``buffer`` held at that
moment is lost (nginx too sends only the head it held, measured), what had gone out stays out.
It is an idle limit, not a limit on the whole response: a stream that sends something more
often than ``timeout_ms`` lives on.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from faultproxy.faults._http import describe
from faultproxy.faults.base import Attributes, BytesOut, Close, Context, Fault, RawBytes, register
from faultproxy.wire.chunked import Malformed
from faultproxy.wire.http import EndOfMessage, Request, Response, encode_response


class ReadTimeoutAttributes(Attributes):
    timeout_ms: float = Field(
        ...,
        gt=0,
        le=86_400_000,
        description="ms of silence from the upstream before the connection is cut (nginx: 60000)",
    )


@register
class ReadTimeout(Fault):
    name = "read_timeout"
    layer = "http"
    directions = ("response",)
    watches_reads = True
    summary = "cut the connection after timeout_ms without data from the upstream (nginx proxy_read_timeout)"
    Attributes = ReadTimeoutAttributes
    takes_over = frozenset({"end"})  # the connection is cut after a silence (base.TAKES)

    def __init__(self, attributes: ReadTimeoutAttributes):
        super().__init__(attributes)
        self.due: float | None = None  # when the silence runs out; None: no response awaited
        self.alarm: float | None = None  # the one alarm set (later reads move `due`, not the alarm)
        self.head_read = False  # the upstream's response head has come (then it is no 504)
        self.request = "the request"

    def on_request(self, request: Request, ctx: Context) -> None:
        self.head_read = False
        self.request = describe(request)
        self._wait(ctx)

    def on_read(self, events: list[Any], ctx: Context) -> None:
        if self.due is None:
            return
        self.due = ctx.now + self.a.timeout_ms / 1000
        for event in events:
            if isinstance(event, Response) and event.status >= 200:
                self.head_read = True
            elif isinstance(event, (EndOfMessage, Malformed)) and self.head_read:
                self.due = None  # the response is over (or broke off): nothing more to wait for

    def on_alarm(self, ctx: Context) -> list[BytesOut]:
        self.alarm = None
        if self.due is None:
            return []
        if ctx.now < self.due:  # data came meanwhile: wait for the rest of the silence
            self._set(ctx, self.due)
            return []
        self.due = None
        waited = f"no data from the upstream for {self.a.timeout_ms:g} ms"
        if not self.head_read:
            ctx.fired(f"{waited} before the response to {self.request}: answered 504")
            body = b"504 Gateway Time-out: the upstream sent nothing in time\n"
            return [
                RawBytes(
                    encode_response(
                        504,
                        "Gateway Time-out",
                        [
                            ("Content-Type", "text/plain"),
                            ("Content-Length", str(len(body))),
                            ("Connection", "close"),
                        ],
                        body,
                    )
                ),
                Close("fin"),
            ]
        ctx.fired(f"{waited} in the middle of the response to {self.request}: closed it unfinished")
        return [Close("fin")]

    def _wait(self, ctx: Context) -> None:
        self.due = ctx.now + self.a.timeout_ms / 1000
        if self.alarm is None:
            self._set(ctx, self.due)

    def _set(self, ctx: Context, at: float) -> None:
        self.alarm = at
        ctx.set_alarm(at)
