"""Secrets: which names hold them, and how they are kept out of everything faultproxy writes.

A proxy in front of a real LLM API sees its keys: in headers (``Authorization``, ``x-api-key``,
cookies, ``X-Amz-Security-Token``), in query strings (Gemini's streaming API takes ``?key=``),
in JSON or form bodies (``"api_key": ...``). Captures, recordings, logs and every report file
must hold none of them (see ``docs/reliability.md``). This module is the one place that decides
what is secret, sans-IO like the wire layer:

- :func:`is_secret_name`: a header, query parameter or body field whose *last word* says key,
  token, secret, password, credential, signature, cookie or authorization (``api_key``,
  ``X-Amz-Security-Token``, ``apiKey``, ``client_secret``), not one that merely contains such a
  word (``max_tokens``, ``promptTokenCount``, ``x-ratelimit-remaining-tokens`` stay readable);
- :func:`redact_target` and :func:`redact_text`: secret query values in a request-target or in
  free text (an error message quoting a URL or a header line);
- :class:`BodyMasker`: a request body's secret JSON or form values, streamed, replaced by ``*``
  of the same length, so the bytes keep their framing (Content-Length, chunk sizes);
- :func:`known_values` and :func:`mask_known`: the values a scenario is known to send (its
  headers, query, body), masked wherever they turn up — an SDK's error message, a server echo.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote

REDACTED = "[redacted]"  # a header value, a field in a report
URL_REDACTED = "REDACTED"  # a query value: still a valid request-target
MIN_KNOWN = 4  # a known value shorter than this is too common to mask everywhere

# the last word of a name that holds a secret (``api_key``, ``x-auth-token``, ``sessionId``)
_SECRET_WORDS = frozenset(
    {
        "key",
        "apikey",
        "token",
        "secret",
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "credential",
        "credentials",
        "signature",
        "sig",
        "hmac",
        "jwt",
        "authorization",
        "auth",
        "cookie",
        "session",
        "sessionid",
        "sid",
    }
)
# headers that identify an account without a secret word in their name
_SECRET_HEADERS = frozenset({"openai-organization", "openai-project"})
_WORDS = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def is_secret_name(name: str | bytes) -> bool:
    """Whether a header, query parameter or JSON/form field of this name holds a secret."""
    if isinstance(name, bytes):
        name = name.decode("latin-1")
    if name.lower() in _SECRET_HEADERS:
        return True
    words = [w.lower() for w in _WORDS.findall(name)]
    return bool(words) and (words[-1] in _SECRET_WORDS or "".join(words[-2:]) in _SECRET_WORDS)


# -- URLs and free text --------------------------------------------------------------------

# a query parameter: name=value, after ? & or ; (values end at & # whitespace or a quote)
_PARAM = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&#?;\s'\"<>]{1,200})=(?P<value>[^&#;\s'\"<>\\]*)")
# userinfo in a URL: scheme://user:password@
_USERINFO = re.compile(r"(?P<lead>\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@'\"]*:)(?P<value>[^/\s@'\"]+)(?=@)")
# a header line quoted in a message: "Name: value" (to the end of the line or quote)
_HEADER_LINE = re.compile(
    r"(?<![\w-])(?P<name>[A-Za-z0-9_-]{1,200})(?P<sep>[ \t]*:[ \t]*|[ \t]+)(?P<value>[^'\"\\\r\n \t][^'\"\\\r\n]*)"
)


def _param(match: re.Match[str]) -> str:
    if not is_secret_name(unquote(match["name"])) or not match["value"]:
        return match[0]
    return f"{match['lead']}{match['name']}={URL_REDACTED}"


def redact_target(target: str) -> str:
    """A request-target (or URL) with the values of its secret query parameters replaced by
    ``REDACTED``, every other byte as it was."""
    if "?" not in target:
        return target
    path, query = target.split("?", 1)
    return path + _PARAM.sub(_param, "?" + query)


def redact_urls(text: str) -> str:
    """Free text with the passwords of URLs and the values of secret query parameters replaced
    (a report quoting an SDK's error: ``... for url 'http://host/v1?key=...'``)."""
    text = _USERINFO.sub(lambda m: m["lead"] + REDACTED, text)
    return _PARAM.sub(_param, text)


def _header_line(match: re.Match[str]) -> str:
    name = match["name"]
    # "key rotation failed" is prose; "X-Api-Key : v" and "Authorization Bearer v" are header lines
    colon = ":" in match["sep"]
    if not is_secret_name(name) or (
        not colon
        and name.lower() not in ("authorization", "cookie", "set-cookie", "proxy-authorization", "x-api-key")
    ):
        return match[0]
    return f"{name}{match['sep']}{REDACTED}"


def redact_text(text: str) -> str:
    """A message that may quote a URL or a header line, with secret values replaced."""
    return _HEADER_LINE.sub(_header_line, redact_urls(text))


# -- bodies, streamed ----------------------------------------------------------------------


STAR, ONE, ZERO = b"*10"
_DIGITS = b"0123456789"


class BodyMasker:
    """Masks the secret values of a JSON or form body as it streams, one piece at a time.

    Each secret value is replaced byte for byte — a string's characters by ``*`` (its quotes
    kept), a number's digits by ``1000…`` — so every piece keeps its length, the body its framing
    (and a JSON body stays JSON); a value split across pieces is masked in each. It follows JSON's strings and escapes but no grammar beyond: a malformed body is
    still scanned, never refused. :meth:`for_content_type` picks the kind, or None (not masked).
    """

    MAX_NAME = 200  # a longer key or field name is not one of the secret names

    def __init__(self, kind: str):
        self.kind = kind  # "json" or "form"
        self._name = bytearray()  # the string or field name being read
        self._long = False  # ... which is longer than MAX_NAME
        self._in_string = False
        self._escape = False
        self._masking = False  # inside a secret value
        self._first_digit = False  # json: the next digit of a secret number is its first
        self._last: str | None = None  # json: the string just closed (a key if ':' follows)
        self._pending = False  # json: a secret key and its ':' seen, the value comes next
        self._in_value = False  # form: after '=' (the value of field _name)

    @classmethod
    def for_content_type(cls, content_type: bytes | str | None) -> BodyMasker | None:
        if isinstance(content_type, bytes):
            content_type = content_type.decode("latin-1")
        media = (content_type or "").split(";")[0].strip().lower()
        if media == "application/json" or media.endswith("+json") or media == "text/json":
            return cls("json")
        if media == "application/x-www-form-urlencoded":
            return cls("form")
        return None

    def feed(self, data: bytes) -> bytes:
        step = self._json if self.kind == "json" else self._form
        return bytes(step(byte) for byte in data)

    def _take(self, byte: int) -> None:
        if len(self._name) < self.MAX_NAME:
            self._name.append(byte)
        else:
            self._long = True

    def _name_text(self) -> str | None:
        name = None if self._long else self._name.decode("utf-8", "replace")
        self._name.clear()
        self._long = False
        return name

    def _json(self, byte: int) -> int:
        """One byte of JSON in, the byte to write out."""
        if self._in_string:
            if self._escape:
                self._escape = False
            elif byte == 0x5C:  # backslash
                self._escape = True
            elif byte == 0x22:  # the closing quote
                self._in_string = False
                name = self._name_text()
                self._last = None if self._masking else name
                self._masking = False
                return byte
            if self._masking:
                return STAR
            self._take(byte)
            return byte
        if self._masking:  # a secret number: its digits become 1000… (still a JSON number)
            if byte in _DIGITS:
                first, self._first_digit = self._first_digit, False
                return ONE if first else ZERO
            if byte in b"-+.eE":
                return byte
            self._masking = False
        if byte in b" \t\r\n":
            return byte
        if byte == 0x22:
            self._in_string = True
            self._masking, self._pending = self._pending, False
            return byte
        if byte == 0x3A:  # ':' after a key
            self._pending = self._last is not None and is_secret_name(self._last)
            self._last = None
            return byte
        self._last = None
        if self._pending and (byte in _DIGITS or byte == 0x2D):  # true, false, null hold no secret
            self._masking, self._first_digit = True, True
            self._pending = False
            return self._json(byte)
        self._pending = False
        return byte

    def _form(self, byte: int) -> int:
        """One byte of ``a=1&api_key=…`` in, the byte to write out."""
        if byte == 0x26:  # '&'
            self._in_value = self._masking = False
            self._name.clear()
            self._long = False
            return byte
        if self._in_value:
            return STAR if self._masking else byte
        if byte == 0x3D:  # '='
            name = self._name_text()
            self._in_value = True
            self._masking = name is not None and is_secret_name(unquote(name.replace("+", " ")))
            return byte
        self._take(byte)
        return byte


def redact_json(value: Any) -> Any:
    """Parsed JSON with the values of secret keys replaced (a server's log of a request body)."""
    if isinstance(value, dict):
        return {
            k: REDACTED
            if isinstance(k, str) and is_secret_name(k) and not isinstance(v, (dict, list))
            else redact_json(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_json(v) for v in value]
    return value


# -- values known to be secret -------------------------------------------------------------


def known_values(
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (), url: str | None = None, body: Any = None
) -> set[str]:
    """The secret values a request sends: its secret headers (and their parts: ``Bearer KEY``,
    ``a=1; b=2``), its secret query parameters, its secret JSON fields (``body`` parsed, or text:
    JSON or a form)."""
    found: set[str] = set()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in pairs:
        if not is_secret_name(name):
            continue
        value = value.strip()
        found.add(value)
        found.add(value.partition(" ")[2].strip())
        for cookie in value.split(";"):
            found.add(cookie.partition("=")[2].strip())
    if url and "?" in url:
        found |= {
            v
            for k, v in parse_qsl(url.split("?", 1)[1].split("#")[0], keep_blank_values=True)
            if is_secret_name(k)
        }
    if isinstance(body, (str, bytes)):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            body = json.loads(text)
        except ValueError:
            body = dict(parse_qsl(text, keep_blank_values=True))
    found |= _json_secrets(body)
    return {v for v in found if len(v) >= MIN_KNOWN and v not in (REDACTED, URL_REDACTED)}


def _json_secrets(value: Any) -> set[str]:
    if isinstance(value, dict):
        out = set()
        for k, v in value.items():
            if (
                isinstance(k, str)
                and is_secret_name(k)
                and isinstance(v, (str, int, float))
                and not isinstance(v, bool)
            ):
                out.add(str(v))
            out |= _json_secrets(v)
        return out
    if isinstance(value, list):
        return set().union(*(_json_secrets(v) for v in value)) if value else set()
    return set()


def mask_bytes(data: bytes, values: Iterable[bytes]) -> bytes:
    """``data`` with every occurrence of each value replaced by ``*`` of its length."""
    for value in sorted(values, key=len, reverse=True):
        if value and value in data:
            data = data.replace(value, b"*" * len(value))
    return data


def map_strings(value: Any, change: Callable[[str], str]) -> Any:
    """A JSON-like structure with ``change`` applied to every string in it (keys too)."""
    if isinstance(value, dict):
        return {map_strings(k, change): map_strings(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [map_strings(v, change) for v in value]
    return change(value) if isinstance(value, str) else value


def mask_known(value: Any, secrets: set[str]) -> Any:
    """A JSON-like structure with every known secret value masked in every string (keys too)."""
    ordered = sorted(secrets, key=len, reverse=True)

    def mask(text: str) -> str:
        for secret in ordered:
            if secret in text:
                text = text.replace(secret, "*" * len(secret))
        return text

    return map_strings(value, mask) if secrets else value
