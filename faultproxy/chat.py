"""A streamed LLM request from raw sockets up: one POST with ``stream: true``, read token by token.

No SDK: the request is written with :func:`~faultproxy.wire.http.encode_request`, the response
read with the project's own :class:`~faultproxy.wire.http.HTTPReader` (head, chunk sizes, body),
:class:`~faultproxy.wire.sse.SSEParser` (events) and :class:`~faultproxy.wire.llm.Assembler`
(tokens, tool calls, finish, usage, the end sentinel). :class:`ChatState` holds everything a
live view shows -- time to first token, tokens/s, seconds since the last token, the raw wire
lines -- and :func:`stream` updates it as bytes arrive. ``faultproxy chat`` and ``faultproxy
compare`` (:mod:`faultproxy.chat_cli`) draw it. The formats are described in
``docs/llm-streams.md``.

API keys come from the environment (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY``) and go only into
the request: the state never holds them. ``https://`` base URLs go over TLS with certificate
verification (the system's trust store, or ``ca_file``), as :mod:`faultproxy.tls` sets it up.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from faultproxy.redact import redact_target, redact_urls
from faultproxy.wire.chunked import ChunkData, ChunkHeader, Malformed
from faultproxy.wire.errors import WireError
from faultproxy.wire.http import BodyData, EndOfMessage, HTTPReader, Response, encode_request
from faultproxy.wire.llm import Assembler, Dialect
from faultproxy.wire.sse import SSEParser

Api = Literal["openai", "anthropic"]
KEY_VARIABLES = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
DEFAULT_MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5"}
MOCK_KEY = "sk-faultproxy-mock"
WIRE_LINES = 400  # wire lines kept for the --wire view


class ChatError(ValueError):
    """A request that cannot be made as asked (a bad URL, https without TLS support)."""


@dataclass
class ChatState:
    """One streamed request as it goes; times are ``time.monotonic()``."""

    api: Api
    url: str
    model: str
    started: float = 0.0
    status: int | None = None
    reason: str = ""
    first_token: float | None = None
    last_token: float | None = None
    tokens: int = 0  # deltas with content (text or tool-call arguments)
    body_bytes: int = 0
    chunks: int = 0
    events: list[str] = field(default_factory=list)  # event types, in order
    wire: list[tuple[float, str]] = field(default_factory=list)  # (time, line) for the --wire view
    error_body: str = ""
    end: str | None = None  # complete | truncated | error | open (--timeout) | interrupted
    end_detail: str = ""
    assembler: Assembler = field(default_factory=Assembler)
    finished: float | None = None

    @property
    def message(self):  # the LLMMessage so far
        return self.assembler.message

    @property
    def ttft(self) -> float | None:
        return None if self.first_token is None else self.first_token - self.started

    def tokens_per_s(self, now: float | None = None) -> float | None:
        """Deltas per second after the first one (None until there are two)."""
        if self.first_token is None or self.tokens < 2:
            return None
        end = self.last_token or now or time.monotonic()
        span = end - self.first_token
        return (self.tokens - 1) / span if span > 0 else None

    def since_last_token(self, now: float | None = None) -> float | None:
        """Seconds since the last token (the stall indicator); None before the first or after the end."""
        if self.end is not None:
            return None
        now = now or time.monotonic()
        mark = self.last_token or (self.started if self.status is not None else None)
        return None if mark is None else now - mark

    @property
    def bytes_per_token(self) -> float | None:
        return self.body_bytes / self.tokens if self.tokens else None

    def note_wire(self, line: str) -> None:
        self.wire.append((time.monotonic(), line))
        if len(self.wire) > WIRE_LINES:
            del self.wire[: len(self.wire) - WIRE_LINES]


def request_for(
    api: Api, base_url: str, model: str, prompt: str, key: str | None
) -> tuple[str, int, bytes, str]:
    """``(host, port, request bytes, the URL it goes to)`` for a streamed request to ``base_url``.

    OpenAI's base URL includes ``/v1`` (as the SDKs take it); Anthropic's does not (its SDKs add
    it). A query in it (Azure's ``?api-version=...``) goes on the request's target, as the SDKs
    send it; the URL returned has its secret query values redacted (it is shown). The key is put
    in the request only; nothing else keeps it. A base URL with credentials in it
    (``https://user:key@host``) is refused: they would end up in the Host header and on screen.
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ChatError(
            f"--base-url must be an http(s)://HOST[:PORT][/path] URL, not {redact_urls(base_url)!r}"
        )
    if parts.username is not None or parts.password is not None:
        raise ChatError(
            "--base-url must not carry credentials (user:password@): give the key in "
            f"{KEY_VARIABLES[api]} instead"
        )
    path = parts.path.rstrip("/")
    if api == "openai":
        target = path + "/chat/completions"
        body = {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        auth = [("Authorization", f"Bearer {key}")] if key else []
    else:
        target = path + "/v1/messages"
        body = {
            "model": model,
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": prompt}],
            "stream": True,
        }
        auth = [("x-api-key", key)] if key else []
        auth.append(("anthropic-version", "2023-06-01"))
    target += f"?{parts.query}" if parts.query else ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    payload = json.dumps(body).encode()
    headers = [
        ("Host", parts.netloc),
        ("Content-Type", "application/json"),
        ("Accept", "text/event-stream"),
        ("Content-Length", str(len(payload))),
        *auth,
        ("User-Agent", "faultproxy-chat"),
    ]
    url = f"{parts.scheme}://{parts.netloc}{redact_target(target)}"
    return parts.hostname, port, encode_request("POST", target, headers, payload), url


def api_key(api: Api, mock: bool) -> str | None:
    """The key for ``api``: the built-in mock's dummy, else the environment's (None when unset)."""
    return MOCK_KEY if mock else os.environ.get(KEY_VARIABLES[api])


async def stream(
    state: ChatState,
    host: str,
    port: int,
    request: bytes,
    timeout: float | None = None,
    tls: ssl.SSLContext | None = None,
) -> ChatState:
    """Send ``request`` and read the response into ``state`` until the body ends, the connection
    closes, or ``timeout`` seconds pass (then the end is ``open``); over TLS with ``tls``."""
    dialect: Dialect = "chat" if state.api == "openai" else "anthropic"
    state.assembler = Assembler(dialect)
    state.started = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection(
            host, port, ssl=tls, server_hostname=host if tls else None
        )
    except ssl.SSLError as error:
        state.end, state.end_detail = "error", f"TLS with {host}:{port} failed: {error.reason or error}"
        state.finished = time.monotonic()
        return state
    except OSError as error:
        state.end, state.end_detail = "error", f"cannot connect to {host}:{port}: {error.strerror or error}"
        state.finished = time.monotonic()
        return state
    try:
        await asyncio.wait_for(_read(state, reader, writer, request), timeout)
    except TimeoutError:
        state.end, state.end_detail = "open", f"still open after {timeout:g} s (--timeout)"
    except (ConnectionError, WireError) as error:
        state.end, state.end_detail = "truncated", f"{type(error).__name__}: {error}"
    finally:
        state.finished = time.monotonic()
        writer.close()
    return state


async def _read(
    state: ChatState, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> None:
    writer.write(request)
    await writer.drain()
    http = HTTPReader("response", strict=False)
    http.expect_response_to(b"POST")
    sse = SSEParser()
    ended = False
    while not ended:
        data = await reader.read(65536)
        if not data:
            break
        for event in http.feed(data):
            ended = _take(state, sse, event) or ended
    if not ended:
        for event in http.close():
            _take(state, sse, event)
    _conclude(state, ended)


def _take(state: ChatState, sse: SSEParser, event: object) -> bool:
    """One wire event into the state; True at the end of the body."""
    if isinstance(event, Response):
        state.status, state.reason = event.status, event.reason.decode("latin-1", "replace")
        state.note_wire(f"HTTP/1.1 {event.status} {state.reason}")
        for name, value in event.headers:
            if name.lower() in (b"content-type", b"transfer-encoding", b"content-length", b"retry-after"):
                state.note_wire(f"{name.decode('latin-1')}: {value.decode('latin-1')}")
    elif isinstance(event, ChunkHeader):
        state.chunks += 1
        state.note_wire(f"chunk {event.size:x} ({event.size} B)" if event.size else "last chunk 0")
    elif isinstance(event, (ChunkData, BodyData)):
        state.body_bytes += len(event.data)
        if state.status != 200:
            state.error_body += event.data.decode("utf-8", "replace")
            return False
        parsed_events = sse.feed(event.data)
        for parsed in parsed_events:
            _event(state, parsed)
        if not parsed_events and event.data.lstrip().startswith(b":"):
            state.note_wire(event.data.strip().decode("utf-8", "replace") + "   (a comment: no event)")
        if not isinstance(event, ChunkData):
            state.note_wire(f"body {len(event.data)} B")
    elif isinstance(event, Malformed):
        state.note_wire(f"malformed: {event.reason}")
    elif isinstance(event, EndOfMessage):
        return True
    return False


def _event(state: ChatState, parsed) -> None:
    now = time.monotonic()
    if parsed.type != "message":
        state.note_wire(f"event: {parsed.type}")
    data = parsed.data if len(parsed.data) <= 120 else parsed.data[:119] + "…"
    state.note_wire(f"data: {data}")
    piece = state.assembler.feed(parsed)
    state.events.append(parsed.type if parsed.type != "message" else _chat_kind(parsed.data))
    if piece.delta and piece.text:
        state.tokens += 1
        state.first_token = state.first_token or now
        state.last_token = now


def _chat_kind(data: str) -> str:
    """OpenAI Chat's events are all ``message``; name them by what they carry."""
    if data.strip() == "[DONE]":
        return "[DONE]"
    try:
        body = json.loads(data)
    except ValueError:
        return "message"
    if "error" in body:
        return "error"
    return "chunk (usage)" if not body.get("choices") and body.get("usage") else "chunk"


SENTINELS = {"openai": "data: [DONE]", "anthropic": "message_stop"}


def _conclude(state: ChatState, ended: bool) -> None:
    message = state.message
    sentinel = SENTINELS[state.api]
    if state.status is None:
        state.end, state.end_detail = "error", "the connection closed before a response"
    elif state.status != 200:
        state.end, state.end_detail = (
            "error",
            f"HTTP {state.status}: {' '.join(state.error_body.split())[:200]}",
        )
    elif message.error is not None:
        kind = message.error.get("type", "error")
        state.end = "error"
        state.end_detail = (
            f"in-stream error event after {state.tokens} tokens: {kind}: {message.error.get('message', '')}"
        )
    elif ended and message.sentinel:
        state.end, state.end_detail = "complete", f"{sentinel} seen, body ended cleanly"
    elif ended:
        state.end, state.end_detail = "truncated", f"the body ended cleanly but {sentinel} never came"
    elif message.sentinel:
        state.end, state.end_detail = (
            "complete",
            f"{sentinel} seen, then the connection closed without the last chunk",
        )
    else:
        state.end, state.end_detail = "truncated", f"the connection closed mid-body, before {sentinel}"
