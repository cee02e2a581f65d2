"""Forward mode (``faultproxy proxy --forward``): the decisions of an HTTP proxy, sans-IO.

A client that honours ``HTTP_PROXY``/``HTTPS_PROXY`` opens its connection to the proxy and
says where it wants to go in its first request (RFC 9110 §9.3.6, RFC 9112 §3.2.2):

- ``GET http://host:port/path HTTP/1.1`` (absolute form) for an ``http://`` URL: the proxy
  connects to that origin and sends the request on in origin form;
- ``CONNECT host:port HTTP/1.1`` for an ``https://`` URL: the proxy connects, answers
  ``200 Connection Established``, and what follows is the client's TLS. The proxy then
  *intercepts* it (ends the client's TLS with a certificate for ``host`` minted by the local CA,
  and opens its own to the origin, so every HTTP and SSE fault applies inside) or *tunnels* it
  as bytes (byte faults only), as :class:`Intercept` says for that host.

The connection core asks this module and acts; nothing here reads a socket. docs/tls.md
describes forward mode for users.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import Enum

from faultproxy.upstream import TargetError, Upstream, connect_target, forward_target
from faultproxy.wire.errors import WireError
from faultproxy.wire.http import Request, encode_head, find_head_end, opens_like_http, parse_request_head
from faultproxy.wire.limits import DEFAULT_LIMITS

CONNECT_ESTABLISHED = b"HTTP/1.1 200 Connection Established\r\n\r\n"

# Fields meant for the proxy alone (RFC 9110 §7.6.1, §11.7.2): never passed to the origin, where
# a Proxy-Authorization would hand the proxy's credentials to a server that has no business with them.
PROXY_FIELDS = (b"proxy-connection", b"proxy-authorization")

_TLS_HANDSHAKE = 0x16  # the content type of a TLS record that carries a ClientHello


@dataclass(frozen=True, slots=True)
class Tunnel:
    """``CONNECT host:port``: open a tunnel to ``host:port``."""

    host: str
    port: int
    request: Request

    @property
    def upstream(self) -> Upstream:
        """The origin, as a TLS upstream if the client's bytes turn out to be TLS and it is intercepted."""
        return Upstream("https", self.host, self.port)


@dataclass(frozen=True, slots=True)
class Origin:
    """An absolute-form request: relay it (and what follows on this connection) to ``upstream``."""

    upstream: Upstream
    request: Request


class ForwardError(TargetError):
    """A request a forward proxy cannot relay; ``status`` is the answer to a connection's first
    request (400: not a request a proxy understands; 405: an origin-form request sent to a
    proxy). A later request is refused with the proxy's 400, after the responses due before it."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class ProxyHead:
    """Reads the first request head a forward proxy's client sends, across reads (at most
    ``DEFAULT_LIMITS.max_head`` bytes, as any head), and says where the connection goes.

    :meth:`feed` returns None while the head is incomplete, then a :class:`Tunnel` or an
    :class:`Origin`; it raises :class:`ForwardError` for what cannot be relayed. All the bytes
    fed so far are in :attr:`received` (the first request's head included): the core passes them
    on once the upstream is connected, in the order they came."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def received(self) -> bytes:
        return bytes(self._buf)

    def feed(self, data: bytes) -> Tunnel | Origin | None:
        searched = max(0, len(self._buf) - 3)
        self._buf += data
        end = find_head_end(self._buf, searched)
        limit = DEFAULT_LIMITS.max_head
        if end > limit or (end < 0 and len(self._buf) > limit):
            raise ForwardError(f"request head larger than {limit} bytes", 431)
        if end < 0:
            if not opens_like_http(bytes(self._buf)):
                raise ForwardError(
                    "not an HTTP request: a forward proxy expects CONNECT host:port "
                    "or an absolute-form request (GET http://host/path)"
                )
            return None
        try:
            request = parse_request_head(bytes(self._buf[:end]), strict=True)
        except WireError as error:
            raise ForwardError(f"malformed request: {error}") from None
        return route(request)


def route(request: Request) -> Tunnel | Origin:
    """Where a forward proxy sends this request."""
    if request.method == b"CONNECT":
        try:
            host, port = connect_target(request)
        except TargetError as error:
            raise ForwardError(str(error)) from None
        return Tunnel(host, port, request)
    if request.target.startswith(b"/") or request.target == b"*":
        raise ForwardError(
            "this is a forward proxy: send absolute-form requests (GET http://host/path), "
            "e.g. by setting HTTP_PROXY; for a reverse proxy start faultproxy with --upstream URL",
            405,
        )
    try:
        upstream, sent = forward_target(request)
    except TargetError as error:
        raise ForwardError(str(error)) from None
    if upstream.tls:
        raise ForwardError(
            "an https:// URL goes through a proxy as CONNECT host:443, not as a request target"
        )
    return Origin(upstream, without_proxy_fields(sent))


def without_proxy_fields(request: Request) -> Request:
    """``request`` without the fields meant for the proxy (the head is re-encoded only if one was there)."""
    headers = request.headers
    if not any(name in headers for name in PROXY_FIELDS):
        return request
    for name in PROXY_FIELDS:
        headers = headers.replaced(name, None)
    changed = replace(request, headers=headers)
    return replace(changed, raw=encode_head(changed))


def origin_rule(upstream: Upstream):
    """The head rewrite for the requests of a forward-proxy connection that goes to ``upstream``:
    each absolute-form request becomes origin-form, for the same origin only (a connection goes
    to one origin: the first request's)."""

    def rewrite(request: Request) -> Request:
        target = route(request)
        if isinstance(target, Tunnel):
            raise ForwardError("CONNECT after a request on the same connection: open a new connection")
        if target.upstream != upstream:
            raise ForwardError(
                f"this connection goes to {upstream.authority}; a request for "
                f"{target.upstream.authority} needs a connection of its own"
            )
        return target.request

    return rewrite


def opens_tls(first: bytes) -> bool:
    """Whether a tunnel's first bytes from the client begin a TLS handshake (a record of type
    22, handshake, whose version major is 3); more than the first byte is not needed to tell
    TLS from HTTP or another protocol a client may speak inside CONNECT."""
    return len(first) > 0 and first[0] == _TLS_HANDSHAKE and (len(first) < 2 or first[1] == 3)


class TunnelMode(Enum):
    """What the proxy does with the bytes of a CONNECT tunnel, decided from its first bytes."""

    INTERCEPT = "intercept"  # TLS, ended and re-originated: every fault applies to the plaintext
    HTTP = "http"  # plain HTTP inside the tunnel: every fault applies
    TCP = "tcp"  # anything else, or TLS not intercepted: bytes, byte faults only


def tunnel_mode(first: bytes, host: str, intercept: Intercept) -> TunnelMode:
    if opens_tls(first):
        return TunnelMode.INTERCEPT if intercept(host) else TunnelMode.TCP
    return TunnelMode.HTTP if opens_like_http(first) else TunnelMode.TCP


_PATTERN = re.compile(r"(\*|(\*\.)?[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?|\[?[0-9a-f:.]+\]?)")


def _pattern(text: str, option: str) -> str:
    pattern = text.strip().lower().rstrip(".")
    if pattern.startswith("[") and pattern.endswith("]"):
        pattern = pattern[1:-1]
    if not _PATTERN.fullmatch(pattern):
        raise TargetError(f"{option}: {text!r} is not a host name, *.domain, an IP address or *")
    return pattern


def _matches(pattern: str, host: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


@dataclass(frozen=True, slots=True)
class Intercept:
    """Which ``CONNECT`` hosts have their TLS intercepted: those ``only`` names (every host when
    empty), except those ``never`` names. A pattern is a host (``api.openai.com``), all its
    subdomains (``*.openai.com``), an IP address, or ``*`` (every host: ``--no-intercept '*'``
    tunnels everything)."""

    only: tuple[str, ...] = ()
    never: tuple[str, ...] = ()

    @classmethod
    def parse(
        cls, only: tuple[str, ...] | list[str] = (), never: tuple[str, ...] | list[str] = ()
    ) -> Intercept:
        return cls(
            tuple(_pattern(t, "--intercept") for t in only),
            tuple(_pattern(t, "--no-intercept") for t in never),
        )

    def __call__(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        if self.only and not any(_matches(p, host) for p in self.only):
            return False
        return not any(_matches(p, host) for p in self.never)

    def describe(self) -> str:
        """For the banner: what is intercepted."""
        if any(p == "*" for p in self.never):
            return "nothing intercepted (every CONNECT tunnelled as bytes)"
        said = "intercepting " + (", ".join(self.only) if self.only else "every host")
        return said + (f" except {', '.join(self.never)}" if self.never else "")
