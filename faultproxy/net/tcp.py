"""TCP details the relay and the servers share."""

from __future__ import annotations

import asyncio
import socket
import struct

LINGER_RST = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends an RST, not a FIN


def reset(transport: asyncio.BaseTransport) -> None:
    """Close with a TCP RST instead of a FIN (a peer that resets, on purpose)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
        except OSError:
            pass  # the socket is gone already: the abort below is all there is to do
    transport.abort()  # type: ignore[attr-defined]
