"""``set_header``: a header field of every message gets another value (or appears).

Every field called ``header`` is removed and one ``header: value`` field is added at the end of
the head, on each final response (``stream: downstream``, the default; ``1xx`` interim
responses are left alone) or each request (``stream: upstream``). A wrong ``Content-Type``
(``text/plain`` on an event stream) is the classic use. Changing ``Content-Length`` or
``Transfer-Encoding`` this way changes how the receiver frames the body, and the body is not
adapted to it: that is on purpose, and ``content_length_mismatch`` does it more precisely.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from faultproxy.faults._http import is_message_head, quoted, with_headers
from faultproxy.faults.base import Attributes, Context, Fault, HTTPOut, register
from faultproxy.wire.http import HTTPEvent

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")


def header_takes(name: str) -> frozenset[str]:
    """What a fault that sets or removes the field ``name`` takes over (base.TAKES): the field, and
    for the fields that frame the body (Content-Length, Transfer-Encoding) the framing too."""
    framing = {"framing"} if name.lower() in ("content-length", "transfer-encoding") else set()
    return frozenset({f"header:{name.lower()}", *framing})


def check_name(value: str) -> str:
    if not _TOKEN.match(value):
        raise ValueError(f"{value!r} is not a header field name (letters, digits and !#$%&'*+-.^_`|~ only)")
    return value


class SetHeaderAttributes(Attributes):
    header: str = Field(..., description="the header field name, e.g. Content-Type")
    value: str = Field(..., description="its new value, e.g. text/plain")

    @field_validator("header")
    @classmethod
    def _token(cls, value: str) -> str:
        return check_name(value)

    @field_validator("value")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if any(c in value for c in "\r\n\x00"):
            raise ValueError("a header value cannot contain CR, LF or NUL")
        return value


@register
class SetHeader(Fault):
    name = "set_header"
    layer = "http"
    summary = "set a header field (on responses; on requests with stream: upstream)"
    Attributes = SetHeaderAttributes

    @classmethod
    def takes(cls, attributes: SetHeaderAttributes) -> frozenset[str]:
        """The field it changes; the framing too for Content-Length and Transfer-Encoding (base.TAKES)."""
        return header_takes(attributes.header)

    def on_event(self, event: HTTPEvent, ctx: Context) -> list[HTTPOut]:
        if not is_message_head(event, ctx.direction):
            return [event]
        old = event.headers.get(self.a.header)
        shown = "absent" if old is None else quoted(self.a.header, old)
        ctx.fired(f"{self.a.header}: {quoted(self.a.header, self.a.value)} (was {shown})")
        return [with_headers(event, event.headers.replaced(self.a.header, self.a.value))]
