"""What the official-SDK adapters (openai, openai-responses, anthropic) share.

The SDK is given the request's URL as ``base_url``, a dummy API key, the request's headers
as ``default_headers``, ``max_retries`` from the reconnect policy (the SDKs retry a *request*
that failed before streaming -- connection errors, 408/409/429/5xx -- never a stream that
broke), and its own ``DefaultHttpxClient`` with event hooks, so every HTTP attempt (a retry
too, with its ``x-stainless-retry-count``) and its status are recorded. ``timeout_s`` is the
read timeout (connect, write, pool: 10 s); None switches the read timeout off.
"""

from __future__ import annotations

import json
from typing import Any

from faultproxy.clients.child import stack_note
from faultproxy.clients.protocol import Emitter
from faultproxy.clients.transcript import ClientRequest

API_KEY = "sk-faultproxy-test"


def params(request: ClientRequest, defaults: dict[str, Any], api: str = "") -> dict[str, Any]:
    """The create() keyword arguments: defaults, overridden by the request body's JSON object --
    or, for a neutral LLM request (``{"prompt": ...}``, see :func:`neutral`), that request in
    ``api``'s own parameters (``chat``, ``responses`` or ``anthropic``)."""
    extra = json.loads(request.body) if request.body else {}
    if not isinstance(extra, dict):
        raise ValueError("the request body of an SDK client must be a JSON object of create() parameters")
    extra.pop("stream", None)
    if "prompt" in extra and api:
        return {**defaults, **for_api(neutral(extra), api, defaults)}
    return {**defaults, **extra}


def neutral(body: dict[str, Any]) -> dict[str, Any]:
    """A neutral LLM request, which every LLM client turns into its own API's parameters:
    ``{"prompt": str, "tools": [{"name", "description", "parameters"}], "max_tokens": int,
    "usage": bool (ask for usage in the stream), "model": str}`` (all but ``prompt`` optional)."""
    unknown = set(body) - {"prompt", "tools", "max_tokens", "usage", "model"}
    if unknown or not isinstance(body.get("prompt"), str):
        raise ValueError(
            f"a neutral LLM request is {{prompt, tools, max_tokens, usage, model}}; got {sorted(body)}"
        )
    return body


def for_api(request: dict[str, Any], api: str, defaults: dict[str, Any]) -> dict[str, Any]:
    """A neutral request as the create() parameters of ``api``."""
    tools = request.get("tools") or []
    schema = {"type": "object"}
    out: dict[str, Any] = {"model": request.get("model") or defaults["model"]}
    if api == "responses":
        out["input"] = request["prompt"]
        if tools:
            out["tools"] = [
                {
                    "type": "function",
                    "name": t["name"],
                    "description": t.get("description", ""),
                    "parameters": t.get("parameters", schema),
                }
                for t in tools
            ]
        if request.get("max_tokens"):
            out["max_output_tokens"] = request["max_tokens"]
        return out
    out["messages"] = [{"role": "user", "content": request["prompt"]}]
    if api == "anthropic":
        out["max_tokens"] = request.get("max_tokens") or 1024
        if tools:
            out["tools"] = [
                {
                    "name": t["name"],
                    "description": t.get("description", ""),
                    "input_schema": t.get("parameters", schema),
                }
                for t in tools
            ]
        return out
    if tools:
        out["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t["name"],
                    "description": t.get("description", ""),
                    "parameters": t.get("parameters", schema),
                },
            }
            for t in tools
        ]
    if request.get("max_tokens"):
        out["max_tokens"] = request["max_tokens"]
    if request.get("usage"):
        out["stream_options"] = {"include_usage": True}
    return out


class Assembled:
    """The message an application that joins the deltas ends up with (the SDK clients report it
    as the protocol's ``message`` line): text, tool calls by index, finish reason, usage, and --
    for an API whose message orders its content -- the blocks placed by the index each event
    carries (:meth:`block`), as an application iterating the stream places them."""

    def __init__(self) -> None:
        self.text = ""
        self.tools: dict[Any, dict[str, str]] = {}
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.blocks: dict[int, str] | None = None  # index -> "text" / "tool_call"; None: no order

    def block(self, index: int, kind: str) -> None:
        self.blocks = {} if self.blocks is None else self.blocks
        self.blocks[index] = kind

    def tool(self, key: Any, name: str | None = None, arguments: str | None = None) -> None:
        call = self.tools.setdefault(key, {"name": "", "arguments": ""})
        call["name"] = name or call["name"]
        call["arguments"] += arguments or ""

    def set_usage(self, input_tokens: Any, output_tokens: Any) -> None:
        self.usage = {"input_tokens": input_tokens, "output_tokens": output_tokens}

    def report(self, out: Emitter) -> None:
        blocks = None if self.blocks is None else [self.blocks[i] for i in sorted(self.blocks)]
        out.message(self.text, list(self.tools.values()), self.finish_reason, self.usage, blocks)


def client_options(sdk: Any, request: ClientRequest, out: Emitter) -> dict[str, Any]:
    """Keyword arguments for ``OpenAI(...)`` / ``Anthropic(...)``."""
    import httpx2

    stack_note(out, "httpx2", "httpcore2")
    if request.method.upper() != "POST":
        out.note(f"method {request.method} ignored: the SDK always POSTs")
    out.note(
        "reconnect policy mapped to the SDK's max_retries "
        f"({request.reconnects_allowed}): it retries failed requests, never a broken stream"
    )

    def on_request(r: httpx2.Request) -> None:
        number = out.attempt(last_event_id=r.headers.get("last-event-id"))
        retry = r.headers.get("x-stainless-retry-count")
        if retry not in (None, "0"):
            out.note(f"attempt {number} is the SDK's retry {retry}")

    def on_response(r: httpx2.Response) -> None:
        out.attempt(number=out.connection, status=r.status_code)

    timeout = httpx2.Timeout(10.0, read=request.timeout_s)
    http_client = sdk.DefaultHttpxClient(event_hooks={"request": [on_request], "response": [on_response]})
    return {
        "base_url": request.url,
        "api_key": API_KEY,
        "max_retries": request.reconnects_allowed,
        "timeout": timeout,
        "default_headers": dict(request.headers) or None,
        "http_client": http_client,
    }


def consume(stream: Any, out: Emitter, on_item, message: Assembled | None = None) -> None:
    """Iterate an SDK stream, handing each item to ``on_item``; record how the connection ended,
    then the assembled ``message`` (also after an error: what the application had by then)."""
    try:
        for item in stream:
            on_item(item)
    except Exception as error:
        out.disconnect("error", error)
        raise
    finally:
        stream.close()
        if message is not None:
            message.report(out)
    out.disconnect("ended")
