"""The benchmark's upstream: an SSE server built to be cheaper than anything put in front of it.

One asyncio Protocol per connection, no streams, no parsing beyond the request line. Three
kinds of response, all ``200`` with ``Content-Type: text/event-stream`` and a chunked body,
every event its own chunk (as SSE servers flush them):

``GET /throughput?blocks=N``
    N copies of one pre-built block (1 MiB of ~1 KiB events), written as fast as the socket
    takes them: the only per-block work is one ``transport.write`` of an existing bytes object.
``GET /paced?run=ID``
    a ``: ready`` comment at once, then nothing until the load client, having opened every
    stream of the run, calls :meth:`Upstream.go`. From then on each stream gets ``rate``
    events a second for ``seconds`` seconds, the streams' phases spread evenly over the period,
    each event carrying ``time.monotonic_ns()`` taken just before it is written.
``GET /idle?interval=S``
    an ``: open`` comment at once, then a ``: keep-alive`` comment every S seconds, forever.

Any other path is ``404``. A request body is not expected and not read.
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/event-stream\r\n"
    b"Cache-Control: no-cache\r\n"
    b"X-Accel-Buffering: no\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"\r\n"
)
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"

BLOCK_SIZE = 1 << 20
EVENT_SIZE = 1024
PACED_EVENT_SIZE = 200  # about what one LLM token event is, with its JSON envelope

# SSE bodies here use LF line ends only, so "\r\n\r\n" occurs in a stream only after the head
# and in the last chunk: a reader finds the end by looking for "0\r\n\r\n" at its tail.


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def throughput_block(event_size: int = EVENT_SIZE, block_size: int = BLOCK_SIZE) -> tuple[bytes, int]:
    """About ``block_size`` bytes of chunked SSE events of ``event_size`` bytes each.

    Returns the block as it goes on the wire and how many of its bytes are SSE (the rest is
    chunk framing).
    """
    filler = b"abcdefghijklmnopqrstuvwxyz0123456789" * (event_size // 36 + 1)
    pieces, wire, payload, n = [], 0, 0, 0
    while wire < block_size:
        head = b"id: %d\nevent: token\ndata: " % n
        event = head + filler[: max(1, event_size - len(head) - 2)] + b"\n\n"
        piece = chunk(event)
        pieces.append(piece)
        wire += len(piece)
        payload += len(event)
        n += 1
    return b"".join(pieces), payload


def paced_event(seq: int, sent_ns: int, pad: bytes) -> bytes:
    return chunk(b"id: %d\ndata: %d %s\n\n" % (seq, sent_ns, pad))


@dataclass
class PacedRun:
    """The streams of one latency run, held silent until :meth:`Upstream.go`."""

    rate: float
    seconds: float
    pad: bytes
    streams: list[Conn] = field(default_factory=list)
    task: asyncio.Task | None = None


def _raise_nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


class Conn(asyncio.Protocol):
    """One client of the upstream."""

    def __init__(self, server: Upstream):
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.busy = False  # a response is being written
        self.paused = False
        self.pumping = False  # a throughput body is being written
        self.blocks_left = 0
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        _raise_nodelay(transport)
        self.transport.set_write_buffer_limits(high=4 * BLOCK_SIZE, low=BLOCK_SIZE)
        self.server.conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.conns.discard(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def data_received(self, data: bytes) -> None:
        if self.busy:
            return  # nothing is pipelined in a benchmark; a request during a stream is ignored
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > 65536:
                self.transport.abort()
            return
        head, self.buf = self.buf[:end], self.buf[end + 4 :]
        line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        target = urlsplit(parts[1] if len(parts) == 3 else "/")
        query = {k: v[-1] for k, v in parse_qs(target.query).items()}
        self.busy = True
        try:
            if target.path == "/throughput":
                self.blocks_left = int(query.get("blocks", "1"))
                self.pumping = True
                self.transport.write(HEAD)
                self._pump()
            elif target.path == "/paced":
                run = self.server.runs[query["run"]]
                run.streams.append(self)
                self.transport.write(HEAD + chunk(b": ready\n\n"))
            elif target.path == "/idle":
                interval = float(query.get("interval", "5"))
                self.transport.write(HEAD + chunk(b": open\n\n"))
                # spread the keep-alives of many streams over the interval
                self.timer = asyncio.get_running_loop().call_later(
                    interval * random.uniform(0.5, 1.0), self._keep_alive, interval
                )
            else:
                self.transport.write(NOT_FOUND)
                self.busy = False
        except (KeyError, ValueError):
            self.transport.write(NOT_FOUND)
            self.busy = False

    # -- throughput -------------------------------------------------------------------------

    def _pump(self) -> None:
        block, write = self.server.block, self.transport.write
        while self.blocks_left and not self.paused:
            self.blocks_left -= 1
            write(block)  # pause_writing() may be called from inside write()
        if not self.blocks_left and self.pumping and not self.paused:
            write(LAST_CHUNK)
            self.pumping = self.busy = False

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.pumping:
            self._pump()

    # -- idle -------------------------------------------------------------------------------

    def _keep_alive(self, interval: float) -> None:
        if self.closed:
            return
        self.transport.write(chunk(b": keep-alive\n\n"))
        self.timer = asyncio.get_running_loop().call_later(interval, self._keep_alive, interval)


class Upstream:
    """``await Upstream().start()``; then ``127.0.0.1:upstream.port`` serves the three paths."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None):
        self.host = host
        self.want_port = port
        self.tls = tls  # serve HTTPS with this server context
        self.block, self.block_payload = throughput_block()
        self.conns: set[Conn] = set()
        self.runs: dict[str, PacedRun] = {}
        self._server: asyncio.Server | None = None
        self._next_run = 0

    async def start(self) -> Upstream:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Conn(self), self.host, self.want_port, backlog=8192, ssl=self.tls
        )
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for conn in list(self.conns):
                if conn.transport is not None:
                    conn.transport.abort()
            await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    # -- paced runs --------------------------------------------------------------------------

    def new_run(self, rate: float, seconds: float, event_size: int = PACED_EVENT_SIZE) -> str:
        self._next_run += 1
        run_id = f"r{self._next_run}"
        # "id: NNN\ndata: <19 digits> <pad>\n\n"
        pad = b"x" * max(1, event_size - 40)
        self.runs[run_id] = PacedRun(rate, seconds, pad)
        return run_id

    def go(self, run_id: str) -> asyncio.Task:
        run = self.runs[run_id]
        run.task = asyncio.get_running_loop().create_task(self._pace(run))
        return run.task

    def forget(self, run_id: str) -> None:
        run = self.runs.pop(run_id, None)
        if run is not None and run.task is not None:
            run.task.cancel()

    async def _pace(self, run: PacedRun) -> None:
        """Every stream ``rate`` times a second, in a fixed order spread over the period.

        One loop for all streams: it wakes about every millisecond and writes every event that
        has come due, so 1,000 streams at 20/s cost 20,000 writes a second and no timers.
        """
        streams = list(run.streams)
        n = len(streams)
        if n == 0:
            return
        period = int(1e9 / run.rate)
        ticks = max(1, int(run.seconds * run.rate))
        offsets = [period * i // n for i in range(n)]
        pad = run.pad
        clock = time.monotonic_ns
        start = clock() + 1_000_000
        tick, i = 0, 0  # the next event due: stream i of tick
        while tick < ticks:
            now = clock()
            limit = now - start
            while tick < ticks and tick * period + offsets[i] <= limit:
                conn = streams[i]
                if not conn.closed:
                    conn.transport.write(paced_event(tick, clock(), pad))
                i += 1
                if i == n:
                    i, tick = 0, tick + 1
            if tick < ticks:
                # at least a millisecond: the loop's timers have that resolution, and a shorter
                # wait would spin (a core the proxy needs); events due meanwhile go out together
                wait = start + tick * period + offsets[i] - clock()
                await asyncio.sleep(max(wait, 1_000_000) / 1e9)
        for conn in streams:
            if not conn.closed:
                conn.transport.write(LAST_CHUNK)
                conn.busy = False
