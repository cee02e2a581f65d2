"""A mock of the OpenAI API that streams like the real one and records what it meant to say.

Endpoints (also without the ``/v1`` prefix):

- ``POST /v1/chat/completions``, streamed (``"stream": true``) or not. A stream is a role
  chunk, one chunk per content token (or per fragment of a tool call's arguments), a
  ``finish_reason`` chunk, with ``stream_options.include_usage`` a ``choices: []`` usage
  chunk (and ``"usage": null`` on every earlier chunk), then ``data: [DONE]``.
- ``POST /v1/responses``: named events with a ``sequence_number`` from 0 --
  ``response.created``, ``response.in_progress``, ``response.output_item.added``,
  ``response.content_part.added``, ``response.output_text.delta`` ..., ``.done`` events,
  ``response.completed`` (or ``response.incomplete`` when ``max_output_tokens`` cut it);
  a tool call becomes a ``function_call`` item with ``response.function_call_arguments.delta``.
- ``GET /v1/models`` and ``GET /v1/models/{id}``.

A tool is called when the request offers ``tools`` and either the server has a
``tool_call`` configured or the request forces one (``tool_choice`` ``"required"`` or a named
function); the arguments are streamed in ``tool_fragments`` pieces.

Failures, as the real API sends them: ``401`` when ``Authorization: Bearer <key>`` is missing
(or not ``api_key``); ``error_status`` answers generation requests with that status and the
real error JSON (429 with ``retry-after``, ``retry-after-ms`` and rate-limit headers);
``error_after=N`` sends the in-stream error after N deltas -- a ``data: {"error": ...}``
chunk then ``[DONE]`` for chat, a nested ``error`` event then ``response.failed`` for
Responses (a non-streamed request gets ``500`` instead). ``error_count=K`` limits either
to the first K generation requests, so retries can succeed.

``async with OpenAIServer(seed=1, tokens=20) as srv:`` then ``OpenAI(base_url=srv.base_url,
api_key="test-key")``; ``srv.responses[-1]`` is the ground truth (:class:`~._llm.Exchange`).
"""

from __future__ import annotations

import asyncio
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
from faultproxy.wire.llm_errors import DEFAULT, openai_error, openai_stream_error, retry_headers

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1")


class OpenAIServer(LLMMockServer):
    """``OpenAIServer(seed=1, tokens=20, ttft=0.2, tokens_per_s=50)``; see the module docstring.

    Options beyond the common ones (:data:`OPTIONS`): ``models`` (what ``GET /v1/models``
    lists; any model is accepted), ``obfuscation`` (add the ``obfuscation`` padding field to
    stream chunks unless the request turns it off, as the real API does).
    """

    GENERATION_ROUTES: ClassVar[dict[str, str]] = {
        "/chat/completions": "chat.completions",
        "/responses": "responses",
    }
    JSON_INDENT = 2

    def __init__(
        self,
        *,
        models: tuple[str, ...] | list[str] | str = DEFAULT_MODELS,
        obfuscation: bool = True,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if isinstance(models, str):
            models = [m.strip() for m in models.split(",") if m.strip()]
        self.models = list(models)
        self.obfuscation = obfuscation

    # -- routing ------------------------------------------------------------------------------

    async def route(self, exchange: Exchange, request: Request, writer: asyncio.StreamWriter) -> bool:
        if exchange.endpoint == "unknown":
            message = f"Invalid URL ({exchange.method} {exchange.path})"
            return await self.send_error(exchange, writer, 404, message=message, code=None)
        if self.require_auth:
            scheme, _, key = header(request, "authorization").partition(" ")
            if scheme.lower() != "bearer" or not key.strip():
                message = (
                    "You didn't provide an API key. You need to provide your API key in an Authorization "
                    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                )
                return await self.send_error(exchange, writer, 401, message=message, code=None)
            if self.api_key is not None and key.strip() != self.api_key:
                return await self.send_error(exchange, writer, 401)
        if exchange.endpoint == "models":
            return await self.list_models(exchange, writer)
        body = exchange.body
        if not isinstance(body, dict):
            message = "We could not parse the JSON body of your request."
            return await self.send_error(exchange, writer, 400, message=message)
        if not exchange.model:
            return await self.send_error(
                exchange,
                writer,
                400,
                message="Missing required parameter: 'model'.",
                param="model",
                code="missing_required_parameter",
            )
        if exchange.endpoint == "chat.completions" and not isinstance(body.get("messages"), list):
            return await self.send_error(
                exchange,
                writer,
                400,
                message="Missing required parameter: 'messages'.",
                param="messages",
                code="missing_required_parameter",
            )
        if self.error_status is not None and self.fails_now():
            return await self.send_error(exchange, writer, self.error_status)
        if self.error_after is not None and self.fails_now() and not exchange.stream:
            return await self.send_error(exchange, writer, 500)
        if exchange.endpoint == "chat.completions":
            return await self.chat(exchange, writer)
        return await self.responses_api(exchange, writer)

    # -- headers and errors -------------------------------------------------------------------

    def common_headers(self, exchange: Exchange) -> list[tuple[str, str]]:
        ids = Ids(self.seed, exchange.n)
        used = self._generations
        limited = exchange.status == 429
        return [
            ("access-control-expose-headers", "X-Request-ID"),
            ("openai-organization", "user-faultproxy"),
            ("openai-processing-ms", str(int((time.monotonic() - exchange.started) * 1000))),
            ("openai-project", "proj_faultproxy"),
            ("openai-version", "2020-10-01"),
            ("x-ratelimit-limit-requests", "10000"),
            ("x-ratelimit-limit-tokens", "30000000"),
            ("x-ratelimit-remaining-requests", "0" if limited else str(max(0, 10000 - used))),
            ("x-ratelimit-remaining-tokens", "0" if limited else str(max(0, 30000000 - 100 * used))),
            ("x-ratelimit-reset-requests", f"{self.retry_after:g}s" if limited else "6ms"),
            ("x-ratelimit-reset-tokens", "0s"),
            ("x-request-id", "req_" + ids.hex(32)),
        ]

    async def send_error(
        self,
        exchange: Exchange,
        writer: asyncio.StreamWriter,
        status: int,
        *,
        message: str | None = None,
        param: str | None = None,
        code: Any = DEFAULT,
    ) -> bool:
        error = openai_error(
            status,
            message=message,
            param=param,
            code=code,
            model=exchange.model,
            retry_after=self.retry_after,
        )
        exchange.error = {"status": status, **error}
        exchange.status = status
        extra = retry_headers(self.retry_after) if status == 429 else []
        return await self.send_json(
            exchange, writer, status, {"error": error}, extra, content_type="application/json; charset=utf-8"
        )

    async def list_models(self, exchange: Exchange, writer: asyncio.StreamWriter) -> bool:
        def model(name: str) -> dict[str, Any]:
            return {"id": name, "object": "model", "created": 1686935002, "owned_by": "system"}

        route = api_route(exchange.path)
        if route.startswith("/models/"):
            name = route[len("/models/") :]
            if name not in self.models:
                message = f"The model '{name}' does not exist"
                return await self.send_error(exchange, writer, 404, message=message, param="model")
            return await self.send_json(exchange, writer, 200, model(name))
        return await self.send_json(
            exchange, writer, 200, {"object": "list", "data": [model(m) for m in self.models]}
        )

    # -- planning -----------------------------------------------------------------------------

    def chosen_tool(self, body: dict[str, Any], endpoint: str) -> dict[str, str] | None:
        """The tool call this request gets, or None: see the module docstring."""
        tools = body.get("tools")
        if not isinstance(tools, list) or not tools:
            return None
        offered = []
        for tool in tools:
            spec = tool.get("function") if isinstance(tool, dict) and endpoint == "chat.completions" else tool
            if isinstance(spec, dict) and isinstance(spec.get("name"), str):
                offered.append(spec["name"])
        choice = body.get("tool_choice")
        if choice == "none":
            return None
        forced = None
        if isinstance(choice, dict):
            spec = choice.get("function") if isinstance(choice.get("function"), dict) else choice
            forced = spec.get("name") if isinstance(spec.get("name"), str) else None
        return self.pick_tool(offered, forced, choice == "required")

    def obfuscator(self, exchange: Exchange, body: dict[str, Any]):
        """The ``obfuscation`` padding for each chunk, or None when the request turned it off."""
        options = body.get("stream_options")
        wanted = not (isinstance(options, dict) and options.get("include_obfuscation") is False)
        if not (self.obfuscation and wanted):
            return None
        ids = Ids(self.seed + 1, exchange.n)
        return lambda: ids.token(ids.rng.randint(1, 12))

    # -- chat completions ---------------------------------------------------------------------

    async def chat(self, exchange: Exchange, writer: asyncio.StreamWriter) -> bool:
        body = exchange.body
        ids = Ids(self.seed, exchange.n)
        completion_id = "chatcmpl-" + ids.token(29)
        fingerprint = "fp_" + ids.hex(10)
        created = int(time.time())
        model = exchange.model
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        tool = self.chosen_tool(body, "chat.completions")
        if tool is not None:
            tokens, cut = (self.answer_tokens()[0] if self.tool_text else []), False
            fragments = split_fragments(tool["arguments"], self.tool_fragments)
            call = ToolCall("call_" + ids.token(24), tool["name"], tool["arguments"])
            finish = "tool_calls"
        else:
            tokens, cut = self.answer_tokens(limit if isinstance(limit, int) else None)
            fragments, call = [], None
            finish = "length" if cut else "stop"
        deltas = len(tokens) + len(fragments)
        prompt = count_words(body.get("messages")) + 3 * len(body.get("messages") or [])
        usage = chat_usage(prompt, deltas)

        if not exchange.stream:
            exchange.text = "".join(tokens)
            exchange.tool_calls = [call] if call else []
            exchange.finish_reason, exchange.usage = finish, usage
            await self.wait_for_delta(exchange, max(0, deltas - 1))
            message: dict[str, Any] = {
                "role": "assistant",
                "content": exchange.text or (None if call else ""),
                "refusal": None,
                "annotations": [],
            }
            if call:
                message["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": call.arguments},
                    }
                ]
            payload = {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                "usage": usage,
                "service_tier": "default",
                "system_fingerprint": fingerprint,
            }
            return await self.send_json(exchange, writer, 200, payload)

        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        obfuscation = self.obfuscator(exchange, body)
        error_at = self.error_after if self.error_after is not None and self.fails_now() else None
        # the plan is the whole answer, also when an injected error cuts it short (Exchange)
        exchange.text = "".join(tokens)
        exchange.tool_calls = [call] if call else []
        exchange.finish_reason = finish
        exchange.usage = usage if include_usage else None
        if error_at is not None:
            exchange.error = {"status": 200, "after": error_at, **openai_stream_error("chat")}

        def chunk(choices: list[dict[str, Any]], usage_value: dict[str, Any] | None = None) -> dict[str, Any]:
            data: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "service_tier": "default",
                "system_fingerprint": fingerprint,
                "choices": choices,
            }
            if include_usage:
                data["usage"] = usage_value
            if obfuscation is not None:
                data["obfuscation"] = obfuscation()
            return data

        def choice(delta: dict[str, Any], finish_reason: str | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]

        await self.start_stream(exchange, writer)
        # a tool call opens with its id and name (arguments ""): in the first chunk, or after the text
        opening = (
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }
                ]
            }
            if call
            else None
        )
        if opening and not tokens:
            first = {"role": "assistant", "content": None, **opening, "refusal": None}
        else:
            first = {"role": "assistant", "content": "", "refusal": None}
        await self.send_event(exchange, writer, chunk(choice(first)))
        opened = opening is None or not tokens
        pieces = self.mangled([("text", t) for t in tokens] + [("args", f) for f in self.cut(fragments)])
        for i, (kind, piece) in enumerate(pieces):
            if i == error_at:
                break
            await self.wait_for_delta(exchange, i)
            if kind == "args" and not opened:
                opened = True
                await self.send_event(exchange, writer, chunk(choice(opening)))
            if kind == "text":
                await self.send_event(
                    exchange, writer, chunk(choice({"content": piece})), text=piece, role="delta"
                )
            else:
                delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
                await self.send_event(exchange, writer, chunk(choice(delta)), role="delta")
        if error_at is not None:
            error = openai_stream_error("chat")
            await self.send_event(exchange, writer, {"error": error})
        else:
            await self.send_event(exchange, writer, chunk(choice({}, finish)))
            if include_usage:
                await self.send_event(exchange, writer, chunk([], usage), role="usage")
        await self.send_event(exchange, writer, "[DONE]", role="sentinel")
        await self.end_stream(exchange, writer)
        return True

    # -- responses ----------------------------------------------------------------------------

    async def responses_api(self, exchange: Exchange, writer: asyncio.StreamWriter) -> bool:
        """A response's output items: a ``message`` (the text), a ``function_call`` (the tool call),
        or both in that order (``tool_text``), each at its own ``output_index``."""
        body = exchange.body
        ids = Ids(self.seed, exchange.n)
        tool = self.chosen_tool(body, "responses")
        response_id = "resp_" + ids.hex(48)
        item_id = ("fc_" if tool else "msg_") + ids.hex(48)
        created = int(time.time())
        limit = body.get("max_output_tokens")
        if tool is not None:
            tokens, cut = (self.answer_tokens()[0] if self.tool_text else []), False
            fragments = split_fragments(tool["arguments"], self.tool_fragments)
            call = ToolCall("call_" + ids.token(24), tool["name"], tool["arguments"])
        else:
            tokens, cut = self.answer_tokens(limit if isinstance(limit, int) else None)
            fragments, call = [], None
        deltas = len(tokens) + len(fragments)
        prompt = count_words(body.get("input")) + count_words(body.get("instructions"))
        usage = responses_usage(prompt, deltas)
        text = "".join(tokens)
        status = "incomplete" if cut else "completed"
        # (kind, id, the deltas as sent): the message first, then the call; the first keeps item_id
        items: list[tuple[str, str, list[str]]] = []
        if tokens or not call:
            items.append(("message", "msg_" + item_id[3:] if call else item_id, tokens))
        if call:
            items.append(
                ("function_call", item_id if not tokens else "fc_" + ids.hex(48), self.cut(fragments))
            )

        def item(kind: str, iid: str, state: str, content: str | None) -> dict[str, Any]:
            """An output item; ``content``: the call's arguments, or the message's text (None: no part yet)."""
            if kind == "function_call":
                assert call is not None
                return {
                    "id": iid,
                    "type": "function_call",
                    "status": state,
                    "arguments": content or "",
                    "call_id": call.id,
                    "name": call.name,
                }
            parts = [] if content is None else [output_part(content)]
            return {"id": iid, "type": "message", "status": state, "content": parts, "role": "assistant"}

        def response(state: str, output: list[Any], usage_value: Any, **extra: Any) -> dict[str, Any]:
            return {
                "id": response_id,
                "object": "response",
                "created_at": created,
                "status": state,
                "background": False,
                "error": extra.get("error"),
                "incomplete_details": extra.get("incomplete_details"),
                "instructions": body.get("instructions"),
                "max_output_tokens": limit,
                "model": exchange.model,
                "output": output,
                "parallel_tool_calls": body.get("parallel_tool_calls", True),
                "previous_response_id": body.get("previous_response_id"),
                "reasoning": {"effort": None, "summary": None},
                "service_tier": "auto",
                "store": body.get("store", True),
                "temperature": body.get("temperature", 1.0),
                "text": {"format": {"type": "text"}},
                "tool_choice": body.get("tool_choice", "auto"),
                "tools": body.get("tools", []),
                "top_p": body.get("top_p", 1.0),
                "truncation": "disabled",
                "usage": usage_value,
                "user": None,
                "metadata": body.get("metadata") or {},
            }

        incomplete = {"reason": "max_output_tokens"} if cut else None
        # each item as the stream ends it (cut_tool_args sends less of the arguments than planned)
        sent_items = [item(kind, iid, status, "".join(pieces)) for kind, iid, pieces in items]

        if not exchange.stream:
            exchange.text = text
            exchange.tool_calls = [call] if call else []
            exchange.finish_reason, exchange.usage = status, usage
            await self.wait_for_delta(exchange, max(0, deltas - 1))
            whole = [
                item(kind, iid, status, text if kind == "message" else call.arguments if call else "")
                for kind, iid, _ in items
            ]
            payload = response(status, whole, usage, incomplete_details=incomplete)
            return await self.send_json(exchange, writer, 200, payload)

        obfuscation = self.obfuscator(exchange, body)
        error_at = self.error_after if self.error_after is not None and self.fails_now() else None
        # the plan is the whole answer, also when an injected error cuts it short (Exchange)
        exchange.text = text
        exchange.tool_calls = [call] if call else []
        exchange.finish_reason, exchange.usage = status, usage
        if error_at is not None:
            exchange.error = {"status": 200, "after": error_at, **openai_stream_error("responses")}

        sequence = [0]  # the next sequence number

        async def send(
            kind: str, fields: dict[str, Any], text: str = "", role: str = "other", number: int | None = None
        ) -> None:
            # a delta swap_delta moves keeps its own number, as an event moved in flight does
            number = sequence[0] if number is None else number
            sequence[0] = max(sequence[0], number + 1)
            data = {"type": kind, "sequence_number": number, **fields}
            await self.send_event(exchange, writer, data, event=kind, text=text, role=role)

        async def fail() -> bool:
            error = openai_stream_error("responses")
            await send("error", {"error": error})
            failure = {"code": error["code"], "message": error["message"]}
            await send("response.failed", {"response": response("failed", [], None, error=failure)})
            await self.end_stream(exchange, writer)
            return True

        await self.start_stream(exchange, writer)
        await send("response.created", {"response": response("in_progress", [], None)})
        await send("response.in_progress", {"response": response("in_progress", [], None)})
        order = self.mangled(list(range(deltas)))  # swap_delta, within an item
        sent, start = 0, 0
        for index, (kind, iid, pieces) in enumerate(items):
            place = {"item_id": iid, "output_index": index}
            await send(
                "response.output_item.added",
                {
                    "output_index": index,
                    "item": item(kind, iid, "in_progress", "" if kind == "function_call" else None),
                },
            )
            if kind == "message":
                await send(
                    "response.content_part.added", {**place, "content_index": 0, "part": output_part("")}
                )
            first = sequence[0]
            for j in [j - start for j in order if start <= j < start + len(pieces)]:
                if sent == error_at:
                    return await fail()
                await self.wait_for_delta(exchange, sent)
                if kind == "function_call":
                    await send(
                        "response.function_call_arguments.delta",
                        {**place, "delta": pieces[j]},
                        role="delta",
                        number=first + j,
                    )
                else:
                    fields = {**place, "content_index": 0, "delta": pieces[j], "logprobs": []}
                    if obfuscation is not None:
                        fields["obfuscation"] = obfuscation()
                    await send(
                        "response.output_text.delta", fields, text=pieces[j], role="delta", number=first + j
                    )
                sent += 1
            start += len(pieces)
            done = sent_items[index]
            if kind == "function_call":
                await send("response.function_call_arguments.done", {**place, "arguments": done["arguments"]})
            else:
                await send(
                    "response.output_text.done", {**place, "content_index": 0, "text": text, "logprobs": []}
                )
                await send(
                    "response.content_part.done", {**place, "content_index": 0, "part": output_part(text)}
                )
            await send("response.output_item.done", {"output_index": index, "item": done})
        if error_at is not None:
            return await fail()  # an answer of no more deltas than error_after: the error instead of its end
        final = response(
            status, sent_items, None if self.omit_usage else usage, incomplete_details=incomplete
        )
        await send(f"response.{status}", {"response": final}, role="sentinel")
        await self.end_stream(exchange, writer)
        return True


def output_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def chat_usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def responses_usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


OPTIONS: dict[str, tuple[type, Any, str]] = {
    **COMMON_OPTIONS,
    "models": (str, ",".join(DEFAULT_MODELS), "comma-separated model ids that GET /v1/models lists"),
    "obfuscation": (bool, True, "add the 'obfuscation' padding field to stream chunks, as the real API does"),
}


def build(options: dict[str, Any]) -> OpenAIServer:
    """An :class:`OpenAIServer` from CLI-style options (:data:`OPTIONS` names; typed values or strings)."""
    return build_from_options(OpenAIServer, OPTIONS, options)
