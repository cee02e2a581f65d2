"""``pydantic-ai``: Pydantic AI's streamed model request (``model_request_stream_sync``) on its
Anthropic model, over the official async Anthropic SDK.

The message is Pydantic AI's own ``ModelResponse``: its text parts joined, its tool-call parts
(``args`` as Pydantic AI assembled them from the ``input_json_delta`` fragments), its normalized
``finish_reason`` (``stop``, ``tool_call``, ``length``) and usage. Text deltas are events of type
``delta``, argument deltas ``tool_call``. The request body is a neutral LLM request
(``{"prompt", "tools", "max_tokens", "model"}``); ``url`` is the Anthropic base URL (no ``/v1``).
"""

from __future__ import annotations

import json

import anthropic
from pydantic_ai.direct import model_request_stream_sync
from pydantic_ai.messages import (
    ModelRequest,
    PartDeltaEvent,
    PartStartEvent,
    TextPartDelta,
    ToolCallPartDelta,
)
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.providers.anthropic import AnthropicProvider
from pydantic_ai.tools import ToolDefinition

from faultproxy.clients import _sdk
from faultproxy.clients.child import dist_version, stack_note
from faultproxy.clients.protocol import Emitter
from faultproxy.clients.transcript import ClientRequest

MODEL = "claude-sonnet-4-5"


def version() -> str | None:
    return dist_version("pydantic-ai-slim")


def _client(request: ClientRequest, out: Emitter) -> anthropic.AsyncAnthropic:
    import httpx2

    stack_note(out, "anthropic", "httpx2")

    async def on_request(r: httpx2.Request) -> None:
        out.attempt()

    async def on_response(r: httpx2.Response) -> None:
        out.attempt(number=out.connection, status=r.status_code)

    http = anthropic.DefaultAsyncHttpxClient(event_hooks={"request": [on_request], "response": [on_response]})
    return anthropic.AsyncAnthropic(
        base_url=request.url,
        api_key=_sdk.API_KEY,
        max_retries=request.reconnects_allowed,
        timeout=httpx2.Timeout(10.0, read=request.timeout_s),
        default_headers=dict(request.headers) or None,
        http_client=http,
    )


def run(request: ClientRequest, out: Emitter) -> None:
    body = _sdk.neutral(json.loads(request.body or '{"prompt": "hi"}'))
    model = AnthropicModel(
        body.get("model") or MODEL, provider=AnthropicProvider(anthropic_client=_client(request, out))
    )
    tools = [
        ToolDefinition(
            name=t["name"],
            description=t.get("description") or "",
            parameters_json_schema=t.get("parameters") or {"type": "object"},
        )
        for t in body.get("tools") or []
    ]
    settings = {"max_tokens": body["max_tokens"]} if body.get("max_tokens") else None
    stream = model_request_stream_sync(
        model,
        [ModelRequest.user_text_prompt(body["prompt"])],
        model_settings=settings,
        model_request_parameters=ModelRequestParameters(function_tools=tools),
    )
    with stream:  # the response can only be read while the stream is open
        try:
            for event in stream:
                on_event(event, out)
        except Exception as error:
            out.disconnect("error", error)
            report(stream, out)
            raise
        report(stream, out)
    out.disconnect("ended")


def on_event(event, out: Emitter) -> None:
    """Text and argument deltas as events (a part's first piece comes with its start event)."""
    if isinstance(event, PartStartEvent):
        text = (
            getattr(event.part, "content", None)
            if event.part.part_kind == "text"
            else getattr(event.part, "args", None)
        )
        if isinstance(text, str) and text:
            out.event("delta" if event.part.part_kind == "text" else "tool_call", text)
    elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
        out.event("delta", event.delta.content_delta)
    elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, ToolCallPartDelta):
        if isinstance(event.delta.args_delta, str) and event.delta.args_delta:
            out.event("tool_call", event.delta.args_delta)


def report(stream, out: Emitter) -> None:
    try:
        response = stream.response
    except Exception:  # noqa: BLE001 -- nothing was assembled (the request failed before the stream)
        out.message("", [], None, None)
        return
    text = "".join(p.content for p in response.parts if p.part_kind == "text")
    calls = [
        {"name": p.tool_name, "arguments": p.args if isinstance(p.args, str) else json.dumps(p.args)}
        for p in response.parts
        if p.part_kind == "tool-call"
    ]
    usage = response.usage
    blocks = [
        "text" if p.part_kind == "text" else "tool_call"
        for p in response.parts
        if p.part_kind in ("text", "tool-call")
    ]  # the parts in Pydantic AI's own order
    out.message(
        text,
        calls,
        response.finish_reason,
        {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens} if usage else None,
        blocks,
    )
