"""``anthropic``: the official SDK's ``client.messages.create(..., stream=True)``, iterated.

``content_block_delta`` events with a ``text_delta`` become events of type ``delta`` (data:
the text), ``input_json_delta`` ones ``tool_call``; a ``message_delta`` with a
``stop_reason`` becomes ``finish`` (data: the reason) and ``message_stop`` becomes ``stop``
(data: ""). Defaults for the call: ``model="claude-sonnet-4-5"``, ``max_tokens=1024``, one
user message ``"hi"``; the request body (a JSON object) overrides them. ``url`` is the SDK's
``base_url`` (the Anthropic SDK adds ``/v1`` itself).
"""

from __future__ import annotations

import anthropic

from faultproxy.clients import _sdk
from faultproxy.clients.child import dist_version
from faultproxy.clients.protocol import Emitter
from faultproxy.clients.transcript import ClientRequest

DEFAULTS = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": [{"role": "user", "content": "hi"}]}


def version() -> str | None:
    return dist_version("anthropic")


def run(request: ClientRequest, out: Emitter) -> None:
    kwargs = _sdk.params(request, DEFAULTS, "anthropic")
    message = _sdk.Assembled()
    with anthropic.Anthropic(**_sdk.client_options(anthropic, request, out)) as client:
        stream = client.messages.create(**kwargs, stream=True)

        def on_event(event) -> None:
            kind = getattr(event, "type", None)
            if kind == "message_start":
                usage = event.message.usage
                message.set_usage(usage.input_tokens, usage.output_tokens)
            elif kind == "content_block_start":
                block = {"text": "text", "tool_use": "tool_call"}.get(event.content_block.type)
                if block:
                    message.block(event.index, block)
                if event.content_block.type == "tool_use":
                    message.tool(event.index, event.content_block.name)
            elif kind == "content_block_delta":
                delta = event.delta
                if delta.type == "text_delta":
                    out.event("delta", delta.text)
                    message.text += delta.text
                elif delta.type == "input_json_delta":
                    out.event("tool_call", delta.partial_json)
                    message.tool(event.index, None, delta.partial_json)
            elif kind == "message_delta":
                if getattr(event.delta, "stop_reason", None):
                    out.event("finish", event.delta.stop_reason)
                    message.finish_reason = event.delta.stop_reason
                if getattr(event, "usage", None) is not None and message.usage is not None:
                    message.usage["output_tokens"] = event.usage.output_tokens
            elif kind == "message_stop":
                out.event("stop", "")

        _sdk.consume(stream, out, on_event, message)
