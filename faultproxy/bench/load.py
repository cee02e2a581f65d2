"""The load generators: as little work per byte and per event as Python allows.

- :func:`read_stream` -- throughput: one blocking socket, ``recv_into`` a 1 MiB buffer,
  counting bytes and watching the last five for the last chunk. Runs in the ``bench``
  process itself, so it competes with neither the upstream nor the proxy for a core.
- :func:`latency_run` -- many paced streams on raw asyncio Protocols (uvloop in the worker).
  Each read is stamped once with ``time.monotonic_ns()``; every event in it yields one
  sample ``received - sent`` (same clock: the upstream is in the same process).
- :class:`IdleStreams` -- many open streams that only receive keep-alive comments.

Every loop here is bounded by a count and a deadline.
"""

from __future__ import annotations

import asyncio
import math
import re
import socket
import ssl
import struct
import time
from dataclasses import dataclass, field

from faultproxy.bench.upstream import Upstream

_LAST = b"0\r\n\r\n"
_SENT = re.compile(rb"\ndata: (\d+) ")
_LINGER_RST = struct.pack("ii", 1, 0)


def request(path: str, port: int) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/event-stream\r\n\r\n".encode()


# -- throughput ---------------------------------------------------------------------------------


@dataclass
class StreamRead:
    bytes: int  # everything read, head included
    seconds: float  # from sending the request to reading the last chunk (or giving up)
    complete: bool  # the last chunk arrived
    status: int | None

    @property
    def mb_s(self) -> float:
        return self.bytes / self.seconds / 1e6 if self.seconds > 0 else 0.0


def read_stream(
    port: int, path: str, *, time_limit: float, buffer: int = 1 << 20, tls: ssl.SSLContext | None = None
) -> StreamRead:
    """Read one chunked response from ``127.0.0.1:port`` to its end, or until ``time_limit``
    (over TLS with a client ``tls`` context)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        if tls is not None:
            sock = tls.wrap_socket(sock, server_hostname="127.0.0.1")
        buf = bytearray(buffer)
        view = memoryview(buf)
        head = b""
        status: int | None = None
        total = 0
        tail = b""
        started = time.perf_counter()
        deadline = started + time_limit
        sock.settimeout(min(time_limit, 10))
        sock.sendall(request(path, port))
        recv_into = sock.recv_into
        while True:
            try:
                n = recv_into(view)
            except TimeoutError:
                break
            if n == 0:
                break
            total += n
            if status is None:
                head += bytes(view[:n])
                end = head.find(b"\r\n\r\n")
                if end < 0:
                    continue
                status = int(head.split(b" ", 2)[1])
                tail = head[end + 4 :][-5:]
            else:
                tail = (tail + view[max(0, n - 5) : n].tobytes())[-5:]
            if tail == _LAST:
                return StreamRead(total, time.perf_counter() - started, True, status)
            if time.perf_counter() > deadline:
                break
        return StreamRead(total, time.perf_counter() - started, False, status)
    finally:
        sock.close()


# -- latency ------------------------------------------------------------------------------------


@dataclass
class LatencyState:
    streams: int
    samples: list[int] = field(default_factory=list)  # nanoseconds, received - sent
    ready: int = 0
    ended: int = 0
    failed: int = 0
    all_ready: asyncio.Future | None = None
    all_ended: asyncio.Future | None = None

    def check(self) -> None:
        if self.ready + self.failed >= self.streams and not self.all_ready.done():
            self.all_ready.set_result(None)
        if self.ended + self.failed >= self.streams and not self.all_ended.done():
            self.all_ended.set_result(None)


class LatencyConn(asyncio.Protocol):
    def __init__(self, state: LatencyState, req: bytes):
        self.state = state
        self.req = req
        self.transport: asyncio.Transport | None = None
        self.tail = b""
        self.ready = False
        self.done = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport.write(self.req)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        buf = self.tail + data if self.tail else data
        state = self.state
        last = 0
        append = state.samples.append
        for m in _SENT.finditer(buf):
            append(now - int(m.group(1)))
            last = m.end()
        # keep only what may hold the start of an event split across reads
        self.tail = buf[last:][-48:]
        if not self.ready and b": ready" in buf:
            self.ready = True
            state.ready += 1
            state.check()
        if buf.endswith(_LAST) and self.ready and not self.done:
            self.done = True
            state.ended += 1
            self.transport.close()
            state.check()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done and self.transport is not None:
            self.done = True
            self.state.failed += 1
            self.state.check()


async def _open_all(
    port: int, factories: list, concurrency: int, deadline: float, tls: ssl.SSLContext | None = None
) -> list:
    """Open one connection per factory, at most ``concurrency`` connects in flight (TLS with ``tls``)."""
    loop = asyncio.get_running_loop()
    secure = {"ssl": tls, "server_hostname": "127.0.0.1"} if tls is not None else {}
    sem = asyncio.Semaphore(concurrency)
    opened: list = []

    async def one(factory) -> None:
        async with sem:
            if loop.time() > deadline:
                raise TimeoutError("deadline passed before connecting")
            _, protocol = await asyncio.wait_for(
                loop.create_connection(factory, "127.0.0.1", port, **secure),
                timeout=max(0.1, deadline - loop.time()),
            )
            opened.append(protocol)

    results = await asyncio.gather(*(one(f) for f in factories), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    return opened, errors


HIST_BASE = 1.01  # histogram bins 1% wide: rounds of a run merge without keeping every sample


def histogram(values: list[int]) -> dict[int, int]:
    """Sparse log histogram of positive nanosecond values: bin k holds [1.01**k, 1.01**(k+1))."""
    scale = 1 / math.log(HIST_BASE)
    out: dict[int, int] = {}
    for value in values:
        k = int(math.log(max(value, 1)) * scale)
        out[k] = out.get(k, 0) + 1
    return out


def hist_percentile(hist: dict[int, int], q: float) -> float:
    """The q-quantile of a histogram from :func:`histogram` (the middle of its bin), in ns."""
    total = sum(hist.values())
    if not total:
        return 0.0
    rank = max(1, math.ceil(q * total))
    seen = 0
    for k in sorted(hist):
        seen += hist[k]
        if seen >= rank:
            return HIST_BASE ** (k + 0.5)
    return HIST_BASE ** (max(hist) + 0.5)


def percentile(sorted_values: list[int], q: float) -> int:
    if not sorted_values:
        return 0
    rank = math.ceil(q * len(sorted_values))  # nearest rank
    return sorted_values[min(len(sorted_values), max(1, rank)) - 1]


async def latency_run(
    upstream: Upstream,
    port: int,
    *,
    streams: int,
    seconds: float,
    rate: float,
    event_size: int,
    connect_concurrency: int = 100,
    setup_timeout: float = 60.0,
    grace: float = 10.0,
    tls: ssl.SSLContext | None = None,
) -> dict:
    """Open ``streams`` paced streams through ``port``, start them together, collect latencies."""
    loop = asyncio.get_running_loop()
    run_id = upstream.new_run(rate, seconds, event_size)
    state = LatencyState(streams, all_ready=loop.create_future(), all_ended=loop.create_future())
    req = request(f"/paced?run={run_id}", port)
    conns: list[LatencyConn] = []

    def factory() -> LatencyConn:
        conn = LatencyConn(state, req)
        conns.append(conn)
        return conn

    t_setup = loop.time()
    try:
        _, errors = await _open_all(
            port, [factory] * streams, connect_concurrency, t_setup + setup_timeout, tls
        )
        state.failed += len(errors)  # connection_lost() counts the others
        state.check()
        try:
            await asyncio.wait_for(
                asyncio.shield(state.all_ready), max(0.1, t_setup + setup_timeout - loop.time())
            )
        except TimeoutError:
            pass
        setup_s = loop.time() - t_setup
        ready = state.ready
        upstream.go(run_id)
        t_go = loop.time()
        try:
            await asyncio.wait_for(asyncio.shield(state.all_ended), seconds + grace)
            timed_out = False
        except TimeoutError:
            timed_out = True
        run_s = loop.time() - t_go
    finally:
        upstream.forget(run_id)
        for conn in conns:
            if conn.transport is not None and not conn.transport.is_closing():
                conn.transport.abort()
        await asyncio.sleep(0.2)
    samples = sorted(state.samples)
    expected = ready * max(1, int(seconds * rate))
    ms = 1e6
    return {
        "streams": streams,
        "ready": ready,
        "ended": state.ended,
        "failed": state.failed,
        "connect_errors": len(errors),
        "events": len(samples),
        "expected": expected,
        "timed_out": timed_out,
        "setup_s": round(setup_s, 3),
        "run_s": round(run_s, 3),
        "p50_ms": round(percentile(samples, 0.50) / ms, 3),
        "p90_ms": round(percentile(samples, 0.90) / ms, 3),
        "p99_ms": round(percentile(samples, 0.99) / ms, 3),
        "p999_ms": round(percentile(samples, 0.999) / ms, 3),
        "max_ms": round((samples[-1] if samples else 0) / ms, 3),
        "mean_ms": round((sum(samples) / len(samples) if samples else 0) / ms, 3),
        "hist": histogram(samples),
    }


# -- concurrency ----------------------------------------------------------------------------------


class IdleConn(asyncio.Protocol):
    def __init__(self, owner: IdleStreams, req: bytes):
        self.owner = owner
        self.req = req
        self.transport: asyncio.Transport | None = None
        self.open = False
        self.lost = False
        self.keep_alives = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.owner.conns.append(self)
        transport.write(self.req)

    def data_received(self, data: bytes) -> None:
        if not self.open and b": open" in data:
            self.open = True
            self.owner.opened += 1
            self.owner.check()
        self.keep_alives += data.count(b"\n: keep-alive\n")  # not "Connection: keep-alive"

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.open and self.transport is not None:
            self.owner.failed += 1
            self.owner.check()


class IdleStreams:
    """``await streams.open(port, n, interval)`` … ``await streams.close()``."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.conns: list[IdleConn] = []
        self.opened = 0
        self.failed = 0
        self.wanted = 0
        self._all: asyncio.Future | None = None

    def check(self) -> None:
        if self._all is not None and not self._all.done() and self.opened + self.failed >= self.wanted:
            self._all.set_result(None)

    async def open(
        self, port: int, streams: int, interval: float, *, concurrency: int = 100, timeout: float = 60.0
    ) -> dict:
        loop = asyncio.get_running_loop()
        self.wanted = streams
        self._all = loop.create_future()
        req = request(f"/idle?interval={interval:g}", port)
        started = loop.time()
        _, errors = await _open_all(
            port, [lambda: IdleConn(self, req)] * streams, concurrency, started + timeout, self.tls
        )
        self.failed += len(errors)  # connection_lost() counts the others
        self.check()
        try:
            await asyncio.wait_for(asyncio.shield(self._all), max(0.1, started + timeout - loop.time()))
        except TimeoutError:
            pass
        return {
            "streams": streams,
            "opened": self.opened,
            "failed": self.failed,
            "connect_errors": len(errors),
            "open_s": round(loop.time() - started, 3),
        }

    def status(self) -> dict:
        alive = sum(1 for c in self.conns if c.open and not c.lost)
        return {"alive": alive, "keep_alives": sum(c.keep_alives for c in self.conns)}

    async def close(self) -> dict:
        status = self.status()
        for conn in self.conns:
            transport = conn.transport
            if transport is not None and not transport.is_closing():
                sock = transport.get_extra_info("socket")
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)  # no TIME_WAIT
                except OSError:
                    pass
                transport.abort()
        await asyncio.sleep(0.3)
        self.conns.clear()
        return status
