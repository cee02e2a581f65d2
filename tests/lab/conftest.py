"""Shared fixtures for the lab tests: real peers (curl, http.client, uvicorn + sse-starlette,
the ``faultproxy`` executable) on 127.0.0.1, every server on an ephemeral port and stopped
at the end of its test."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from faultproxy.net.stream_server import StreamServer, first_request, running_in_thread
from faultproxy.wire.http import Request

FAULTPROXY = Path(sys.executable).with_name("faultproxy")
TIMEOUT = 20  # seconds; a generous bound on any single subprocess or wait, never an assertion


@pytest.fixture
def curl() -> Callable[..., subprocess.CompletedProcess[bytes]]:
    """Run curl with the given arguments; the raw stdout bytes and the exit code are what tests check."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")

    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["curl", "-sS", "--max-time", str(TIMEOUT), *args], capture_output=True, timeout=TIMEOUT + 5
        )

    return run


@pytest.fixture
def cli_server() -> Iterator[Callable[..., str]]:
    """Start ``faultproxy lab ... --listen 127.0.0.1:0`` as a subprocess; return the URL it announces."""
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str) -> str:
        proc = subprocess.Popen(
            [str(FAULTPROXY), "lab", *args, "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        processes.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "listening on URL  (...)"; EOF if it failed to start
        found = re.match(r"listening on (\S+)", line)
        assert found, f"server did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
        return found.group(1)

    yield start
    for proc in processes:
        proc.terminate()
        proc.wait(TIMEOUT)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


class CannedServer(StreamServer):
    """Answers the k-th connection with ``responses[k]`` (the last one repeats), then closes.

    For SSE client cases a well-behaved server never produces: other framings, other
    statuses and content types. The request heads it got are kept in :attr:`received`.
    """

    def __init__(self, *responses: bytes):
        super().__init__()
        self.responses = responses
        self.received: list[Request] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await first_request(reader, writer)
        if request is None:
            return
        self.received.append(request)
        writer.write(self.responses[min(len(self.received), len(self.responses)) - 1])
        await writer.drain()


@pytest.fixture
def canned_server() -> Iterator[Callable[..., CannedServer]]:
    """Start a :class:`CannedServer` in a background thread; stopped when the test ends."""
    with ExitStack() as stack:
        yield lambda *responses: stack.enter_context(running_in_thread(CannedServer(*responses)))


@pytest.fixture
def starlette_sse() -> Iterator[str]:
    """An sse-starlette ``EventSourceResponse`` app under uvicorn, in a thread; yields its base URL.

    ``/events`` sends events 1..5 (type ``tick``, ``retry: 20`` on the first) after the
    ``Last-Event-ID`` it is given, and ``204`` once all five were delivered. ``/plain`` is
    text/plain and ``/broken`` a 500.
    """
    uvicorn = pytest.importorskip("uvicorn")
    from sse_starlette.sse import EventSourceResponse
    from starlette.applications import Starlette
    from starlette.requests import Request as StarletteRequest
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    async def events(request: StarletteRequest) -> Response:
        last = int(request.headers.get("last-event-id", "0"))
        if last >= 5:
            return Response(status_code=204)

        async def stream():
            for n in range(last + 1, 6):
                yield {
                    "id": str(n),
                    "event": "tick",
                    "data": json.dumps({"n": n}),
                    "retry": 20 if n == last + 1 else None,
                }

        return EventSourceResponse(stream())

    app = Starlette(
        routes=[
            Route("/events", events),
            Route("/plain", lambda r: PlainTextResponse("not a stream")),
            Route("/broken", lambda r: PlainTextResponse("oops", status_code=500)),
        ]
    )
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):  # bounded wait for startup
        if server.started or not thread.is_alive():
            break
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(TIMEOUT)
