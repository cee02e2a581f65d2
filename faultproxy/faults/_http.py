"""What the ``http``-layer faults share: which messages they act on, their framing, new heads.

A fault sees the heads it acts on in the form the faults before it left them, so the framing
is read from the head it is given (after ``gzip`` switched a body to chunked, a later fault
sees chunked), never from what the upstream sent.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, TypeGuard

from faultproxy.redact import REDACTED, is_secret_name, redact_target
from faultproxy.wire.errors import WireError
from faultproxy.wire.http import FramingKind, Headers, Request, Response, body_framing, encode_head

if TYPE_CHECKING:
    from faultproxy.faults.base import Context, Direction


def is_message_head(event: object, direction: Direction) -> TypeGuard[Request | Response]:
    """A head that starts a message the faults act on: a final response (on ``response``; not a
    1xx interim response, not a 101 that turns the connection into a tunnel), or a request."""
    if direction == "response":
        return isinstance(event, Response) and event.status >= 200
    return isinstance(event, Request)


def framing(head: Request | Response, request: Request | None = None) -> FramingKind:
    """How the body after ``head`` is delimited (:func:`~faultproxy.wire.http.body_framing`);
    ``request``: the one a response answers. A head whose framing cannot be known (a fault before
    this one wrote a bad Content-Length) reads as ``close``, as a lenient recipient takes it."""
    try:
        return body_framing(head, request.method if request is not None else None).kind
    except WireError:
        return "close"


def chunked_message(head: Request | Response, ctx: Context) -> bool:
    """Whether the message ``head`` starts (as the chunk faults see it) has a chunked body:
    what they act on. A response is framed as the answer to this exchange's request."""
    return framing(head, ctx.request if ctx.direction == "response" else None) == "chunked"


def can_chunk(head: Response, request: Request | None) -> bool:
    """Whether the client may be sent a chunked body: an HTTP/1.1 response to an HTTP/1.1 request."""
    return head.version == b"HTTP/1.1" and (request is None or request.version == b"HTTP/1.1")


def with_headers(head: Request | Response, headers: Headers) -> Request | Response:
    """The same head with other header fields, serialized anew (unchanged lines kept as received)."""
    if isinstance(head, Request):
        draft = Request(head.method, head.target, head.version, headers, b"")
        return Request(head.method, head.target, head.version, headers, encode_head(draft))
    draft = Response(head.version, head.status, head.reason, headers, head.raw)
    return Response(head.version, head.status, head.reason, headers, encode_head(draft))


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def describe(request: Request | None) -> str:
    """``GET /path`` for evidence, or ``the request`` when it is not known. Evidence reaches
    captures and reports: a key in the query is shown as ``REDACTED``."""
    if request is None:
        return "the request"
    target = redact_target(request.target.decode("latin-1"))
    return f"{request.method.decode('latin-1')} {target[:80]}"


def quoted(name: str | bytes, value: str | bytes) -> str:
    """A header value as evidence shows it: ``'text/plain'``, or ``[redacted]`` for a field that
    holds a secret (``Authorization``, cookies, API keys)."""
    if is_secret_name(name):
        return REDACTED
    return repr(value.decode("latin-1") if isinstance(value, bytes) else value)
