"""Captures: both directions of every connection, timestamped, decoded, with secrets redacted.

A capture is a JSON Lines file. The first line is ``{"type": "meta", "version": 1, ...}``;
every other line is a record of one connection (``conn``) at a monotonic time ``t``
(seconds since the capture started; the meta record's ``monotonic_start`` is that moment on
this machine's ``time.monotonic()`` clock, so a reader can line records up with its own times). Records that carry wire bytes have ``b64``; joining
them per direction gives the bytes that crossed the proxy, except that secret header values
are replaced by ``[redacted]``: in heads (folded continuation lines included), in trailers, in
the ``unparsed`` bytes that follow a framing error (a malformed head still holds its secrets),
and in the text of ``malformed`` reasons, which may quote a header line.

Each record with bytes has a ``dir``: ``request`` (what the proxy wrote to the upstream),
``response`` (what it wrote to the client: after the faults) or ``upstream`` (what it read from
the upstream, before any fault: the server's own bytes, the ground truth of a server that keeps
no log of its own -- see ``docs/outcomes.md``). ``upstream`` records are decoded like responses
(heads, chunks, ends, ``malformed``) but carry no ``event`` records; the meta record's
``upstream_side: true`` says they are kept (a request no server answered has none).

Record types: ``open``; ``head`` (a request or response head, with ``dir``, ``exchange`` and
the parsed fields); ``body`` (Content-Length, close-delimited or tunnel bytes); ``chunk``
(a chunk-size line, with ``size``), ``chunk_data``, ``chunk_end``, ``trailers``; ``end`` (a
message is complete); ``event`` (an SSE event decoded from a ``text/event-stream`` response,
with its ``index`` in that response); ``malformed``; ``unparsed``; notes such as ``eof``,
``closed`` (``how``: ``fin`` or ``rst``), ``upstream_error`` and ``refused`` (a malformed
request, answered 400); and ``fault`` records once
faults fire. The decoding here runs only when a capture is on, off the relay's own path.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from pathlib import Path
from typing import IO, Any

from faultproxy.faults.base import Evidence
from faultproxy.wire.chunked import ChunkData, ChunkedEnd, ChunkEnd, ChunkHeader, Malformed, Unparsed
from faultproxy.wire.errors import WireError
from faultproxy.wire.http import (
    BodyData,
    EndOfMessage,
    HTTPReader,
    Request,
    Response,
    TunnelData,
    is_event_stream,
)
from faultproxy.wire.sse import SSEParser

log = logging.getLogger(__name__)

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


# A line that starts like a header field: a name, then ':' or whitespace. Lenient on purpose:
# a malformed line ("Authorization Bearer x", "Cookie : x") still carries its secret.
_FIELD_START = re.compile(rb"[ \t]*(?P<name>[!#$%&'*+.^_`|~0-9A-Za-z-]+)(?:[ \t]*(?P<colon>:)|[ \t]+)")


def _redact_lines(lines: list[bytes], secret: bool = False) -> tuple[list[bytes], bool]:
    """Header-like lines (without their LF) with the values of secret fields replaced.

    ``secret`` says whether the line before was a secret field: with obsolete line folding a
    line starting with whitespace continues the field above, and would otherwise carry the
    rest of a secret past the redaction. Returns the lines and that state after the last one.
    """
    out = []
    for line in lines:
        ending = b"\r" if line.endswith(b"\r") else b""
        content = line[: len(line) - len(ending)]
        if secret and content[:1] in (b" ", b"\t"):
            out.append(content[:1] + REDACTED + ending)
            continue
        match = _FIELD_START.match(content)
        secret = match is not None and match["name"].lower() in SECRET_HEADERS
        if match is None or not secret or not content[match.end() :].strip(b" \t"):
            out.append(line)
        elif match["colon"]:
            out.append(content[: match.start("colon")] + b": " + REDACTED + ending)
        else:
            out.append(content[: match.end()] + REDACTED + ending)
    return out, secret


def redact_head(raw: bytes) -> bytes:
    """The head with the value of every secret header replaced, everything else byte for byte."""
    lines = raw.split(b"\n")
    lines[1:], _ = _redact_lines(lines[1:])
    return b"\n".join(lines)


def redact_fields(raw: bytes) -> bytes:
    """A trailer section (no start line) with the value of every secret field replaced."""
    lines, _ = _redact_lines(raw.split(b"\n"))
    return b"\n".join(lines)


_SECRET_IN_TEXT = re.compile(
    r"(?i)(?<![\w-])("
    + "|".join(re.escape(n.decode()) for n in sorted(SECRET_HEADERS, key=len, reverse=True))
    + r")(?![\w-])([ \t]*:?[ \t]*)([^'\"\\\r\n \t][^'\"\\\r\n]*)"
)


def redact_text(text: str) -> str:
    """A message that may quote a header line (a parse error), with secret values replaced."""
    return _SECRET_IN_TEXT.sub(lambda m: m.group(1) + m.group(2) + REDACTED.decode(), text)


class _LineRedactor:
    """Redacts secret header values in bytes that could not be parsed, line by line, across reads.

    After a framing error the rest of a direction is recorded as ``unparsed`` bytes, which may
    be a head holding secrets. A line is held back until it is complete, so a secret split
    across two reads is still caught; a line longer than :attr:`MAX_HELD` is decided on its
    start, and the rest of it passed on or dropped.
    """

    MAX_HELD = 8192

    def __init__(self) -> None:
        self._held = b""
        self._secret = False  # the last line decided was a secret field
        self._mode = "hold"  # or, inside an over-long line: "pass" or "drop"

    def feed(self, data: bytes) -> bytes:
        out = []
        pos = 0
        while pos < len(data):
            nl = data.find(b"\n", pos)
            end = len(data) if nl < 0 else nl + 1
            piece = data[pos:end]
            pos = end
            if self._mode == "drop":
                if nl >= 0:
                    out.append(b"\r\n" if piece.endswith(b"\r\n") else b"\n")
            elif self._mode == "pass":
                out.append(piece)
            else:
                self._held += piece
                if nl >= 0:
                    (line,), self._secret = _redact_lines([self._held[:-1]], self._secret)
                    out.append(line + b"\n")
                    self._held = b""
                elif len(self._held) > self.MAX_HELD:
                    (line,), self._secret = _redact_lines([self._held], self._secret)
                    out.append(line)
                    self._held = b""
                    self._mode = "drop" if self._secret else "pass"
            if nl >= 0 and self._mode != "hold":
                self._mode = "hold"
        return b"".join(out)

    def flush(self) -> bytes:
        """The held, incomplete last line: the stream ended without its LF."""
        held, self._held = self._held, b""
        return _redact_lines([held], self._secret)[0][0] if held else b""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class _DirectionDecoder:
    """Decodes one direction of one connection into capture records."""

    def __init__(self, direction: str, *peers: _DirectionDecoder):
        self.direction = direction
        self.reader = HTTPReader("request" if direction == "request" else "response", strict=False)
        self.peers = peers  # the request decoder tells the response decoders which method each answers
        self.exchange = 0
        self.finals = 0
        self.sse: SSEParser | None = None
        self.event_index = 0
        self.unparsed = _LineRedactor()

    def records(self, data: bytes, redact: bool) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for event in self.reader.feed(data):
            out.extend(self._record(event, redact))
        return out

    def close(self, redact: bool) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for event in self.reader.close():
            out.extend(self._record(event, redact))
        return out + self.flush()

    def flush(self) -> list[dict[str, Any]]:
        """Unparsed bytes held back by the redactor, for when the stream ends."""
        held = self.unparsed.flush()
        if not held:
            return []
        return [{"type": "unparsed", "dir": self.direction, "exchange": self.exchange, "b64": _b64(held)}]

    def _record(self, event: object, redact: bool) -> list[dict[str, Any]]:
        base = {"dir": self.direction, "exchange": self.exchange}
        if isinstance(event, Request):
            self.exchange += 1
            for peer in self.peers:
                peer.reader.expect_response_to(event.method)
            raw = redact_head(event.raw) if redact else event.raw
            return [{"type": "head", "dir": self.direction, "exchange": self.exchange, "method": event.method.decode("latin-1"),
                     "target": event.target.decode("latin-1"), "b64": _b64(raw)}]
        if isinstance(event, Response):
            self.exchange = self.finals + 1  # a 1xx interim response shares its exchange's number
            if event.status >= 200:
                self.finals += 1
            events = is_event_stream(event.headers) and self.direction == "response"
            self.sse = SSEParser() if events else None
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
            raw = redact_fields(event.raw) if redact else event.raw
            return [{"type": "trailers", **base, "b64": _b64(raw)}]
        if isinstance(event, EndOfMessage):
            self.sse = None
            return [{"type": "end", **base}]
        if isinstance(event, Malformed):
            reason = redact_text(event.reason) if redact else event.reason
            return [{"type": "malformed", **base, "reason": reason, "offset": event.offset}]
        if isinstance(event, Unparsed):
            raw = self.unparsed.feed(event.raw) if redact else event.raw
            return [{"type": "unparsed", **base, "b64": _b64(raw)}] if raw else []
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
                     "monotonic_start": self._start, "redacted": self.redact, "upstream_side": True, **fields})

    def open(self, conn: int, client: Any) -> None:
        responses = _DirectionDecoder("response")
        upstream = _DirectionDecoder("upstream")
        requests = _DirectionDecoder("request", responses, upstream)
        self._decoders[conn] = {"request": requests, "response": responses, "upstream": upstream}
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
            directions = ("request",) if fields.get("side") == "client" else ("upstream", "response")
            for direction in directions:
                for record in decoders[direction].close(self.redact):
                    self._write({"t": t, "conn": conn, **record})
        if kind == "done" and decoders is not None:
            for decoder in decoders.values():
                for record in decoder.flush():
                    self._write({"t": t, "conn": conn, **record})
        if kind == "done":
            self._decoders.pop(conn, None)
            self._file.flush()
        self._write({"t": t, "conn": conn, "type": kind, **fields})

    def fault(self, evidence: dict[str, Any]) -> None:
        """A fault fired: written with the time the fault saw, so it sorts beside the bytes it touched."""
        t = round(evidence.pop("t") - self._start, 6)
        self._write({"t": t, "type": "fault", "fault_type": evidence.pop("type"), **evidence})

    def sync(self) -> None:
        """Push what is buffered to the file, so a reader sees every record written so far.
        (The file object's own lock makes this safe from another thread.)"""
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class CaptureSink:
    """Where a connection's capture goes: :class:`ProxyCapture` when the proxy writes one,
    :data:`NO_CAPTURE` (does nothing) when it does not. ``active`` tells the relay whether to
    hand it the bytes it writes at all."""

    active = False

    def open(self, conn: int, client: Any) -> None:
        pass

    def data(self, conn: int, direction: str, data: bytes) -> None:
        pass

    def note(self, conn: int, kind: str, **fields: Any) -> None:
        pass

    def fault(self, evidence: Evidence) -> None:
        pass


NO_CAPTURE = CaptureSink()


class ProxyCapture(CaptureSink):
    """A proxy's :class:`CaptureWriter` as its connections see it.

    The capture is called from inside the relay's socket callbacks, where an exception would
    make asyncio close the connection: a stream cut short, looking like the upstream's doing.
    Whatever goes wrong in the capture is logged, that connection is no longer decoded, and
    the relay goes on."""

    active = True

    def __init__(self, writer: CaptureWriter):
        self.writer = writer

    def open(self, conn: int, client: Any) -> None:
        try:
            self.writer.open(conn, client=client)
        except Exception:  # noqa: BLE001 -- any failure: logged, and the relay goes on (see above)
            self._failed(conn)

    def data(self, conn: int, direction: str, data: bytes) -> None:
        try:
            self.writer.data(conn, direction, data)
        except Exception:  # noqa: BLE001 -- any failure: logged, and the relay goes on (see above)
            self._failed(conn)

    def note(self, conn: int, kind: str, **fields: Any) -> None:
        try:
            self.writer.note(conn, kind, **fields)
        except Exception:  # noqa: BLE001 -- any failure: logged, and the relay goes on (see above)
            self._failed(conn)

    def fault(self, evidence: Evidence) -> None:
        self.writer.fault(evidence.as_dict())

    def _failed(self, conn: int) -> None:
        log.exception("capture of connection #%d failed; it is still relayed, no longer decoded", conn)
        self.writer.forget(conn)
