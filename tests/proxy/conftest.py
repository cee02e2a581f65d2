"""Fixtures for the proxy tests; the machinery they hand out is in :mod:`proxy_harness`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from proxy_harness import (
    CURL,
    GUARD,
    LOOPS,
    Handler,
    LoopThread,
    RawClient,
    ScriptedServer,
    SSEServer,
    free_port,
)

from faultproxy.proxy.server import Proxy

# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(params=LOOPS)
def aio(request: pytest.FixtureRequest) -> Iterator[LoopThread]:
    """The loop the proxy and the scripted servers run on: every test runs on asyncio and on uvloop."""
    thread = LoopThread("proxy-tests", request.param)
    yield thread
    thread.stop()


@pytest.fixture
def make_proxy(aio: LoopThread) -> Iterator[Callable[..., Proxy]]:
    """``make_proxy(upstream, **options)``: a started :class:`Proxy` on 127.0.0.1:0."""
    proxies: list[Proxy] = []

    def make(upstream: str, **options: Any) -> Proxy:
        async def start() -> Proxy:
            return await Proxy(upstream, "127.0.0.1:0", **options).start()

        proxy = aio.call(start())
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        aio.call(proxy.stop())


@pytest.fixture
def serve(aio: LoopThread) -> Iterator[Callable[..., ScriptedServer]]:
    """``serve(handler)``: a started :class:`ScriptedServer`."""
    servers: list[ScriptedServer] = []

    def make(handler: Handler, **options: Any) -> ScriptedServer:
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


@pytest.fixture
def curl() -> Callable[..., subprocess.CompletedProcess[bytes]]:
    """``curl(*args)``: run curl, silently, ignoring any proxy settings in the environment."""
    if CURL is None:
        pytest.skip("curl is not installed")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}

    def run(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [CURL, "--silent", "--show-error", "--noproxy", "*", *args],
            input=input,
            capture_output=True,
            timeout=GUARD,
            env=env,
            check=False,
        )

    return run


@pytest.fixture
def unused_port() -> int:
    return free_port()


@pytest.fixture
def sse_server() -> Iterator[SSEServer]:
    server = SSEServer().start()
    yield server
    server.stop()
