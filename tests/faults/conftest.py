"""Fixtures for the fault tests: a proxy with faults, real upstreams and real clients on loopback.

The machinery (loops on threads, scripted servers, raw clients that tell FIN from RST) is the
proxy tests' :mod:`proxy_harness`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from proxy_harness import LoopThread, RawClient, ScriptedServer

from faultproxy.faults import parse_fault
from faultproxy.lab.sse_server import SSEServer
from faultproxy.proxy.server import Proxy


@pytest.fixture
def aio() -> Iterator[LoopThread]:
    thread = LoopThread("fault-tests")
    yield thread
    thread.stop()


@pytest.fixture
def make_proxy(aio: LoopThread) -> Iterator[Callable[..., Proxy]]:
    """``make_proxy(upstream, faults=[{type:…, attributes:…}, …], seed=0, **options)``: a started Proxy."""
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
def serve(aio: LoopThread) -> Iterator[Callable[..., ScriptedServer]]:
    """``serve(handler)``: a purpose-built server whose exact bytes the test controls."""
    servers: list[ScriptedServer] = []

    def make(handler: Any, **options: Any) -> ScriptedServer:
        server = ScriptedServer(aio, handler, **options).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def raw_client() -> Iterator[Callable[[int], RawClient]]:
    clients: list[RawClient] = []

    def make(port: int) -> RawClient:
        client = RawClient(port)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
