"""Fixtures for the proxy tests; the machinery they hand out is in :mod:`proxy_harness`.

``make_proxy``, ``serve`` and ``raw_client`` are the suite-wide ones in ``tests/conftest.py``;
this ``aio`` overrides the suite-wide one so that they all run on asyncio and on uvloop.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator

import pytest
from proxy_harness import (
    CURL,
    GUARD,
    LOOPS,
    LoopThread,
    SSEServer,
    free_port,
)

# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(params=LOOPS)
def aio(request: pytest.FixtureRequest) -> Iterator[LoopThread]:
    """The loop the proxy and the scripted servers run on: every test runs on asyncio and on uvloop."""
    thread = LoopThread("proxy-tests", request.param)
    yield thread
    thread.stop()


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
