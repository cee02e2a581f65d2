"""``remove_header``: a header field disappears from every message.

Every field called ``name`` (case-insensitive) is removed from each final response
(``stream: downstream``, the default) or each request (``stream: upstream``): a missing
``Content-Type``, a missing ``Cache-Control: no-cache`` on a stream, a request without its
``Accept: text/event-stream`` or ``Last-Event-ID``. A message without the field passes as it
is and nothing is recorded. Removing ``Content-Length`` or ``Transfer-Encoding`` changes the
framing the receiver uses, on purpose.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from faultproxy.faults._http import is_message_head, with_headers
from faultproxy.faults.base import Attributes, Context, Fault, HTTPOut, register
from faultproxy.faults.set_header import check_name
from faultproxy.wire.http import HTTPEvent


class RemoveHeaderAttributes(Attributes):
    name: str = Field(..., description="the header field name, e.g. Content-Type")

    @field_validator("name")
    @classmethod
    def _token(cls, value: str) -> str:
        return check_name(value)


@register
class RemoveHeader(Fault):
    name = "remove_header"
    layer = "http"
    summary = "remove a header field (from responses; from requests with stream: upstream)"
    Attributes = RemoveHeaderAttributes

    def on_event(self, event: HTTPEvent, ctx: Context) -> list[HTTPOut]:
        if not is_message_head(event, ctx.direction) or self.a.name not in event.headers:
            return [event]
        values = event.headers.get_all(self.a.name)
        ctx.fired(f"removed {self.a.name} ({', '.join(repr(v.decode('latin-1')) for v in values)})")
        return [with_headers(event, event.headers.replaced(self.a.name, None))]
