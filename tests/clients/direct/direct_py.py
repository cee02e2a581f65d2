"""Each Python reference library used directly, as its README shows -- no faultproxy adapter.

``python direct_py.py CLIENT`` reads one JSON request on stdin (``url``, ``method``,
``headers``, ``body``, ``timeout_s``) and writes JSON Lines on stdout: ``{"event": [type,
data, id]}`` for every event the library hands over, as it happens, then one ``{"end": ...}``
(``completed`` when the library's iteration ended by itself, ``error`` with the exception it
raised). Nothing here is faultproxy code: the tests that re-verify a scenario's ``known:``
entry run these against the scenario's bytes, so an adapter bug cannot hide or invent a
library's behaviour.

The libraries that reconnect by themselves are stopped at their first reconnect through the
hook each offers (an ``on_error`` callback, an error strategy): that point is the end of what
the first connection gave the application.
"""

from __future__ import annotations

import json
import logging
import sys


def emit(**record) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def event(kind, data, ident, retry=None) -> None:
    """One event as the library handed it over; ``retry`` for the libraries whose events carry one."""
    emit(event=[kind or "message", data, ident or None, retry])


class Reconnecting(Exception):
    """The library was about to reconnect: the run ends here."""


def httpx_sse(r: dict) -> None:
    import httpx
    from httpx_sse import connect_sse

    with httpx.Client(timeout=httpx.Timeout(10.0, read=r["timeout_s"])) as client:
        with connect_sse(client, r["method"], r["url"], headers=r["headers"], content=r["body"]) as source:
            for sse in source.iter_sse():
                event(sse.event, sse.data, sse.id, sse.retry)


def sseclient_py(r: dict) -> None:
    import requests
    import sseclient

    response = requests.request(r["method"], r["url"], stream=True, data=r["body"],
                                headers={"Accept": "text/event-stream", **r["headers"]},
                                timeout=(10.0, r["timeout_s"]))
    for e in sseclient.SSEClient(response).events():
        event(e.event, e.data, e.id, e.retry)


def requests_sse(r: dict) -> None:
    from requests_sse import EventSource, ReadyState

    swallowed: list[BaseException] = []

    class Keep(logging.Handler):  # the library logs the read errors it swallows
        def emit(self, record: logging.LogRecord) -> None:
            if record.exc_info and record.exc_info[1] is not None:
                swallowed.append(record.exc_info[1])

    logging.getLogger("requests_sse.client").addHandler(Keep())
    logging.getLogger("requests_sse.client").setLevel(logging.DEBUG)

    def on_error() -> None:
        if source.ready_state != ReadyState.CLOSED:
            raise Reconnecting

    source = EventSource(r["url"], method=r["method"], headers=r["headers"], data=r["body"],
                         max_connect_retry=0, timeout=(10.0, r["timeout_s"]), on_error=on_error)
    try:
        with source:
            for e in source:
                event(e.type, e.data, e.last_event_id)
    except Reconnecting:
        if swallowed:
            raise swallowed[-1] from None


def aiohttp_sse_client2(r: dict) -> None:
    import asyncio

    import aiohttp
    from aiohttp_sse_client2 import client as sse_client

    async def main() -> None:
        def on_error() -> None:
            if source.ready_state == sse_client.READY_STATE_CONNECTING:
                raise Reconnecting

        timeout = aiohttp.ClientTimeout(total=None, connect=10.0, sock_read=r["timeout_s"])
        async with aiohttp.ClientSession(timeout=timeout) as session:
            source = sse_client.EventSource(r["url"], option={"method": r["method"]}, session=session,
                                            max_connect_retry=0, on_error=on_error, headers=r["headers"],
                                            data=r["body"])
            try:
                async with source:
                    async for e in source:
                        event(e.type, e.data, e.last_event_id)
            except Reconnecting:
                pass

    asyncio.run(main())


def launchdarkly_eventsource(r: dict) -> None:
    import urllib3
    from ld_eventsource import SSEClient
    from ld_eventsource.actions import Event, Fault
    from ld_eventsource.config import ConnectStrategy

    options = {"timeout": urllib3.Timeout(connect=10.0, read=r["timeout_s"])}
    client = SSEClient(ConnectStrategy.http(r["url"], headers=r["headers"], urllib3_request_options=options))
    for action in client.all:  # the default error strategy never retries
        if isinstance(action, Event):
            event(action.event, action.data, action.last_event_id)
        elif isinstance(action, Fault):
            if action.error is not None:
                raise action.error
            break


def openai_sdk(r: dict) -> None:
    import openai

    client = openai.OpenAI(base_url=r["url"], api_key="sk-direct", max_retries=0)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                                            stream=True)
    for chunk in stream:
        for choice in chunk.choices:
            if choice.delta is not None and choice.delta.content:
                event("delta", choice.delta.content, None)
            if choice.finish_reason:
                event("finish", choice.finish_reason, None)


DRIVERS = {
    "httpx-sse": httpx_sse, "sseclient-py": sseclient_py, "requests-sse": requests_sse,
    "aiohttp-sse-client2": aiohttp_sse_client2, "launchdarkly-eventsource": launchdarkly_eventsource,
    "openai": openai_sdk,
}


def main() -> None:
    request = json.loads(sys.stdin.read())
    try:
        DRIVERS[sys.argv[1]](request)
    except Exception as error:  # noqa: BLE001 -- what the library raised is the result
        kind = type(error)
        emit(end="error", error_type=f"{kind.__module__.split('.')[0]}.{kind.__name__}", error_message=str(error))
        return
    emit(end="completed")


if __name__ == "__main__":
    main()
