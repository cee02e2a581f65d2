"""``llm_overloaded``: the API refuses the request before any stream starts -- 529, 429, 503.

The proxy answers the request itself (it never reaches the upstream), in the API's own error
shape (see ``docs/llm-streams.md``), chosen by the request path:

- Anthropic (``/messages``): ``{"type": "error", "error": {"type": "overloaded_error", ...},
  "request_id": ...}`` with ``x-should-retry: true`` where the API sends it -- the type the
  status stands for (``overloaded_error`` for 529, ``rate_limit_error`` for 429 ...);
- OpenAI (anything else): ``{"error": {"message", "type", "param", "code"}}`` -- for 429
  ``rate_limit_exceeded``, otherwise the status's usual error.

The shapes and messages are the mocks' own (:mod:`faultproxy.wire.llm_errors`).

``retry_after`` (seconds; default 1 for a 429, none otherwise) is sent as ``retry-after`` and
``retry-after-ms``, which the official SDKs honour when they retry. The connection closes after
the answer, so a retry comes on a new connection: ``connections: [1]`` in the fault's spec
refuses only the first attempt and lets the SDK's retry through.
"""

from __future__ import annotations

import json

from pydantic import Field

from faultproxy.faults._http import describe, reason_phrase
from faultproxy.faults.base import Attributes, Close, Context, Fault, RawBytes, register
from faultproxy.faults.llm_common import dialect_of_path
from faultproxy.wire.http import Request, encode_response
from faultproxy.wire.llm_errors import (
    ANTHROPIC_RETRYABLE,
    anthropic_error,
    anthropic_kind,
    anthropic_request_id,
    openai_error,
    retry_headers,
)


class LLMOverloadedAttributes(Attributes):
    status: int = Field(
        529, ge=400, le=599, description="the status: 529 overloaded, 429 rate limited, 503 ..."
    )
    retry_after: float | None = Field(
        None,
        ge=0,
        le=3600,
        description="seconds in retry-after / retry-after-ms (default: 1 for 429, else none)",
    )
    message: str | None = Field(None, description="the error message (default: the API's usual text)")


@register
class LLMOverloaded(Fault):
    name = "llm_overloaded"
    layer = "http"
    directions = ("response",)
    summary = "answer 529 overloaded / 429 + retry-after before the stream, in the API's own error JSON"
    Attributes = LLMOverloadedAttributes

    def on_request(self, request: Request, ctx: Context) -> list[object] | None:
        a = self.a
        anthropic = dialect_of_path(request.target) == "anthropic"
        wait = a.retry_after if a.retry_after is not None else (1.0 if a.status == 429 else None)
        if anthropic:
            request_id = anthropic_request_id(ctx.rng)
            payload = anthropic_error(anthropic_kind(a.status), a.message, request_id)
            headers = [("request-id", request_id)] + (
                [("x-should-retry", "true")] if a.status in ANTHROPIC_RETRYABLE else []
            )
        else:
            payload = {"error": openai_error(a.status, message=a.message, retry_after=wait or 0.0)}
            headers = [
                ("x-request-id", "req_" + "".join(ctx.rng.choice("0123456789abcdef") for _ in range(32)))
            ]
        if wait is not None:
            headers += retry_headers(wait)
        body = json.dumps(payload).encode()
        fields = [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
            *headers,
        ]
        phrase = "" if a.status == 529 else reason_phrase(a.status)
        ctx.fired(
            f"answered {describe(request)} with {a.status} ({'anthropic' if anthropic else 'openai'} shape"
            f"{f', retry-after {wait:g}s' if wait is not None else ''}); not forwarded"
        )
        return [RawBytes(encode_response(a.status, phrase, fields, body)), Close("fin")]
