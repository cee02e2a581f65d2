"""``raw``: faultproxy's own from-scratch EventSource (:class:`faultproxy.lab.sse_client.SSEClient`).

It reconnects as the WHATWG spec says (after a clean end or a network error, sending
``Last-Event-ID``), stops on 204, fails on a wrong status or Content-Type. The reconnect
policy maps to its ``max_reconnects`` / ``reconnect_ms``. It sends GET only, with no extra
headers, and has no read timeout (``timeout_s`` is noted and not applied).

Its own transcript maps onto ours: ``204`` -> ``completed``; a failed connection ->
``error`` (``faultproxy.failed``); the reconnect budget spent -> ``completed`` if the last
connection's body ended cleanly, else ``error`` (``faultproxy.network-error``).
"""

from __future__ import annotations

import asyncio

from faultproxy.clients.protocol import Emitter
from faultproxy.clients.transcript import COMPLETED, ERROR, ClientRequest
from faultproxy.lab import sse_client as lab


def version() -> str:
    from faultproxy import __version__

    return __version__


def run(request: ClientRequest, out: Emitter) -> None:
    if request.timeout_s is not None:
        out.note("timeout_s not applied: the raw client has no read timeout")
    if not request.reconnect:
        out.note("reconnect disabled: raw makes one connection (max_reconnects=0)")
    opened: set[int] = set()

    def on_open(attempt: lab.Attempt) -> None:
        opened.add(attempt.number)
        out.attempt(last_event_id=attempt.last_event_id, status=attempt.status, started=attempt.started)

    def on_event(received: lab.ReceivedEvent) -> None:
        event = received.event
        out.event(event.type, event.data, event.id)

    def on_end(attempt: lab.Attempt) -> None:
        if attempt.number not in opened:
            out.attempt(last_event_id=attempt.last_event_id, status=attempt.status, started=attempt.started)
        if attempt.outcome == lab.ENDED:
            out.disconnect("ended", number=attempt.number)
        elif attempt.outcome in (lab.NETWORK_ERROR, lab.FAILED):
            out.disconnect(
                "error",
                number=attempt.number,
                error_type=f"faultproxy.{attempt.outcome}",
                error_message=attempt.detail,
            )

    client = lab.SSEClient(
        request.url,
        max_reconnects=request.reconnects_allowed,
        reconnect_ms=request.reconnect_ms,
        on_open=on_open,
        on_event=on_event,
        on_end=on_end,
    )
    transcript = asyncio.run(client.run())
    last = transcript.attempts[-1] if transcript.attempts else None
    if transcript.end == lab.NO_CONTENT:
        out.end(COMPLETED)
    elif transcript.end == lab.MAX_RECONNECTS and last is not None and last.outcome == lab.ENDED:
        out.note(transcript.detail)
        out.end(COMPLETED)
    elif transcript.end == lab.MAX_RECONNECTS and last is not None:
        out.note(transcript.detail)
        out.end(ERROR, f"faultproxy.{last.outcome}", last.detail)
    else:
        out.end(ERROR, f"faultproxy.{transcript.end}", transcript.detail)
