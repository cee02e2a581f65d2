"""Shared pieces of the client tests: a server that stalls, and running many clients at once.

(A plain module rather than a conftest, so that its name cannot clash with other test
directories' helpers.)

Every client runs in its own subprocess, and starting one costs a Python start and the
library's imports, so the scenario tests run all their (scenario, client) cells
concurrently on one event loop -- servers, proxies and the harness together -- and the
individual tests then check the stored transcripts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from faultproxy.net.stream_server import StreamServer, first_request
from faultproxy.wire.chunked import encode_chunk
from faultproxy.wire.http import encode_response
from faultproxy.wire.sse import encode_event

PARALLEL = 6  # client processes at once (they mostly wait on sockets, timers and deadlines)


class StallServer(StreamServer):
    """Answers 200 text/event-stream, sends ``events`` events (ids 1..N), then nothing, forever.

    The connection stays open until the client closes it or the server stops: the shape of a
    stream whose upstream went silent without closing. ``requests`` counts the connections it got.
    """

    def __init__(self, events: int = 2):
        super().__init__()
        self.events = events
        self.requests = 0
        self.sent: list[str] = []

    @property
    def url(self) -> str:
        return super().url + "events"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if await first_request(reader, writer) is None:
            return
        self.requests += 1
        writer.write(
            encode_response(
                200,
                "OK",
                [
                    ("Content-Type", "text/event-stream"),
                    ("Transfer-Encoding", "chunked"),
                    ("Cache-Control", "no-store"),
                ],
            )
        )
        for n in range(1, self.events + 1):
            data = f'{{"n": {n}}}'
            writer.write(encode_chunk(encode_event(data, id=str(n))))
            self.sent.append(data)
        await writer.drain()
        while await reader.read(65536):  # silent until the client goes away (or stop() cancels us)
            pass


Cell = tuple[str, str]  # (scenario, client)


def run_cells(cells: dict[Cell, Callable[[], Awaitable[Any]]], parallel: int = PARALLEL) -> dict[Cell, Any]:
    """Run every cell's coroutine factory on one loop, ``parallel`` at a time; results by cell.

    Cells whose scenario name starts with ``hang`` or ``timeout`` start first: they spend
    most of their time waiting, so they overlap with the rest.
    """

    async def main() -> dict[Cell, Any]:
        asyncio.get_running_loop().set_exception_handler(quiet_cancellations)
        gate = asyncio.Semaphore(parallel)

        async def one(cell: Cell) -> Any:
            async with gate:
                return await cells[cell]()

        order = sorted(cells, key=lambda c: not c[0].startswith(("hang", "timeout")))
        results = await asyncio.gather(*(one(c) for c in order), return_exceptions=True)
        return dict(zip(order, results))

    return asyncio.run(main())


def quiet_cancellations(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Stopping a server cancels its live connections; Python 3.11's stream callback then logs
    the CancelledError as if it were an error. Anything else is reported as usual."""
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


def check(result: Any) -> Any:
    """Re-raise a cell's exception in the test that looks at it."""
    if isinstance(result, BaseException):
        raise result
    return result


ALLOW_MISSING = "FAULTPROXY_ALLOW_MISSING_CLIENTS"


def require_available(name: str) -> None:
    """Fail (or, with FAULTPROXY_ALLOW_MISSING_CLIENTS=1, skip) a test whose client is not installed.

    CI installs every client (``scripts/bootstrap``), so a missing one there is a failure
    with the command that installs it, never a silent skip.
    """
    import os

    import pytest

    from faultproxy.clients import registry

    available = registry.get(name).available()
    if available.ok:
        return
    message = f"client {name!r} is not available: {available.reason}; install: {available.install}"
    if os.environ.get(ALLOW_MISSING) == "1":
        pytest.skip(message)
    pytest.fail(f"{message} (set {ALLOW_MISSING}=1 to skip instead)", pytrace=False)


def pairs(transcript: Any) -> list[tuple[str | None, int | None]]:
    """(Last-Event-ID sent, status got) of each connection attempt, as the client reported them."""
    return [(a.last_event_id, a.status) for a in transcript.attempts]


def attempts_match_server(transcript: Any, server: Any) -> None:
    """The client's attempts are the requests the server saw, with the same Last-Event-ID."""
    assert pairs(transcript) == [(r.last_event_id, r.status) for r in server.requests]


def events_match_server(transcript: Any, server: Any, type: str = "message") -> None:
    """Every event the server wrote, once, in order, on the connection it was written to."""
    assert [(e.data, e.id, e.connection) for e in transcript.events] == [
        (s.data, str(s.id), s.connection) for s in server.sent
    ]
    assert all(e.type == type for e in transcript.events)
    times = [e.t for e in transcript.events]
    assert times == sorted(times) and all(t >= 0 for t in times)
