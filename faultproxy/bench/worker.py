"""The bench worker process: the upstream plus the asyncio load clients, on one uvloop loop.

``python -m faultproxy.bench.worker [--tls DIR]`` prints ``{"port": P}`` once the upstream
listens on ``127.0.0.1:P``, then answers one JSON line on stdout for each JSON command line on
stdin (with ``--tls``, a :class:`~faultproxy.bench.tls.BenchTLS` directory, the upstream serves
HTTPS and the load clients connect with TLS):

- ``{"cmd": "latency", "port": P, "streams": N, "seconds": S, "rate": R, "event_size": B}``
- ``{"cmd": "idle_open", "port": P, "streams": N, "interval": S, "timeout": T}``
- ``{"cmd": "idle_status"}`` and ``{"cmd": "idle_close"}``
- ``{"cmd": "quit"}`` (or end of input)

A command that fails answers ``{"error": "..."}``. The upstream and the load clients share a
process so that, with the proxy in another, each of the two cores has one busy process.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys

from faultproxy.aio import run
from faultproxy.bench.load import IdleStreams, latency_run
from faultproxy.bench.tls import BenchTLS
from faultproxy.bench.upstream import Upstream


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft
    return hard


def _answer(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def main() -> None:
    raise_fd_limit()
    loop = asyncio.get_running_loop()
    tls = BenchTLS(sys.argv[sys.argv.index("--tls") + 1]) if "--tls" in sys.argv else None
    client = tls.client_context() if tls is not None else None
    upstream = await Upstream(tls=tls.upstream_context() if tls is not None else None).start()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    _answer({"port": upstream.port})
    idle: IdleStreams | None = None
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            try:
                cmd = json.loads(line)
                name = cmd.get("cmd")
                if name == "quit":
                    _answer({"ok": True})
                    break
                if name == "latency":
                    result = await latency_run(
                        upstream,
                        cmd["port"],
                        streams=cmd["streams"],
                        seconds=cmd["seconds"],
                        rate=cmd["rate"],
                        event_size=cmd.get("event_size", 200),
                        setup_timeout=cmd.get("timeout", 60.0),
                        tls=client,
                    )
                elif name == "idle_open":
                    if idle is not None:
                        await idle.close()
                    idle = IdleStreams(client)
                    result = await idle.open(
                        cmd["port"], cmd["streams"], cmd["interval"], timeout=cmd.get("timeout", 60.0)
                    )
                elif name == "idle_status":
                    result = idle.status() if idle else {"alive": 0, "keep_alives": 0}
                elif name == "idle_close":
                    result = await idle.close() if idle else {"alive": 0, "keep_alives": 0}
                    idle = None
                else:
                    result = {"error": f"unknown command {name!r}"}
            except Exception as error:  # reported to the runner, which decides
                result = {"error": f"{type(error).__name__}: {error}"}
            _answer(result)
    finally:
        if idle is not None:
            await idle.close()
        await upstream.stop()


if __name__ == "__main__":
    run(main())
