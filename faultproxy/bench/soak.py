"""The soak: many short SSE streams through one proxy, and what the proxy holds afterwards.

A small upstream serves ``GET /soak?s=STREAM&n=EVENTS`` — ``n`` events whose bytes depend only
on the stream and the event number, then the last chunk — so every client knows the exact bytes
it must get. Clients run ``concurrency`` streams at a time through a :class:`~faultproxy.proxy.server.Proxy`
in this process, until ``streams`` have run (or ``seconds`` have passed). With no fault, every
stream must arrive byte for byte (``altered`` counts those that did not); with faults, each ends
as it ends and is counted by how.

After a warm-up (the first tenth of the streams, 2,000 at most: the allocator's and asyncio's
one-off growth)
and again at the end, after a garbage collection, the probe takes the process's resident memory,
its open descriptors, its asyncio tasks, the proxy's live connections, and — with ``trace`` — a
tracemalloc snapshot: what grew between the two, by the line that allocated it, is the leak if
there is one. ``python -m faultproxy.bench.soak --help`` runs it from a shell; the test suite runs
it for a few seconds (``tests/reliability/test_soak.py``), ``docs/reliability.md`` for minutes.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Any

from faultproxy.faults import FaultSpec, parse_fault
from faultproxy.proxy.server import Proxy

HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
    b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
)
LAST_CHUNK = b"0\r\n\r\n"
TRACE_FRAMES = 6
WARM_UP = 2000  # streams at most before the baseline is taken (a tenth of a short soak)

# every fault type that applies to a plain SSE stream, with attributes that make it fire
RANDOM_FAULTS: list[dict[str, Any]] = [
    {"type": "sse_drop", "attributes": {"event_index": 2}},
    {"type": "sse_duplicate", "attributes": {"event_index": 1}},
    {"type": "sse_reorder", "attributes": {"after": 1}},
    {"type": "sse_delay", "attributes": {"delay_ms": 2}},
    {"type": "sse_stall", "attributes": {"after_events": 3, "duration_ms": 20}},
    {"type": "sse_corrupt", "attributes": {"kind": "bom"}},
    {"type": "sse_split", "attributes": {"mode": "byte"}},
    {"type": "sse_disconnect", "attributes": {"after_events": 3}},
    {
        "type": "malformed_chunk",
        "attributes": {"chunk": 2},
    },  # truncate_chunk and sse_disconnect both end a stream: never together
    {"type": "latency", "attributes": {"latency": 3}},
    {"type": "slicer", "attributes": {"average_size": 7, "delay": 0}},
]


def event(stream: int, n: int) -> bytes:
    """Event ``n`` of stream ``stream``, as one chunk."""
    block = b'id: %d\ndata: {"stream": %d, "n": %d, "text": "%s"}\n\n' % (n, stream, n, b"x" * (n % 17))
    return b"%x\r\n%s\r\n" % (len(block), block)


def expected(stream: int, events: int) -> bytes:
    return HEAD + b"".join(event(stream, n) for n in range(1, events + 1)) + LAST_CHUNK


class _Upstream(asyncio.Protocol):
    """One connection of the soak's upstream: a request line in, a whole stream out, then FIN."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if b"\r\n\r\n" not in self.buffer or self.transport is None:
            return
        target = self.buffer.split(b" ", 2)[1]
        query = dict(part.split(b"=", 1) for part in target.partition(b"?")[2].split(b"&") if b"=" in part)
        self.transport.write(expected(int(query.get(b"s", b"0")), int(query.get(b"n", b"5"))))
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


@dataclass
class Sample:
    """What the process holds at one moment."""

    rss_kib: int
    fds: int
    tasks: int
    proxy_connections: int
    evidence: int  # fault firings the proxy keeps (bounded: faults.faultset.EVIDENCE_KEPT)

    @classmethod
    def take(cls, proxy: Proxy) -> Sample:
        gc.collect()
        with open("/proc/self/status") as status:
            rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        return cls(
            rss,
            len(os.listdir("/proc/self/fd")),
            len(asyncio.all_tasks()),
            proxy.active,
            len(proxy.faults.evidence),
        )


@dataclass
class SoakResult:
    streams: int = 0
    seconds: float = 0.0
    exact: int = 0  # arrived byte for byte
    altered: int = 0  # arrived whole but different (with no fault: a bug)
    cut: int = 0  # ended before the last chunk
    errors: int = 0  # connect or read errors
    baseline: Sample | None = None
    end: Sample | None = None
    growth: list[str] = field(default_factory=list)  # tracemalloc: the lines that grew most
    growth_bytes: int = 0  # tracemalloc: everything that grew, all lines

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["baseline"] = self.baseline.__dict__ if self.baseline else None
        out["end"] = self.end.__dict__ if self.end else None
        return out


async def _one(port: int, stream: int, events: int, result: SoakResult) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        result.errors += 1
        return
    try:
        writer.write(
            b"GET /soak?s=%d&n=%d HTTP/1.1\r\nHost: soak\r\nAccept: text/event-stream\r\n\r\n"
            % (stream, events)
        )
        body = await reader.read()  # to EOF: the upstream closes after the stream, a fault may cut it
    except OSError:
        result.errors += 1
        return
    finally:
        writer.close()
    if body == expected(stream, events):
        result.exact += 1
    elif body.endswith(LAST_CHUNK):
        result.altered += 1
    else:
        result.cut += 1


async def soak(
    streams: int,
    *,
    concurrency: int = 50,
    events: int = 8,
    faults: list[dict[str, Any]] | None = None,
    seconds: float | None = None,
    seed: int = 0,
    trace: bool = False,
    progress: Any = None,
) -> SoakResult:
    """Run the soak (see the module doc); ``faults``: fault descriptions, each given to a random
    tenth of the connections (``toxicity``) so that most streams meet none or one."""
    loop = asyncio.get_running_loop()
    upstream = await loop.create_server(_Upstream, "127.0.0.1", 0)
    port = upstream.sockets[0].getsockname()[1]
    specs: list[FaultSpec] = [
        parse_fault({**f, "name": f"f{i}", "toxicity": 0.1}, index=i) for i, f in enumerate(faults or [])
    ]
    result = SoakResult()
    rng = random.Random(seed)
    try:
        async with Proxy(f"http://127.0.0.1:{port}", faults=specs, seed=seed) as proxy:
            started = time.monotonic()
            deadline = started + seconds if seconds else float("inf")
            counter = iter(range(streams))

            async def worker(limit: int) -> None:
                for stream in counter:
                    await _one(proxy.port, stream, rng.randint(1, events), result)
                    if stream + 1 >= limit or time.monotonic() > deadline:
                        return

            before = None
            for limit in (max(1, min(streams // 10, WARM_UP)), streams):  # the warm-up, then the rest
                await asyncio.gather(*(worker(limit) for _ in range(concurrency)))
                await _settle(proxy)
                if result.baseline is None:
                    result.baseline = Sample.take(proxy)
                    before = tracemalloc.take_snapshot() if trace else None
                if progress is not None:
                    progress(result)
            result.streams = result.exact + result.altered + result.cut + result.errors
            result.seconds = round(time.monotonic() - started, 3)
            result.end = Sample.take(proxy)
            if before is not None:
                _growth(before, tracemalloc.take_snapshot(), result)
    finally:
        upstream.close()
        await upstream.wait_closed()
    return result


async def _settle(proxy: Proxy, limit: float = 10.0) -> None:
    """Until the proxy has forgotten every connection (it does so when both sockets are gone)."""
    deadline = time.monotonic() + limit
    while proxy.active and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


def _growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, result: SoakResult) -> None:
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__)]
    diff = after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "traceback")
    result.growth_bytes = sum(stat.size_diff for stat in diff)
    for stat in diff[:8]:
        if stat.size_diff <= 0:
            break
        where = " <- ".join(f"{frame.filename.rsplit('/', 2)[-1]}:{frame.lineno}" for frame in stat.traceback)
        result.growth.append(f"{stat.size_diff:+,} B in {stat.count_diff:+,} blocks: {where}")


def main() -> None:
    import argparse
    import json
    import sys

    from faultproxy.aio import run

    parser = argparse.ArgumentParser(
        prog="python -m faultproxy.bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--streams", type=int, default=20000)
    parser.add_argument("--minutes", type=float, help="stop starting streams after this long")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--events", type=int, default=8, help="at most this many events per stream")
    parser.add_argument(
        "--faults",
        choices=["none", "random"],
        default="none",
        help="random: each of 11 fault types on a random tenth of the connections",
    )
    parser.add_argument("--trace", action="store_true", help="tracemalloc: where memory grew")
    args = parser.parse_args()
    if args.trace:
        tracemalloc.start(TRACE_FRAMES)

    def progress(result: SoakResult) -> None:
        done = result.exact + result.altered + result.cut + result.errors
        print(
            f"{done} streams: exact {result.exact}, altered {result.altered}, cut {result.cut}, "
            f"errors {result.errors}",
            file=sys.stderr,
        )

    result = run(
        soak(
            args.streams,
            concurrency=args.concurrency,
            events=args.events,
            faults=RANDOM_FAULTS if args.faults == "random" else None,
            seconds=args.minutes * 60 if args.minutes else None,
            trace=args.trace,
            progress=progress,
        )
    )
    print(json.dumps(result.as_dict(), indent=2))


if __name__ == "__main__":
    main()
