"""The limits probe: a real ``faultproxy proxy`` at a descriptor limit, held by idle clients and
fed heads that never end, and what healthy clients get meanwhile (docs/reliability.md, "Limits").

The proxy runs as a subprocess with ``RLIMIT_NOFILE`` set (soft and hard, so raising it at
start cannot help), in front of a small keep-alive upstream that answers ``ok``. Then:

1. ``idle`` clients connect and send nothing (or the start of a head), as a slowloris would;
2. ``healthy`` clients, one after another, each send a whole request on a new connection: each
   gets ``200``, ``503`` (the proxy at its connection cap), or nothing (an EOF, a reset) — what
   the issue measured before the cap: healthy requests ending in an EOF, nothing logged;
3. the probe waits for the header timeout to close the idle clients and counts how each ended;
4. ``inputs`` random byte strings with no blank line go in, one connection each: the header
   timeout (or a limit, or a 400 for bytes that are no request) must end every one of them.

``python -m faultproxy.bench.limits --help`` runs it from a shell; ``tests/reliability/test_limits_probe.py``
runs a small one. Every wait is bounded; nothing here judges by elapsed time.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import resource
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
HEALTHY = b"GET /healthy HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n"
GUARD = 60.0  # seconds: a hang guard for one client, never a measurement


@dataclass
class Figures:
    """What the probe saw, as counts of how connections ended."""

    descriptors: int
    cap: int | None = None  # the connection cap the proxy announced
    idle: Counter[str] = field(default_factory=Counter)  # how the idle clients ended
    healthy_while_held: Counter[str] = field(default_factory=Counter)
    healthy_after: Counter[str] = field(default_factory=Counter)
    inputs: Counter[str] = field(default_factory=Counter)
    proxy_log: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        def show(counts: Counter[str]) -> str:
            return ", ".join(f"{n} {what}" for what, n in counts.most_common()) or "none"

        return [
            f"descriptor limit {self.descriptors}: connection cap {self.cap}",
            f"healthy requests while idle clients held the proxy: {show(self.healthy_while_held)}",
            f"idle clients: {show(self.idle)}",
            f"healthy requests after the header timeout: {show(self.healthy_after)}",
            f"inputs with no blank line: {show(self.inputs)}",
        ]


async def _upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while head := await reader.readuntil(b"\r\n\r\n"):
            writer.write(OK)
            if b"connection: close" in head.lower():
                break
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def _outcome(reader: asyncio.StreamReader, timeout: float = GUARD) -> str:
    """How a connection ended, as the client saw it: ``200``…, ``eof`` (no answer), ``rst``, ``open``."""
    data = bytearray()
    try:
        async with asyncio.timeout(timeout):
            while chunk := await reader.read(65536):
                data += chunk
    except TimeoutError:
        return "open" if not data else f"{_status(data)} then open"
    except ConnectionError:
        return "rst" if not data else f"{_status(data)} then rst"
    return _status(data) if data else "eof"


def _status(data: bytes | bytearray) -> str:
    found = re.match(rb"HTTP/1\.1 (\d{3})", data)
    return found.group(1).decode() if found else "garbage"


@asynccontextmanager
async def proxy_at_limit(
    descriptors: int, *args: str, soft: int | None = None
) -> AsyncIterator[tuple[int, Figures]]:
    """A ``faultproxy proxy`` subprocess at ``descriptors`` open files (its hard limit; ``soft``:
    a lower soft limit it starts with), before an upstream in this process: its port, and the
    Figures it starts (the cap it announced)."""
    upstream = await asyncio.start_server(_upstream, "127.0.0.1", 0)
    up_port = upstream.sockets[0].getsockname()[1]

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft or descriptors, descriptors))

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "faultproxy",
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        f"http://127.0.0.1:{up_port}",
        *args,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=limit,
    )
    figures = Figures(descriptors)
    assert process.stderr is not None
    port, drain = None, None
    try:
        async with asyncio.timeout(GUARD):
            while port is None:
                line = (await process.stderr.readline()).decode()
                if not line:
                    raise RuntimeError("the proxy exited before it listened: " + "".join(figures.proxy_log))
                figures.proxy_log.append(line)
                if found := re.match(r"faultproxy: http://127\.0\.0\.1:(\d+) ->", line):
                    port = int(found.group(1))
        try:  # the limits line follows at once (a proxy from before the limits has none)
            async with asyncio.timeout(2.0):
                line = (await process.stderr.readline()).decode()
            figures.proxy_log.append(line)
            if found := re.search(r"(\d+) connections \(descriptor limit", line):
                figures.cap = int(found.group(1))
        except TimeoutError:
            pass
        drain = asyncio.ensure_future(_keep_log(process.stderr, figures))
        yield port, figures
    finally:
        process.terminate()
        await process.wait()
        upstream.close()
        if drain is not None:
            await drain  # the rest of its log, to its end


async def _keep_log(stream: asyncio.StreamReader, figures: Figures) -> None:
    while line := await stream.readline():
        figures.proxy_log.append(line.decode())


async def healthy(port: int, count: int, answer_timeout: float = 10.0) -> Counter[str]:
    """``count`` whole requests, one after another, each on a new connection. An answer takes
    about a millisecond here: none within ``answer_timeout`` is counted as ``open`` (hung)."""
    seen: Counter[str] = Counter()
    for _ in range(count):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            seen["connect refused"] += 1
            continue
        writer.write(HEALTHY)
        seen[await _outcome(reader, answer_timeout)] += 1
        writer.close()
    return seen


def no_blank_line(rng: random.Random) -> bytes:
    """Random bytes that never hold the blank line that ends a head (some of them HTTP-like)."""
    start = rng.choice([b"", b"GET / HTTP/1.1\r\n", b"POST /x HTTP/1.1\r\nHost: h\r\n", b"G", b"\r\n"])
    noise = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
    data = start + noise
    while re.search(rb"\n\r?\n", data):
        data = re.sub(rb"\n(\r?)\n", rb"\n\1x", data)
    return data


async def probe(
    descriptors: int,
    idle: int,
    healthy_count: int,
    inputs: int,
    header_timeout: float,
    seed: int = 0,
    progress=print,
    flags: bool = True,
) -> Figures:  # type: ignore[no-untyped-def]
    """The probe (see the module docstring). ``flags=False``: start the proxy without the limit
    flags, for a proxy from before they existed (its idle clients then wait out the guard)."""
    args = ("--header-timeout", f"{header_timeout:g}") if flags else ()
    async with proxy_at_limit(descriptors, *args) as (port, figures):
        held = []
        for i in range(idle):
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                figures.idle["connect refused"] += 1
                continue
            if i % 2:
                writer.write(b"GET /slow HTTP/1.1\r\nHost: probe\r\n")  # a head that never ends
            held.append((reader, writer))
        progress(f"{len(held)} idle clients connected")
        # The proxy takes them in the order they connected: those past its cap are answered (or
        # dropped) at once, the rest it holds. Wait for the first to end (a proxy with no cap
        # holds them all: then they are given the guard's time).
        cap = figures.cap if figures.cap is not None else len(held)
        over = await asyncio.gather(*(_outcome(r) for r, _ in held[cap:]))
        figures.idle.update(f"{end} (over the cap)" for end in over)
        progress(f"idle clients over the cap: {dict(figures.idle)}")
        figures.healthy_while_held = await healthy(port, healthy_count)
        progress(f"healthy while held: {dict(figures.healthy_while_held)}")
        ends = await asyncio.gather(*(_outcome(r, header_timeout * 2 + 10) for r, _ in held[:cap]))
        figures.idle.update(f"{end} (held)" for end in ends)
        for _, writer in held:
            writer.close()
        progress(f"idle clients: {dict(figures.idle)}")
        figures.healthy_after = await healthy(port, healthy_count)
        rng = random.Random(seed)

        async def one(data: bytes) -> str:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(data)
            try:
                return await _outcome(reader, header_timeout * 2 + 10)
            finally:
                writer.close()

        batch = [no_blank_line(rng) for _ in range(inputs)]
        figures.inputs = Counter(await asyncio.gather(*(one(data) for data in batch)))
        progress(f"inputs with no blank line: {dict(figures.inputs)}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--descriptors", type=int, default=1024, help="the proxy's RLIMIT_NOFILE (default 1024)"
    )
    parser.add_argument("--idle", type=int, default=700, help="idle clients (default 700)")
    parser.add_argument("--healthy", type=int, default=20, help="healthy requests per round (default 20)")
    parser.add_argument("--inputs", type=int, default=300, help="inputs with no blank line (default 300)")
    parser.add_argument(
        "--header-timeout", type=float, default=5.0, help="the proxy's --header-timeout (default 5)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-flags", action="store_true", help="start the proxy without limit flags (an older one)"
    )
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the probe's own clients need them
    figures = asyncio.run(
        probe(
            args.descriptors,
            args.idle,
            args.healthy,
            args.inputs,
            args.header_timeout,
            args.seed,
            flags=not args.no_flags,
        )
    )
    print("\n".join(figures.lines()))


if __name__ == "__main__":
    main()
