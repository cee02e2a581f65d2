"""``naive``: the SSE "parser" tutorials show. Deliberately wrong -- a baseline, do not fix it.

It streams the body with requests (``iter_content(chunk_size=None)``: whatever each read
returns), decodes each read on its own, splits it on ``"\\n\\n"`` without carrying a partial
event over to the next read, and keeps the lines that start with ``"data: "`` (one event
each, type ``message``, no ID). It stops at ``data: [DONE]``. So it loses or mangles events
whenever an event is split across reads, uses CRLF or CR line endings, omits the space after
the colon, spans several ``data:`` lines, or a multi-byte character is split between reads
(``UnicodeDecodeError``). No status check, no reconnection (the policy is noted and not applied).
"""

from __future__ import annotations

import requests

from faultproxy.clients.child import dist_version
from faultproxy.clients.protocol import Emitter
from faultproxy.clients.transcript import ClientRequest


def version() -> str:
    from faultproxy import __version__

    return __version__


def run(request: ClientRequest, out: Emitter) -> None:
    out.note(f"stack: requests {dist_version('requests')}, urllib3 {dist_version('urllib3')}")
    if request.reconnect:
        out.note("reconnect policy not applied: naive does not reconnect")
    response = requests.request(
        request.method,
        request.url,
        headers=request.headers,
        data=request.body,
        stream=True,
        timeout=(10.0, request.timeout_s),
    )
    out.attempt(last_event_id=response.request.headers.get("Last-Event-ID"), status=response.status_code)
    try:
        for chunk in response.iter_content(chunk_size=None):
            for part in chunk.decode("utf-8").split("\n\n"):
                for line in part.split("\n"):
                    if line.startswith("data: "):
                        data = line[len("data: ") :]
                        if data == "[DONE]":
                            out.disconnect("ended")
                            return
                        out.event("message", data, None)
    except Exception as error:
        out.disconnect("error", error)
        raise
    finally:
        response.close()
    out.disconnect("ended")
