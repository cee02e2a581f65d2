"""``langchain-openai``: LangChain's ``ChatOpenAI(...).stream(prompt)`` over Chat Completions.

The message is what LangChain hands the application: the ``AIMessageChunk`` s added up (``+``),
whose ``tool_calls`` LangChain parses from the joined argument fragments itself (leniently: a
cut JSON object can still come out as a dict) and whose unparseable calls land in
``invalid_tool_calls``; the finish reason from ``response_metadata``, the usage from
``usage_metadata`` (``stream_usage`` when the request asks for usage). Each text chunk is an
event of type ``delta``, each argument fragment one of type ``tool_call``. The request body is a
neutral LLM request (``{"prompt", "tools", "max_tokens", "usage", "model"}``); the OpenAI
client underneath is set up like the ``openai`` adapter's (:mod:`faultproxy.clients._sdk`).
"""

from __future__ import annotations

import json

import openai
from langchain_openai import ChatOpenAI

from faultproxy.clients import _sdk
from faultproxy.clients.child import dist_version
from faultproxy.clients.protocol import Emitter
from faultproxy.clients.transcript import ClientRequest

MODEL = "gpt-4o-mini"


def version() -> str | None:
    return dist_version("langchain-openai")


def run(request: ClientRequest, out: Emitter) -> None:
    body = _sdk.neutral(json.loads(request.body or '{"prompt": "hi"}'))
    options = _sdk.client_options(openai, request, out)
    llm = ChatOpenAI(
        model=body.get("model") or MODEL,
        base_url=options["base_url"],
        api_key=options["api_key"],
        max_retries=options["max_retries"],
        timeout=options["timeout"],
        default_headers=options["default_headers"],
        http_client=options["http_client"],
        stream_usage=bool(body.get("usage")),
        **({"max_tokens": body["max_tokens"]} if body.get("max_tokens") else {}),
    )
    tools = _sdk.for_api(body, "chat", {"model": MODEL}).get("tools")
    runnable = llm.bind_tools(tools) if tools else llm
    full = None
    try:
        for chunk in runnable.stream(body["prompt"]):
            if isinstance(chunk.content, str) and chunk.content:
                out.event("delta", chunk.content)
            for piece in chunk.tool_call_chunks:
                if piece.get("args"):
                    out.event("tool_call", piece["args"])
            finish = (chunk.response_metadata or {}).get("finish_reason")
            if finish:
                out.event("finish", finish)
            full = chunk if full is None else full + chunk
    except Exception as error:
        out.disconnect("error", error)
        raise
    finally:
        report(full, out)
    out.disconnect("ended")


def report(full, out: Emitter) -> None:
    if full is None:
        out.message("", [], None, None)
        return
    calls = [{"name": c["name"], "arguments": json.dumps(c["args"])} for c in full.tool_calls]
    calls += [
        {"name": c.get("name") or "", "arguments": c.get("args") or ""} for c in full.invalid_tool_calls
    ]
    usage = full.usage_metadata
    out.message(
        full.content if isinstance(full.content, str) else json.dumps(full.content),
        calls,
        (full.response_metadata or {}).get("finish_reason"),
        {"input_tokens": usage["input_tokens"], "output_tokens": usage["output_tokens"]} if usage else None,
    )
