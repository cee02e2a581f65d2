"""Fixtures for the fault tests: real upstreams on loopback.

``aio``, ``make_proxy`` (which takes ``faults=[…]``), ``serve`` and ``raw_client`` are the
suite-wide ones in ``tests/conftest.py``, shared with the proxy tests; the machinery they hand
out (loops on threads, scripted servers, raw clients that tell FIN from RST) is :mod:`proxy_harness`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from proxy_harness import LoopThread

from faultproxy.lab.sse_server import SSEServer


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
