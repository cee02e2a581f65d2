"""Where a proxy's connections go and where TLS is spoken: one value a connection core asks.

:class:`Routing` gathers the options of issue 14 (``docs/tls.md``): the upstream (an
``https://`` one is spoken to over TLS: SNI, ALPN ``http/1.1``, verification against the
system store or ``--upstream-ca``, none only with ``--insecure``), ``--resolve``, TLS toward
the clients (``--tls``), forward mode (``--forward``) with its interception choice, the
handshake timeout, ``--keep-host`` and ``--keylog``. :func:`make_routing` checks them and
builds the SSL contexts once per proxy (loading a trust store or a CA takes milliseconds;
a connection must not pay for it), with errors that name the option.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from faultproxy.proxy.forward import Intercept
from faultproxy.proxy.heads import Rule, host_rule
from faultproxy.tls.ca import LocalCA
from faultproxy.tls.contexts import ServerContexts, upstream_context
from faultproxy.upstream import Resolver, TargetError, Upstream, parse_upstream_url

HANDSHAKE_TIMEOUT = 10.0  # seconds a TLS handshake may take, on either side, before it counts as failed


@dataclass(frozen=True, slots=True)
class Routing:
    """What every connection of one proxy needs to know to reach its upstream.

    ``upstream`` is None in forward mode: each connection's first request names its own.
    ``upstream_tls`` is the client context toward TLS upstreams (an ``https://`` upstream, or
    an intercepted ``CONNECT``); ``server_tls`` the certificates presented to clients (``--tls``,
    interception), minted per host by the local CA; ``tls_name`` is the name whose certificate a
    client that sends no SNI gets."""

    upstream: Upstream | None
    resolver: Resolver = field(default_factory=Resolver)
    upstream_tls: ssl.SSLContext | None = None
    server_tls: ServerContexts | None = None
    downstream_tls: bool = False
    tls_name: str = "localhost"
    intercept: Intercept = field(default_factory=Intercept)
    handshake_timeout: float = HANDSHAKE_TIMEOUT
    keep_host: bool = False

    @property
    def forward(self) -> bool:
        return self.upstream is None

    def address(self, upstream: Upstream) -> tuple[str, int]:
        """Where the TCP connection for ``upstream`` goes (``--resolve``, else its own name)."""
        return self.resolver.connect_to(upstream)

    def head_rule(self) -> Rule | None:
        """Reverse mode: how each request head is changed on its way upstream (``Host`` set to a
        TLS upstream's authority, unless ``--keep-host``); None: heads pass as sent.

        Only toward TLS upstreams: that is where the real APIs behind CDNs are, which refuse a
        ``Host`` they do not serve, and a plain-HTTP upstream keeps what Toxiproxy-style users
        expect of a TCP-level proxy, every byte as sent."""
        if self.upstream is None or not self.upstream.tls or self.keep_host:
            return None
        return host_rule(self.upstream.authority)

    def describe(self) -> str:
        """For the banner: the upstream side in a few words."""
        if self.upstream is None:
            return f"forward proxy, {self.intercept.describe()}"
        said = str(self.upstream) if self.upstream.tls else self.upstream.address
        if self.upstream.tls:
            verify = self.upstream_tls is not None and self.upstream_tls.verify_mode != ssl.CERT_NONE
            said += " (TLS, " + ("verified" if verify else "NOT verified: --insecure") + ")"
        found = self.resolver.addresses(self.upstream.host, self.upstream.port)
        if found:
            said += f" via {found[0]}"
        return said


def make_routing(
    upstream: str | None,
    *,
    forward: bool = False,
    tls: bool = False,
    listen_host: str = "127.0.0.1",
    resolve: Sequence[str] = (),
    upstream_ca: str | Path | None = None,
    insecure: bool = False,
    keylog: str | Path | None = None,
    intercept: Sequence[str] = (),
    no_intercept: Sequence[str] = (),
    keep_host: bool = False,
    handshake_timeout: float = HANDSHAKE_TIMEOUT,
    ca: LocalCA | None = None,
) -> Routing:
    """Check the options and build the contexts. Raises :class:`~faultproxy.upstream.TargetError`
    or :class:`~faultproxy.tls.TLSConfigError` (both ``ValueError``) for a bad option, and
    :class:`~faultproxy.tls.CAError` for a local CA that cannot be used. ``ca``: the CA that
    mints the certificates toward clients (default: the user's, created on first use)."""
    if forward and upstream is not None:
        raise TargetError("--forward: a forward proxy takes its upstream from each request; drop --upstream")
    if not forward and upstream is None:
        raise TargetError("--upstream URL is required (or --preset NAME, or --forward for an HTTP proxy)")
    if forward and tls:
        raise TargetError(
            "--forward with --tls: clients reach a forward proxy in plain HTTP (HTTPS_PROXY=http://…) "
            "and their TLS runs inside CONNECT; drop --tls"
        )
    if (intercept or no_intercept) and not forward:
        raise TargetError("--intercept/--no-intercept choose what a forward proxy intercepts: add --forward")
    if insecure and upstream_ca is not None:
        raise TargetError(
            "--insecure turns verification off; --upstream-ca names what to verify against: give one"
        )
    if not handshake_timeout > 0:
        raise TargetError(f"--tls-timeout must be more than 0 seconds, got {handshake_timeout}")
    target = parse_upstream_url(upstream) if upstream is not None else None
    choice = Intercept.parse(tuple(intercept), tuple(no_intercept))
    resolver = Resolver.parse(tuple(resolve))
    speaks_tls = forward or (target is not None and target.tls)
    if not speaks_tls and (upstream_ca is not None or insecure):
        raise TargetError(f"--upstream-ca/--insecure are for https:// upstreams; {target} is plain HTTP")
    client_context = (
        upstream_context(ca_file=upstream_ca, insecure=insecure, keylog=keylog) if speaks_tls else None
    )
    intercepting = forward and not any(p == "*" for p in choice.never)
    server_contexts = None
    if tls or intercepting:
        server_contexts = ServerContexts(ca if ca is not None else LocalCA.load_or_create(), keylog=keylog)
    elif keylog is not None and client_context is None:
        raise TargetError("--keylog records TLS keys: it needs an https:// upstream, --tls or --forward")
    name = listen_host if listen_host not in ("0.0.0.0", "::", "") else "localhost"
    return Routing(
        target, resolver, client_context, server_contexts, tls, name, choice, handshake_timeout, keep_host
    )
