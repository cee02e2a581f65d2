"""Suite-wide settings and the real-socket fixtures shared by the proxy and fault tests.

Under CI (``CI`` set in the environment) hypothesis runs derandomized: every CI run explores
the same examples, so a red build always reproduces and never depends on a lucky draw.
Locally it explores freshly each run, and prints a reproduction blob for any failure.

The fixtures (a loop on a thread, a started proxy, scripted servers, the lab SSE server, raw
clients) hand out the machinery of :mod:`proxy_harness`; they live here once so that
``tests/proxy``, ``tests/faults`` and ``tests/control`` get the same ones. ``tests/proxy`` overrides ``aio`` to run each of its
tests on asyncio and on uvloop.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import settings
from proxy_harness import Handler, LoopThread, RawClient, ScriptedServer

from faultproxy.faults import parse_fault
from faultproxy.lab.sse_server import SSEServer
from faultproxy.proxy.server import Proxy

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def aio() -> Iterator[LoopThread]:
    """The asyncio loop, on its own thread, that the proxy and the scripted servers run on."""
    thread = LoopThread("fault-tests")
    yield thread
    thread.stop()


@pytest.fixture
def make_proxy(aio: LoopThread) -> Iterator[Callable[..., Proxy]]:
    """``make_proxy(upstream, faults=[{type:…, attributes:…}, …], **options)``: a started
    :class:`Proxy` on 127.0.0.1:0, stopped at the end of the test."""
    proxies: list[Proxy] = []

    def make(upstream: str, faults: list[dict[str, Any]] | None = None, **options: Any) -> Proxy:
        specs = [parse_fault(f, index=i) for i, f in enumerate(faults or [])]

        async def start() -> Proxy:
            return await Proxy(upstream, "127.0.0.1:0", faults=specs, **options).start()

        proxy = aio.call(start())
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        aio.call(proxy.stop())


@pytest.fixture
def serve(aio: LoopThread) -> Iterator[Callable[..., ScriptedServer]]:
    """``serve(handler)``: a started :class:`ScriptedServer` whose exact bytes the test controls."""
    servers: list[ScriptedServer] = []

    def make(handler: Handler, **options: Any) -> ScriptedServer:
        server = ScriptedServer(aio, handler, **options).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def lab_sse(aio: LoopThread) -> Iterator[Callable[..., SSEServer]]:
    """``lab_sse(events=10, interval=0.01, …)``: the lab SSE server (ground truth in ``.sent``)."""
    servers: list[SSEServer] = []

    def make(**options: Any) -> SSEServer:
        server = SSEServer(**options)
        aio.call(server.start())
        servers.append(server)
        return server

    yield make
    for server in servers:
        aio.call(server.stop())


@pytest.fixture
def raw_client() -> Iterator[Callable[[int], RawClient]]:
    """``raw_client(port)``: a :class:`RawClient` on 127.0.0.1:port, closed at the end of the test."""
    clients: list[RawClient] = []

    def make(port: int) -> RawClient:
        client = RawClient(port)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def registry_as_it_was() -> Iterator[None]:
    """Clients a test defines (a scenario file, a config file) are gone after it: the client
    registry is shared by the whole session."""
    from faultproxy import config
    from faultproxy.clients import registry

    clients, loaded = dict(registry.REGISTRY), set(config._loaded)
    yield
    registry.REGISTRY.clear()
    registry.REGISTRY.update(clients)
    config._loaded.clear()
    config._loaded.update(loaded)
