"""Captures: both directions of every connection, timestamped, decoded, with secrets redacted.

A capture is a JSON Lines file. The first line is ``{"type": "meta", "version": 1, ...}``;
every other line is a record of one connection (``conn``) at a monotonic time ``t``
(seconds since the capture started; the meta record's ``monotonic_start`` is that moment on
this machine's ``time.monotonic()`` clock, so a reader can line records up with its own times). Records that carry wire bytes have ``b64``; joining
them per direction gives the bytes that crossed the proxy, except for secrets
(:mod:`faultproxy.redact` says which): secret header values are replaced by ``[redacted]`` in
heads (folded continuation lines included), in trailers, in the ``unparsed`` bytes that follow
a framing error (a malformed head still holds its secrets), and in the text of ``malformed``
reasons and fault evidence, which may quote a header line or a URL; secret query parameters
(``?key=``) by ``REDACTED``, in heads and in the ``target`` field; and the secret fields of a
JSON or form request body (``"api_key": "..."``) by ``*`` of the same length, so body and chunk
sizes still add up. The file is readable by its owner only (:mod:`faultproxy.private`).

Each record with bytes has a ``dir``: ``request`` (what the proxy wrote to the upstream),
``response`` (what it wrote to the client: after the faults) or ``upstream`` (what it read from
the upstream, before any fault: the server's own bytes, the ground truth of a server that keeps
no log of its own -- see ``docs/outcomes.md``). ``upstream`` records are decoded like responses
(heads, chunks, ends, ``malformed``) but carry no ``event`` records.

The server's side is written only where it can differ from the client's: while no fault could
change a connection's bytes (none active, the proxy answered nothing itself) the proxy relays
them as read, and its ``response`` records are the server's bytes too. From the first read a
fault could change, or the proxy's own answer, an ``upstream_split`` note marks the connection
and its ``upstream`` records follow (decoded on from where the response side was: the same
bytes so far). The meta record's ``upstream_side: "when_changed"`` says so (``true``: captures
that kept every connection's server side); :func:`server_side` gives the server's records
either way. A stream no fault touches thus costs no second copy in the file.

Record types: ``open``; ``head`` (a request or response head, with ``dir``, ``exchange`` and
the parsed fields); ``answered`` (the head of a request the proxy answered itself -- a fault's
answer, a 502 -- which therefore never crossed to the upstream: ``dir: request``, the fields of
a request ``head``, and ``exchange`` numbered as the responses are); ``body`` (Content-Length, close-delimited or tunnel bytes); ``chunk``
(a chunk-size line, with ``size``), ``chunk_data``, ``chunk_end``, ``trailers``; ``end`` (a
message is complete); ``event`` (an SSE event decoded from a ``text/event-stream`` response,
with its ``index`` in that response); ``malformed``; ``unparsed``; notes such as ``eof``,
``closed`` (``how``: ``fin`` or ``rst``), ``upstream_error``, ``refused`` (a malformed
request, answered 400) and ``upstream_split`` (see above); and ``fault`` records once
faults fire. The decoding here runs only when a capture is on, off the relay's own path.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import re
import time
from pathlib import Path
from typing import IO, Any

from faultproxy.private import make_dirs, open_private
from faultproxy.redact import BodyMasker, is_secret_name, map_strings, redact_target, redact_text
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
from faultproxy.wire.limits import DEFAULT_LIMITS, HeadLimits
from faultproxy.wire.sse import SSEParser

log = logging.getLogger(__name__)

CAPTURE_VERSION = 1
WHEN_CHANGED = "when_changed"  # meta upstream_side: the server's side kept where a fault could change it
REDACTED = b"[redacted]"


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
        secret = match is not None and is_secret_name(match["name"])
        if match is None or not secret or not content[match.end() :].strip(b" \t"):
            out.append(_redact_query(line))
        elif match["colon"]:
            out.append(content[: match.start("colon")] + b": " + REDACTED + ending)
        else:
            out.append(content[: match.end()] + REDACTED + ending)
    return out, secret


def _redact_query(line: bytes) -> bytes:
    """A line (a request line, say) with the values of secret query parameters replaced."""
    if b"?" not in line:
        return line
    return redact_text(line.decode("latin-1")).encode("latin-1")


def redact_head(raw: bytes) -> bytes:
    """The head with the value of every secret header and query parameter replaced, everything
    else byte for byte."""
    lines = raw.split(b"\n")
    lines[0] = _redact_query(lines[0])
    lines[1:], _ = _redact_lines(lines[1:])
    return b"\n".join(lines)


def redact_fields(raw: bytes) -> bytes:
    """A trailer section (no start line) with the value of every secret field replaced."""
    lines, _ = _redact_lines(raw.split(b"\n"))
    return b"\n".join(lines)


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


def request_record(kind: str, request: Request, exchange: int, redact: bool) -> dict[str, Any]:
    """A request head as a record (``head``: written to the upstream; ``answered``: not)."""
    raw, target = request.raw, request.target.decode("latin-1")
    if redact:
        raw, target = redact_head(raw), redact_target(target)
    return {
        "type": kind,
        "dir": "request",
        "exchange": exchange,
        "method": request.method.decode("latin-1"),
        "target": target,
        "b64": _b64(raw),
    }


class _DirectionDecoder:
    """Decodes one direction of one connection into capture records."""

    def __init__(self, direction: str, *peers: _DirectionDecoder, limits: HeadLimits = DEFAULT_LIMITS):
        self.direction = direction
        role = "request" if direction == "request" else "response"
        self.reader = HTTPReader(role, strict=False, limits=limits)
        self.peers = peers  # the request decoder tells the response decoders which method each answers
        self.exchange = 0
        self.finals = 0
        self.sse: SSEParser | None = None
        self.event_index = 0
        self.unparsed = _LineRedactor()
        self.masker: BodyMasker | None = None  # the secret fields of a JSON or form request body

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
            if redact:
                self.masker = BodyMasker.for_content_type(event.headers.get("content-type"))
            return [request_record("head", event, self.exchange, redact)]
        if isinstance(event, Response):
            self.exchange = self.finals + 1  # a 1xx interim response shares its exchange's number
            if event.status >= 200:
                self.finals += 1
            events = is_event_stream(event.headers) and self.direction == "response"
            self.sse = SSEParser() if events else None
            self.event_index = 0
            raw = redact_head(event.raw) if redact else event.raw
            return [
                {
                    "type": "head",
                    "dir": self.direction,
                    "exchange": self.exchange,
                    "status": event.status,
                    "reason": event.reason.decode("latin-1"),
                    "b64": _b64(raw),
                }
            ]
        if isinstance(event, (BodyData, ChunkData, TunnelData)):
            kind = {BodyData: "body", ChunkData: "chunk_data", TunnelData: "body"}[type(event)]
            raw = self.masker.feed(event.raw) if self.masker is not None else event.raw
            return [{"type": kind, **base, "b64": _b64(raw)}, *self._events(event.raw, base)]
        if isinstance(event, ChunkHeader):
            return [{"type": "chunk", **base, "size": event.size, "b64": _b64(event.raw)}]
        if isinstance(event, ChunkEnd):
            return [{"type": "chunk_end", **base, "b64": _b64(event.raw)}]
        if isinstance(event, ChunkedEnd):
            raw = redact_fields(event.raw) if redact else event.raw
            return [{"type": "trailers", **base, "b64": _b64(raw)}]
        if isinstance(event, EndOfMessage):
            self.sse = None
            self.masker = None
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
            out.append(
                {
                    "type": "event",
                    **base,
                    "index": self.event_index,
                    "event": {"type": ev.type, "data": ev.data, "id": ev.id, "retry": ev.retry},
                }
            )
            self.event_index += 1
        return out


def response_decoder(method: bytes = b"GET") -> _DirectionDecoder:
    """The capture's decoding of one connection's responses (to a request with ``method``), for
    a reader that is not the proxy: ``records(data, redact=False)`` per read, ``close(False)`` at
    the end give the records a capture holds, so the oracle judges them exactly as it judges a
    capture (the nginx probe reads a stream this way)."""
    decoder = _DirectionDecoder("response")
    decoder.reader.expect_response_to(method)
    return decoder


def server_side(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records with what the proxy read from the server as ``upstream`` records, whichever way
    the capture kept it: in a ``when_changed`` capture, each connection's response records stand
    for the server's bytes until its ``upstream_split`` note (relayed as read), its own upstream
    records after it."""
    meta = records[0] if records and records[0].get("type") == "meta" else {}
    if meta.get("upstream_side") != WHEN_CHANGED:
        return records
    split: set[Any] = set()
    out = []
    for r in records:
        if r.get("type") == "upstream_split":
            split.add(r.get("conn"))
        elif r.get("dir") == "response" and r.get("conn") not in split and r.get("type") != "event":
            out.append({**r, "dir": "upstream"})
            continue
        out.append(r)
    return out


class CaptureError(Exception):
    """The capture file could not be written whole (a full disk, a file size limit)."""


class CaptureWriter:
    """Writes one capture file for a whole proxy run.

    A write that fails (a full disk) ends the capture, never the relaying: one warning is logged,
    what follows is not recorded, and :meth:`close` raises :class:`CaptureError`, so whoever reads
    the capture afterwards (the scenario runner) knows it is incomplete instead of judging a
    stream by half its record.
    """

    def __init__(self, path: Path, *, redact: bool = True, limits: HeadLimits = DEFAULT_LIMITS):
        """``limits``: the proxy's head limits, so the capture reads a head as the proxy did."""
        self.path = path
        self.redact = redact
        self.limits = limits
        self.error: OSError | None = None  # the write that failed; nothing is written after it
        make_dirs(path.parent)
        self._file: IO[str] = open_private(path, "w", encoding="utf-8", buffering=1 << 20)
        self._start = time.monotonic()
        self._decoders: dict[int, dict[str, _DirectionDecoder]] = {}
        # connections whose upstream ended while bytes toward the client may still be on their way
        # (a fault pacing or delaying them): their response decoder closes when the client gets
        # its FIN (:meth:`end_response`), or when the connection is done -- not at the upstream's end
        self._upstream_ended: set[int] = set()

    def _write(self, record: dict[str, Any]) -> None:
        if self.error is None:
            try:
                self._file.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
            except OSError as error:
                self._failed(error)

    def _flush(self) -> None:
        if self.error is None:
            try:
                self._file.flush()
            except OSError as error:
                self._failed(error)

    def _failed(self, error: OSError) -> None:
        self.error = error
        self._decoders.clear()
        log.warning(
            "capture %s: %s; the proxy goes on relaying, the capture stops here",
            self.path,
            error.strerror or error,
        )

    def _now(self) -> float:
        return round(time.monotonic() - self._start, 6)

    def meta(self, **fields: Any) -> None:
        self._write(
            {
                "type": "meta",
                "version": CAPTURE_VERSION,
                "started": time.time(),
                "monotonic_start": self._start,
                "redacted": self.redact,
                "upstream_side": WHEN_CHANGED,
                **fields,
            }
        )

    def open(self, conn: int, client: Any) -> None:
        if self.error is not None:
            return
        responses = _DirectionDecoder("response", limits=self.limits)
        requests = _DirectionDecoder("request", responses, limits=self.limits)
        self._decoders[conn] = {"request": requests, "response": responses}
        peer = f"{client[0]}:{client[1]}" if client else None
        self._write({"t": self._now(), "conn": conn, "type": "open", "client": peer})

    def upstream(self, conn: int, data: bytes, changed: bool) -> None:
        """Bytes the proxy read from the upstream. ``changed``: a fault may change them on their
        way to the client; until the first such read on this connection the response records
        hold them already, and nothing is written (see the module docstring)."""
        decoders = self._decoders.get(conn)
        if decoders is None or ("upstream" not in decoders and not changed):
            return
        self._split(conn)
        self.data(conn, "upstream", data)

    def _split(self, conn: int) -> None:
        """From here on the server's side of ``conn`` is written: its decoder starts as a copy of
        the response decoder, which has decoded the same bytes so far."""
        decoders = self._decoders.get(conn)
        if decoders is None or "upstream" in decoders:
            return
        upstream = copy.deepcopy(decoders["response"])
        upstream.direction, upstream.sse = "upstream", None
        decoders["upstream"] = upstream
        decoders["request"].peers = (decoders["response"], upstream)
        self._write({"t": self._now(), "conn": conn, "type": "upstream_split"})

    def data(self, conn: int, direction: str, data: bytes) -> None:
        decoders = self._decoders.get(conn)
        if decoders is None:
            return
        t = self._now()
        for record in decoders[direction].records(data, self.redact):
            self._write({"t": t, "conn": conn, **record})

    def answered(self, conn: int, request: Request, exchange: int) -> None:
        """A request the proxy answered itself (a fault's answer, a 502): it never reached the
        upstream, so the request direction never carried it. Recorded as ``answered`` (its head,
        with ``exchange`` as the relay numbered it: the responses' numbering) so that the oracle
        knows what was asked, and that no server answered it."""
        if conn in self._decoders:
            self._split(conn)  # the answer is the proxy's: from here the client's side is not the server's
            self._write(
                {"t": self._now(), "conn": conn, **request_record("answered", request, exchange, self.redact)}
            )

    def forget(self, conn: int) -> None:
        """Stop decoding a connection (its decoder failed); its notes are still written."""
        self._decoders.pop(conn, None)

    def note(self, conn: int, kind: str, **fields: Any) -> None:
        if kind in ("upstream_error", "refused"):
            self._split(conn)  # the proxy answers the client itself (502, 400): not the server's bytes
        t = self._now()
        decoders = self._decoders.get(conn)
        if kind == "eof" and decoders is not None:
            client = fields.get("side") == "client"
            self._close(conn, ("request",) if client else ("upstream",), t)
            if not client:
                self._upstream_ended.add(conn)
        if kind == "done" and decoders is not None:
            self.end_response(conn, t)
            for decoder in decoders.values():
                for record in decoder.flush():
                    self._write({"t": t, "conn": conn, **record})
        if kind == "done":
            self._decoders.pop(conn, None)
            self._flush()
        self._write({"t": t, "conn": conn, "type": kind, **fields})

    def end_response(self, conn: int, t: float | None = None) -> None:
        """The client got the FIN after every byte toward it: if the upstream has ended, what went to
        the client has ended too, and its decoder says how (a whole response, or one cut short)."""
        if conn in self._upstream_ended:
            self._upstream_ended.discard(conn)
            self._close(conn, ("response",), self._now() if t is None else t)

    def _close(self, conn: int, directions: tuple[str, ...], t: float) -> None:
        decoders = self._decoders.get(conn) or {}
        for direction in (d for d in directions if d in decoders):
            for record in decoders[direction].close(self.redact):
                self._write({"t": t, "conn": conn, **record})

    def fault(self, evidence: dict[str, Any]) -> None:
        """A fault fired: written with the time the fault saw, so it sorts beside the bytes it touched."""
        t = round(evidence.pop("t") - self._start, 6)
        if self.redact:  # evidence may quote the request ("answered GET /v1/...?key=...")
            evidence = map_strings(evidence, redact_text)
        self._write(
            {"t": t, "type": "fault", **evidence}
        )  # the evidence's own fields: fault, fault_type, ...

    def sync(self) -> None:
        """Push what is buffered to the file, so a reader sees every record written so far.
        (The file object's own lock makes this safe from another thread.)"""
        self._flush()

    def close(self) -> None:
        """Close the file; :class:`CaptureError` if any of it could not be written."""
        try:
            self._file.close()
        except OSError as error:
            if self.error is None:
                self._failed(error)
        if self.error is not None:
            raise CaptureError(f"the capture {self.path} is incomplete: {self.error.strerror or self.error}")
