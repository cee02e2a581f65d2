"""nginx routes: one ``location`` body per configuration, and the ``server`` blocks around them.

A *route* is a file ``nginx-conf/routes/NAME.conf`` holding the directives of one configuration
(``proxy_buffering off;``, ``gzip on;`` …) and nothing else: no ``proxy_pass``, no address. The
same files serve every place nginx runs:

- natively (``faultproxy repro nginx``, a scenario's ``intermediary``): :func:`start` writes a
  ``server`` block with one ``location`` per route in use, each ``include``-ing its file by
  absolute path and proxying to a loopback upstream, and starts Debian's nginx on it through
  :class:`~faultproxy.bench.peers.NginxPeer` (the one nginx launcher);
- in ``docker-compose.yml``: the nginx containers mount the routes directory and
  ``nginx-conf/docker.conf``, the same ``server`` block made by :func:`docker_conf` for the
  containers' addresses (a test keeps the file in step with the cases).

nginx's defaults changed in 1.29.7: HTTP/1.1 to the upstream instead of HTTP/1.0
(:data:`HTTP11_UPSTREAM_SINCE`), which decides what the ``defaults`` route does (see
``docs/nginx.md``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from faultproxy.bench.peers import NginxPeer, PeerError, free_port

CONF_DIR = Path(__file__).resolve().parent / "nginx-conf"
ROUTES_DIR = CONF_DIR / "routes"
DOCKER_CONF = CONF_DIR / "docker.conf"
DOCKER_ROUTES = "/etc/nginx/faultproxy/routes"  # where docker-compose.yml mounts ROUTES_DIR
HTTP11_UPSTREAM_SINCE = (1, 29, 7)  # "Proxy: enabled HTTP/1.1 by default for upstream connections"


def routes() -> list[str]:
    """The names of the routes there are (``defaults``, ``unbuffered``, …)."""
    return sorted(path.stem for path in ROUTES_DIR.glob("*.conf"))


def check_route(name: str) -> str:
    """``name`` if a route of that name exists; otherwise a ValueError that lists them."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name) or not (ROUTES_DIR / f"{name}.conf").is_file():
        raise ValueError(f"no nginx route {name!r}; the routes are: {', '.join(routes())}")
    return name


@functools.lru_cache(maxsize=8)
def version_of(binary: str) -> str:
    """``nginx -v`` of ``binary`` (``"1.22.1"``), asked once per binary."""
    return NginxPeer(binary).version()


def parse_version(text: str) -> tuple[int, ...]:
    """``"1.22.1"`` -> ``(1, 22, 1)``; unknown parts are 0."""
    return tuple(int(part) if part.isdigit() else 0 for part in text.split(".")[:3])


def upstream_hop(version: str) -> str:
    """The HTTP version nginx ``version`` speaks to its upstream when nothing says otherwise."""
    return "HTTP/1.1" if parse_version(version) >= HTTP11_UPSTREAM_SINCE else "HTTP/1.0"


@dataclass(frozen=True)
class Location:
    """``location PREFIX`` with the directives of ``route``, proxying to ``upstream`` (HOST:PORT)
    over ``scheme`` (``https``: nginx opens TLS to it, with SNI)."""

    prefix: str
    route: str
    upstream: str
    scheme: str = "http"


def server_block(listen: str, locations: list[Location], routes_dir: str | Path) -> str:
    """A ``server { … }`` (the inside of ``http {}``) listening on ``listen``.

    ``proxy_pass`` ends with ``/``, so the location's prefix is replaced by ``/``:
    ``/defaults/events`` reaches the upstream as ``/events``.
    """
    lines = ["server {", f"    listen {listen};", "    access_log off;"]
    for location in locations:
        lines += [
            f"    location {location.prefix} {{",
            f"        include {Path(routes_dir) / (check_route(location.route) + '.conf')};",
            f"        proxy_pass {location.scheme}://{location.upstream}/;",
            *(["        proxy_ssl_server_name on;"] if location.scheme == "https" else []),
            "    }",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def docker_conf(locations: list[Location]) -> str:
    """``nginx-conf/docker.conf``: what the nginx containers of docker-compose.yml serve."""
    header = (
        "# Generated from faultproxy/intermediaries/repro.py (the cases of `faultproxy repro nginx`);\n"
        "# mounted as /etc/nginx/conf.d/default.conf by docker-compose.yml. The routes are the same\n"
        "# files the native run includes.\n"
    )
    return header + server_block("8080", locations, DOCKER_ROUTES)


def start(locations: list[Location], binary: str | None = None, *, attempts: int = 3) -> NginxPeer:
    """A running nginx on a free loopback port (``peer.port``) serving ``locations``.

    The port is picked before nginx binds it, so another process may take it meanwhile: nginx
    then fails with "Address already in use" and is started again on another port.
    """
    for attempt in range(attempts):
        peer = NginxPeer(binary)
        unavailable = peer.available()
        if unavailable:
            raise PeerError(unavailable)
        port = free_port()
        try:
            peer.run_config(server_block(f"127.0.0.1:{port}", locations, ROUTES_DIR), port, connections=256)
            return peer
        except PeerError as error:
            if "Address already in use" not in str(error) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
