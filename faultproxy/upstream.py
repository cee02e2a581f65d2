"""Where the proxy sends a request, under which name: upstream URLs, presets, ``--resolve``, ``Host``.

Pure functions and values, no I/O: the connection core asks them and acts.

- :func:`parse_upstream_url`: ``https://api.openai.com`` (port 443 by default) or
  ``http://127.0.0.1:8000``; an :class:`Upstream` knows whether it speaks TLS and the
  ``Host`` value (*authority*) its server expects.
- :data:`PRESETS`: ``--preset openai|anthropic`` -- the real API as upstream, and the exact
  lines that point each SDK at the proxy (``OPENAI_BASE_URL`` wants ``/v1``,
  ``ANTHROPIC_BASE_URL`` does not).
- :func:`parse_resolve` / :class:`Resolver`: curl's ``--resolve HOST:PORT:ADDR[,ADDR…]``: the
  TCP connection for HOST:PORT goes to ADDR, while SNI, the certificate check and ``Host``
  keep the name -- so a local server can pose as ``api.openai.com`` in tests.
- :func:`with_host`: the request as the upstream must see it. A client pointed at the proxy
  sends ``Host: 127.0.0.1:8080``; a real API behind a CDN refuses a request for a host it does
  not serve, so the proxy writes the upstream's authority instead (nginx's
  ``proxy_set_header Host $proxy_host``, mitmproxy's reverse mode). Every other byte of the
  head stays as sent.
- :func:`forward_target` and :func:`connect_target`: in forward mode (an ``HTTP_PROXY``), the
  upstream named by an absolute-form request (then sent on in origin form, with the
  ``Host`` of its URL, as RFC 9112 §3.2.2 says) or by a ``CONNECT`` (authority form).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from faultproxy.net.addresses import parse_upstream, url_host
from faultproxy.wire.http import Request, encode_head

DEFAULT_PORTS = {"http": 80, "https": 443}


class TargetError(ValueError):
    """An upstream, preset, ``--resolve`` entry or request target that cannot be used; the
    message names the option (or the request line) and what is wrong."""


@dataclass(frozen=True, slots=True)
class Upstream:
    scheme: str  # "http" or "https"
    host: str  # a name or an IP address (IPv6 without brackets)
    port: int

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def authority(self) -> str:
        """What ``Host`` says for this upstream: the port only when it is not the scheme's default."""
        host = url_host(self.host)
        return host if DEFAULT_PORTS.get(self.scheme) == self.port else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{url_host(self.host)}:{self.port}"

    @property
    def address(self) -> str:
        """``HOST:PORT`` with the port always given (nginx's ``proxy_pass``, a log line)."""
        return f"{url_host(self.host)}:{self.port}"

    def __str__(self) -> str:
        return self.url


def parse_upstream_url(text: str) -> Upstream:
    """``https://HOST[:PORT]``, ``http://HOST[:PORT]`` or a bare ``HOST:PORT`` (plain HTTP)."""
    try:
        address = parse_upstream(text)
    except ValueError as error:
        raise TargetError(str(error)) from None
    return Upstream(address.scheme, address.host.lower(), address.port)


# -- presets ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    upstream: str
    env: str  # the variable the vendor's SDKs (Python and Node) read for their base URL
    path: str  # what the base URL ends with

    def lines(self, proxy_url: str, ca_file: str | None = None) -> list[str]:
        """The shell lines that point this vendor's SDKs at the proxy; with ``ca_file`` (the
        proxy serves HTTPS, ``--tls``) also the lines that make Python and Node trust its CA."""
        lines = [f"export {self.env}={proxy_url.rstrip('/')}{self.path}"]
        if ca_file is not None:
            lines += [f"export SSL_CERT_FILE={ca_file}", f"export NODE_EXTRA_CA_CERTS={ca_file}"]
        return lines


PRESETS = {
    "openai": Preset("openai", "https://api.openai.com", "OPENAI_BASE_URL", "/v1"),
    "anthropic": Preset("anthropic", "https://api.anthropic.com", "ANTHROPIC_BASE_URL", ""),
}


def preset(name: str) -> Preset:
    try:
        return PRESETS[name.strip().lower()]
    except KeyError:
        raise TargetError(f"--preset: unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None


# -- --resolve --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResolveEntry:
    host: str
    port: int
    addresses: tuple[str, ...]


def _split_address_list(text: str, entry: str) -> tuple[str, ...]:
    addresses = []
    for item in text.split(","):
        item = item.strip()
        bare = item[1:-1] if item.startswith("[") and item.endswith("]") else item
        try:
            addresses.append(str(ipaddress.ip_address(bare)))
        except ValueError:
            raise TargetError(
                f"--resolve {entry!r}: {item!r} is not an IP address "
                "(as in curl, ADDR is numeric: 127.0.0.1 or [::1])"
            ) from None
    return tuple(addresses)


def parse_resolve(text: str) -> ResolveEntry:
    """``HOST:PORT:ADDR[,ADDR…]`` as curl's ``--resolve`` takes it (``[::1]`` for IPv6 addresses)."""
    host, sep, rest = text.strip().partition(":")
    port, sep2, addresses = rest.partition(":")
    if not sep or not sep2 or not host or not addresses:
        raise TargetError(
            f"--resolve: expected HOST:PORT:ADDR (e.g. api.openai.com:443:127.0.0.1), got {text!r}"
        )
    if not port.isdigit() or not 0 < int(port) <= 65535:
        raise TargetError(f"--resolve {text!r}: port must be a number from 1 to 65535, got {port!r}")
    return ResolveEntry(host.rstrip(".").lower(), int(port), _split_address_list(addresses, text))


class Resolver:
    """The ``--resolve`` entries: which address to connect to for a HOST:PORT (None: ask DNS)."""

    def __init__(self, entries: list[ResolveEntry] | tuple[ResolveEntry, ...] = ()):
        self._map: dict[tuple[str, int], tuple[str, ...]] = {}
        for entry in entries:
            key = (entry.host, entry.port)
            if key in self._map and self._map[key] != entry.addresses:
                raise TargetError(
                    f"--resolve: {entry.host}:{entry.port} is given twice, with different addresses"
                )
            self._map[key] = entry.addresses

    @classmethod
    def parse(cls, texts: list[str] | tuple[str, ...]) -> Resolver:
        return cls([parse_resolve(text) for text in texts])

    def addresses(self, host: str, port: int) -> tuple[str, ...] | None:
        return self._map.get((host.rstrip(".").lower(), port))

    def connect_to(self, upstream: Upstream) -> tuple[str, int]:
        """Where the TCP connection goes (the first address given; DNS when no entry matches)."""
        found = self.addresses(upstream.host, upstream.port)
        return (found[0] if found else upstream.host), upstream.port

    def __bool__(self) -> bool:
        return bool(self._map)


# -- the request as the upstream sees it --------------------------------------------------------


def with_host(request: Request, authority: str) -> Request:
    """``request`` with ``Host: authority`` where its Host was (added first if it had none);
    every other line of the head exactly as the client sent it."""
    value = authority.encode("ascii")
    if request.headers.get_all(b"host") == [value]:
        return request  # already right: not one byte changes
    changed = replace(request, headers=request.headers.put(b"Host", value, first=True))
    return replace(changed, raw=encode_head(changed))


def split_url(url: str) -> tuple[Upstream, str]:
    """``http(s)://HOST[:PORT][/PATH][?QUERY]``: the upstream it names (the scheme's port when
    none is given) and the request-target in origin form (``/`` when the URL has no path).

    The one URL splitter: a forward proxy's absolute-form request, a scenario's ``url:`` server
    put behind nginx, the nginx probe's stream URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(f"expected an absolute URL (http://host/path), got {url[:100]!r}")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise TargetError(f"bad port in {url[:100]!r}") from None
    origin = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Upstream(parts.scheme, parts.hostname.lower(), port), origin


def forward_target(request: Request) -> tuple[Upstream, Request]:
    """An absolute-form request to a forward proxy (``GET http://host:port/path HTTP/1.1``): the
    upstream it names, and the request to send there (origin form, ``Host`` from the URL)."""
    target = request.target.decode("latin-1")
    try:
        upstream, origin = split_url(target)
    except TargetError as error:
        raise TargetError(
            f"a forward proxy needs an absolute URL (http://host/path) as request target: {error}"
        ) from None
    sent = replace(request, target=origin.encode("latin-1"))
    return upstream, with_host(replace(sent, raw=encode_head(sent)), upstream.authority)


def connect_target(request: Request) -> tuple[str, int]:
    """The ``CONNECT host:port`` target (authority form; the port is required, RFC 9110 §9.3.6).
    Whether the tunnel carries TLS is the client's first bytes' to say, not the port's."""
    target = request.target.decode("latin-1")
    if target.startswith("["):
        host, sep, port = target[1:].partition("]:")
    else:
        host, sep, port = target.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535 or "/" in target:
        raise TargetError(f"CONNECT needs host:port as its target, got {target[:100]!r}")
    return host.lower(), int(port)
