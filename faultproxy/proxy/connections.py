"""A proxy's live connections: a relay per accepted client, forgotten once it is done.

The one place a proxy and its relays meet. A relay gets a config, the fault set, a capture
sink and a callback for when it is done; it never sees the proxy (no import cycle, no reach
back into the listener).
"""

from __future__ import annotations

import asyncio

from faultproxy.faults.faultset import FaultSet
from faultproxy.proxy.core import RelayConfig
from faultproxy.proxy.limits import NOFILE_RESERVE
from faultproxy.proxy.relay import CapturingRelay, Relay
from faultproxy.proxy.sinks import NO_CAPTURE, CaptureSink


class _Refuse(asyncio.Protocol):
    """A client accepted while the proxy was being disabled: dropped at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.abort()  # type: ignore[attr-defined]


# Clients over the connection cap that get their 503 at the same time: half the descriptors
# kept in reserve (the rest are the proxy's own). One more cuts the oldest of them short.
OVER_CAP = NOFILE_RESERVE // 2


class Connections:
    """The connections of one proxy: :meth:`accept` is its listener's protocol factory.

    At most ``cap`` are relayed at once (``config.limits``): a client over the cap gets a relay
    that answers it 503 without an upstream connection. At most :data:`OVER_CAP` such relays
    live at once: a new one cuts the oldest short — by then it has had its answer, and is
    draining a client that may never close (an idle one: each new client is worth more than an
    old one that has been answered). So healthy clients get an answer, never a silent EOF,
    while idle ones hold the proxy, and the proxy never runs out of descriptors."""

    __slots__ = ("accepted", "cap", "config", "faults", "loop", "over_cap", "relays", "sink", "taking")

    def __init__(self, config: RelayConfig, faults: FaultSet):
        self.config = config
        self.faults = faults
        self.sink: CaptureSink = (
            NO_CAPTURE  # told what happens to each connection (the proxy's log and capture)
        )
        self.relays: dict[int, Relay] = {}
        self.cap = config.limits.connection_cap()
        self.over_cap: dict[int, None] = {}  # the relays answering 503, oldest first (in relays too)
        self.accepted = 0  # clients accepted, ever: connection numbers count from 1
        self.taking = True  # False while the proxy is disabled: clients accepted meanwhile are dropped
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop the relays run on, once started

    def __len__(self) -> int:
        return len(self.relays)

    def accept(self) -> asyncio.Protocol:
        if not self.taking:
            return _Refuse()
        full = len(self.relays) - len(self.over_cap) >= self.cap
        if full and len(self.over_cap) >= OVER_CAP:
            oldest = next(iter(self.over_cap))
            del self.over_cap[oldest]  # its socket goes now: no longer counted
            self.relays[oldest].core.abort()
        self.accepted += 1
        kind = CapturingRelay if self.sink.active else Relay
        relay = kind(
            self.config, self.faults, self.accepted, self.sink, self._done, self.cap if full else None
        )
        self.relays[relay.id] = relay
        if full:
            self.over_cap[relay.id] = None
        return relay.client

    def _done(self, relay: Relay) -> None:
        self.relays.pop(relay.id, None)
        self.over_cap.pop(relay.id, None)

    def abort_all(self) -> None:
        """Drop every connection now (the proxy stops, or is disabled)."""
        for relay in list(self.relays.values()):
            relay.core.abort()

    def faults_changed(self) -> None:
        """A fault was added, replaced or removed (from any thread): live connections pick it up
        now, on their loop (not at their next read), so a fault that acts on time starts its
        clock when added."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._resync)

    def _resync(self) -> None:
        for relay in list(self.relays.values()):
            relay.core.faults_changed()
