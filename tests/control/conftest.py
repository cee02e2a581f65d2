"""Fixtures for the control API: a real :class:`ControlServer` on the loop thread, driven by
toxiproxy-python unchanged, in front of real upstreams, with httpx as the client through it.

toxiproxy-python keeps the API's address in class attributes (``APIConsumer.host/port``):
the ``toxi`` fixture points them at this test's server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from proxy_harness import GUARD, Conn, LoopThread, ScriptedServer
from toxiproxy import Toxiproxy

from faultproxy.control import ControlServer

HELLO = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


async def hello(conn: Conn) -> None:
    """Answer every request on the connection with ``hello``, until the client closes."""
    while True:
        try:
            await conn.read_request()
        except EOFError:
            return
        await conn.write(HELLO)


@pytest.fixture
def control(aio: LoopThread) -> Iterator[ControlServer]:
    """A started control server on 127.0.0.1 (any free port), stopped with its proxies at the end."""
    server = aio.call(ControlServer(port=0).start())
    yield server
    aio.call(server.stop())


@pytest.fixture
def toxi(control: ControlServer) -> Toxiproxy:
    """toxiproxy-python's client, pointed at this test's control server."""
    client = Toxiproxy()
    client.update_api_consumer("127.0.0.1", control.port)
    return client


@pytest.fixture
def api(control: ControlServer) -> Iterator[httpx.Client]:
    """A plain HTTP client on the API, for what toxiproxy-python does not send (populate, updates)."""
    with httpx.Client(base_url=control.url, trust_env=False, timeout=GUARD) as client:
        yield client


@pytest.fixture
def upstream(serve: Callable[..., ScriptedServer]) -> str:
    """A real HTTP upstream answering ``hello``, as Toxiproxy takes it: bare ``HOST:PORT``."""
    return serve(hello).url.removeprefix("http://").rstrip("/")
