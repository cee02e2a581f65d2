"""Secrets: which names hold them, and how a value is kept out of what faultproxy writes.

A proxy in front of a real API sees its keys -- in headers (``Authorization``, ``x-api-key``,
cookies) and in query strings (``?api_key=``). Captures, recordings, logs, reports and fault
evidence must hold none of them. This module is where faultproxy decides what is secret, sans-IO
like the wire layer, so that every writer decides alike:

- :data:`SECRET_HEADERS` and :func:`is_secret_name`: a header field (or query parameter) whose
  value is a secret;
- :func:`redact_target`: a request-target with the values of its secret query parameters
  replaced by ``REDACTED`` (still a valid target).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode

REDACTED = "[redacted]"  # a header value
URL_REDACTED = "REDACTED"  # a query value: the target stays valid
SECRET_HEADERS = frozenset(
    {
        b"authorization",
        b"proxy-authorization",
        b"x-api-key",
        b"api-key",
        b"x-goog-api-key",
        b"x-auth-token",
        b"cookie",
        b"set-cookie",
        b"openai-organization",
        b"openai-project",
    }
)
SECRET_PARAM = re.compile(r"key|token|secret|passw|auth|signature|sig$|session|credential", re.IGNORECASE)


def is_secret_name(name: str | bytes) -> bool:
    """Whether a header field or query parameter of this name holds a secret."""
    text = name.decode("latin-1") if isinstance(name, bytes) else name
    return text.strip().lower().encode("latin-1", "replace") in SECRET_HEADERS or bool(SECRET_PARAM.search(text))


def redact_target(target: str) -> str:
    """The request-target with the values of secret-looking query parameters replaced."""
    path, sep, query = target.partition("?")
    if not sep:
        return target
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(SECRET_PARAM.search(name) for name, _ in pairs):
        return target
    return path + "?" + urlencode([(n, URL_REDACTED if SECRET_PARAM.search(n) else v) for n, v in pairs],
                                  safe="/:")
