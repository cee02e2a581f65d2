"""``openai-responses``: the official SDK's ``client.responses.create(..., stream=True)``, iterated.

``response.output_text.delta`` events become events of type ``delta`` (data: the text),
``response.function_call_arguments.delta`` ones ``tool_call``; the terminal
``response.completed`` / ``.incomplete`` / ``.failed`` becomes ``finish`` (data: the
response's status), and an ``error`` event the SDK yields rather than raises (the flat
shape) becomes ``error`` (data: its message). Defaults for the call:
``model="gpt-4.1-mini"``, ``input="hi"``; the request body (a JSON object) overrides them.
"""

from __future__ import annotations

import openai

from faultproxy.clients import _sdk
from faultproxy.clients.child import dist_version
from faultproxy.clients.protocol import Emitter
from faultproxy.clients.transcript import ClientRequest

DEFAULTS = {"model": "gpt-4.1-mini", "input": "hi"}
TERMINAL = ("response.completed", "response.incomplete", "response.failed")


def version() -> str | None:
    return dist_version("openai")


def run(request: ClientRequest, out: Emitter) -> None:
    kwargs = _sdk.params(request, DEFAULTS, "responses")
    message = _sdk.Assembled()
    with openai.OpenAI(**_sdk.client_options(openai, request, out)) as client:
        stream = client.responses.create(**kwargs, stream=True)

        def on_event(event) -> None:
            kind = getattr(event, "type", None)
            if kind == "response.output_text.delta":
                out.event("delta", event.delta)
                message.text += event.delta
            elif kind == "response.output_item.added":
                block = {"message": "text", "function_call": "tool_call"}.get(
                    getattr(event.item, "type", None)
                )
                if block:
                    message.block(event.output_index, block)
                if block == "tool_call":
                    message.tool(event.output_index, event.item.name)
            elif kind == "response.function_call_arguments.delta":
                out.event("tool_call", event.delta)
                message.tool(event.output_index, None, event.delta)
            elif kind in TERMINAL:
                response = getattr(event, "response", None)
                message.finish_reason = getattr(response, "status", None) or kind.rsplit(".", 1)[-1]
                out.event("finish", message.finish_reason)
                usage = getattr(response, "usage", None)
                if usage is not None:
                    message.set_usage(usage.input_tokens, usage.output_tokens)
            elif kind == "error":
                out.event("error", str(getattr(event, "message", "") or ""))

        _sdk.consume(stream, out, on_event, message)
