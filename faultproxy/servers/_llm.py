"""What the OpenAI and Anthropic mocks share: requests with bodies, planned answers, pacing, ground truth.

A mock answers every generation request with a *plan* made before the first byte goes
out: the text (words chosen by ``random.Random(seed)``, or a fixed ``text``), an optional
tool call, the finish reason, the usage and any error to inject. The plan is stored in an
:class:`Exchange` with the parsed request, so a test can compare what a client assembled
against what the mock meant. Every SSE event is then written as its own chunk the moment
it is due and recorded as a :class:`SentEvent` (index, event type, data, bytes, offset in
the body, monotonic time) *before* it is handed to the socket, so a client in another
thread can never see an event that the log does not yet hold.

``server.log`` (also ``server.responses``) is the list of exchanges, oldest first;
``jsonl=PATH`` also writes them as JSON lines while they happen: a ``request`` line when a
request has been read, an ``event`` line per event, and a ``response`` line with the plan
and the outcome when the exchange ends.

Secrets never reach the log: ``authorization``, ``x-api-key`` and the like are recorded
as ``<redacted>``, and a body's secret fields (``api_key``) as ``[redacted]``
(:mod:`faultproxy.redact` decides which names are secret).
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import json
import math
import random
import re
import ssl
import string
import time
from collections.abc import AsyncGenerator, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from faultproxy.net.stream_server import READ_SIZE, StreamServer, wants_close
from faultproxy.redact import is_secret_name, redact_json
from faultproxy.wire.chunked import ChunkData, encode_chunk, encode_last_chunk
from faultproxy.wire.errors import WireError
from faultproxy.wire.http import BodyData, EndOfMessage, HTTPReader, Request, encode_response
from faultproxy.wire.sse import encode_event

MAX_BODY = 32 << 20  # a request body larger than this gets 413
REDACTED = "<redacted>"


# A small vocabulary; a few words are not ASCII so that multi-byte UTF-8 crosses the wire too.
VOCAB = (
    "the a stream of tokens flows through every proxy and each event arrives on time when nothing "
    "breaks but some bytes wait in a buffer while the client keeps reading until the server says "
    "done model answer request chunk line field data server client network packet latency cache "
    "café naïve über façade quickly slowly again never always here there today small large quiet"
).split()


# -- ground truth -----------------------------------------------------------------------------


@dataclass
class SentEvent:
    """One SSE event as the mock wrote it: the block is one chunk of the response body."""

    index: int  # 0, 1, 2 ... within the response
    event: str | None  # the SSE ``event:`` field; None for data-only events (OpenAI chat)
    data: str  # the ``data:`` value (JSON text, or ``[DONE]``)
    bytes: int  # size of the SSE block (the chunk's payload, not its framing)
    offset: int  # where the block starts in the decoded body
    time: float  # time.monotonic() as the block was handed to the socket
    text: str = ""  # the answer text this event carries (a delta), "" for the others


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str  # the JSON text, exactly as the fragments concatenate

    @property
    def input(self) -> Any:
        """The arguments parsed (Anthropic calls this ``input``)."""
        return json.loads(self.arguments)


@dataclass
class Exchange:
    """One request and the response the mock meant and sent: a ground-truth transcript.

    The plan (``text``, ``tool_calls``, ``finish_reason``, ``usage``) is the whole answer the
    model meant, also when an injected failure cuts it short: ``error`` records the failure
    apart (``error_after=3``: ``{"status": 200, "after": 3, "type", "message", ...}``, the
    in-stream error that replaced the rest). What really left the server is ``events``
    (streams) or ``body_sent`` (JSON answers); ``sent_text`` joins the text of the deltas
    written. ``completed`` is True when the whole planned response was written; ``outcome``
    says how it ended.
    """

    n: int  # 1 for the server's first request, 2 for the next ...
    endpoint: str  # "chat.completions", "responses", "messages", "models", "unknown"
    method: str
    path: str
    headers: dict[str, str]  # lower-case names; secrets redacted
    body: Any  # the parsed JSON request body (None when absent or not JSON)
    body_bytes: int  # size of the request body as received
    model: str | None
    stream: bool
    started: float  # time.monotonic() when the whole request had been read
    status: int | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None  # each API's own words: stop / tool_calls / end_turn / completed ...
    usage: dict[str, Any] | None = None
    error: dict[str, Any] | None = None  # the error answered or injected: {"status", "type", "message", ...}
    events: list[SentEvent] = field(default_factory=list)
    sent_text: str = ""
    body_sent: str | None = None
    bytes_sent: int = 0  # response body bytes written so far (SSE blocks, or the JSON body)
    deltas_sent: int = 0  # text or tool-argument deltas written so far
    completed: bool = False
    outcome: str = "pending"  # ok | error_status | stream_error | client_gone | stopped | crashed
    ended: float | None = None

    @property
    def retry_count(self) -> int | None:
        """The SDKs' ``x-stainless-retry-count`` header: 0 on the first attempt."""
        value = self.headers.get("x-stainless-retry-count", "")
        return int(value) if value.isdigit() else None

    @property
    def tool_arguments(self) -> str | None:
        return self.tool_calls[0].arguments if self.tool_calls else None

    @property
    def event_types(self) -> list[str | None]:
        return [e.event for e in self.events]

    def summary(self) -> dict[str, Any]:
        """The exchange as JSON-ready data, without the event list (that is logged line by line)."""
        out = asdict(self)
        out.pop("events")
        out["response_headers"] = [list(pair) for pair in self.response_headers]
        return out


def header(request: Request, name: str) -> str:
    """A request header as text ("" when absent)."""
    value = request.headers.get(name)
    return value.decode("latin-1").strip() if value is not None else ""


def redacted_headers(request: Request) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in request.headers:
        key = name.decode("latin-1").lower()
        text = REDACTED if is_secret_name(key) else value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


# -- planning ---------------------------------------------------------------------------------


def seeded_words(seed: int, count: int) -> list[str]:
    """``count`` tokens of deterministic prose: the first has no leading space, the others do."""
    rng = random.Random(seed)
    words, sentence = [], 0
    for i in range(count):
        word = rng.choice(VOCAB)
        if sentence == 0:
            word = word[0].upper() + word[1:]
        sentence += 1
        if i == count - 1 or (sentence >= 5 and rng.random() < 0.2):
            word += "."
            sentence = 0
        elif rng.random() < 0.08:
            word += ","
        words.append(word if i == 0 else " " + word)
    return words


def split_text(text: str) -> list[str]:
    """A fixed text as tokens (each word with the whitespace before it) that join back to it exactly."""
    tokens = re.findall(r"\s*\S+", text)
    tail = text[len("".join(tokens)) :]
    if tail:
        if tokens:
            tokens[-1] += tail
        else:
            tokens = [tail]
    return tokens


def split_fragments(text: str, pieces: int) -> list[str]:
    """``text`` cut into at most ``pieces`` non-empty fragments of near-equal length."""
    pieces = max(1, min(pieces, len(text)))
    if not text:
        return []
    size = math.ceil(len(text) / pieces)
    return [text[i : i + size] for i in range(0, len(text), size)]


def normalize_tool_call(tool_call: dict[str, Any] | str | None) -> dict[str, str] | None:
    """``{"name": ..., "arguments": str | dict}`` (or that as JSON text) → name and arguments text."""
    if tool_call is None:
        return None
    if isinstance(tool_call, str):
        tool_call = json.loads(tool_call)
    if not isinstance(tool_call, dict) or not isinstance(tool_call.get("name"), str) or not tool_call["name"]:
        raise ValueError('tool_call must be {"name": "...", "arguments": "<json text>" or {...}}')
    arguments = tool_call.get("arguments", "{}")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    return {"name": tool_call["name"], "arguments": arguments}


def count_words(value: Any) -> int:
    """A deterministic stand-in for a tokenizer: the words in every string inside ``value``."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, dict):
        return sum(count_words(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_words(v) for v in value)
    return 0


class Ids:
    """Deterministic ids for one exchange, derived from the server seed and the request number."""

    def __init__(self, seed: int, n: int):
        self.rng = random.Random(f"{seed}:{n}")

    def token(self, length: int, alphabet: str = string.ascii_letters + string.digits) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(length))

    def hex(self, length: int) -> str:
        return self.token(length, "0123456789abcdef")


def reason_phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""  # e.g. Anthropic's 529 is sent with an empty reason phrase


def http_date() -> str:
    return email.utils.formatdate(usegmt=True)


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# -- the request loop -------------------------------------------------------------------------


class BodyTooLarge(Exception):
    pass


async def requests_with_bodies(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_body: int = MAX_BODY
) -> AsyncGenerator[tuple[Request, bytes], None]:
    """Like :func:`faultproxy.net.stream_server.requests`, but each request comes with its body.

    Content-Length and chunked bodies are both read; a framing error gets ``400`` and a body
    over ``max_body`` gets ``413``, and either ends the connection.
    """
    wire = HTTPReader("request")
    request: Request | None = None
    body = bytearray()
    while data := await reader.read(READ_SIZE):
        try:
            events = wire.feed(data)
            for event in events:
                if isinstance(event, Request):
                    request, body = event, bytearray()
                elif isinstance(event, (BodyData, ChunkData)):
                    body += event.data
                    if len(body) > max_body:
                        raise BodyTooLarge
                elif isinstance(event, EndOfMessage) and request is not None:
                    yield request, bytes(body)
        except (WireError, BodyTooLarge) as error:
            if isinstance(error, WireError):
                status, text = 400, f"400 Bad Request: {error}\n"
            else:
                status, text = 413, f"413 Content Too Large: the limit is {max_body} bytes\n"
            payload = text.encode()
            headers = [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(payload))),
                ("Connection", "close"),
            ]
            writer.write(encode_response(status, reason_phrase(status), headers, payload))
            await writer.drain()
            return


def api_route(path: str) -> str:
    """A request path without its ``/v1`` prefix: the mocks answer with and without it."""
    return path[3:] if path.startswith("/v1/") else path


# -- the server base --------------------------------------------------------------------------


class ClientGone(Exception):
    """Internal: the stream must stop (the client left); the exchange is already marked."""


class LLMMockServer(StreamServer):
    """A mock LLM API on :class:`StreamServer`: one handler per endpoint, a plan per request.

    Subclasses implement :meth:`route` and use :meth:`send_json`, :meth:`start_stream`,
    :meth:`send_event` and :meth:`end_stream`.
    """

    # POST path (without /v1) -> the name of the generation endpoint it is
    GENERATION_ROUTES: ClassVar[dict[str, str]] = {}
    JSON_INDENT: int | None = None  # how this API pretty-prints its JSON answers

    def __init__(
        self,
        *,
        seed: int = 0,
        tokens: int = 16,
        text: str | None = None,
        ttft: float = 0.0,
        tokens_per_s: float | None = None,
        tool_call: dict[str, Any] | str | None = None,
        tool_fragments: int = 4,
        tool_text: bool | None = None,
        error_status: int | None = None,
        error_after: int | None = None,
        error_count: int | None = None,
        retry_after: float = 1.0,
        stall_after: int | None = None,
        stall_ms: float = 0.0,
        ping_ms: float = 1000.0,
        hold_open: bool = False,
        omit_sentinel: bool = False,
        omit_usage: bool = False,
        duplicate_delta: int | None = None,
        swap_delta: int | None = None,
        cut_tool_args: int | None = None,
        require_auth: bool = True,
        api_key: str | None = None,
        jsonl: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ):
        super().__init__(host, port, log=jsonl, tls=tls)
        if tokens < 0 or ttft < 0 or (tokens_per_s is not None and tokens_per_s < 0):
            raise ValueError("tokens, ttft and tokens_per_s must not be negative")
        if error_status is not None and not 400 <= error_status <= 599:
            raise ValueError(f"error_status must be a 4xx or 5xx status, not {error_status}")
        if error_after is not None and error_after < 0:
            raise ValueError("error_after must be >= 0")
        if error_count is not None and error_count < 0:
            raise ValueError("error_count must be >= 0")
        if tool_fragments < 1 or retry_after < 0:
            raise ValueError("tool_fragments must be >= 1 and retry_after >= 0")
        if stall_ms < 0 or ping_ms < 10:
            raise ValueError("stall_ms must be >= 0 and ping_ms >= 10")
        for name, value in (
            ("stall_after", stall_after),
            ("duplicate_delta", duplicate_delta),
            ("swap_delta", swap_delta),
            ("cut_tool_args", cut_tool_args),
        ):
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0")
        self.seed = seed
        self.tokens = tokens
        self.text = text
        self.ttft = ttft
        self.tokens_per_s = tokens_per_s or None
        self.tool_call = normalize_tool_call(tool_call)
        self.tool_fragments = tool_fragments
        self.tool_text = tool_text
        self.error_status = error_status
        self.error_after = error_after
        self.error_count = error_count
        self.retry_after = retry_after
        self.stall_after, self.stall_ms, self.ping_ms = stall_after, stall_ms, ping_ms
        self.hold_open, self.omit_sentinel, self.omit_usage = hold_open, omit_sentinel, omit_usage
        self.duplicate_delta, self.swap_delta, self.cut_tool_args = duplicate_delta, swap_delta, cut_tool_args
        self.require_auth = require_auth
        self.api_key = api_key
        self.log: list[Exchange] = []
        self._generations = 0  # generation requests so far (error_count counts these)

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def responses(self) -> list[Exchange]:
        """The same list as :attr:`log`: ``srv.responses[-1].text``."""
        return self.log

    @property
    def busy(self) -> bool:
        """A response is still being written (a kept-alive connection between requests is idle)."""
        return any(x.ended is None for x in self.log)

    @property
    def base_url(self) -> str:
        """What an SDK's ``base_url`` should be: ``http://127.0.0.1:PORT/v1``."""
        return self.url.rstrip("/") + "/v1"

    # -- the plan -----------------------------------------------------------------------------

    def answer_tokens(self, limit: int | None = None) -> tuple[list[str], bool]:
        """The answer's tokens, cut to ``limit`` (a request's max tokens); and whether it was cut."""
        tokens = split_text(self.text) if self.text is not None else seeded_words(self.seed, self.tokens)
        if limit is not None and 0 <= limit < len(tokens):
            return tokens[:limit], True
        return tokens, False

    def pick_tool(self, offered: list[str], forced: str | None, required: bool) -> dict[str, str] | None:
        """The tool call for a request that offers tools (``offered``), or None.

        A configured ``tool_call`` is made whenever tools are offered; a request that forces a
        tool (by name, or "any"/"required") gets one even without it, with ``{}`` arguments
        unless the configured call has that name.
        """
        if not offered and not forced:
            return None
        if self.tool_call is not None and (forced is None or forced == self.tool_call["name"]):
            return dict(self.tool_call)
        if forced:
            return {"name": forced, "arguments": "{}"}
        if required and offered:
            return {"name": offered[0], "arguments": "{}"}
        return None

    def fails_now(self) -> bool:
        """Whether the current generation request is one of the first ``error_count`` (None: all)."""
        return self.error_count is None or self._generations <= self.error_count

    def delta_due(self, exchange: Exchange, i: int) -> float:
        """When delta ``i`` (0-based) is due: TTFT after the request, then one per 1/tokens_per_s."""
        step = 1.0 / self.tokens_per_s if self.tokens_per_s else 0.0
        return exchange.started + self.ttft + i * step

    async def wait_for_delta(self, exchange: Exchange, i: int) -> None:
        delay = self.delta_due(exchange, i) - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    # -- connection handling ------------------------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self.serve_connection(reader, writer)
        except asyncio.CancelledError:
            # stop() cancels every connection, idle kept-alive ones included. Ending the task
            # quietly keeps asyncio's stream callback (3.11) from logging the cancellation.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async for request, raw_body in requests_with_bodies(reader, writer):
            exchange = self.new_exchange(request, raw_body)
            keep = True
            try:
                keep = await self.route(exchange, request, writer)
            except ClientGone:
                return
            except ConnectionError:
                exchange.outcome = "client_gone"
                raise
            except asyncio.CancelledError:
                if exchange.outcome == "pending":
                    exchange.outcome = "stopped"
                raise
            except Exception:
                exchange.outcome = "crashed"  # a bug in the mock: let it be seen, end the connection
                raise
            finally:
                exchange.ended = time.monotonic()
                self.log_record({"record": "response", **exchange.summary()})
            if not keep or wants_close(request):
                return

    def new_exchange(self, request: Request, raw_body: bytes) -> Exchange:
        target = request.target.decode("latin-1")
        path = target.split("?", 1)[0]
        body: Any = None
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                body = None
        model = body.get("model") if isinstance(body, dict) and isinstance(body.get("model"), str) else None
        stream = bool(body.get("stream")) if isinstance(body, dict) else False
        method = request.method.decode("latin-1")
        exchange = Exchange(
            n=len(self.log) + 1,
            endpoint=self.endpoint_of(method, path),
            method=method,
            path=path,
            headers=redacted_headers(request),
            body=redact_json(body),
            body_bytes=len(raw_body),
            model=model,
            stream=stream,
            started=time.monotonic(),
        )
        if exchange.endpoint in self.GENERATION_ROUTES.values():
            self._generations += 1
        self.log.append(exchange)
        record = {"record": "request", **exchange.summary()}
        for key in (
            "status",
            "response_headers",
            "text",
            "tool_calls",
            "finish_reason",
            "usage",
            "error",
            "sent_text",
            "body_sent",
            "bytes_sent",
            "completed",
            "outcome",
            "ended",
        ):
            record.pop(key)
        self.log_record(record)
        return exchange

    def endpoint_of(self, method: str, path: str) -> str:
        """The endpoint a request is for: a generation (POST to one of :attr:`GENERATION_ROUTES`),
        ``models`` (``GET /v1/models``, ``GET /v1/models/{id}``), else ``unknown``."""
        route = api_route(path)
        if method == "POST" and route in self.GENERATION_ROUTES:
            return self.GENERATION_ROUTES[route]
        if method == "GET" and (route == "/models" or route.startswith("/models/")):
            return "models"
        return "unknown"

    async def route(self, exchange: Exchange, request: Request, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; return False to close the connection afterwards.

        ``request`` is the head as received, the only place the secrets the log leaves out are.
        """
        raise NotImplementedError

    # -- writing ------------------------------------------------------------------------------

    def common_headers(self, exchange: Exchange) -> list[tuple[str, str]]:
        """Headers every response of this API carries (request id, rate limits ...)."""
        return []

    async def send_json(
        self,
        exchange: Exchange,
        writer: asyncio.StreamWriter,
        status: int,
        payload: Any,
        extra: Iterable[tuple[str, str]] = (),
        content_type: str = "application/json",
    ) -> bool:
        if self.JSON_INDENT is None:
            body = compact_json(payload).encode()
        else:
            body = json.dumps(payload, ensure_ascii=False, indent=self.JSON_INDENT).encode()
        headers = [
            ("Date", http_date()),
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Connection", "keep-alive"),
            *self.common_headers(exchange),
            *extra,
        ]
        exchange.status = status
        exchange.response_headers = headers
        exchange.body_sent = body.decode()
        if exchange.outcome == "pending":
            exchange.outcome = "ok" if status < 400 else "error_status"
        exchange.completed = True
        exchange.bytes_sent = len(body)
        await self._write(exchange, writer, encode_response(status, reason_phrase(status), headers, body))
        return True

    async def start_stream(
        self, exchange: Exchange, writer: asyncio.StreamWriter, extra: Iterable[tuple[str, str]] = ()
    ) -> None:
        headers = [
            ("Date", http_date()),
            ("Content-Type", "text/event-stream; charset=utf-8"),
            ("Transfer-Encoding", "chunked"),
            ("Connection", "keep-alive"),
            ("Cache-Control", "no-cache"),
            *self.common_headers(exchange),
            *extra,
        ]
        exchange.status = 200
        exchange.response_headers = headers
        await self._write(exchange, writer, encode_response(200, "OK", headers))

    async def send_event(
        self,
        exchange: Exchange,
        writer: asyncio.StreamWriter,
        data: Any,
        *,
        event: str | None = None,
        text: str = "",
        role: str = "other",
    ) -> None:
        """One SSE event as one chunk, recorded first, then written and flushed.

        ``role`` says what the event is to the misbehaviour options (see ``docs/llm-streams.md``):
        ``delta`` (text or tool-argument fragment: stalled before, duplicated after), ``usage``
        (OpenAI Chat's usage chunk, left out with ``omit_usage``), ``sentinel`` (left out with
        ``omit_sentinel``; with ``hold_open`` nothing follows it, not even the end of the body).
        """
        if (role == "sentinel" and self.omit_sentinel) or (role == "usage" and self.omit_usage):
            return
        if role == "delta" and exchange.deltas_sent == self.stall_after and self.stall_ms:
            await self.stall(exchange, writer)
        payload = data if isinstance(data, str) else compact_json(data)
        block = encode_event(payload, event=event)
        copies = 2 if role == "delta" and exchange.deltas_sent == self.duplicate_delta else 1
        for _ in range(copies):
            await self.write_block(exchange, writer, block, event, payload, text)
        if role == "delta":
            exchange.deltas_sent += 1
        if role == "sentinel" and self.hold_open:
            exchange.completed, exchange.outcome = True, "held_open"
            await writer.wait_closed()  # until the client leaves (or the server stops)
            raise ClientGone

    async def write_block(
        self,
        exchange: Exchange,
        writer: asyncio.StreamWriter,
        block: bytes,
        event: str | None,
        payload: str,
        text: str = "",
    ) -> None:
        sent = SentEvent(
            len(exchange.events), event, payload, len(block), exchange.bytes_sent, time.monotonic(), text
        )
        exchange.events.append(sent)
        exchange.sent_text += text
        exchange.bytes_sent += len(block)
        self.log_record({"record": "event", "n": exchange.n, **asdict(sent)})
        await self._write(exchange, writer, encode_chunk(block))

    async def stall(self, exchange: Exchange, writer: asyncio.StreamWriter) -> None:
        """``stall_ms`` without a delta, with the API's keep-alive every ``ping_ms``."""
        end = time.monotonic() + self.stall_ms / 1000
        while (left := end - time.monotonic()) > 0:
            await asyncio.sleep(min(left, self.ping_ms / 1000))
            if end - time.monotonic() > 0:
                await self.send_ping(exchange, writer)

    async def send_ping(self, exchange: Exchange, writer: asyncio.StreamWriter) -> None:
        """The API's keep-alive (an SSE comment unless the API has a ping event)."""
        exchange.bytes_sent += len(b": keep-alive\n\n")
        await self._write(exchange, writer, encode_chunk(b": keep-alive\n\n"))

    def mangled(self, pieces: list[Any]) -> list[Any]:
        """The delta pieces in the order the misbehaviour options send them (``swap_delta``)."""
        pieces = list(pieces)
        i = self.swap_delta
        if i is not None and i + 1 < len(pieces):
            pieces[i], pieces[i + 1] = pieces[i + 1], pieces[i]
        return pieces

    def cut(self, fragments: list[str]) -> list[str]:
        """Tool-argument fragments as ``cut_tool_args=K`` sends them: K whole, the next half, no more."""
        k = self.cut_tool_args
        if k is None or k >= len(fragments):
            return fragments
        half = fragments[k][: len(fragments[k]) // 2]
        return fragments[:k] + ([half] if half else [])

    async def end_stream(self, exchange: Exchange, writer: asyncio.StreamWriter) -> None:
        """The last chunk: the body ends cleanly and the connection can carry the next request."""
        exchange.completed = exchange.error is None
        if exchange.outcome == "pending":
            exchange.outcome = "ok" if exchange.error is None else "stream_error"
        await self._write(exchange, writer, encode_last_chunk())

    async def _write(self, exchange: Exchange, writer: asyncio.StreamWriter, data: bytes) -> None:
        if writer.is_closing():
            exchange.outcome = "client_gone"
            raise ClientGone
        writer.write(data)
        try:
            await writer.drain()
        except ConnectionError:
            exchange.outcome = "client_gone"
            raise ClientGone from None


def parse_option(kind: type, value: Any) -> Any:
    """A CLI string (or an already typed value) as ``kind``; ``None`` and ``""`` stay None."""
    if value is None or (isinstance(value, str) and value == "" and kind is not str):
        return None
    if kind is bool and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"not a boolean: {value!r}")
    if kind in (int, float, str) and not isinstance(value, kind):
        return kind(value)
    return value


COMMON_OPTIONS: dict[str, tuple[type, Any, str]] = {
    "host": (str, "127.0.0.1", "address to listen on"),
    "port": (int, 0, "port to listen on (0: any free port)"),
    "seed": (int, 0, "seed of the generated answer text and of the ids"),
    "tokens": (int, 16, "number of tokens (words) in the generated answer"),
    "text": (str, None, "answer with this fixed text instead (split into word tokens)"),
    "ttft": (float, 0.0, "seconds from the request to the first token"),
    "tokens_per_s": (float, None, "tokens per second after the first (unset: as fast as possible)"),
    "tool_call": (
        str,
        None,
        'call this tool when the request offers tools: JSON {"name": ..., "arguments": ...}',
    ),
    "tool_fragments": (int, 4, "number of fragments the tool-call arguments are streamed in"),
    "tool_text": (
        bool,
        None,
        "with a tool call, also answer text before it (unset: as the API usually "
        "does -- OpenAI no, Anthropic yes)",
    ),
    "error_status": (int, None, "answer generation requests with this HTTP error status before streaming"),
    "error_after": (int, None, "send the API's in-stream error event after this many deltas"),
    "error_count": (int, None, "only the first N generation requests fail (unset: all of them)"),
    "retry_after": (float, 1.0, "seconds in retry-after (and retry-after-ms) of 429 answers"),
    "stall_after": (int, None, "stall before this delta (0-based) for stall_ms, sending keep-alives"),
    "stall_ms": (float, 0.0, "how long the stall lasts"),
    "ping_ms": (float, 1000.0, "keep-alive interval during a stall"),
    "hold_open": (bool, False, "keep the connection open after the end sentinel (no last chunk)"),
    "omit_sentinel": (bool, False, "leave out [DONE] / message_stop / response.completed"),
    "omit_usage": (
        bool,
        False,
        "leave out the usage (Chat's usage chunk, Responses' usage, message_delta's)",
    ),
    "duplicate_delta": (int, None, "send this delta (0-based) twice"),
    "swap_delta": (int, None, "send this delta (0-based) after the next one"),
    "cut_tool_args": (int, None, "send this many tool-argument fragments whole, half the next, no more"),
    "require_auth": (bool, True, "answer 401 when the API key header is missing"),
    "api_key": (str, None, "accept only this API key (unset: any non-empty key)"),
    "jsonl": (str, None, "also write the ground-truth log to this JSONL file"),
}


def build_from_options(cls: type, options_spec: dict[str, tuple[type, Any, str]], options: dict[str, Any]):
    """Instantiate ``cls`` from CLI-style options: unknown names refused, strings converted."""
    unknown = set(options) - set(options_spec)
    if unknown:
        raise ValueError(f"unknown option(s): {', '.join(sorted(unknown))}")
    kwargs = {}
    for name, value in options.items():
        kind = options_spec[name][0]
        parsed = parse_option(kind, value)
        if parsed is not None:
            kwargs[name] = parsed
    return cls(**kwargs)
