"""Where a connection goes: the proxy's upstream (reverse mode), or the one the client's first
request names (forward mode, ``--forward``). Part of the connection core, sans-IO.

Reverse mode connects at once, to the ``--resolve`` address of the upstream, and speaks TLS to
it when it is ``https://``. Forward mode reads the client's first request head
(:class:`~faultproxy.proxy.forward.ProxyHead`) before it connects anywhere:

- an absolute-form request (``GET http://host/path``): connect to that origin; this request and
  every later one on the connection go there in origin form (a request for another origin is
  refused: a connection goes to one origin);
- ``CONNECT host:port``: connect, answer ``200 Connection Established`` (a 502 with the reason
  if the connect fails), then let the tunnel's first bytes say what it carries
  (:func:`~faultproxy.proxy.forward.tunnel_mode`): TLS to intercept (both sides' handshakes,
  then HTTP with every fault), plain HTTP, or bytes (byte faults only);
- anything else: the proxy's 400 (405 for an origin-form request), never forwarded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from faultproxy.net.addresses import Address
from faultproxy.proxy.forward import (
    CONNECT_ESTABLISHED,
    ForwardError,
    Origin,
    ProxyHead,
    Tunnel,
    TunnelMode,
    origin_rule,
    tunnel_mode,
)
from faultproxy.proxy.heads import HeadRewriter
from faultproxy.proxy.states import CLIENT, UPSTREAM, Mode, Phase, Timer, Trigger
from faultproxy.redact import redact_text
from faultproxy.tls.layer import TLSLayer
from faultproxy.wire.http import opens_like_http

if TYPE_CHECKING:
    from faultproxy.proxy.core import ConnectionCore


class Targets:
    """The upstream of one connection, and how the proxy gets there."""

    __slots__ = ("_core", "head", "rest", "tunnel")

    def __init__(self, core: ConnectionCore):
        self._core = core
        self.head: ProxyHead | None = ProxyHead() if core.config.routing.forward else None
        self.tunnel: Tunnel | None = None  # a CONNECT whose tunnel's first bytes have not come yet
        self.rest = b""  # bytes the client sent after its CONNECT head, before the 200

    def opened(self) -> None:
        """Reverse mode connects now; forward mode stays in ``TARGET`` until the client's request
        names the upstream."""
        if self.head is None:
            self.connect()

    def connect(self) -> None:
        core = self._core
        host, port = core.config.routing.address(core.target)
        core.port.connect(Address(host, port, core.target.scheme))
        core.timers.arm(Timer.CONNECT, core.clock() + core.config.connect_timeout)

    def connected(self) -> bool:
        """The upstream's TCP connection is made: start its TLS, or answer the CONNECT. True when
        the upstream is ready for the client's bytes now."""
        core = self._core
        if self.tunnel is not None:
            self._established()
            return False
        if core.target.tls:
            routing = core.config.routing
            core.enter(Trigger.UPSTREAM_TLS)
            core.secure.start(UPSTREAM, TLSLayer.client(routing.upstream_tls, core.target.host))
            return False
        return True

    def undecided(self, data: bytes) -> bool:
        """Client bytes while the protocol is not known: ``raw=None`` (HTTP if they open a request,
        else TCP) or forward mode (the request naming the target; a tunnel's first bytes). False
        when they were dealt with here."""
        core = self._core
        phase = core.phase
        if phase is Phase.TARGET:
            self.request_head(data)
            return False
        if self.tunnel is not None:
            if phase is Phase.CONNECTING:  # before the 200: kept for the tunnel
                self.rest += data
                core.sides.hold(CLIENT, "connecting")
                return False
            return phase is not Phase.RELAYING or self.tunnel_opens(data)
        core.decide(Mode.HTTP if opens_like_http(data) else Mode.TCP)
        return True

    # -- forward mode ----------------------------------------------------------------------------

    def request_head(self, data: bytes) -> None:
        """Phase ``TARGET``: client bytes, until its first request head names the upstream."""
        core = self._core
        assert self.head is not None
        try:
            found = self.head.feed(data)
        except ForwardError as error:
            reason = redact_text(str(error))
            core.port.note("refused", reason=reason, answer=str(error.status))
            core.answers.answer(error.status, f"faultproxy: {reason}\n")
            return
        if found is None:
            return
        received, self.head = self.head.received, None
        core.enter(Trigger.TARGET_KNOWN)
        core.sides.hold(CLIENT, "connecting")
        core.target = found.upstream
        if isinstance(found, Origin):
            core.decide(Mode.HTTP)
            core.heads = HeadRewriter(origin_rule(found.upstream))
            core.early.append(received)
        else:
            self.tunnel = found
            self.rest = received[len(found.request.raw) :]
        core.port.note(
            "target",
            upstream=found.upstream.address,
            how="connect" if isinstance(found, Tunnel) else "absolute-form",
        )
        self.connect()

    def _established(self) -> None:
        """The tunnel's upstream is connected: the client gets its 200, and the tunnel starts
        with what the client said after it."""
        core = self._core
        core.port.write_tls(CLIENT, CONNECT_ESTABLISHED)  # the proxy's own answer: not captured as a response
        core.enter(Trigger.UPSTREAM_CONNECTED)
        core.request.sync()
        core.response.sync()
        core.sides.release(CLIENT, "connecting")
        rest, self.rest = self.rest, b""
        if rest:
            core.from_client(rest)

    def tunnel_opens(self, data: bytes) -> bool:
        """The tunnel's first bytes from the client: decide what it carries. True when they are
        the plaintext to relay as they are; False when they went to the client's TLS."""
        core = self._core
        tunnel, self.tunnel = self.tunnel, None
        assert tunnel is not None
        routing = core.config.routing
        mode = tunnel_mode(data, tunnel.host, routing.intercept)
        core.port.note("tunnel", host=tunnel.host, carries=mode.value)
        if mode is not TunnelMode.INTERCEPT:
            core.decide(Mode.HTTP if mode is TunnelMode.HTTP else Mode.TCP)
            return True
        core.decide(Mode.HTTP)
        core.enter(Trigger.INTERCEPT)
        core.secure.start(CLIENT, TLSLayer.server(routing.server_tls, tunnel.host))
        core.secure.start(UPSTREAM, TLSLayer.client(routing.upstream_tls, tunnel.host))
        core.secure.received(CLIENT, data, core.from_client)
        return False
