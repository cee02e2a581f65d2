"""TLS on a relayed connection's sides, as part of the connection core: sans-IO.

A side that speaks TLS gets a :class:`~faultproxy.tls.TLSLayer` between its socket and the
core (docs/connection-core.md, docs/tls.md). The adapter hands each read of that socket to
:meth:`Secure.received` (the ``secure`` command), which decrypts it and passes the plaintext on
to where the side's reads went before — so every fault, the capture and the oracle see
plaintext exactly as without TLS. What the core writes to the side goes through the layer's
``send`` on its way to the socket (the ``writer`` command's ``encrypt``); the records the layer
makes itself (handshake, alerts, ``close_notify``) go out with ``write_tls``.

The rules:

- A handshake is bounded by its side's timer (``routing.handshake_timeout``). The upstream's
  handshake is the ``HANDSHAKING`` phase: the upstream counts as connected only once it is done,
  and a failure (verification, wrong host, an alert, a timeout, a close) is ``UPSTREAM_FAILED``:
  the client gets the 502 naming the host and the reason. The client's handshake runs beside the
  upstream's connect; its failure closes the connection (the client got the alert) — except
  plain HTTP sent to the TLS port, which gets a plain 400, as nginx answers it.
- ``close_notify`` and a bare FIN stay apart: a peer's ``close_notify`` ends its direction like
  a FIN, and the FIN passed on to a TLS peer carries our ``close_notify`` — unless the side it
  passes on ended with a bare FIN (a truncation), which reaches the other side as one too.
- Each completed handshake is a capture note (``tls``: SNI, ALPN, version, cipher, certificate
  subject) and a log line.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from faultproxy.proxy.answers import plain_response
from faultproxy.proxy.states import CLIENT, PEER, UPSTREAM, Phase, Side, Timer, Trigger
from faultproxy.tls.facts import HandshakeFacts, TLSFailure
from faultproxy.tls.layer import HANDSHAKING, TLSLayer
from faultproxy.wire.http import opens_like_http

if TYPE_CHECKING:
    from collections.abc import Callable

    from faultproxy.proxy.core import ConnectionCore

TIMERS = {CLIENT: Timer.CLIENT_TLS, UPSTREAM: Timer.UPSTREAM_TLS}
# nginx's words for the same mistake
PLAIN_HTTP_TO_TLS = "faultproxy: the plain HTTP request was sent to the HTTPS port (use https://)\n"


class Secure:
    """The TLS of one connection: each side's layer, if it has one."""

    __slots__ = ("_core", "ended", "layers", "truncated")

    def __init__(self, core: ConnectionCore):
        self._core = core
        self.layers: dict[Side, TLSLayer] = {}
        self.ended: set[Side] = set()  # sides whose close_notify came (their FIN after it changes nothing)
        self.truncated: set[Side] = set()  # sides that ended with a FIN and no close_notify

    def start(self, side: Side, layer: TLSLayer) -> None:
        """``side`` speaks TLS from now on: reads are decrypted, writes encrypted, the handshake
        starts (the ClientHello, toward an upstream) and its timer runs."""
        core = self._core
        self.layers[side] = layer
        core.sides.encrypted(side, layer.send)
        core.port.secure(side, partial(self.received, side))
        out = layer.start()
        if out.send:
            core.port.write_tls(side, out.send)
        core.timers.arm(TIMERS[side], core.clock() + core.config.routing.handshake_timeout)

    # -- events --------------------------------------------------------------------------------

    def received(self, side: Side, data: bytes, plain: Callable[[bytes], None]) -> None:
        """Ciphertext read from ``side``'s socket; ``plain`` takes the plaintext in it."""
        layer = self.layers[side]
        out = layer.receive(data)
        core = self._core
        if out.send:
            core.port.write_tls(side, out.send)
        if out.handshake is not None:
            self._handshake_done(side, out.handshake)
        if out.data:
            plain(out.data)
        if out.closed and side not in self.ended:
            self.ended.add(side)
            core.port.note("tls_close_notify", side=side)
            core.ended(side)
        if out.failure is not None:
            self._failed(side, out.failure, data)

    def fin(self, side: Side) -> bool:
        """A TCP FIN from a TLS side: True when the core treats it as the end of the side's data
        (a truncation if no ``close_notify`` came before it); False when it is dealt with here."""
        layer = self.layers[side]
        if side in self.ended:
            return False  # its close_notify ended its data already
        if layer.state == HANDSHAKING:
            self._failed(side, layer.receive_eof().failure or TLSFailure.closed(), b"")
            return False
        if layer.facts is not None:
            self.truncated.add(side)
        return True

    def lost_in_handshake(self) -> None:
        """The upstream's socket is gone during its handshake (a reset, or closed under us)."""
        self._failed(UPSTREAM, self.layers[UPSTREAM].receive_eof().failure or TLSFailure.closed(), b"")

    def timed_out(self, side: Side) -> None:
        layer = self.layers.get(side)
        failure = layer.time_out(self._core.config.routing.handshake_timeout) if layer is not None else None
        if failure is not None:
            self._failed(side, failure, b"")

    # -- what the core asks --------------------------------------------------------------------

    def close_notify(self, side: Side) -> None:
        """Before our FIN to ``side``: its ``close_notify``, unless what we pass on was truncated."""
        layer = self.layers.get(side)
        if layer is not None and PEER[side] not in self.truncated:
            records = layer.close()
            if records:
                self._core.port.write_tls(side, records)

    # -- the work ------------------------------------------------------------------------------

    def _handshake_done(self, side: Side, facts: HandshakeFacts) -> None:
        core = self._core
        core.timers.disarm(TIMERS[side])
        core.port.note("tls", **facts.as_dict())
        if side is UPSTREAM and core.phase is Phase.HANDSHAKING:
            core.upstream_ready()

    def _failed(self, side: Side, failure: TLSFailure, data: bytes) -> None:
        core = self._core
        core.timers.disarm(TIMERS[side])
        if side is UPSTREAM and core.phase is Phase.HANDSHAKING:
            core.answers.upstream_failed(failure.describe(core.target.address), kind=failure.kind)
            core.close(UPSTREAM, "fin")
            return
        core.port.note("tls_failed", side=side, failure=failure.kind, reason=failure.reason)
        if core.phase is Phase.CLOSING or core.phase is Phase.CLOSED:
            return
        core.request.cancel()
        core.response.cancel()
        core.enter(Trigger.END)
        if side is CLIENT and self.layers[CLIENT].facts is None and opens_like_http(data):
            core.port.write_tls(CLIENT, plain_response(400, PLAIN_HTTP_TO_TLS))
        core.close(CLIENT, "fin")
        core.close(UPSTREAM, "fin")
