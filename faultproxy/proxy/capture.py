"""Captures: both directions of every connection, timestamped, decoded, with secrets redacted.

A capture is a JSON Lines file. The first line is ``{"type": "meta", "version": 1, ...}``;
every other line is a record of one connection (``conn``) at a monotonic time ``t``
(seconds since the capture started). Records that carry wire bytes have ``b64``; joining
them per direction gives the bytes that crossed the proxy, except that secret header values
are replaced by ``[redacted]``.

Record types: ``open``; ``head`` (a request or response head, with ``dir``, ``exchange`` and
the parsed fields); ``body`` (Content-Length, close-delimited or tunnel bytes); ``chunk``
(a chunk-size line, with ``size``), ``chunk_data``, ``chunk_end``, ``trailers``; ``end`` (a
message is complete); ``event`` (an SSE event decoded from a ``text/event-stream`` response,
with its ``index`` in that response); ``malformed``; ``unparsed``; notes such as ``eof``,
``closed`` (``how``: ``fin`` or ``rst``) and ``upstream_error``; and ``fault`` records once
faults fire. The decoding here runs only when a capture is on, off the relay's own path.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import IO, Any

from faultproxy.wire.chunked import ChunkData, ChunkedEnd, ChunkEnd, ChunkHeader, Malformed, Unparsed
from faultproxy.wire.http import BodyData, EndOfMessage, HTTPReader, Request, Response, TunnelData
from faultproxy.wire.errors import WireError
from faultproxy.wire.sse import SSEParser

CAPTURE_VERSION = 1
REDACTED = b"[redacted]"
SECRET_HEADERS = frozenset(
    {
        b"authorization",
        b"proxy-authorization",
        b"x-api-key",
        b"api-key",
        b"x-goog-api-key",
        b"x-auth-token",
        b"cookie",
        b"set-cookie",
        b"openai-organization",
        b"openai-project",
    }
)


def redact_head(raw: bytes) -> bytes:
    """The head with the value of every secret header replaced, everything else byte for byte."""
    lines = raw.split(b"\n")
    for i, line in enumerate(lines[1:], start=1):
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() in SECRET_HEADERS and value.strip(b" \t\r"):
            ending = b"\r" if line.endswith(b"\r") else b""
            lines[i] = name + b": " + REDACTED + ending
    return b"\n".join(lines)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class _DirectionDecoder:
    """Decodes one direction of one connection into capture records."""

    def __init__(self, direction: str, peer: _DirectionDecoder | None = None):
        self.direction = direction
        self.reader = HTTPReader("request" if direction == "request" else "response", strict=False)
        self.peer = peer  # the request decoder tells the response decoder which method each answers
        self.exchange = 0
        self.finals = 0
        self.sse: SSEParser | None = None
        self.event_index = 0

    def records(self, data: bytes, redact: bool) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for event in self.reader.feed(data):
            out.extend(self._record(event, redact))
        return out

    def close(self, redact: bool) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for event in self.reader.close():
            out.extend(self._record(event, redact))
        return out

    def _record(self, event: object, redact: bool) -> list[dict[str, Any]]:
        base = {"dir": self.direction, "exchange": self.exchange}
        if isinstance(event, Request):
            self.exchange += 1
            if self.peer is not None:
                self.peer.reader.expect_response_to(event.method)
            raw = redact_head(event.raw) if redact else event.raw
            return [{"type": "head", "dir": self.direction, "exchange": self.exchange, "method": event.method.decode("latin-1"),
                     "target": event.target.decode("latin-1"), "b64": _b64(raw)}]
        if isinstance(event, Response):
            self.exchange = self.finals + 1  # a 1xx interim response shares its exchange's number
            if event.status >= 200:
                self.finals += 1
            content_type = (event.headers.get("content-type") or b"").split(b";")[0].strip().lower()
            self.sse = SSEParser() if content_type == b"text/event-stream" else None
            self.event_index = 0
            raw = redact_head(event.raw) if redact else event.raw
            return [{"type": "head", "dir": self.direction, "exchange": self.exchange, "status": event.status,
                     "reason": event.reason.decode("latin-1"), "b64": _b64(raw)}]
        if isinstance(event, (BodyData, ChunkData, TunnelData)):
            kind = {BodyData: "body", ChunkData: "chunk_data", TunnelData: "body"}[type(event)]
            return [{"type": kind, **base, "b64": _b64(event.raw)}, *self._events(event.raw, base)]
        if isinstance(event, ChunkHeader):
            return [{"type": "chunk", **base, "size": event.size, "b64": _b64(event.raw)}]
        if isinstance(event, ChunkEnd):
            return [{"type": "chunk_end", **base, "b64": _b64(event.raw)}]
        if isinstance(event, ChunkedEnd):
            return [{"type": "trailers", **base, "b64": _b64(event.raw)}]
        if isinstance(event, EndOfMessage):
            self.sse = None
            return [{"type": "end", **base}]
        if isinstance(event, Malformed):
            return [{"type": "malformed", **base, "reason": event.reason, "offset": event.offset}]
        if isinstance(event, Unparsed):
            return [{"type": "unparsed", **base, "b64": _b64(event.raw)}]
        return []

    def _events(self, body: bytes, base: dict[str, Any]) -> list[dict[str, Any]]:
        if self.sse is None:
            return []
        try:
            events = self.sse.feed(body)
        except WireError as error:
            # e.g. a line over the parser's limit: the stream is still relayed, and the capture
            # keeps its bytes, but stops decoding events from it and says why
            self.sse = None
            return [{"type": "malformed", **base, "reason": f"event stream: {error}"}]
        out = []
        for ev in events:
            out.append({"type": "event", **base, "index": self.event_index,
                        "event": {"type": ev.type, "data": ev.data, "id": ev.id, "retry": ev.retry}})
            self.event_index += 1
        return out


class CaptureWriter:
    """Writes one capture file for a whole proxy run."""

    def __init__(self, path: Path, *, redact: bool = True):
        self.path = path
        self.redact = redact
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("w", encoding="utf-8", buffering=1 << 20)
        self._start = time.monotonic()
        self._decoders: dict[int, dict[str, _DirectionDecoder]] = {}

    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")

    def _now(self) -> float:
        return round(time.monotonic() - self._start, 6)

    def meta(self, **fields: Any) -> None:
        self._write({"type": "meta", "version": CAPTURE_VERSION, "started": time.time(),
                     "redacted": self.redact, **fields})

    def open(self, conn: int, client: Any) -> None:
        requests = _DirectionDecoder("request")
        responses = _DirectionDecoder("response")
        requests.peer = responses
        self._decoders[conn] = {"request": requests, "response": responses}
        peer = f"{client[0]}:{client[1]}" if client else None
        self._write({"t": self._now(), "conn": conn, "type": "open", "client": peer})

    def data(self, conn: int, direction: str, data: bytes) -> None:
        decoders = self._decoders.get(conn)
        if decoders is None:
            return
        t = self._now()
        for record in decoders[direction].records(data, self.redact):
            self._write({"t": t, "conn": conn, **record})

    def forget(self, conn: int) -> None:
        """Stop decoding a connection (its decoder failed); its notes are still written."""
        self._decoders.pop(conn, None)

    def note(self, conn: int, kind: str, **fields: Any) -> None:
        t = self._now()
        decoders = self._decoders.get(conn)
        if kind == "eof" and decoders is not None:
            direction = "request" if fields.get("side") == "client" else "response"
            for record in decoders[direction].close(self.redact):
                self._write({"t": t, "conn": conn, **record})
        if kind == "done":
            self._decoders.pop(conn, None)
            self._file.flush()
        self._write({"t": t, "conn": conn, "type": kind, **fields})

    def fault(self, evidence: dict[str, Any]) -> None:
        """A fault fired: written with the time the fault saw, so it sorts beside the bytes it touched."""
        t = round(evidence.pop("t") - self._start, 6)
        self._write({"t": t, "type": "fault", "fault_type": evidence.pop("type"), **evidence})

    def close(self) -> None:
        self._file.close()
