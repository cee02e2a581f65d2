"""``http_status``: the client gets an error response of our making instead of the upstream's.

Two moments, chosen with ``when``:

- ``request`` (the default): the proxy answers as soon as the request head arrives, the way
  a rate limiter or an API gateway refuses a request. The request never reaches the upstream
  (its TCP connection is opened and closed without a byte), so the upstream's ground truth
  correctly shows nothing sent — what a ``429`` with ``Retry-After`` *before the stream* is.
- ``response``: the request reaches the upstream, which starts answering; the proxy throws
  that response away (head and body) and answers in its place. The upstream did the work,
  the client sees an error — a gateway that fails after forwarding.

Either way the answer is a complete response framed by ``Content-Length`` (no body for
``HEAD``, ``1xx``, ``204`` and ``304``) with ``Connection: close``, and the connection closes
after it (FIN). Closing is what keeps it clean: on a kept-alive connection the upstream may
still be sending the response we replaced, and anything the client sent after the answered
request was not forwarded. A request pipelined behind others is answered only once their
responses have gone out, so every response still reaches the request it belongs to.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from faultproxy.faults._http import describe, reason_phrase
from faultproxy.faults.base import Attributes, BytesOut, Close, Context, Fault, HTTPOut, RawBytes, register
from faultproxy.wire.http import HTTPEvent, Request, Response, encode_response

_BAD_VALUE = set("\r\n\x00")


class HTTPStatusAttributes(Attributes):
    status: int = Field(503, ge=100, le=599, description="the status code answered (100-599)")
    body: str | None = Field(
        None,
        description="the response body (UTF-8); default: the status as text, e.g. '429 Too Many Requests'",
    )
    headers: dict[str, str] = Field(
        {},
        description="extra header fields, e.g. {Retry-After: '2'}; they replace the defaults",
    )
    when: Literal["request", "response"] = Field(
        "request",
        description="request: answer before the upstream sees the request; response: replace its response",
    )

    @field_validator("headers")
    @classmethod
    def _valid_fields(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not name or any(c in name for c in " \t:\r\n\x00"):
                raise ValueError(f"invalid header name {name!r}")
            if _BAD_VALUE & set(text):
                raise ValueError(f"the value of {name} contains CR, LF or NUL")
        return value


@register
class HTTPStatusFault(Fault):
    name = "http_status"
    layer = "http"
    directions = ("response",)
    summary = "answer with a status of our own (e.g. 429 + Retry-After) instead of the upstream"
    Attributes = HTTPStatusAttributes

    @classmethod
    def takes(cls, attributes: HTTPStatusAttributes) -> frozenset[str]:
        """Answering the request leaves no response for other faults to touch; replacing the
        upstream's response discards what faults before it did to it (base.TAKES)."""
        return frozenset({"response"}) if attributes.when == "response" else frozenset()

    def answer(self, request: Request | None) -> bytes:
        a = self.a
        no_body = a.status < 200 or a.status in (204, 304)
        text = a.body if a.body is not None else f"{a.status} {reason_phrase(a.status)}\n"
        body = b"" if no_body else text.encode()
        fields: list[tuple[str, str]] = []
        if not no_body:
            fields += [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        fields.append(("Connection", "close"))
        for name, value in a.headers.items():
            at = next((i for i, (n, _) in enumerate(fields) if n.lower() == name.lower()), None)
            if at is None:
                fields.append((name, value))
            else:
                fields[at] = (name, value)
        if request is not None and request.method == b"HEAD":
            body = b""
        return encode_response(a.status, reason_phrase(a.status), fields, body)

    def on_request(self, request: Request, ctx: Context) -> list[BytesOut] | None:
        if self.a.when != "request":
            return None
        ctx.fired(f"answered {describe(request)} with {self.a.status}; the request was not forwarded")
        return [RawBytes(self.answer(request)), Close("fin")]

    def on_event(self, event: HTTPEvent, ctx: Context) -> list[HTTPOut]:
        if self.a.when != "response" or not isinstance(event, Response):
            return [event]
        ctx.fired(f"replaced the upstream's {event.status} to {describe(ctx.request)} with {self.a.status}")
        return [RawBytes(self.answer(ctx.request)), Close("fin")]
