"""Chunked transfer coding on the wire: a server that sends one chunk at a time, and a client.

With ``Transfer-Encoding: chunked`` a server can start a body before it knows how long it
will be: each piece goes out as ``<size in hex>\\r\\n<data>\\r\\n``, and a zero-size chunk
(``0\\r\\n\\r\\n``) says "that was all". This is how streaming responses (SSE, LLM tokens)
travel over HTTP/1.1. ``curl -N --raw -i http://127.0.0.1:8081/`` shows the framing bytes;
``lab chunked get --show-wire`` shows each of them as it arrives, with its time.

The client is a raw socket: it writes a GET, reads until the blank line that ends the
response head, then hands every byte after it to :class:`~faultproxy.wire.chunked.ChunkedDecoder`.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

from faultproxy.net.addresses import HTTPURL
from faultproxy.net.stream_server import READ_SIZE, StreamServer, first_request
from faultproxy.wire.chunked import (
    ChunkData,
    ChunkedDecoder,
    ChunkedEnd,
    ChunkEnd,
    ChunkEvent,
    ChunkHeader,
    encode_chunk,
    encode_last_chunk,
)
from faultproxy.wire.http import Response, encode_request, encode_response, find_head_end, parse_response_head

CRLF = b"\r\n"


class ChunkedServer(StreamServer):
    """Answers any request with ``chunks`` chunks (``chunk 3 of 5\\n``), one every ``interval`` s."""

    def __init__(self, chunks: int = 5, interval: float = 0.5, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host, port)
        self.chunks = chunks
        self.interval = interval

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await first_request(reader, writer)
        if request is None:
            return
        writer.write(
            encode_response(
                200,
                "OK",
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Transfer-Encoding", "chunked"),
                    ("Connection", "close"),  # one response per connection keeps the lesson short
                ],
            )
        )
        await writer.drain()  # the head goes out now, before any of the body exists
        if request.method == b"HEAD":
            return
        for n in range(1, self.chunks + 1):
            await asyncio.sleep(self.interval)
            writer.write(encode_chunk(f"chunk {n} of {self.chunks}\n".encode()))
            await writer.drain()
        writer.write(encode_last_chunk())
        await writer.drain()


def fetch_chunked(url: HTTPURL, timeout: float = 30.0) -> Iterator[tuple[float, Response | ChunkEvent]]:
    """GET ``url`` and yield ``(ms since the request was sent, event)`` as the bytes arrive.

    The first event is the response head, then the decoder's events for every piece of the
    chunked body, ending with :class:`ChunkedEnd`. Raises ``ValueError`` if the response is
    not chunked and :class:`~faultproxy.wire.errors.WireError` if the body is malformed or cut
    short (``ChunkedDecoder.close()`` knows a body without its last chunk is incomplete).
    """
    with socket.create_connection((url.host, url.port), timeout=timeout) as sock:
        sock.sendall(
            encode_request(
                "GET", url.target, [("Host", url.authority), ("Accept", "*/*"), ("Connection", "close")]
            )
        )
        start = time.monotonic()

        def elapsed() -> float:
            return (time.monotonic() - start) * 1000

        buf = b""
        while (end := find_head_end(buf)) < 0:
            data = sock.recv(READ_SIZE)
            if not data:
                raise ConnectionError("the server closed the connection before a complete response head")
            buf += data
        head = parse_response_head(buf[:end])
        yield elapsed(), head
        if (head.headers.get("transfer-encoding") or b"").lower().split(b",")[-1].strip() != b"chunked":
            raise ValueError(
                f"the response is not chunked (status {head.status}, no Transfer-Encoding: chunked)"
            )
        decoder = ChunkedDecoder(offset=end)
        data = buf[end:]  # whatever of the body came in the same reads as the head
        while True:
            for event in decoder.feed(data):
                yield elapsed(), event
            if decoder.done:
                return
            data = sock.recv(READ_SIZE)
            if not data:
                decoder.close()  # raises: the server closed before the 0-size chunk


def visible(raw: bytes) -> str:
    """Bytes with CR, LF and other control bytes written as escapes: ``b"d\\r\\n"`` -> ``d\\r\\n``."""
    return repr(raw)[2:-1]


def describe(event: Response | ChunkEvent) -> str:
    """What an event is on the wire, its bytes made visible, for ``--show-wire``."""
    if isinstance(event, Response):
        lines = event.raw.split(CRLF)[:-1]  # each line, the blank one that ends the head included
        return "head   " + f"\n{' ' * 19}".join(f'"{visible(line + CRLF)}"' for line in lines)
    if isinstance(event, ChunkHeader):
        what = "last chunk (size 0)" if event.size == 0 else f"chunk of {event.size} bytes follows"
        return f'size   "{visible(event.raw)}"  {what}'
    if isinstance(event, ChunkData):
        return f'data   "{visible(event.data)}"'
    if isinstance(event, ChunkEnd):
        return f'crlf   "{visible(event.raw)}"  end of chunk data'
    if isinstance(event, ChunkedEnd):
        return f'end    "{visible(event.raw)}"  trailers: {len(event.trailers)}; the body is complete'
    return f"{type(event).__name__} {visible(event.raw)}"
