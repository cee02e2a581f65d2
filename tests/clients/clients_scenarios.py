"""The scenario cells of the client tests: each runs one client against fresh loopback servers.

A cell returns ``(transcript, ground_truth)``; ground truth is the server object (the lab
``SSEServer`` with ``.sent`` / ``.requests``, a mock's ``Exchange`` log, or the
:class:`StallServer`). Kept out of the test module so that a script can print the table of
observed behaviour too: ``python tests/clients/clients_scenarios.py [sse|sdk]``.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from clients_support import StallServer, run_cells  # noqa: E402

from faultproxy.clients import ClientRequest, arun_client  # noqa: E402
from faultproxy.faults import parse_fault  # noqa: E402
from faultproxy.lab.sse_server import SSEServer  # noqa: E402
from faultproxy.proxy.server import Proxy  # noqa: E402

SSE_CLIENTS = [
    "raw",
    "httpx-sse",
    "sseclient-py",
    "requests-sse",
    "aiohttp-sse-client2",
    "launchdarkly-eventsource",
    "naive",
]
SDK_CLIENTS = ["openai", "openai-responses", "anthropic"]
DEADLINE = 30.0  # generous: nothing here should come near it but the hang cells
HANG_DEADLINE = 3.0


def disconnect_after(n: int, mode: str = "fin") -> list:
    return [parse_fault({"type": "sse_disconnect", "attributes": {"after_events": n, "mode": mode}})]


# -- generic SSE clients against the lab server ---------------------------------------------------


async def sse_cell(client: str, server: Any, proxy_faults: list | None = None, **request: Any):
    options = {"deadline_s": DEADLINE, **request}
    async with server:
        if proxy_faults is not None:
            async with Proxy(f"127.0.0.1:{server.port}", faults=proxy_faults) as proxy:
                transcript = await arun_client(client, ClientRequest(proxy.url + "/events", **options))
        else:
            transcript = await arun_client(client, ClientRequest(server.url, **options))
    return transcript, server


SSE_SCENARIOS: dict[str, Callable[[str], Awaitable[Any]]] = {
    # all events, the body ends cleanly, no reconnect allowed
    "healthy": lambda c: sse_cell(c, SSEServer(events=5, interval=0.01)),
    # the body ends cleanly and reconnecting is allowed: what does each client do next?
    "clean_end_reconnect": lambda c: sse_cell(
        c, SSEServer(events=3, interval=0.005), reconnect=True, max_reconnects=2, reconnect_ms=50
    ),
    # the connection is cut (no last chunk) after event 2
    "drop": lambda c: sse_cell(c, SSEServer(events=5, interval=0.01, drop_after=2)),
    "drop_reconnect": lambda c: sse_cell(
        c, SSEServer(events=5, interval=0.01, drop_after=2), reconnect=True, max_reconnects=2, reconnect_ms=50
    ),
    # the proxy resets the connection after event 2
    "drop_proxy_rst": lambda c: sse_cell(c, SSEServer(events=5, interval=0.01), disconnect_after(2, "rst")),
    # two events, then silence with the connection open
    "hang": lambda c: sse_cell(c, StallServer(events=2), deadline_s=HANG_DEADLINE),
    "timeout": lambda c: sse_cell(c, StallServer(events=2), timeout_s=0.5, deadline_s=5.0),
}


# -- the official SDKs against the mock APIs ----------------------------------------------------


def mock_for(client: str, **options: Any):
    if client == "anthropic":
        from faultproxy.servers.anthropic import AnthropicServer

        return AnthropicServer(seed=7, **options)
    from faultproxy.servers.openai import OpenAIServer

    return OpenAIServer(seed=7, **options)


def base_url(client: str, root: str) -> str:
    """The SDK's base_url for a server root: OpenAI's includes /v1, Anthropic's SDK adds it."""
    root = root.rstrip("/")
    return root if client == "anthropic" else root + "/v1"


async def sdk_cell(client: str, server: Any, proxy_faults: list | None = None, **request: Any):
    options = {"method": "POST", "deadline_s": DEADLINE, **request}
    async with server:
        if proxy_faults is not None:
            async with Proxy(f"127.0.0.1:{server.port}", faults=proxy_faults) as proxy:
                transcript = await arun_client(client, ClientRequest(base_url(client, proxy.url), **options))
        else:
            transcript = await arun_client(client, ClientRequest(base_url(client, server.url), **options))
    return transcript, server


SDK_SCENARIOS: dict[str, Callable[[str], Awaitable[Any]]] = {
    "healthy": lambda c: sdk_cell(c, mock_for(c, tokens=6)),
    # the API's own in-stream error event after 2 deltas; the body then ends cleanly
    "stream_error": lambda c: sdk_cell(c, mock_for(c, tokens=6, error_after=2)),
    # the proxy cuts the connection (FIN, no last chunk) after 4 SSE events
    "drop": lambda c: sdk_cell(c, mock_for(c, tokens=6), disconnect_after(4)),
    # 429 on the first request only; the SDK may retry (max_retries = max_reconnects)
    "retry_429": lambda c: sdk_cell(
        c,
        mock_for(c, tokens=4, error_status=429, error_count=1, retry_after=0.05),
        reconnect=True,
        max_reconnects=2,
    ),
    # the first delta, then 20 s to the next
    "hang": lambda c: sdk_cell(c, mock_for(c, tokens=4, tokens_per_s=0.05), deadline_s=HANG_DEADLINE),
}


def all_cells(clients: list[str], scenarios: dict) -> dict:
    return {(s, c): (lambda s=s, c=c: scenarios[s](c)) for s in scenarios for c in clients}


def table(results: dict) -> str:
    rows = []
    for (scenario, client), result in sorted(results.items()):
        if isinstance(result, BaseException):
            rows.append(f"{scenario:20} {client:25} EXCEPTION {result!r}")
            continue
        t, _ = result
        if client in SDK_CLIENTS:
            seen = repr("".join(e.data for e in t.events if e.type == "delta"))
        else:
            seen = str([e.id for e in t.events])
        attempts = [(a.last_event_id, a.status, a.ended) for a in t.attempts]
        rows.append(f"{scenario:20} {client:25} {t.end:9} {t.error_type or '':38} {seen} {attempts}")
    return "\n".join(rows)


if __name__ == "__main__":
    import time

    started = time.monotonic()
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    cells = {}
    if which in ("all", "sse"):
        cells.update(all_cells(SSE_CLIENTS, SSE_SCENARIOS))
    if which in ("all", "sdk"):
        cells.update({(f"sdk-{s}", c): f for (s, c), f in all_cells(SDK_CLIENTS, SDK_SCENARIOS).items()})
    results = run_cells(cells)
    print(table(results))
    print(f"{len(cells)} cells in {time.monotonic() - started:.1f}s")
