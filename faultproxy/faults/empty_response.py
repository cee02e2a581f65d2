"""``empty_response``: the connection closes where the response should begin.

The upstream got the request and answered; the client gets not one byte of that answer,
only the end of the connection: EOF (``mode: fin``, curl's exit 52 "Empty reply from
server", httpx's ``RemoteProtocolError: Server disconnected without sending a response``)
or a reset (``mode: rst``). On a kept-alive connection the responses before it are
delivered whole: the fault acts on the first head of each exchange it applies to (use
``match`` or ``connections`` to choose which).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from faultproxy.faults._http import describe
from faultproxy.faults.base import Attributes, Close, Context, Fault, HTTPOut, register
from faultproxy.wire.http import HTTPEvent, Response


class EmptyResponseAttributes(Attributes):
    mode: Literal["fin", "rst"] = Field("fin", description="fin: orderly close (EOF); rst: TCP reset")


@register
class EmptyResponse(Fault):
    name = "empty_response"
    layer = "http"
    directions = ("response",)
    summary = "close (FIN or RST) before the first byte of the response"
    Attributes = EmptyResponseAttributes
    takes_over = frozenset({"response"})  # the client gets no response at all (base.TAKES)

    def on_event(self, event: HTTPEvent, ctx: Context) -> list[HTTPOut]:
        if not isinstance(event, Response):
            return [event]
        ctx.fired(
            f"closed ({self.a.mode}) instead of the upstream's {event.status} to {describe(ctx.request)}"
        )
        return [Close(self.a.mode)]
