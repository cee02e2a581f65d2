"""A mock of the Anthropic Messages API that streams like the real one and records what it meant to say.

``POST /v1/messages`` with ``"stream": true`` answers with named events: ``message_start``,
then per content block ``content_block_start``, one ``content_block_delta`` per token
(``text_delta``) or per fragment of a tool call's JSON (``input_json_delta``, the first
one empty, as the real API sends it), ``content_block_stop``; a ``ping`` after the first
block starts; then ``message_delta`` (``stop_reason``, cumulative ``usage.output_tokens``)
and ``message_stop``. Without ``stream`` the same message comes as one JSON object.
``GET /v1/models`` lists ``models``.

A tool is used when the request offers ``tools`` and either the server has a ``tool_call``
configured or ``tool_choice`` forces one (``{"type": "any"}`` or ``{"type": "tool",
"name": ...}``): the answer is a text block followed by a ``tool_use`` block.

Failures, as the real API sends them: ``x-api-key`` (or ``Authorization: Bearer``) missing
→ ``401 authentication_error``, ``anthropic-version`` missing → ``400
invalid_request_error``; ``error_status`` (529 ``overloaded_error``, 429 with
``retry-after``, 401, 500 ...) before the stream, with ``x-should-retry`` where the API
sends it; ``error_after=N`` sends ``event: error`` (``stream_error``, by default
``overloaded_error``) after N deltas and ends the body (a non-streamed request gets the
matching status, 529 for ``overloaded_error``). ``error_count=K`` limits either to the
first K generation requests.

``async with AnthropicServer(seed=1) as srv:`` then ``Anthropic(base_url=srv.base_url,
api_key="test-key")`` -- here ``base_url`` has no ``/v1``, because the SDK adds it;
``srv.responses[-1]`` is the ground truth (:class:`~._llm.Exchange`).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, ClassVar

from faultproxy.servers._llm import (
    COMMON_OPTIONS,
    Exchange,
    Ids,
    LLMMockServer,
    ToolCall,
    api_route,
    build_from_options,
    count_words,
    header,
    split_fragments,
)
from faultproxy.wire.http import Request
from faultproxy.wire.llm_errors import (
    ANTHROPIC_ERRORS,
    ANTHROPIC_RETRYABLE,
    anthropic_error,
    anthropic_kind,
    retry_headers,
)

DEFAULT_MODELS = ("claude-sonnet-4-6", "claude-haiku-4-5", "claude-opus-4-6")


class AnthropicServer(LLMMockServer):
    """``AnthropicServer(seed=1, tokens=20, ttft=0.2, tokens_per_s=50)``; see the module docstring.

    Options beyond the common ones (:data:`OPTIONS`): ``require_version`` (400 without an
    ``anthropic-version`` header), ``stream_error`` (the error type ``error_after`` sends),
    ``models``.
    """

    GENERATION_ROUTES: ClassVar[dict[str, str]] = {"/messages": "messages"}
    JSON_INDENT = None

    def __init__(
        self,
        *,
        require_version: bool = True,
        stream_error: str = "overloaded_error",
        swap_blocks: bool = False,
        models: tuple[str, ...] | list[str] | str = DEFAULT_MODELS,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if stream_error not in ANTHROPIC_ERRORS:
            raise ValueError(
                f"stream_error must be one of {', '.join(ANTHROPIC_ERRORS)}, not {stream_error!r}"
            )
        if self.tool_call is not None:
            try:
                arguments = json.loads(self.tool_call["arguments"])
            except ValueError:
                arguments = None
            if not isinstance(arguments, dict):
                raise ValueError("an Anthropic tool_use input must be a JSON object")
        if isinstance(models, str):
            models = [m.strip() for m in models.split(",") if m.strip()]
        self.require_version = require_version
        self.swap_blocks = swap_blocks
        self.stream_error = stream_error
        self.models = list(models)

    @property
    def base_url(self) -> str:
        """What the Anthropic SDK's ``base_url`` should be: ``http://127.0.0.1:PORT`` (it adds ``/v1``)."""
        return self.url.rstrip("/")

    # -- routing ------------------------------------------------------------------------------

    async def route(self, exchange: Exchange, request: Request, writer: asyncio.StreamWriter) -> bool:
        if exchange.endpoint == "unknown":
            return await self.send_error(exchange, writer, 404, "not_found_error", "Not Found")
        if self.require_auth:
            key = header(request, "x-api-key")
            if not key:
                scheme, _, bearer = header(request, "authorization").partition(" ")
                key = bearer.strip() if scheme.lower() == "bearer" else ""
            if not key:
                message = "x-api-key header is required"
                return await self.send_error(exchange, writer, 401, "authentication_error", message)
            if self.api_key is not None and key != self.api_key:
                return await self.send_error(
                    exchange, writer, 401, "authentication_error", "invalid x-api-key"
                )
        if self.require_version and not header(request, "anthropic-version"):
            message = "anthropic-version: header is required"
            return await self.send_error(exchange, writer, 400, "invalid_request_error", message)
        if exchange.endpoint == "models":
            return await self.list_models(exchange, writer)
        body = exchange.body
        if not isinstance(body, dict):
            message = "There was an issue with your request body: it is not valid JSON."
            return await self.send_error(exchange, writer, 400, "invalid_request_error", message)
        for name, kind in (("model", str), ("max_tokens", int), ("messages", list)):
            if not isinstance(body.get(name), kind):
                message = f"{name}: Field required" if name not in body else f"{name}: Input should be valid"
                return await self.send_error(exchange, writer, 400, "invalid_request_error", message)
        if self.error_status is not None and self.fails_now():
            return await self.send_error(exchange, writer, self.error_status)
        if self.error_after is not None and self.fails_now() and not exchange.stream:
            return await self.send_error(
                exchange, writer, ANTHROPIC_ERRORS[self.stream_error][0], self.stream_error
            )
        return await self.messages(exchange, writer)

    # -- headers and errors -------------------------------------------------------------------

    def request_id(self, exchange: Exchange) -> str:
        return "req_011C" + Ids(self.seed, exchange.n).token(20)

    def common_headers(self, exchange: Exchange) -> list[tuple[str, str]]:
        ids = Ids(self.seed + 2, exchange.n)
        limited = exchange.status == 429
        used = self._generations
        reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + self.retry_after))
        org = "-".join(ids.hex(n) for n in (8, 4, 4, 4, 12))
        return [
            ("anthropic-ratelimit-requests-limit", "4000"),
            ("anthropic-ratelimit-requests-remaining", "0" if limited else str(max(0, 4000 - used))),
            ("anthropic-ratelimit-requests-reset", reset),
            ("anthropic-ratelimit-input-tokens-limit", "2000000"),
            ("anthropic-ratelimit-input-tokens-remaining", "0" if limited else "2000000"),
            ("anthropic-ratelimit-output-tokens-limit", "400000"),
            ("anthropic-ratelimit-output-tokens-remaining", "0" if limited else "400000"),
            ("request-id", self.request_id(exchange)),
            ("anthropic-organization-id", org),
        ]

    async def send_error(
        self,
        exchange: Exchange,
        writer: asyncio.StreamWriter,
        status: int,
        kind: str | None = None,
        message: str | None = None,
    ) -> bool:
        payload = anthropic_error(kind or anthropic_kind(status), message, self.request_id(exchange))
        exchange.status = status
        exchange.error = {"status": status, **payload["error"]}
        extra = []
        if status in ANTHROPIC_RETRYABLE:
            extra.append(("x-should-retry", "true"))
        if status == 429:
            extra += retry_headers(self.retry_after)
        if status >= 500:
            extra.append(("cache-control", "no-store, no-cache"))
        return await self.send_json(exchange, writer, status, payload, extra)

    async def list_models(self, exchange: Exchange, writer: asyncio.StreamWriter) -> bool:
        def model(name: str) -> dict[str, Any]:
            display = name.replace("-", " ").title()
            return {
                "type": "model",
                "id": name,
                "display_name": display,
                "created_at": "2025-09-29T00:00:00Z",
            }

        route = api_route(exchange.path)
        if route.startswith("/models/"):
            name = route[len("/models/") :]
            if name not in self.models:
                return await self.send_error(exchange, writer, 404, "not_found_error", f"model: {name}")
            return await self.send_json(exchange, writer, 200, model(name))
        data = [model(m) for m in self.models]
        payload = {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
        return await self.send_json(exchange, writer, 200, payload)

    async def send_ping(self, exchange: Exchange, writer: asyncio.StreamWriter) -> None:
        """Anthropic's keep-alive is a ``ping`` event."""
        await self.send_event(exchange, writer, {"type": "ping"}, event="ping")

    # -- messages -----------------------------------------------------------------------------

    def chosen_tool(self, body: dict[str, Any]) -> dict[str, str] | None:
        tools = body.get("tools")
        if not isinstance(tools, list) or not tools:
            return None
        offered = [t["name"] for t in tools if isinstance(t, dict) and isinstance(t.get("name"), str)]
        choice = body.get("tool_choice")
        kind = choice.get("type") if isinstance(choice, dict) else None
        if kind == "none":
            return None
        forced = choice.get("name") if kind == "tool" and isinstance(choice.get("name"), str) else None
        return self.pick_tool(offered, forced, kind == "any")

    async def messages(self, exchange: Exchange, writer: asyncio.StreamWriter) -> bool:
        body = exchange.body
        ids = Ids(self.seed, exchange.n)
        ids.token(20)  # the request id's draw, so the ids below do not repeat it
        message_id = "msg_01" + ids.token(22)
        tokens, cut = self.answer_tokens(body["max_tokens"])
        tool = self.chosen_tool(body) if not cut else None
        tokens = [] if tool and self.tool_text is False else tokens
        call = ToolCall("toolu_01" + ids.token(22), tool["name"], tool["arguments"]) if tool else None
        fragments = split_fragments(call.arguments, self.tool_fragments) if call else []
        stop_reason = "max_tokens" if cut else "tool_use" if call else "end_turn"
        prompt = count_words(body.get("messages")) + count_words(body.get("system"))
        output_tokens = len(tokens) + len(fragments)
        usage = message_usage(prompt, output_tokens)
        text = "".join(tokens)

        if not exchange.stream:
            exchange.text, exchange.tool_calls = text, [call] if call else []
            exchange.finish_reason, exchange.usage = stop_reason, usage
            await self.wait_for_delta(exchange, max(0, output_tokens - 1))
            content: list[dict[str, Any]] = [{"type": "text", "text": text}] if tokens else []
            if call:
                content.append({"type": "tool_use", "id": call.id, "name": call.name, "input": call.input})
            payload = message(message_id, exchange.model, content, stop_reason, usage)
            return await self.send_json(exchange, writer, 200, payload)

        # the blocks: (content_block_start payload, delta type, the deltas)
        blocks: list[tuple[dict[str, Any], str, list[str]]] = []
        if tokens:
            blocks.append(({"type": "text", "text": ""}, "text_delta", tokens))
        if call:
            start = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
            blocks.append((start, "input_json_delta", ["", *self.cut(fragments)]))
        error_at = self.error_after if self.error_after is not None and self.fails_now() else None
        # the plan is the whole answer, also when an injected error cuts it short (Exchange)
        exchange.text, exchange.tool_calls = text, [call] if call else []
        exchange.finish_reason, exchange.usage = stop_reason, usage
        if error_at is not None:
            kind = self.stream_error
            exchange.error = {
                "status": 200,
                "after": error_at,
                "type": kind,
                "message": ANTHROPIC_ERRORS[kind][1],
            }

        async def send(data: dict[str, Any], text: str = "", role: str = "other") -> None:
            await self.send_event(exchange, writer, data, event=data["type"], text=text, role=role)

        async def fail() -> bool:
            await send(
                anthropic_error(exchange.error["type"], exchange.error["message"], self.request_id(exchange))
            )
            await self.end_stream(exchange, writer)
            return True

        await self.start_stream(exchange, writer, [("x-robots-tag", "none")])
        start_usage = dict(usage, output_tokens=1)
        await send(
            {"type": "message_start", "message": message(message_id, exchange.model, [], None, start_usage)}
        )
        pinged = False
        deltas = 0
        order = list(enumerate(blocks))
        if self.swap_blocks:
            order[0:2] = order[1::-1]
        for index, (start, delta_type, pieces) in order:
            if delta_type == "text_delta":
                pieces = self.mangled(pieces)
            await send({"type": "content_block_start", "index": index, "content_block": start})
            if not pinged:
                await send({"type": "ping"})
                pinged = True
            for piece in pieces:
                if deltas == error_at:
                    return await fail()
                await self.wait_for_delta(exchange, deltas)
                field = "text" if delta_type == "text_delta" else "partial_json"
                delta = {"type": delta_type, field: piece}
                event = {"type": "content_block_delta", "index": index, "delta": delta}
                await send(
                    event,
                    text=piece if delta_type == "text_delta" else "",
                    role="delta" if piece else "other",
                )
                deltas += (
                    1 if piece else 0
                )  # the empty first input_json_delta carries nothing (as the faults count)
            await send({"type": "content_block_stop", "index": index})
        if not pinged:
            await send({"type": "ping"})
        if error_at is not None:
            return await fail()
        delta = {"stop_reason": stop_reason, "stop_sequence": None}
        usage_delta = {} if self.omit_usage else {"usage": {"output_tokens": output_tokens}}
        await send({"type": "message_delta", "delta": delta, **usage_delta})
        await send({"type": "message_stop"}, role="sentinel")
        await self.end_stream(exchange, writer)
        return True


def message_usage(prompt: int, output: int) -> dict[str, Any]:
    return {
        "input_tokens": prompt,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output,
        "service_tier": "standard",
    }


def message(
    message_id: str, model: str | None, content: list[Any], stop_reason: str | None, usage: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


OPTIONS: dict[str, tuple[type, Any, str]] = {
    **COMMON_OPTIONS,
    "require_version": (bool, True, "answer 400 when the anthropic-version header is missing"),
    "stream_error": (str, "overloaded_error", "error type of the in-stream error event (error_after)"),
    "swap_blocks": (bool, False, "send the second content block (the tool_use) before the first"),
    "models": (str, ",".join(DEFAULT_MODELS), "comma-separated model ids that GET /v1/models lists"),
}


def build(options: dict[str, Any]) -> AnthropicServer:
    """An :class:`AnthropicServer` from CLI-style options (:data:`OPTIONS` names; typed values or strings)."""
    return build_from_options(AnthropicServer, OPTIONS, options)
