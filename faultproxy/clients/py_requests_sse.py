"""``requests-sse``: ``with EventSource(url) as source: for event in source``.

The library reconnects by itself, forever, after a clean end *and* after a read error (it
swallows the ``requests`` exception and logs it at DEBUG), sending ``Last-Event-Id``; it
doubles its reconnection time before every reconnect, and treats any status but 200 -- the
204 a finished stream answers with included -- as fatal (``InvalidStatusCodeError``).

The policy: ``reconnection_time`` = ``reconnect_ms``, ``max_connect_retry`` = the reconnects
allowed; the adapter counts the library's ``on_error`` callbacks and stops it (by raising
from the callback) once the reconnects allowed are spent, reporting ``completed`` if the
last connection ended cleanly and the swallowed exception (``error`` / ``timeout``)
otherwise -- it reads that exception from the library's logger. ``timeout_s`` is requests'
read timeout (connect: 10 s). Attempts come from a requests response hook (connections
refused before any response show as attempts with no status).
"""

from __future__ import annotations

import logging
from datetime import timedelta

import requests
import requests_sse

from faultproxy.clients.child import classify, dist_version, stack_note
from faultproxy.clients.protocol import Emitter, error_name
from faultproxy.clients.transcript import COMPLETED, ClientRequest


class _BudgetSpent(Exception):
    """Raised from on_error to stop the library's reconnect loop."""


class _Swallowed(logging.Handler):
    """Keeps the read errors requests-sse catches and only logs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.errors: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(record.exc_info[1])


def version() -> str | None:
    return dist_version("requests-sse")


def run(request: ClientRequest, out: Emitter) -> None:
    stack_note(out, "requests", "urllib3")
    allowed = request.reconnects_allowed
    swallowed = _Swallowed()
    logger = logging.getLogger(requests_sse.client.__name__)
    logger.setLevel(logging.DEBUG)
    logger.addHandler(swallowed)
    logger.propagate = False

    state = {"open": False, "reconnects": 0, "last": None}  # last: the exception ending the last connection
    source: requests_sse.EventSource | None = None

    def on_response(response: requests.Response, *args, **kwargs) -> None:
        out.attempt(last_event_id=response.request.headers.get("Last-Event-Id"), status=response.status_code)
        state["open"] = response.status_code == 200

    def on_error() -> None:
        if source is not None and source.ready_state == requests_sse.ReadyState.CLOSED:
            return  # a failed connection: the library raises its own exception next
        if state["open"]:
            state["open"] = False
            error = swallowed.errors.pop() if swallowed.errors else None
            swallowed.errors.clear()
            state["last"] = error
            out.disconnect("error" if error else "ended", error)
        else:  # a connection that could not even be made; the library retries it
            out.attempt()
            out.disconnect("error", error_type="requests.RequestException", error_message="connection failed")
        state["reconnects"] += 1
        if state["reconnects"] > allowed:
            raise _BudgetSpent

    with requests.Session() as session:
        session.hooks["response"].append(on_response)
        # Bound before the first connect: ``__enter__`` connects, and a refused first connection
        # (a status other than 200, the wrong Content-Type, a network error) calls ``on_error``
        # with the source CLOSED right before the library raises. ``on_error`` must see that
        # state, or it takes the refusal for a reconnect and ends the run as a clean one.
        source = requests_sse.EventSource(
            request.url,
            method=request.method,
            reconnection_time=timedelta(milliseconds=request.reconnect_ms),
            max_connect_retry=allowed,
            timeout=(10.0, request.timeout_s),
            session=session,
            on_error=on_error,
            headers=dict(request.headers),
            data=request.body,
        )
        try:
            with source:
                for event in source:
                    out.event(event.type, event.data, event.last_event_id)
        except _BudgetSpent:
            error = state["last"]
            out.note(
                f"stopped by the adapter: {allowed} reconnect(s) allowed and spent "
                "(requests-sse would have reconnected)"
            )
            if error is None:
                out.end(COMPLETED)
            else:
                out.end(classify(error), error_name(error), str(error) or repr(error))
