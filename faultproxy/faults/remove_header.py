"""``remove_header``: a header field disappears from every message.

Every field called ``header`` (case-insensitive) is removed from each final response
(``stream: downstream``, the default) or each request (``stream: upstream``): a missing
``Content-Type``, a missing ``Cache-Control: no-cache`` on a stream, a request without its
``Accept: text/event-stream`` or ``Last-Event-ID``. A message without the field passes as it
is and nothing is recorded. Removing ``Content-Length`` or ``Transfer-Encoding`` changes the
framing the receiver uses, on purpose.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from faultproxy.faults._http import is_message_head, quoted, with_headers
from faultproxy.faults.base import Attributes, Context, Fault, HTTPOut, register
from faultproxy.faults.set_header import check_name, header_takes
from faultproxy.wire.http import HTTPEvent


class RemoveHeaderAttributes(Attributes):
    header: str = Field(..., description="the header field name, e.g. Content-Type")

    @field_validator("header")
    @classmethod
    def _token(cls, value: str) -> str:
        return check_name(value)


@register
class RemoveHeader(Fault):
    name = "remove_header"
    layer = "http"
    summary = "remove a header field (from responses; from requests with stream: upstream)"
    Attributes = RemoveHeaderAttributes

    @classmethod
    def takes(cls, attributes: RemoveHeaderAttributes) -> frozenset[str]:
        """The field it changes; the framing too for Content-Length and Transfer-Encoding (base.TAKES)."""
        return header_takes(attributes.header)

    def on_event(self, event: HTTPEvent, ctx: Context) -> list[HTTPOut]:
        if not is_message_head(event, ctx.direction) or self.a.header not in event.headers:
            return [event]
        values = event.headers.get_all(self.a.header)
        ctx.fired(f"removed {self.a.header} ({', '.join(quoted(self.a.header, v) for v in values)})")
        return [with_headers(event, event.headers.replaced(self.a.header, None))]
