"""The LLM APIs' errors on the wire: what OpenAI and Anthropic answer when they refuse a request,
and what they send inside a stream that failed after its ``200``.

One home for the shapes, so the mocks (:mod:`faultproxy.servers.openai`,
:mod:`faultproxy.servers.anthropic`) and the faults that make the same failures
(``llm_error_event``, ``llm_overloaded``) cannot drift apart; the formats are described in
``docs/llm-streams.md``. Pure data and functions, no I/O:

- OpenAI refuses with ``{"error": {"message", "type", "param", "code"}}`` (:func:`openai_error`);
  inside a Chat stream it sends ``data: {"error": {...}}`` then ``data: [DONE]``, inside a
  Responses stream a nested ``error`` event then ``response.failed`` (:func:`openai_stream_error`);
  the two stream messages differ (Chat's ends "Sorry about that!", as captured from the API);
- Anthropic refuses with ``{"type": "error", "error": {"type", "message"}, "request_id"}`` and
  sends the very same object as ``event: error`` inside a stream (:func:`anthropic_error`);
- a refusal the client may retry carries ``retry-after`` and ``retry-after-ms``
  (:func:`retry_headers`), which the official SDKs honour.
"""

from __future__ import annotations

import math
import random
import string
from typing import Any

CHAT_STREAM_MESSAGE = "The server had an error while processing your request. Sorry about that!"
RESPONSES_STREAM_MESSAGE = "The server had an error while processing your request."
OPENAI_OVERLOADED_MESSAGE = "The server is overloaded or not ready yet."

# OpenAI: status -> (type, code, message) of the error object of a refused request
OPENAI_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
    ),
    403: (
        "invalid_request_error",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    429: ("requests", "rate_limit_exceeded", ""),  # the message names the model and the wait: openai_error
    500: ("server_error", None, CHAT_STREAM_MESSAGE),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, OPENAI_OVERLOADED_MESSAGE),
    529: ("server_error", None, OPENAI_OVERLOADED_MESSAGE),
}

# Anthropic: error type -> (status, message)
ANTHROPIC_ERRORS: dict[str, tuple[int, str]] = {
    "invalid_request_error": (400, "Invalid request."),
    "authentication_error": (401, "invalid x-api-key"),
    "billing_error": (402, "Your credit balance is too low to access the Anthropic API."),
    "permission_error": (403, "Your API key does not have permission to use the specified resource."),
    "not_found_error": (404, "Not Found"),
    "request_too_large": (413, "Request exceeds the maximum allowed number of bytes."),
    "rate_limit_error": (
        429,
        "This request would exceed the rate limit for your organization. Please try again later.",
    ),
    "api_error": (500, "Internal server error"),
    "timeout_error": (504, "Request timed out"),
    "overloaded_error": (529, "Overloaded"),
}
_ANTHROPIC_KINDS = {status: kind for kind, (status, _) in ANTHROPIC_ERRORS.items()}
ANTHROPIC_RETRYABLE = frozenset(
    {408, 409, 429, 500, 502, 503, 504, 529}
)  # answered with x-should-retry: true

DEFAULT: Any = object()  # "the status's usual code"


def openai_error(
    status: int,
    *,
    message: str | None = None,
    param: str | None = None,
    code: Any = DEFAULT,
    model: str | None = None,
    retry_after: float = 1.0,
) -> dict[str, Any]:
    """The ``error`` object OpenAI answers a refused request with (the body is ``{"error": ...}``).

    A 429's message names the model and the wait, as the API's does."""
    kind, usual_code, usual = OPENAI_ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None, f"HTTP {status}")
    )
    if status == 429 and message is None:
        where = f"for {model} in organization" if model else "in organization"
        message = (
            f"Rate limit reached {where} org-faultproxy on requests per min (RPM): Limit 3, Used 3, "
            f"Requested 1. Please try again in {retry_after:g}s."
        )
    return {
        "message": usual if message is None else message,
        "type": kind,
        "param": param,
        "code": usual_code if code is DEFAULT else code,
    }


def openai_stream_error(
    dialect: str, error_type: str | None = None, message: str | None = None
) -> dict[str, Any]:
    """The error object inside a failed stream: Chat's ``{"message", "type", "param", "code"}``
    (sent as ``data: {"error": ...}``), the Responses API's nested ``{"type", "code", "message",
    "param"}`` (the ``error`` event's ``error``)."""
    error_type = error_type or "server_error"
    if dialect == "responses":
        return {
            "type": error_type,
            "code": error_type,
            "message": message or RESPONSES_STREAM_MESSAGE,
            "param": None,
        }
    return {"message": message or CHAT_STREAM_MESSAGE, "type": error_type, "param": None, "code": None}


def anthropic_kind(status: int) -> str:
    """The Anthropic error type a status stands for (529 ``overloaded_error``, 429 ``rate_limit_error`` ...)."""
    return _ANTHROPIC_KINDS.get(status, "api_error" if status >= 500 else "invalid_request_error")


def anthropic_error(kind: str, message: str | None = None, request_id: str | None = None) -> dict[str, Any]:
    """Anthropic's error object: the body of a refused request and the data of ``event: error``."""
    body: dict[str, Any] = {
        "type": "error",
        "error": {
            "type": kind,
            "message": message or ANTHROPIC_ERRORS.get(kind, (500, "Internal server error"))[1],
        },
    }
    if request_id is not None:
        body["request_id"] = request_id
    return body


def retry_headers(seconds: float) -> list[tuple[str, str]]:
    """``retry-after`` (whole seconds, rounded up) and ``retry-after-ms``."""
    return [("retry-after", str(math.ceil(seconds))), ("retry-after-ms", str(int(seconds * 1000)))]


_ID_CHARS = string.ascii_letters + string.digits


def anthropic_request_id(rng: random.Random) -> str:
    """A request id of the form Anthropic's API gives (``req_011C`` and 20 letters or digits),
    drawn from the fault's seeded generator so a run repeats."""
    return "req_011C" + "".join(rng.choice(_ID_CHARS) for _ in range(20))
