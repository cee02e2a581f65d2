"""uvicorn as a guest on our loop (the control API, the Starlette reference server)."""

from __future__ import annotations

import asyncio
import socket

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from faultproxy.servers.guest import GuestUvicorn

GUARD = 20.0  # seconds: a hang guard, never a measurement


def test_accepted_sockets_send_at_once_with_tcp_nodelay() -> None:
    """A response is a head and a body in two writes; with Nagle on, the body waited for the
    client's delayed ACK of the head: 40 ms on every control API answer and reference-server
    event. asyncio turns Nagle off only for sockets made with proto=IPPROTO_TCP, and
    socket.create_server makes them with 0, so the guest turns it off itself."""

    async def hello(request):  # type: ignore[no-untyped-def]
        return JSONResponse({"hello": "world"})

    async def main() -> list[int]:
        guest = GuestUvicorn(Starlette(routes=[Route("/", hello)]), "127.0.0.1", 0)
        await guest.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", guest.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            await reader.readuntil(b'{"hello":"world"}')
            assert guest._server is not None
            options = [
                protocol.transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                for protocol in guest._server.server_state.connections
            ]
            writer.close()
            return options
        finally:
            await guest.stop()

    options = asyncio.run(asyncio.wait_for(main(), GUARD))
    assert options and all(options), options
