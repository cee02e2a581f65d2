"""``openai``: the official SDK's ``client.chat.completions.create(..., stream=True)``, iterated.

Each chunk's ``delta.content`` is an event of type ``delta`` (data: the text), each
tool-call arguments fragment one of type ``tool_call``, and each ``finish_reason`` one of
type ``finish`` (data: the reason). The SDK does not expose SSE IDs, so ``id`` is None.
Defaults for the call: ``model="gpt-4o-mini"``, one user message ``"hi"``; the request body
(a JSON object) overrides them. See :mod:`faultproxy.clients._sdk` for the client setup.
"""

from __future__ import annotations

import openai

from faultproxy.clients import _sdk
from faultproxy.clients.child import dist_version
from faultproxy.clients.protocol import Emitter
from faultproxy.clients.transcript import ClientRequest

DEFAULTS = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def version() -> str | None:
    return dist_version("openai")


def run(request: ClientRequest, out: Emitter) -> None:
    kwargs = _sdk.params(request, DEFAULTS, "chat")
    message = _sdk.Assembled()
    with openai.OpenAI(**_sdk.client_options(openai, request, out)) as client:
        stream = client.chat.completions.create(**kwargs, stream=True)

        def on_chunk(chunk) -> None:
            if chunk.usage is not None:
                message.set_usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
            for choice in chunk.choices or []:
                delta = choice.delta
                if delta is not None and delta.content:
                    out.event("delta", delta.content)
                    message.text += delta.content
                for call in (delta.tool_calls or []) if delta is not None else []:
                    function = call.function
                    if function is not None and function.arguments:
                        out.event("tool_call", function.arguments)
                    message.tool(call.index, function and function.name, function and function.arguments)
                if choice.finish_reason:
                    out.event("finish", choice.finish_reason)
                    message.finish_reason = choice.finish_reason

        _sdk.consume(stream, out, on_chunk, message)
