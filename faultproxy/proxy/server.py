"""The proxy listener: accepts clients, gives each a :class:`Relay`, owns the capture.

Usable from Python as an async context manager that reports its bound port, so tests and
the scenario runner can compose it with servers and clients::

    async with Proxy(upstream="http://127.0.0.1:8000") as proxy:
        ...  # point a client at proxy.url

A proxy can be disabled and enabled again (Toxiproxy's ``enabled``): ``proxy.enabled = False``
drops every open connection and stops listening, so new clients are refused; ``True`` listens
on the same port again.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Self

from faultproxy.faults import FaultSet, FaultSpec, parse_fault
from faultproxy.faults.base import Evidence
from faultproxy.faults.spec import check_unique
from faultproxy.net.addresses import Address, parse_listen, parse_upstream, url_host
from faultproxy.proxy.activity import ActivityLog
from faultproxy.proxy.capture import CaptureWriter
from faultproxy.proxy.connections import Connections
from faultproxy.proxy.core import LINGER_SECONDS, RelayConfig
from faultproxy.proxy.limits import ProxyLimits
from faultproxy.proxy.routing import make_routing
from faultproxy.proxy.sinks import ProxySink

_SETTER_TIMEOUT = 30.0  # seconds another thread waits for the loop to apply ``enabled``


class Proxy:
    """A man-in-the-middle for HTTP/1.1 (or, with ``raw=True``, any TCP) between clients and one upstream.

    ``raw=None`` decides per connection from the client's first bytes: HTTP/1.1 when they
    open a request, plain TCP otherwise (what a Toxiproxy-style proxy in front of any
    service needs)."""

    def __init__(
        self,
        upstream: str | None = None,
        listen: str = "127.0.0.1:0",
        *,
        raw: bool | None = False,
        capture: str | Path | None = None,
        redact: bool = True,
        connect_timeout: float = 10.0,
        linger: float = LINGER_SECONDS,
        limits: ProxyLimits | None = None,
        faults: list[FaultSpec] | None = None,
        seed: int = 0,
        **tls: Any,
    ):
        """``linger``: after its own answer (400, 502), how long the proxy still drains what the
        client sends before it closes anyway (see :mod:`faultproxy.proxy.answers`). ``limits``:
        head sizes, header and idle timeouts, connections at once (:mod:`faultproxy.proxy.limits`).

        ``tls``: the TLS and routing options of :func:`~faultproxy.proxy.routing.make_routing`
        (``forward``, ``tls``, ``resolve``, ``upstream_ca``, ``insecure``, ``keylog``,
        ``intercept``, ``no_intercept``, ``keep_host``, ``tls_timeout``, ``ca``), as
        ``faultproxy proxy`` takes them (docs/tls.md). ``Proxy(upstream="https://api.openai.com")``
        speaks TLS to the upstream; ``Proxy(forward=True)`` is an HTTP proxy."""
        self.listen: Address = parse_listen(listen)
        if "tls_timeout" in tls:
            tls["handshake_timeout"] = tls.pop("tls_timeout")
        self.routing = make_routing(upstream, listen_host=self.listen.host, **tls)
        self.upstream: Address | None = parse_upstream(upstream) if upstream is not None else None
        self.raw = raw
        self.connect_timeout = connect_timeout
        self.limits = limits = limits or ProxyLimits()
        self.faults = FaultSet(check_unique(list(faults or [])), seed=seed)
        self.activity = ActivityLog()  # told what the capture is told, for faultproxy proxy -v
        config = RelayConfig(self.upstream, raw, connect_timeout, linger, routing=self.routing, limits=limits)
        self.connections = Connections(config, self.faults)
        self.connections.sink = ProxySink(self.activity)
        self.faults.listeners.append(lambda evidence: self.connections.sink.fault(evidence))
        self.faults.on_change.append(self.connections.faults_changed)
        self.capture_path = Path(capture) if capture else None
        self.redact = redact
        self._capture: CaptureWriter | None = None
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._port: int | None = None  # the port it listens on, kept while disabled
        self.started_at = time.monotonic()

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> Self:
        loop = self._loop = self.connections.loop = asyncio.get_running_loop()
        self._stopped = loop.create_future()
        await self._listen()
        # only once listening works: a second proxy started on a port in use by mistake must
        # not truncate the capture that the first one is still writing
        if self.capture_path is not None:
            try:
                self._capture = CaptureWriter(self.capture_path, redact=self.redact, limits=self.limits.head)
            except OSError:
                await self.stop()  # not half started: no listener left behind
                raise
            target = self.routing.upstream
            upstream = "forward" if target is None else target.url if target.tls else str(self.upstream)
            self._capture.meta(
                upstream=upstream,
                listen=str(self.listen),
                raw=self.raw,
                tls=target is not None and target.tls,
            )
        if self._capture is not None:  # ours, or one a subclass made (the recorder's)
            self.connections.sink = ProxySink(self.activity, self._capture)
        if not self.connections.taking:  # disabled before it started: it has a port, and refuses
            self._disable()
        return self

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        port = self._port if self._port is not None else self.listen.port
        self._server = await loop.create_server(self.connections.accept, self.listen.host, port, backlog=4096)
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.connections.abort_all()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)
        if self._capture is not None:
            self.connections.sink.detach()  # the relays being aborted hold it: their last notes go to the log only
            self.connections.sink = ProxySink(self.activity)
            self._capture.close()
            self._capture = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        """Serve until :meth:`stop` or until cancelled; disabling the proxy does not end it."""
        assert self._stopped is not None, "the proxy is not started"
        try:
            await asyncio.shield(self._stopped)
        except asyncio.CancelledError:
            if self._server is not None:
                self._server.close()
            raise

    # -- enabled / disabled (Toxiproxy's ``enabled``) -------------------------------------------

    @property
    def enabled(self) -> bool:
        """Whether the proxy takes connections. Setting ``False`` drops every open connection
        (both sockets closed at once) and stops listening, so new clients are refused
        (``ECONNREFUSED``); setting ``True`` listens on the same port again.

        From another thread the setter returns once the change is done. On the proxy's own
        loop, disabling is done at once; enabling needs the loop, so there ``await
        proxy.set_enabled(True)`` returns once it listens again."""
        return self.connections.taking

    @enabled.setter
    def enabled(self, value: bool) -> None:
        loop = self._loop
        if loop is None or self._stopped is None or self._stopped.done():
            self.connections.taking = bool(value)  # applied by start()
            return
        if _running_loop() is not loop:
            asyncio.run_coroutine_threadsafe(self.set_enabled(value), loop).result(_SETTER_TIMEOUT)
        elif not value:
            self._disable()
        else:
            loop.create_task(self.set_enabled(True))

    async def set_enabled(self, value: bool) -> None:
        """Enable or disable the proxy (see :attr:`enabled`), done when this returns."""
        value = bool(value)
        if not value:
            self._disable()
        elif not self.connections.taking:
            self.connections.taking = True
            if self._server is None and self._stopped is not None and not self._stopped.done():
                await self._listen()

    def _disable(self) -> None:
        self.connections.taking = False
        if self._server is not None:
            self._server.close()  # the listening socket is closed now: connects are refused
            self._server = None
        self.connections.abort_all()

    # -- where it listens ---------------------------------------------------------------------

    @property
    def port(self) -> int:
        assert self._port is not None, "the proxy is not started"
        return self._port

    @property
    def host(self) -> str:
        return self.listen.host

    @property
    def url(self) -> str:
        scheme = "https" if self.routing.downstream_tls else "http"
        return f"{scheme}://{url_host(self.host)}:{self.port}"

    @property
    def active(self) -> int:
        """Client connections currently open."""
        return len(self.connections)

    @property
    def accepted(self) -> int:
        """Client connections accepted since the proxy was made."""
        return self.connections.accepted

    # -- faults ---------------------------------------------------------------------------

    def add_fault(self, type: str, attributes: dict | None = None, **fields: object) -> FaultHandle:
        """Add a fault now; live connections pick it up on their next read.

        Returns a handle that is also a context manager removing the fault on exit::

            with proxy.add_fault("sse_drop", {"event_index": 2}):
                ...
        """
        index = len(self.faults.specs)
        spec = parse_fault({"type": type, "attributes": attributes or {}, **fields}, index=index)
        if "name" not in fields:
            n = index + 1
            while self.faults.get(spec.name) is not None:
                n += 1
                spec = spec.model_copy(update={"name": f"{type}_{n}"})
        self.faults.add(spec)
        return FaultHandle(self, spec.name)

    def remove_fault(self, name: str) -> None:
        self.faults.remove(name)

    def flush_capture(self) -> None:
        """Make the capture file complete up to now (it is written through a large buffer)."""
        if self._capture is not None:
            self._capture.sync()

    @property
    def evidence(self) -> list[Evidence]:
        """Each time a fault fired: where, when, what it did (the latest
        :data:`~faultproxy.faults.faultset.EVIDENCE_KEPT`; ``faults.fired`` counts them all)."""
        return self.faults.evidence


class FaultHandle:
    """A fault added to a running proxy; ``with`` removes it again."""

    def __init__(self, proxy: Proxy, name: str):
        self.proxy = proxy
        self.name = name

    @property
    def fired(self) -> list[Evidence]:
        return [e for e in self.proxy.evidence if e.fault == self.name]

    def remove(self) -> None:
        if self.proxy.faults.get(self.name) is not None:
            self.proxy.remove_fault(self.name)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
