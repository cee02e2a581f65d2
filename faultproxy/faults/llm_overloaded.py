"""``llm_overloaded``: the API refuses the request before any stream starts -- 529, 429, 503.

The proxy answers the request itself (it never reaches the upstream), in the API's own error
shape (see ``docs/llm-streams.md``), chosen by the request path:

- Anthropic (``/messages``): ``{"type": "error", "error": {"type": "overloaded_error", ...},
  "request_id": ...}`` with ``x-should-retry: true`` -- ``overloaded_error`` for 529,
  ``rate_limit_error`` for 429, ``api_error`` otherwise;
- OpenAI (anything else): ``{"error": {"message", "type", "param", "code"}}`` -- for 429
  ``rate_limit_exceeded``, otherwise a ``server_error``.

``retry_after`` (seconds; default 1 for a 429, none otherwise) is sent as ``retry-after`` and
``retry-after-ms``, which the official SDKs honour when they retry. The connection closes after
the answer, so a retry comes on a new connection: ``connections: [1]`` in the fault's spec
refuses only the first attempt and lets the SDK's retry through.
"""

from __future__ import annotations

import json
import math

from pydantic import Field

from faultproxy.faults._http import describe, reason_phrase
from faultproxy.faults.base import Attributes, Close, Context, Fault, RawBytes, register
from faultproxy.faults.llm_common import dialect_of_path
from faultproxy.wire.http import Request, encode_response


class LLMOverloadedAttributes(Attributes):
    status: int = Field(529, ge=400, le=599, description="the status: 529 overloaded, 429 rate limited, 503 ...")
    retry_after: float | None = Field(
        None, ge=0, le=3600, description="seconds in retry-after / retry-after-ms (default: 1 for 429, else none)"
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
        request_id = "req_" + "".join(ctx.rng.choice("0123456789abcdef") for _ in range(24))
        if anthropic:
            kind = {529: "overloaded_error", 429: "rate_limit_error"}.get(a.status, "api_error")
            text = a.message or {529: "Overloaded", 429: "Rate limited"}.get(a.status, "Internal server error")
            payload: dict[str, object] = {"type": "error", "error": {"type": kind, "message": text},
                                          "request_id": request_id}
            headers = [("request-id", request_id), ("x-should-retry", "true")]
        else:
            limited = a.status == 429
            text = a.message or ("Rate limit reached for requests. Please try again later." if limited
                                 else "The server is overloaded or not ready yet.")
            error = {"message": text, "type": "requests" if limited else "server_error", "param": None,
                     "code": "rate_limit_exceeded" if limited else None}
            payload = {"error": error}
            headers = [("x-request-id", request_id)]
        wait = a.retry_after if a.retry_after is not None else (1.0 if a.status == 429 else None)
        if wait is not None:
            headers += [("retry-after", str(math.ceil(wait))), ("retry-after-ms", str(int(wait * 1000)))]
        body = json.dumps(payload).encode()
        fields = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                  ("Connection", "close"), *headers]
        phrase = "" if a.status == 529 else reason_phrase(a.status)
        ctx.fired(f"answered {describe(request)} with {a.status} ({'anthropic' if anthropic else 'openai'} shape"
                  f"{f', retry-after {wait:g}s' if wait is not None else ''}); not forwarded")
        return [RawBytes(encode_response(a.status, phrase, fields, body)), Close("fin")]
