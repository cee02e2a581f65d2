"""``sseclient-py``: ``sseclient.SSEClient(requests.get(url, stream=True))``, then ``client.events()``.

The pattern its README shows: the response is handed over as is (no status or Content-Type
check: sseclient-py does none either), and the client iterates the response, i.e. requests'
``iter_content`` in 128-byte reads. No reconnection (the policy is noted and not applied).
``timeout_s`` is requests' read timeout (connect: 10 s). Event IDs are the event's own
``id:`` field (sseclient-py does not carry the last ID over). Attempts come from a
requests response hook.
"""

from __future__ import annotations

import requests
import sseclient

from faultproxy.clients.child import dist_version, stack_note
from faultproxy.clients.protocol import Emitter
from faultproxy.clients.transcript import ClientRequest

REPORTS = ("retry",)  # sseclient.Event.retry: the block's retry field, as the text it was


def version() -> str | None:
    return dist_version("sseclient-py")


def run(request: ClientRequest, out: Emitter) -> None:
    stack_note(out, "requests", "urllib3")
    if request.reconnect:
        out.note("reconnect policy not applied: sseclient-py does not reconnect")

    def on_response(response: requests.Response, *args, **kwargs) -> None:
        out.attempt(last_event_id=response.request.headers.get("Last-Event-ID"), status=response.status_code)

    headers = {"Accept": "text/event-stream", **request.headers}
    with requests.Session() as session:
        session.hooks["response"].append(on_response)
        response = session.request(
            request.method,
            request.url,
            headers=headers,
            data=request.body,
            stream=True,
            timeout=(10.0, request.timeout_s),
        )
        client = sseclient.SSEClient(response)
        try:
            for event in client.events():
                out.event(event.event, event.data, event.id, retry=event.retry)
        except Exception as error:
            out.disconnect("error", error)
            raise
        finally:
            client.close()
        out.disconnect("ended")
