"""A real intermediary in a cell's path: ``intermediary: {kind: nginx, config: ROUTE}`` in a scenario.

``config`` names one of the nginx routes (``faultproxy/intermediaries/nginx-conf/routes``; see
``docs/nginx.md``); ``position`` says where nginx stands:

- ``behind_proxy`` (the default): client → faultproxy → nginx → server. The proxy's capture is
  what the client was given, so the oracle judges exactly what nginx delivered (plus any fault);
- ``in_front``: client → nginx → faultproxy → server. nginx sees the faults' output; the capture
  is what nginx was given, not what reached the client.

Each cell starts its own nginx (one ``location /``) on a free loopback port and stops it at the
end. :func:`cell_path` is all the runner calls: it yields the proxy, the URL the client talks
to, and the path as the report shows it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class IntermediarySpec(BaseModel):
    """What stands between the client and the server besides faultproxy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["nginx"] = Field(..., description="the intermediary: nginx (Debian's, started per cell)")
    config: str = Field(..., description="an nginx route, e.g. defaults, unbuffered, http11, gzip, tutorial")
    position: Literal["behind_proxy", "in_front"] = Field(
        "behind_proxy", description="behind_proxy: client → faultproxy → nginx → server; in_front: nginx first")

    @field_validator("config")
    @classmethod
    def _route(cls, value: str) -> str:
        from faultproxy.intermediaries.nginx import check_route

        return check_route(value)

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


async def _nginx(route: str, upstream: str) -> tuple[Any, str]:
    """A started nginx serving ``route`` in front of ``upstream`` (``http(s)://host[:port]``, the
    scheme's port when none is given), and its label for the path."""
    from faultproxy.intermediaries import nginx
    from faultproxy.upstream import split_url

    to, _ = split_url(upstream)
    peer = await asyncio.to_thread(nginx.start, [nginx.Location("/", route, to.address, to.scheme)])
    return peer, f"nginx {nginx.version_of(peer.binary)} ({route})"


@asynccontextmanager
async def cell_path(spec: IntermediarySpec | None, upstream: str, server: str,
                    make_proxy: Callable[[str], Any]) -> AsyncIterator[tuple[Any, str, str]]:
    """Start what stands between client and ``upstream`` (``http://host:port``); yield
    ``(proxy, client_base_url, path)``. ``server`` names the server in the path."""
    if spec is None:
        async with make_proxy(upstream) as proxy:
            yield proxy, proxy.url, f"client → faultproxy → {server}"
        return
    if spec.position == "behind_proxy":
        peer, label = await _nginx(spec.config, upstream)
        try:
            async with make_proxy(f"http://127.0.0.1:{peer.port}") as proxy:
                yield proxy, proxy.url, f"client → faultproxy → {label} → {server}"
        finally:
            await asyncio.to_thread(peer.stop)
        return
    async with make_proxy(upstream) as proxy:
        peer, label = await _nginx(spec.config, proxy.url)
        try:
            yield proxy, f"http://127.0.0.1:{peer.port}", f"client → {label} → faultproxy → {server}"
        finally:
            await asyncio.to_thread(peer.stop)
