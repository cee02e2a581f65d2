"""Three ways to end an HTTP/1.1 body, and what each tells the client when the connection is cut.

1. ``Content-Length: N`` -- the server must know the whole body before it sends the head,
   so the first byte waits for the last piece to exist. A cut is detectable: fewer than N
   bytes arrived.
2. ``Transfer-Encoding: chunked`` -- the head and each piece go out as soon as they exist.
   A cut is detectable: the zero-size last chunk never came.
3. Neither (close-delimited, HTTP/1.0 style) -- the body is "everything until the server
   closes". It streams like chunked, but a cut looks exactly like the end: the client
   cannot tell a truncated body from a complete one.

The server produces the same body for every variant, one piece every ``interval`` seconds
(as if it were being computed), and the ``-truncated`` variants close the connection after
half of it. ``compare`` fetches every variant and shows what a client can conclude.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from faultproxy.net.addresses import HTTPURL
from faultproxy.net.stream_server import READ_SIZE, StreamServer, first_request
from faultproxy.wire.chunked import ChunkData, encode_chunk, encode_last_chunk
from faultproxy.wire.errors import WireError
from faultproxy.wire.http import (
    BodyData,
    EndOfMessage,
    HTTPReader,
    Response,
    encode_request,
    encode_response,
)

LENGTH, CHUNKED, CLOSE = "Content-Length", "chunked", "close-delimited"


@dataclass(frozen=True)
class Variant:
    path: str
    framing: str
    truncated: bool


VARIANTS = tuple(
    Variant(f"/{name}{'-truncated' if cut else ''}", framing, cut)
    for name, framing in (("length", LENGTH), ("chunked", CHUNKED), ("close", CLOSE))
    for cut in (False, True)
)

TEXT_PLAIN = ("Content-Type", "text/plain; charset=utf-8")


class FramingServer(StreamServer):
    """Serves the body of ``pieces`` lines under each path in :data:`VARIANTS`."""

    def __init__(self, pieces: int = 4, interval: float = 0.2, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host, port)
        self.pieces = pieces
        self.interval = interval

    def piece(self, n: int) -> bytes:
        return f"line {n} of {self.pieces}: the same body, framed three ways\n".encode()

    async def produce(self, count: int) -> AsyncIterator[bytes]:
        """The first ``count`` pieces of the body, each after ``interval`` seconds of "work"."""
        for n in range(1, count + 1):
            await asyncio.sleep(self.interval)
            yield self.piece(n)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await first_request(reader, writer)
        if request is None:
            return
        path = request.target.decode("latin-1")
        variant = next((v for v in VARIANTS if v.path == path), None)
        if variant is None:
            body = ("404 Not Found; try " + ", ".join(v.path for v in VARIANTS) + "\n").encode()
            writer.write(
                encode_response(404, "Not Found", [TEXT_PLAIN, ("Content-Length", str(len(body)))], body)
            )
            await writer.drain()
            return
        sent = self.pieces // 2 if variant.truncated else self.pieces
        if variant.framing == LENGTH:
            # The length is only known once the whole body exists: nothing can be sent before.
            body = b"".join([piece async for piece in self.produce(self.pieces)])
            cut = sum(len(self.piece(n)) for n in range(1, sent + 1))
            writer.write(
                encode_response(200, "OK", [TEXT_PLAIN, ("Content-Length", str(len(body)))], body[:cut])
            )
        elif variant.framing == CHUNKED:
            writer.write(encode_response(200, "OK", [TEXT_PLAIN, ("Transfer-Encoding", "chunked")]))
            async for piece in self.produce(sent):
                writer.write(encode_chunk(piece))
                await writer.drain()
            if not variant.truncated:
                writer.write(encode_last_chunk())
        else:
            writer.write(encode_response(200, "OK", [TEXT_PLAIN, ("Connection", "close")]))
            async for piece in self.produce(sent):
                writer.write(piece)
                await writer.drain()
        await writer.drain()
        # Returning closes the connection: the normal end of /close, a cut for the -truncated ones.


@dataclass(frozen=True)
class FramingResult:
    path: str
    framing: str  # as the response head declared it
    status: int
    first_byte_ms: float  # from sending the request to the first response byte
    body_bytes: int
    declared: int | None  # Content-Length, when there was one
    verdict: str  # "complete", "truncated" (the client can tell) or "cannot tell"
    detail: str


def fetch(url: HTTPURL, path: str, timeout: float = 30.0) -> FramingResult:
    """GET one variant and read it to the end the way its framing says, noting what the client can tell."""
    wire = HTTPReader("response")
    wire.expect_response_to(b"GET")
    head: Response | None = None
    first_byte: float | None = None
    body_bytes = 0
    with socket.create_connection((url.host, url.port), timeout=timeout) as sock:
        sock.sendall(encode_request("GET", url.target.rstrip("/") + path, [("Host", url.authority)]))
        start = time.monotonic()
        while True:
            try:
                data = sock.recv(READ_SIZE)
            except ConnectionResetError:
                verdict, detail = "truncated", "connection reset"
                break
            if first_byte is None:
                first_byte = (time.monotonic() - start) * 1000
            try:
                events = wire.feed(data) if data else wire.close()
            except WireError as error:
                verdict, detail = "truncated", error.reason
                break
            body_bytes += sum(len(e.data) for e in events if isinstance(e, (BodyData, ChunkData)))
            head = next((e for e in events if isinstance(e, Response)), head)
            if any(isinstance(e, EndOfMessage) for e in events):
                if data:
                    verdict, detail = "complete", "the framing says the body ended here"
                else:
                    verdict, detail = "cannot tell", "the connection closed; that is all a client sees"
                break
            if not data:
                verdict, detail = "truncated", "the connection closed before a response head"
                break
    if head is None:
        raise ConnectionError(f"{path}: {detail}")
    headers = head.headers
    chunked = (headers.get("transfer-encoding") or b"").lower().endswith(b"chunked")
    length = headers.get("content-length")
    framing = CHUNKED if chunked else LENGTH if length is not None else CLOSE
    return FramingResult(
        path,
        framing,
        head.status,
        first_byte or 0.0,
        body_bytes,
        int(length) if length is not None and not chunked else None,
        verdict,
        detail,
    )


def compare(url: HTTPURL, timeout: float = 30.0) -> list[FramingResult]:
    """Fetch every variant from a ``lab framing`` server at ``url``."""
    return [fetch(url, variant.path, timeout) for variant in VARIANTS]


def table(results: list[FramingResult]) -> str:
    rows = [("variant", "framing", "first byte", "body bytes", "client sees", "why")]
    for r in results:
        got = f"{r.body_bytes}/{r.declared}" if r.declared is not None else str(r.body_bytes)
        rows.append((r.path, r.framing, f"{r.first_byte_ms:.0f} ms", got, r.verdict, r.detail))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    )
