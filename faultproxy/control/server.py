"""The control server: Toxiproxy's API and the proxies it creates, on one event loop.

Usable from Python as an async context manager that reports its bound port, so tests and
the scenario runner can compose it with servers and clients::

    async with ControlServer(port=0) as server:
        ...  # point a Toxiproxy client at server.url; server.registry holds the proxies

It listens on 127.0.0.1 unless told otherwise: whoever reaches the API can open listeners
and read the traffic through them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Self

from faultproxy.control.app import build_app
from faultproxy.control.registry import ControlError, Registry
from faultproxy.net.addresses import url_host
from faultproxy.servers.guest import GuestUvicorn


def read_config(path: str | Path) -> Any:
    """Toxiproxy's ``-config`` file: a JSON list of proxies (checked by :meth:`Registry.populate`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ControlError(400, f"{path}: cannot read: {error.strerror or error}") from None
    try:
        return json.loads(text)
    except ValueError as error:
        raise ControlError(400, f"{path}: invalid JSON: {error}") from None


class ControlServer:
    """Toxiproxy's HTTP API on ``host:port`` (port 0: any free port), with ``config`` (a JSON
    file of proxies) populated before it answers. Requests naming it by a DNS name other than
    ``localhost`` or ``host`` are refused unless the name is in ``allow_hosts``
    (:mod:`faultproxy.control.guard`)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8474,
        *,
        config: str | Path | None = None,
        allow_hosts: Iterable[str] = (),
        tls: dict[str, Any] | None = None,
    ):
        self.host = host
        self.port = port
        self.config = config
        self.allow_hosts = (
            host,
            *allow_hosts,
        )  # Host names requests may give, besides addresses and localhost
        self.registry = Registry(tls)  # tls: the options for https:// upstreams (--upstream-ca, …)
        self._guest: GuestUvicorn | None = None

    @property
    def url(self) -> str:
        return f"http://{url_host(self.host)}:{self.port}"

    async def start(self) -> Self:
        """Populate the config, then listen; a bad config is a :class:`ControlError` (nothing left
        running), a busy port an ``OSError``."""
        try:
            if self.config is not None:
                await self._populate(read_config(self.config))
            self._guest = GuestUvicorn(build_app(self.registry, self.allow_hosts), self.host, self.port)
            await self._guest.start()
        except BaseException:
            await self.stop()
            raise
        self.port = self._guest.port
        return self

    async def _populate(self, proxies: Any) -> None:
        try:
            await self.registry.populate(proxies)
        except ControlError as error:
            raise ControlError(error.status, f"{self.config}: {error.message}") from None

    async def stop(self) -> None:
        guest, self._guest = self._guest, None
        if guest is not None:
            await guest.stop()
        await self.registry.close()

    async def serve_forever(self) -> None:
        """Until cancelled (Ctrl-C) or stopped."""
        assert self._guest is not None, "the control server is not started"
        try:
            await self._guest.wait()
        finally:
            await self.stop()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
