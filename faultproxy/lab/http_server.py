"""A minimal HTTP/1.1 server on raw asyncio streams: one fixed ``200 OK`` body.

What makes it HTTP/1.1 and not just "text over TCP":

- The body is framed by ``Content-Length``, so the client knows where the response ends
  without the connection closing -- which is what lets the connection stay open for the
  next request (keep-alive). ``Connection: close`` from the client (or HTTP/1.0 without
  ``keep-alive``) ends it after the response.
- ``HEAD`` gets the same head as ``GET`` (the same ``Content-Length`` included) and no body.
- A request the parser rejects gets ``400`` with the reason in plain text, then the
  connection closes.

Try ``curl -v http://127.0.0.1:8080/ http://127.0.0.1:8080/again`` ("Re-using existing
connection") or type a request into ``nc``.
"""

from __future__ import annotations

import asyncio

from faultproxy.net.stream_server import StreamServer, requests, wants_close
from faultproxy.wire.http import Request, encode_response

DEFAULT_BODY = "Hello from the faultproxy lab.\n"


class HTTPServer(StreamServer):
    """Answers every ``GET``/``HEAD`` with ``body``; other methods get ``405``."""

    def __init__(self, body: str = DEFAULT_BODY, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host, port)
        self.body = body.encode()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async for request in requests(reader, writer):
            close = wants_close(request)
            writer.write(self.response(request, close))
            await writer.drain()
            if close:
                return

    def response(self, request: Request, close: bool) -> bytes:
        if request.method in (b"GET", b"HEAD"):
            status, reason, body = 200, "OK", self.body
            headers = [("Content-Type", "text/plain; charset=utf-8")]
        else:
            status, reason = 405, "Method Not Allowed"
            body = f"405 Method Not Allowed: {request.method.decode('latin-1')}\n".encode()
            headers = [("Content-Type", "text/plain; charset=utf-8"), ("Allow", "GET, HEAD")]
        headers.append(("Content-Length", str(len(body))))
        if close:
            headers.append(("Connection", "close"))
        elif request.version == b"HTTP/1.0":
            headers.append(("Connection", "keep-alive"))  # 1.0 clients assume close otherwise
        return encode_response(status, reason, headers, b"" if request.method == b"HEAD" else body)
