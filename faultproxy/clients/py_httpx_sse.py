"""``httpx-sse``: ``connect_sse(httpx.Client(), method, url)`` then ``for sse in event_source.iter_sse()``.

The pattern its README shows: no status check of our own (httpx-sse checks only that the
Content-Type contains ``text/event-stream`` and raises ``httpx_sse.SSEError`` otherwise), no
reconnection (the policy is noted and not applied). ``timeout_s`` is httpx's read timeout
(connect, write and pool stay at 10 s); None switches the read timeout off. Attempts come
from httpx's request/response event hooks.
"""

from __future__ import annotations

import httpx
from httpx_sse import connect_sse

from faultproxy.clients.child import dist_version, stack_note
from faultproxy.clients.protocol import Emitter
from faultproxy.clients.transcript import ClientRequest

REPORTS = ("retry",)  # httpx_sse.ServerSentEvent.retry: the block's retry field, as int() read it


def version() -> str | None:
    return dist_version("httpx-sse")


def run(request: ClientRequest, out: Emitter) -> None:
    stack_note(out, "httpx", "httpcore", "h11")
    if request.reconnect:
        out.note("reconnect policy not applied: httpx-sse does not reconnect")

    def on_request(r: httpx.Request) -> None:
        out.attempt(last_event_id=r.headers.get("last-event-id"))

    def on_response(r: httpx.Response) -> None:
        out.attempt(number=out.connection, status=r.status_code)

    timeout = httpx.Timeout(10.0, read=request.timeout_s)
    hooks = {"request": [on_request], "response": [on_response]}
    with httpx.Client(timeout=timeout, event_hooks=hooks) as client:
        with connect_sse(
            client, request.method, request.url, headers=dict(request.headers), content=request.body
        ) as event_source:
            try:
                for sse in event_source.iter_sse():
                    out.event(sse.event, sse.data, sse.id, retry=sse.retry)
            except Exception as error:
                out.disconnect("error", error)
                raise
            out.disconnect("ended")
