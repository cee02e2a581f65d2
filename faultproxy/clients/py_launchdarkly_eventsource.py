"""``launchdarkly-eventsource``: ``ld_eventsource.SSEClient`` on urllib3, read through ``client.all``.

The library reconnects by itself, sending ``Last-Event-ID``, whenever its ``ErrorStrategy``
says CONTINUE -- after a clean end of the body as after an error, and also after an error
*status* such as the 204 a finished stream answers with -- and reports each end of a
connection as a ``Fault`` (``error`` None for a clean end). Its default strategy never
continues.

The policy: ``initial_retry_delay`` = ``reconnect_ms`` (the library's default backoff and
jitter apply on top), and an ``ErrorStrategy`` that says CONTINUE for the reconnects allowed
(counted over the whole run) and FAIL after: the library then ends iteration for a clean
end (-> ``completed``) or raises the error (-> ``error`` / ``timeout``). ``timeout_s`` is
urllib3's read timeout (connect: 10 s). GET only (the library has no other method).
Attempts come from the urllib3 pool the library is given.
"""

from __future__ import annotations

import urllib3
from ld_eventsource import SSEClient
from ld_eventsource.actions import Event, Fault
from ld_eventsource.config import ConnectStrategy, ErrorStrategy

from faultproxy.clients.child import dist_version, stack_note
from faultproxy.clients.protocol import Emitter
from faultproxy.clients.transcript import ClientRequest


def version() -> str | None:
    return dist_version("launchdarkly-eventsource")


class _Budget(ErrorStrategy):
    """CONTINUE for the first ``allowed`` failures or ends of the whole run, FAIL after."""

    def __init__(self, allowed: int):
        self.left = allowed

    def apply(self, exception):
        if self.left > 0:
            self.left -= 1
            return ErrorStrategy.CONTINUE, self
        return ErrorStrategy.FAIL, self


def run(request: ClientRequest, out: Emitter) -> None:
    stack_note(out, "urllib3")

    class RecordingPool(urllib3.PoolManager):
        def request(self, method, url, *args, **kwargs):
            headers = kwargs.get("headers") or {}
            out.attempt(last_event_id=headers.get("Last-Event-ID"))
            response = super().request(method, url, *args, **kwargs)
            out.attempt(number=out.connection, status=response.status)
            return response

    pool = RecordingPool()
    connect = ConnectStrategy.http(
        request.url,
        headers=dict(request.headers),
        pool=pool,
        urllib3_request_options={"timeout": urllib3.Timeout(connect=10.0, read=request.timeout_s)},
    )
    client = SSEClient(
        connect,
        initial_retry_delay=request.reconnect_ms / 1000,
        error_strategy=_Budget(request.reconnects_allowed),
    )
    try:
        for action in client.all:
            if isinstance(action, Event):
                out.event(action.event, action.data, action.last_event_id)
            elif isinstance(action, Fault):
                out.disconnect("ended" if action.error is None else "error", action.error)
    except Exception as error:
        out.disconnect("error", error)
        raise
    finally:
        client.close()
        pool.clear()
