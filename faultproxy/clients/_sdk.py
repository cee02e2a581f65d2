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


def params(request: ClientRequest, defaults: dict[str, Any]) -> dict[str, Any]:
    """The create() keyword arguments: defaults, overridden by the request body's JSON object."""
    extra = json.loads(request.body) if request.body else {}
    if not isinstance(extra, dict):
        raise ValueError("the request body of an SDK client must be a JSON object of create() parameters")
    extra.pop("stream", None)
    return {**defaults, **extra}


def client_options(sdk: Any, request: ClientRequest, out: Emitter) -> dict[str, Any]:
    """Keyword arguments for ``OpenAI(...)`` / ``Anthropic(...)``."""
    import httpx2

    stack_note(out, "httpx2", "httpcore2")
    if request.method.upper() != "POST":
        out.note(f"method {request.method} ignored: the SDK always POSTs")
    out.note("reconnect policy mapped to the SDK's max_retries "
             f"({request.reconnects_allowed}): it retries failed requests, never a broken stream")

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


def consume(stream: Any, out: Emitter, on_item) -> None:
    """Iterate an SDK stream, handing each item to ``on_item``; record how the connection ended."""
    try:
        for item in stream:
            on_item(item)
    except Exception as error:
        out.disconnect("error", error)
        raise
    finally:
        stream.close()
    out.disconnect("ended")
