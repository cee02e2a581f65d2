"""A real intermediary in a cell's path: ``intermediary: {kind: nginx, config: ROUTE}`` in a scenario.

``config`` names one of the nginx routes (``faultproxy/intermediaries/nginx-conf/routes``; see
``docs/nginx.md``); ``position`` says where nginx stands:

- ``behind_proxy`` (the default): client → faultproxy → nginx → server. The proxy's capture is
  what the client was given, so the oracle judges exactly what nginx delivered (plus any fault);
- ``in_front``: client → faultproxy → nginx → faultproxy → server. The faults act behind nginx,
  which sees their output; a second proxy, with no fault, stands between the client and nginx
  and records what the client really got -- the cell's capture, the delivered view the verdict
  judges, so nothing nginx did is taken for the client's doing. The proxy behind nginx keeps its
  own capture (``capture-behind-nginx.jsonl``): what nginx was given, and what the server sent.

Each cell starts its own nginx (one ``location /``) on a free loopback port and stops it at the
end. :func:`cell_path` is all the runner calls: it yields a :class:`CellPath`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class IntermediarySpec(BaseModel):
    """What stands between the client and the server besides faultproxy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["nginx"] = Field(..., description="the intermediary: nginx (Debian's, started per cell)")
    config: str = Field(..., description="an nginx route, e.g. defaults, unbuffered, http11, gzip, tutorial")
    position: Literal["behind_proxy", "in_front"] = Field(
        "behind_proxy",
        description="behind_proxy: client → faultproxy → nginx → server; in_front: nginx first",
    )

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


BEHIND_NGINX = "capture-behind-nginx.jsonl"  # in_front: the capture of the proxy nginx talks to


@dataclass(frozen=True)
class CellPath:
    """What stands between a cell's client and its server, started."""

    proxy: Any  # the proxy with the scenario's faults: what fired is its evidence
    url: str  # where the client connects
    path: str  # as the report shows it
    behind: Path | None = None  # in_front: the capture of the proxy behind nginx (what the server sent)


# make_proxy(to, faults=..., capture=...): a Proxy (an async context manager) to ``to``, with the
# scenario's faults or none, writing the capture of that name in the cell's folder
ProxyFactory = Callable[..., Any]


@asynccontextmanager
async def cell_path(
    spec: IntermediarySpec | None, upstream: str, server: str, make_proxy: ProxyFactory
) -> AsyncIterator[CellPath]:
    """Start what stands between client and ``upstream`` (``http(s)://host[:port]``); yield its
    :class:`CellPath`. ``server`` names the server in the path. ``make_proxy(to)`` gives the
    cell's proxy (the scenario's faults, the cell's capture); ``make_proxy(to, faults=False)``
    one without faults, ``capture=NAME`` with another capture file."""
    if spec is None:
        async with make_proxy(upstream) as proxy:
            yield CellPath(proxy, proxy.url, f"client → faultproxy → {server}")
        return
    if spec.position == "behind_proxy":
        peer, label = await _nginx(spec.config, upstream)
        try:
            async with make_proxy(f"http://127.0.0.1:{peer.port}") as proxy:
                yield CellPath(proxy, proxy.url, f"client → faultproxy → {label} → {server}")
        finally:
            await asyncio.to_thread(peer.stop)
        return
    async with make_proxy(upstream, capture=BEHIND_NGINX) as proxy:
        peer, label = await _nginx(spec.config, proxy.url)
        try:
            async with make_proxy(f"http://127.0.0.1:{peer.port}", faults=False) as front:
                yield CellPath(
                    proxy,
                    front.url,
                    f"client → faultproxy (no fault) → {label} → faultproxy → {server}",
                    proxy.capture_path,
                )
        finally:
            await asyncio.to_thread(peer.stop)
