"""``aiohttp-sse-client2``: ``async with EventSource(url) as source: async for event in source``.

The library reconnects after a clean end of the body (doubling its reconnection time first,
sending ``Last-Event-Id``) but not after a read error: aiohttp's exception (e.g.
``aiohttp.ClientPayloadError`` for a cut chunked body) reaches the caller. Any status but
200 on a reconnect raises (``ConnectionAbortedError`` for 204, ``ConnectionError`` for
>= 400).

The policy: ``reconnection_time`` = ``reconnect_ms``, ``max_connect_retry`` = the reconnects
allowed; the adapter counts the library's ``on_error`` callbacks on reconnects and stops it
(by raising from the callback) once they are spent, reporting ``completed``. ``timeout_s`` is
aiohttp's ``sock_read`` timeout (connect: 10 s, no total). Attempts come from an aiohttp
trace config.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiohttp
from aiohttp_sse_client2 import client as sse_client

from faultproxy.clients.child import dist_version, stack_note
from faultproxy.clients.protocol import Emitter
from faultproxy.clients.transcript import COMPLETED, ClientRequest


class _BudgetSpent(Exception):
    """Raised from on_error to stop the library's reconnect loop."""


def version() -> str | None:
    return dist_version("aiohttp-sse-client2")


def run(request: ClientRequest, out: Emitter) -> None:
    stack_note(out, "aiohttp", "yarl", "multidict")
    asyncio.run(_run(request, out))


async def _run(request: ClientRequest, out: Emitter) -> None:
    allowed = request.reconnects_allowed
    state = {"reconnects": 0, "open": False}
    source: sse_client.EventSource | None = None

    async def on_request_start(session, context, params: aiohttp.TraceRequestStartParams) -> None:
        out.attempt(last_event_id=params.headers.get("Last-Event-Id"))

    async def on_request_end(session, context, params: aiohttp.TraceRequestEndParams) -> None:
        out.attempt(number=out.connection, status=params.response.status)
        state["open"] = params.response.status == 200

    async def on_request_exception(session, context, params: aiohttp.TraceRequestExceptionParams) -> None:
        out.disconnect("error", params.exception)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    trace.on_request_end.append(on_request_end)
    trace.on_request_exception.append(on_request_exception)

    def on_error() -> None:
        if source is None or source.ready_state != sse_client.READY_STATE_CONNECTING:
            return  # a failed connection: the library raises its own exception next
        if state["open"]:  # the body ended; the library is about to reconnect
            state["open"] = False
            out.disconnect("ended")
        # else a connection that could not be made (on_request_exception recorded it); it retries
        state["reconnects"] += 1
        if state["reconnects"] > allowed:
            raise _BudgetSpent

    timeout = aiohttp.ClientTimeout(total=None, connect=10.0, sock_read=request.timeout_s)
    async with aiohttp.ClientSession(timeout=timeout, trace_configs=[trace]) as session:
        try:
            async with sse_client.EventSource(
                request.url,
                option={"method": request.method},
                reconnection_time=timedelta(milliseconds=request.reconnect_ms),
                max_connect_retry=allowed,
                session=session,
                on_error=on_error,
                headers=dict(request.headers),
                data=request.body,
            ) as source:
                try:
                    async for event in source:
                        out.event(event.type or "message", event.data, event.last_event_id)
                except _BudgetSpent:
                    raise
                except Exception as error:
                    out.disconnect("error", error)
                    raise
        except _BudgetSpent:
            out.note(
                f"stopped by the adapter: {allowed} reconnect(s) allowed and spent "
                "(aiohttp-sse-client2 would have reconnected)"
            )
            out.end(COMPLETED)
