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
    kwargs = _sdk.params(request, DEFAULTS)
    with openai.OpenAI(**_sdk.client_options(openai, request, out)) as client:
        stream = client.responses.create(**kwargs, stream=True)

        def on_event(event) -> None:
            kind = getattr(event, "type", None)
            if kind == "response.output_text.delta":
                out.event("delta", event.delta)
            elif kind == "response.function_call_arguments.delta":
                out.event("tool_call", event.delta)
            elif kind in TERMINAL:
                response = getattr(event, "response", None)
                out.event("finish", getattr(response, "status", None) or kind.rsplit(".", 1)[-1])
            elif kind == "error":
                out.event("error", str(getattr(event, "message", "") or ""))

        _sdk.consume(stream, out, on_event)
