"""Each Python reference library used directly, as its README shows -- no faultproxy adapter.

``python direct_py.py CLIENT`` reads one JSON request on stdin (``url``, ``method``,
``headers``, ``body``, ``timeout_s``, ``reconnects``, ``reconnect_ms``) and writes JSON Lines on
stdout: ``{"hello": true}`` once the library is imported, ``{"event": [type, data, id, retry]}``
for every event the library hands over, as it happens, then one ``{"end": ...}``
(``completed`` when the library's iteration ended by itself, ``error`` with the exception it
raised). Nothing here is faultproxy code: the tests that re-verify a scenario's ``known:``
entry run these against the scenario's bytes, so an adapter bug cannot hide or invent a
library's behaviour.

The libraries that reconnect by themselves are configured as an application would for the
scenario's policy (``reconnects`` allowed, ``reconnect_ms`` between them) and stopped at the
reconnect after those through the hook each offers (an ``on_error`` callback, an error
strategy): what the application had by then is the run's result.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import timedelta


def emit(**record) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def event(kind, data, ident, retry=None) -> None:
    """One event as the library handed it over; ``retry`` for the libraries whose events carry one."""
    emit(event=[kind or "message", data, ident or None, retry])


class Reconnecting(Exception):
    """The library was about to reconnect once more than allowed: the run ends here."""


class Budget:
    """Counts the reconnects a library is about to make; ``spent()`` once there is none left."""

    def __init__(self, r: dict):
        self.left = r["reconnects"]

    def spent(self) -> bool:
        self.left -= 1
        return self.left < 0


def httpx_sse(r: dict) -> None:
    import httpx
    from httpx_sse import connect_sse

    with httpx.Client(timeout=httpx.Timeout(10.0, read=r["timeout_s"])) as client:
        with connect_sse(client, r["method"], r["url"], headers=r["headers"], content=r["body"]) as source:
            for sse in source.iter_sse():
                event(sse.event, sse.data, sse.id, sse.retry)


def sseclient_py(r: dict) -> None:
    import requests
    import sseclient

    response = requests.request(
        r["method"],
        r["url"],
        stream=True,
        data=r["body"],
        headers={"Accept": "text/event-stream", **r["headers"]},
        timeout=(10.0, r["timeout_s"]),
    )
    for e in sseclient.SSEClient(response).events():
        event(e.event, e.data, e.id, e.retry)


def requests_sse(r: dict) -> None:
    from requests_sse import EventSource, ReadyState

    swallowed: list[BaseException] = []

    class Keep(logging.Handler):  # the library logs the read errors it swallows
        def emit(self, record: logging.LogRecord) -> None:
            if record.exc_info and record.exc_info[1] is not None:
                swallowed.append(record.exc_info[1])

    logging.getLogger("requests_sse.client").addHandler(Keep())
    logging.getLogger("requests_sse.client").setLevel(logging.DEBUG)
    budget = Budget(r)
    ended_by: list[BaseException | None] = [None]  # the error that ended the latest connection

    def on_error() -> None:
        if source.ready_state != ReadyState.CLOSED:  # a connection ended; the library will reconnect
            ended_by[0] = swallowed[-1] if swallowed else None
            swallowed.clear()
            if budget.spent():
                raise Reconnecting

    source = EventSource(
        r["url"],
        method=r["method"],
        headers=r["headers"],
        data=r["body"],
        reconnection_time=timedelta(milliseconds=r["reconnect_ms"]),
        max_connect_retry=r["reconnects"],
        timeout=(10.0, r["timeout_s"]),
        on_error=on_error,
    )
    try:
        with source:
            for e in source:
                event(e.type, e.data, e.last_event_id)
    except Reconnecting:
        if ended_by[0] is not None:
            raise ended_by[0] from None


def aiohttp_sse_client2(r: dict) -> None:
    import asyncio

    import aiohttp
    from aiohttp_sse_client2 import client as sse_client

    async def main() -> None:
        budget = Budget(r)

        def on_error() -> None:
            if source.ready_state == sse_client.READY_STATE_CONNECTING and budget.spent():
                raise Reconnecting

        timeout = aiohttp.ClientTimeout(total=None, connect=10.0, sock_read=r["timeout_s"])
        async with aiohttp.ClientSession(timeout=timeout) as session:
            source = sse_client.EventSource(
                r["url"],
                option={"method": r["method"]},
                session=session,
                reconnection_time=timedelta(milliseconds=r["reconnect_ms"]),
                max_connect_retry=r["reconnects"],
                on_error=on_error,
                headers=r["headers"],
                data=r["body"],
            )
            try:
                async with source:
                    async for e in source:
                        event(e.type, e.data, e.last_event_id)
            except Reconnecting:
                pass

    asyncio.run(main())


def launchdarkly_eventsource(r: dict) -> None:
    import urllib3
    from ld_eventsource import SSEClient
    from ld_eventsource.actions import Event
    from ld_eventsource.config import ConnectStrategy, ErrorStrategy

    class Allowed(ErrorStrategy):  # CONTINUE while the budget lasts (the library resets to this object)
        budget = Budget(r)

        def apply(self, exception):
            return (ErrorStrategy.FAIL if self.budget.spent() else ErrorStrategy.CONTINUE), self

    options = {"timeout": urllib3.Timeout(connect=10.0, read=r["timeout_s"])}
    client = SSEClient(
        ConnectStrategy.http(r["url"], headers=r["headers"], urllib3_request_options=options),
        initial_retry_delay=r["reconnect_ms"] / 1000,
        error_strategy=Allowed(),
    )
    for action in client.all:  # FAIL: ends after a clean end, raises after an error
        if isinstance(action, Event):
            event(action.event, action.data, action.last_event_id)


# -- the LLM libraries: the body is a neutral request {prompt, tools, max_tokens, usage}; each
# reports, besides its deltas, the message the application ends up with ({"message": ...}).


def _prompt(r: dict) -> dict:
    body = json.loads(r["body"] or '{"prompt": "hi"}')
    return body if "prompt" in body else {"prompt": "hi", **body}


def _message(text: str, calls: list, finish, usage, blocks: list | None = None) -> None:
    message = {"text": text, "tool_calls": calls, "finish_reason": finish, "usage": usage}
    emit(message=message if blocks is None else {**message, "blocks": blocks})


def openai_sdk(r: dict) -> None:
    import openai

    b = _prompt(r)
    tools = [
        {"type": "function", "function": {"name": t["name"], "parameters": t.get("parameters", {})}}
        for t in b.get("tools") or []
    ]
    client = openai.OpenAI(
        base_url=r["url"], api_key="sk-direct", max_retries=0, timeout=r["timeout_s"] or 600
    )
    extra = {"stream_options": {"include_usage": True}} if b.get("usage") else {}
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": b["prompt"]}],
        stream=True,
        **({"tools": tools} if tools else {}),
        **extra,
    )
    text, calls, finish, usage = "", {}, None, None
    try:
        for chunk in stream:
            if chunk.usage:
                usage = {
                    "input_tokens": chunk.usage.prompt_tokens,
                    "output_tokens": chunk.usage.completion_tokens,
                }
            for choice in chunk.choices:
                delta = choice.delta
                if delta is not None and delta.content:
                    event("delta", delta.content, None)
                    text += delta.content
                for call in (delta.tool_calls or []) if delta is not None else []:
                    entry = calls.setdefault(call.index, {"name": "", "arguments": ""})
                    entry["name"] = (call.function and call.function.name) or entry["name"]
                    entry["arguments"] += (call.function and call.function.arguments) or ""
                if choice.finish_reason:
                    event("finish", choice.finish_reason, None)
                    finish = choice.finish_reason
    finally:
        _message(text, list(calls.values()), finish, usage)


def openai_responses(r: dict) -> None:
    import openai

    b = _prompt(r)
    tools = [
        {"type": "function", "name": t["name"], "parameters": t.get("parameters", {})}
        for t in b.get("tools") or []
    ]
    client = openai.OpenAI(
        base_url=r["url"], api_key="sk-direct", max_retries=0, timeout=r["timeout_s"] or 600
    )
    stream = client.responses.create(
        model="gpt-4.1-mini", input=b["prompt"], stream=True, **({"tools": tools} if tools else {})
    )
    text, calls, finish, usage = "", {}, None, None
    try:
        for e in stream:
            if e.type == "response.output_text.delta":
                event("delta", e.delta, None)
                text += e.delta
            elif e.type == "response.output_item.added" and e.item.type == "function_call":
                calls[e.output_index] = {"name": e.item.name, "arguments": ""}
            elif e.type == "response.function_call_arguments.delta":
                calls[e.output_index]["arguments"] += e.delta
            elif e.type in ("response.completed", "response.incomplete", "response.failed"):
                finish = e.response.status
                event("finish", finish, None)
                if e.response.usage:
                    usage = {
                        "input_tokens": e.response.usage.input_tokens,
                        "output_tokens": e.response.usage.output_tokens,
                    }
    finally:
        _message(text, list(calls.values()), finish, usage)


def anthropic_sdk(r: dict) -> None:
    import anthropic

    b = _prompt(r)
    tools = [
        {"name": t["name"], "input_schema": t.get("parameters", {"type": "object"})}
        for t in b.get("tools") or []
    ]
    client = anthropic.Anthropic(
        base_url=r["url"], api_key="sk-direct", max_retries=0, timeout=r["timeout_s"] or 600
    )
    stream = client.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=1024,
        stream=True,
        messages=[{"role": "user", "content": b["prompt"]}],
        **({"tools": tools} if tools else {}),
    )
    text, calls, finish, usage = "", {}, None, None
    try:
        for e in stream:
            if e.type == "message_start":
                usage = {
                    "input_tokens": e.message.usage.input_tokens,
                    "output_tokens": e.message.usage.output_tokens,
                }
            elif e.type == "content_block_start" and e.content_block.type == "tool_use":
                calls[e.index] = {"name": e.content_block.name, "arguments": ""}
            elif e.type == "content_block_delta" and e.delta.type == "text_delta":
                event("delta", e.delta.text, None)
                text += e.delta.text
            elif e.type == "content_block_delta" and e.delta.type == "input_json_delta":
                calls[e.index]["arguments"] += e.delta.partial_json
            elif e.type == "message_delta":
                finish = e.delta.stop_reason or finish
                if e.delta.stop_reason:
                    event("finish", e.delta.stop_reason, None)
                if e.usage is not None and usage is not None:
                    usage["output_tokens"] = e.usage.output_tokens
            elif e.type == "message_stop":
                event("stop", "", None)
    finally:
        _message(text, list(calls.values()), finish, usage)


def langchain_openai(r: dict) -> None:
    from langchain_openai import ChatOpenAI

    b = _prompt(r)
    llm = ChatOpenAI(
        model="gpt-4o-mini",
        base_url=r["url"],
        api_key="sk-direct",
        max_retries=0,
        timeout=r["timeout_s"],
        stream_usage=bool(b.get("usage")),
    )
    if b.get("tools"):
        llm = llm.bind_tools(
            [
                {"type": "function", "function": {"name": t["name"], "parameters": t.get("parameters", {})}}
                for t in b["tools"]
            ]
        )
    full = None
    try:
        for chunk in llm.stream(b["prompt"]):
            if chunk.content:
                event("delta", chunk.content, None)
            full = chunk if full is None else full + chunk
    finally:
        if full is not None:
            calls = [{"name": c["name"], "arguments": json.dumps(c["args"])} for c in full.tool_calls]
            calls += [
                {"name": c.get("name") or "", "arguments": c.get("args") or ""}
                for c in full.invalid_tool_calls
            ]
            u = full.usage_metadata
            _message(
                full.content,
                calls,
                full.response_metadata.get("finish_reason"),
                {"input_tokens": u["input_tokens"], "output_tokens": u["output_tokens"]} if u else None,
            )


def pydantic_ai(r: dict) -> None:
    import anthropic
    from pydantic_ai.direct import model_request_stream_sync
    from pydantic_ai.messages import ModelRequest, PartDeltaEvent, TextPartDelta
    from pydantic_ai.models import ModelRequestParameters
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider
    from pydantic_ai.tools import ToolDefinition

    b = _prompt(r)
    client = anthropic.AsyncAnthropic(
        base_url=r["url"], api_key="sk-direct", max_retries=0, timeout=r["timeout_s"] or 600
    )
    model = AnthropicModel("claude-sonnet-4-5", provider=AnthropicProvider(anthropic_client=client))
    tools = [
        ToolDefinition(name=t["name"], parameters_json_schema=t.get("parameters", {"type": "object"}))
        for t in b.get("tools") or []
    ]
    with model_request_stream_sync(
        model,
        [ModelRequest.user_text_prompt(b["prompt"])],
        model_request_parameters=ModelRequestParameters(function_tools=tools),
    ) as stream:
        try:
            for e in stream:
                if isinstance(e, PartDeltaEvent) and isinstance(e.delta, TextPartDelta):
                    event("delta", e.delta.content_delta, None)
        finally:
            response = stream.response
            calls = [
                {"name": p.tool_name, "arguments": p.args if isinstance(p.args, str) else json.dumps(p.args)}
                for p in response.parts
                if p.part_kind == "tool-call"
            ]
            u = response.usage
            _message(
                "".join(p.content for p in response.parts if p.part_kind == "text"),
                calls,
                response.finish_reason,
                {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens},
                [
                    "tool_call" if p.part_kind == "tool-call" else "text"
                    for p in response.parts
                    if p.part_kind in ("text", "tool-call")
                ],
            )


DRIVERS = {
    "httpx-sse": httpx_sse,
    "sseclient-py": sseclient_py,
    "requests-sse": requests_sse,
    "aiohttp-sse-client2": aiohttp_sse_client2,
    "launchdarkly-eventsource": launchdarkly_eventsource,
    "openai": openai_sdk,
    "openai-responses": openai_responses,
    "anthropic": anthropic_sdk,
    "langchain-openai": langchain_openai,
    "pydantic-ai": pydantic_ai,
}


# what each driver imports: loaded before hello, so the deadline never counts a slow import
IMPORTS = {
    "httpx-sse": ("httpx", "httpx_sse"),
    "sseclient-py": ("requests", "sseclient"),
    "requests-sse": ("requests_sse",),
    "aiohttp-sse-client2": ("aiohttp", "aiohttp_sse_client2.client"),
    "launchdarkly-eventsource": ("urllib3", "ld_eventsource"),
    "openai": ("openai",),
    "anthropic": ("anthropic",),
    "openai-responses": ("openai",),
    "langchain-openai": ("langchain_openai",),
    "pydantic-ai": ("pydantic_ai.direct", "pydantic_ai.models.anthropic", "anthropic"),
}


def main() -> None:
    import importlib

    request = json.loads(sys.stdin.read())
    for module in IMPORTS[sys.argv[1]]:
        importlib.import_module(module)
    emit(hello=True)  # the run's deadline starts here, as the harness's does at its child's hello
    try:
        DRIVERS[sys.argv[1]](request)
    except Exception as error:  # noqa: BLE001 -- what the library raised is the result
        kind = type(error)
        emit(
            end="error",
            error_type=f"{kind.__module__.split('.')[0]}.{kind.__name__}",
            error_message=str(error),
        )
        return
    emit(end="completed")


if __name__ == "__main__":
    main()
