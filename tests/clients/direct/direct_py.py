"""Each Python reference library used directly, as its README shows -- no faultproxy adapter.

``python direct_py.py CLIENT`` reads one JSON request on stdin (``url``, ``method``,
``headers``, ``body``, ``timeout_s``, ``reconnects``, ``reconnect_ms``) and writes JSON Lines on
stdout: ``{"hello": true}`` once the library is imported, ``{"event": [type, data, id, retry]}``
for every event the library hands over, as it happens, then one ``{"end": ...}``
(``completed`` when the library's iteration ended by itself, ``error`` with the exception it
raised). Nothing here is faultproxy code: the tests that re-verify a scenario's ``known:``
entry run these against the scenario's bytes, so an adapter bug cannot hide or invent a
library's behaviour.

The libraries that reconnect by themselves are configured as an application would for the
scenario's policy (``reconnects`` allowed, ``reconnect_ms`` between them) and stopped at the
reconnect after those through the hook each offers (an ``on_error`` callback, an error
strategy): what the application had by then is the run's result.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import timedelta


def emit(**record) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


def event(kind, data, ident, retry=None) -> None:
    """One event as the library handed it over; ``retry`` for the libraries whose events carry one."""
    emit(event=[kind or "message", data, ident or None, retry])


class Reconnecting(Exception):
    """The library was about to reconnect once more than allowed: the run ends here."""


class Budget:
    """Counts the reconnects a library is about to make; ``spent()`` once there is none left."""

    def __init__(self, r: dict):
        self.left = r["reconnects"]

    def spent(self) -> bool:
        self.left -= 1
        return self.left < 0


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
    budget = Budget(r)
    ended_by: list[BaseException | None] = [None]  # the error that ended the latest connection

    def on_error() -> None:
        if source.ready_state != ReadyState.CLOSED:  # a connection ended; the library will reconnect
            ended_by[0] = swallowed[-1] if swallowed else None
            swallowed.clear()
            if budget.spent():
                raise Reconnecting

    source = EventSource(r["url"], method=r["method"], headers=r["headers"], data=r["body"],
                         reconnection_time=timedelta(milliseconds=r["reconnect_ms"]),
                         max_connect_retry=r["reconnects"], timeout=(10.0, r["timeout_s"]), on_error=on_error)
    try:
        with source:
            for e in source:
                event(e.type, e.data, e.last_event_id)
    except Reconnecting:
        if ended_by[0] is not None:
            raise ended_by[0] from None


def aiohttp_sse_client2(r: dict) -> None:
    import asyncio

    import aiohttp
    from aiohttp_sse_client2 import client as sse_client

    async def main() -> None:
        budget = Budget(r)

        def on_error() -> None:
            if source.ready_state == sse_client.READY_STATE_CONNECTING and budget.spent():
                raise Reconnecting

        timeout = aiohttp.ClientTimeout(total=None, connect=10.0, sock_read=r["timeout_s"])
        async with aiohttp.ClientSession(timeout=timeout) as session:
            source = sse_client.EventSource(r["url"], option={"method": r["method"]}, session=session,
                                            reconnection_time=timedelta(milliseconds=r["reconnect_ms"]),
                                            max_connect_retry=r["reconnects"], on_error=on_error,
                                            headers=r["headers"], data=r["body"])
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
    from ld_eventsource.actions import Event
    from ld_eventsource.config import ConnectStrategy, ErrorStrategy

    class Allowed(ErrorStrategy):  # CONTINUE while the budget lasts (the library resets to this object)
        budget = Budget(r)

        def apply(self, exception):
            return (ErrorStrategy.FAIL if self.budget.spent() else ErrorStrategy.CONTINUE), self

    options = {"timeout": urllib3.Timeout(connect=10.0, read=r["timeout_s"])}
    client = SSEClient(ConnectStrategy.http(r["url"], headers=r["headers"], urllib3_request_options=options),
                       initial_retry_delay=r["reconnect_ms"] / 1000, error_strategy=Allowed())
    for action in client.all:  # FAIL: ends after a clean end, raises after an error
        if isinstance(action, Event):
            event(action.event, action.data, action.last_event_id)


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


def anthropic_sdk(r: dict) -> None:
    import anthropic

    client = anthropic.Anthropic(base_url=r["url"], api_key="sk-direct", max_retries=0)
    stream = client.messages.create(model="claude-sonnet-4-6", max_tokens=256,
                                    messages=[{"role": "user", "content": "hi"}], stream=True)
    for item in stream:
        if item.type == "content_block_delta" and item.delta.type == "text_delta":
            event("delta", item.delta.text, None)
        elif item.type == "message_delta" and item.delta.stop_reason:
            event("finish", item.delta.stop_reason, None)
        elif item.type == "message_stop":
            event("stop", "", None)


DRIVERS = {
    "httpx-sse": httpx_sse, "sseclient-py": sseclient_py, "requests-sse": requests_sse,
    "aiohttp-sse-client2": aiohttp_sse_client2, "launchdarkly-eventsource": launchdarkly_eventsource,
    "openai": openai_sdk, "anthropic": anthropic_sdk,
}


# what each driver imports: loaded before hello, so the deadline never counts a slow import
IMPORTS = {"httpx-sse": ("httpx", "httpx_sse"), "sseclient-py": ("requests", "sseclient"),
           "requests-sse": ("requests_sse",), "aiohttp-sse-client2": ("aiohttp", "aiohttp_sse_client2.client"),
           "launchdarkly-eventsource": ("urllib3", "ld_eventsource"), "openai": ("openai",),
           "anthropic": ("anthropic",)}


def main() -> None:
    import importlib

    request = json.loads(sys.stdin.read())
    for module in IMPORTS[sys.argv[1]]:
        importlib.import_module(module)
    emit(hello=True)  # the run's deadline starts here, as the harness's does at its child's hello
    try:
        DRIVERS[sys.argv[1]](request)
    except Exception as error:  # noqa: BLE001 -- what the library raised is the result
        kind = type(error)
        emit(end="error", error_type=f"{kind.__module__.split('.')[0]}.{kind.__name__}", error_message=str(error))
        return
    emit(end="completed")


if __name__ == "__main__":
    main()
