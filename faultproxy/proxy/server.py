"""The proxy listener: accepts clients, gives each a :class:`Relay`, owns the capture.

Usable from Python as an async context manager that reports its bound port, so tests and
the scenario runner can compose it with servers and clients::

    async with Proxy(upstream="http://127.0.0.1:8000") as proxy:
        ...  # point a client at proxy.url
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from faultproxy.proxy.address import Address, parse_listen, parse_upstream
from faultproxy.proxy.capture import CaptureWriter
from faultproxy.proxy.relay import Relay, Side


class Proxy:
    """A man-in-the-middle for HTTP/1.1 (or, with ``raw=True``, any TCP) between clients and one upstream."""

    def __init__(
        self,
        upstream: str,
        listen: str = "127.0.0.1:0",
        *,
        raw: bool = False,
        capture: str | Path | None = None,
        redact: bool = True,
        connect_timeout: float = 10.0,
    ):
        self.upstream: Address = parse_upstream(upstream)
        self.listen: Address = parse_listen(listen)
        self.raw = raw
        self.connect_timeout = connect_timeout
        self.capture_path = Path(capture) if capture else None
        self.redact = redact
        self._capture: CaptureWriter | None = None
        self._server: asyncio.Server | None = None
        self._relays: dict[int, Relay] = {}
        self._next_id = 0
        self.accepted = 0
        self.started_at = time.monotonic()

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> Proxy:
        loop = asyncio.get_running_loop()
        if self.capture_path is not None:
            self._capture = CaptureWriter(self.capture_path, redact=self.redact)
            self._capture.meta(upstream=str(self.upstream), listen=str(self.listen), raw=self.raw)
        self._server = await loop.create_server(self._new_client, self.listen.host, self.listen.port, backlog=4096)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for relay in list(self._relays.values()):
                relay.abort()
            await self._server.wait_closed()
            self._server = None
        if self._capture is not None:
            self._capture.close()
            self._capture = None

    async def __aenter__(self) -> Proxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    # -- where it listens ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._server is not None, "the proxy is not started"
        return self._server.sockets[0].getsockname()[1]

    @property
    def host(self) -> str:
        return self.listen.host

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def active(self) -> int:
        """Client connections currently open."""
        return len(self._relays)

    # -- per connection ---------------------------------------------------------------------

    def _new_client(self) -> Side:
        self._next_id += 1
        self.accepted += 1
        relay = Relay(self, self._next_id)
        self._relays[relay.id] = relay
        return relay.client

    def connection_done(self, relay: Relay) -> None:
        self._relays.pop(relay.id, None)
        self.capture_note(relay, "done")

    def capture_open(self, relay: Relay) -> None:
        if self._capture is not None:
            peer = relay.client.transport.get_extra_info("peername") if relay.client.transport else None
            self._capture.open(relay.id, client=peer)

    def capture_data(self, relay: Relay, direction: str, data: bytes) -> None:
        if self._capture is not None:
            self._capture.data(relay.id, direction, data)

    def capture_note(self, relay: Relay, kind: str, **fields: object) -> None:
        if self._capture is not None:
            self._capture.note(relay.id, kind, **fields)
