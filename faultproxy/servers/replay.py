"""Replay a recorded HTTP response, byte for byte, with its original timing.

Sources (:func:`load_recordings`):

* a **raw HTTP response file** -- status line, headers and body exactly as on the wire, as
  ``curl --raw -i URL > FILE`` saves it (or the ``.http`` files ``faultproxy record``
  writes). It holds no timing, so it is sent in one write, and no request line, so it
  answers any request.
* a **faultproxy capture** (JSON Lines, ``meta`` record first; see
  :mod:`faultproxy.proxy.capture`): every exchange in it becomes one recording -- the
  ``b64`` payloads of its ``dir: response`` records (``head``, ``body``, ``chunk``,
  ``chunk_data``, ``chunk_end``, ``trailers``, ``unparsed``) concatenated, each written at
  its ``t`` relative to the end of the recorded request (so the server's think time before
  the head is replayed too). Payloads recorded in one read share a ``t`` and are written
  together. A response that was cut short is cut the same way (FIN or RST, as the capture's
  ``closed``/``fault_close`` notes say) at the time the cut happened.
* a **directory** (what ``faultproxy record`` writes): every ``*.jsonl`` capture in it, by
  name; if there is none, every ``*.http`` file.

Matching (``match``):

* ``"path"`` (the default when every recording has its request line, i.e. captures): a
  request is answered from the recordings with the same method and path (the query
  string is ignored); ``"any"``: from all recordings.
* Within the candidates, the *k*-th such request gets the *k*-th recording and the last one
  repeats -- so a recorded sequence (a stream cut, the reconnect that resumed it, the final
  ``204``) replays as a sequence.
* No candidate: ``404`` with ``X-Faultproxy: replay-miss`` and a body that lists what was
  recorded.

``speed`` scales the recorded gaps (``2`` = twice as fast, ``0.5`` = half speed, ``0`` =
no waiting at all). The bytes never change with the speed.

After a complete response whose framing allows it (Content-Length or chunked, no
``Connection: close``) the connection stays open for the next request; otherwise it is
closed, as the original was.

Ground truth: :attr:`ReplayServer.played` (each response served: which recording, bytes,
times, how it ended), :attr:`ReplayServer.writes` (every write with its time, size and
offset) and :attr:`ReplayServer.sent` (the SSE events the served bytes carry, decoded as
they were written, with the time of the write that completed them); ``log=PATH`` writes
them as JSON Lines (``{"record": "write" | "event" | "response", ...}``).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from faultproxy.net.stream_server import StreamServer, requests, wants_close
from faultproxy.net.tcp import reset
from faultproxy.proxy.capture_read import CaptureFileError, capture_records
from faultproxy.wire.chunked import ChunkData, Malformed
from faultproxy.wire.errors import WireError
from faultproxy.wire.http import (
    BodyData,
    EndOfMessage,
    HTTPReader,
    Response,
    encode_response,
    is_event_stream,
)
from faultproxy.wire.sse import SSEParser

Match = Literal["path", "any"]
_BODYLESS = {204, 304}


class ReplayError(ValueError):
    """A file that cannot be replayed, said so that the user can fix it."""


@dataclass(frozen=True)
class Recording:
    """One recorded response: its bytes in the pieces and at the times they were written."""

    pieces: tuple[tuple[float, bytes], ...]  # (seconds after the request ended, bytes), in order
    method: str | None = None  # the request it answered, when known
    target: str | None = None
    complete: bool = True  # the response ended as its framing says (not cut short)
    ending: str = "fin"  # how the connection ended if it was cut: "fin" or "rst"
    end_at: float | None = None  # when it was cut (seconds after the request), if known
    source: str = ""  # where it came from, for messages

    @cached_property
    def data(self) -> bytes:
        return b"".join(piece for _, piece in self.pieces)

    @property
    def path(self) -> str | None:
        return None if self.target is None else self.target.split("?", 1)[0]

    @cached_property
    def keep_alive(self) -> bool:
        """Whether the connection may carry another request after this response."""
        return self.complete and _reusable(self.data)

    def label(self) -> str:
        request = f"{self.method} {self.target}" if self.method else "any request"
        return f"{request} <- {self.source}"


def _reusable(data: bytes) -> bool:
    reader = HTTPReader("response", strict=False)
    final: Response | None = None
    ended = False
    for event in reader.feed(data):
        if isinstance(event, Response) and event.status >= 200:
            final = event
        elif isinstance(event, EndOfMessage) and final is not None:
            ended = True
    if final is None or not ended or final.version != b"HTTP/1.1":
        return False
    tokens = {t.strip().lower() for t in (final.headers.get("connection") or b"").split(b",")}
    return b"close" not in tokens


# -- loading ------------------------------------------------------------------------------------


def load_raw(path: str | Path) -> Recording:
    """A raw HTTP response file (``curl --raw -i``): sent as one piece, for any request."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ReplayError(f"cannot read {path}: {error.strerror or error}") from None
    if not data.startswith(b"HTTP/"):
        raise ReplayError(
            f"{path}: not an HTTP response (it should start with a status line, "
            "as `curl --raw -i` writes it) nor a faultproxy capture"
        )
    reader = HTTPReader("response", strict=False)
    complete = False
    try:
        events = reader.feed(data)
    except WireError as error:
        raise ReplayError(f"{path}: not an HTTP response: {error}") from None
    if not any(isinstance(e, Response) for e in events):
        raise ReplayError(f"{path}: the response head is incomplete (no blank line after the headers)")
    complete = any(isinstance(e, EndOfMessage) for e in events)
    return Recording(((0.0, data),), complete=complete, source=str(path))


def load_capture(path: str | Path) -> list[Recording]:
    """Every exchange of a faultproxy capture that has a response, in the order the requests came."""
    path = Path(path)
    records = list(_capture_records(path))
    exchanges: dict[tuple[int, int], dict[str, Any]] = {}
    notes: dict[int, list[dict[str, Any]]] = {}
    for r in records:
        conn = r.get("conn")
        if conn is None or r["type"] == "meta" or "t" not in r:
            continue
        if r.get("dir") in ("request", "response") and r.get("exchange"):
            x = exchanges.setdefault((conn, r["exchange"]), {"request": [], "response": []})
            x[r["dir"]].append(r)
        else:
            notes.setdefault(conn, []).append(r)
    out: list[tuple[float, Recording]] = []
    for (conn, number), x in exchanges.items():
        response = [r for r in x["response"] if "b64" in r]
        if not response:
            continue
        request_head = next((r for r in x["request"] if r["type"] == "head"), None)
        request_end = next((r for r in x["request"] if r["type"] == "end"), None)
        zero = (request_end or request_head or response[0])["t"]
        pieces: list[tuple[float, bytes]] = []
        for r in response:
            at = max(0.0, r["t"] - zero)
            if pieces and pieces[-1][0] >= at:  # one read: one write (and never back in time)
                pieces[-1] = (pieces[-1][0], pieces[-1][1] + base64.b64decode(r["b64"]))
            else:
                pieces.append((at, base64.b64decode(r["b64"])))
        complete = any(r["type"] == "end" for r in x["response"])
        ending, end_at = "fin", None
        if not complete:
            last = response[-1]["t"]
            for note in notes.get(conn, []):
                if note["t"] < last:
                    continue
                cut = note["type"] == "fault_close" or (
                    note["type"] == "closed" and note.get("side") == "upstream"
                )
                if cut:
                    ending = "rst" if note.get("how") == "rst" else "fin"
                    end_at = max(pieces[-1][0], note["t"] - zero)
                    break
                if note["type"] == "eof" and note.get("side") == "upstream":
                    end_at = max(pieces[-1][0], note["t"] - zero)
                    break
        first = (x["request"] or x["response"])[0]
        out.append(
            (
                float(first["t"]),
                Recording(
                    tuple(pieces),
                    method=request_head.get("method") if request_head else None,
                    target=request_head.get("target") if request_head else None,
                    complete=complete,
                    ending=ending,
                    end_at=end_at,
                    source=f"{path.name} #{conn}.{number}",
                ),
            )
        )
    out.sort(key=lambda pair: pair[0])  # stable: same-time exchanges keep the file's order
    return [recording for _, recording in out]


def _capture_records(path: Path) -> Iterator[dict[str, Any]]:
    try:
        yield from capture_records(path)
    except OSError as error:
        raise ReplayError(f"cannot read {path}: {error.strerror or error}") from None
    except CaptureFileError as error:
        raise ReplayError(str(error)) from None


def _is_capture(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            start = handle.read(64).lstrip()
    except OSError as error:
        raise ReplayError(f"cannot read {path}: {error.strerror or error}") from None
    return start.startswith(b"{")


def load_recordings(source: str | Path) -> list[Recording]:
    """The recordings in a raw response file, a capture, or a directory of them."""
    path = Path(source)
    if path.is_dir():
        captures = sorted(path.glob("*.jsonl"))
        files = captures or sorted(path.glob("*.http"))
        if not files:
            raise ReplayError(f"{path}: no recordings (*.jsonl captures or *.http responses) in it")
        return [rec for f in files for rec in (load_capture(f) if f in captures else [load_raw(f)])]
    if not path.exists():
        raise ReplayError(f"{path}: no such file")
    recordings = load_capture(path) if _is_capture(path) else [load_raw(path)]
    if not recordings:
        raise ReplayError(f"{path}: the capture holds no response to replay")
    return recordings


# -- ground truth ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    connection: int
    time: float  # time.monotonic() after the bytes were handed to the socket
    bytes: int
    offset: int  # where they start in this response


@dataclass(frozen=True)
class ReplayedEvent:
    """An SSE event the served bytes carry (decoded from them as they went out)."""

    id: str
    type: str
    data: str
    time: float  # time.monotonic() of the write that completed it
    connection: int
    response: int  # index into :attr:`ReplayServer.played`


@dataclass
class Played:
    connection: int
    request: str  # "GET /events"
    recording: str  # Recording.source
    started: float  # time.monotonic() when the request had been read
    finished: float | None = None
    bytes: int = 0
    ended: str = ""  # "complete", "fin", "rst" (as recorded) or "client-gone"
    writes: list[int] = field(default_factory=list)  # indices into ReplayServer.writes


# -- the server -----------------------------------------------------------------------------------


class ReplayServer(StreamServer):
    """``async with ReplayServer("capture.jsonl", speed=2) as srv:`` -- ``srv.url`` answers as recorded."""

    def __init__(
        self,
        source: str | Path | Sequence[Recording],
        *,
        speed: float = 1.0,
        match: Match | None = None,
        log: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        super().__init__(host, port, log=log)
        if speed < 0:
            raise ValueError("speed must be >= 0 (0: as fast as possible)")
        if match not in (None, "path", "any"):
            raise ValueError(f"match must be 'path' or 'any', not {match!r}")
        self.recordings = (
            list(source)
            if isinstance(source, Sequence) and not isinstance(source, str)
            else load_recordings(source)
        )
        if not self.recordings:
            raise ValueError("nothing to replay")
        by_request = all(r.method is not None for r in self.recordings)
        if match == "path" and not by_request:
            raise ValueError(
                "match='path' needs recordings with their request line (a capture), not raw response files"
            )
        self.match: Match = match or ("path" if by_request else "any")
        self.speed = speed
        self.played: list[Played] = []
        self.writes: list[Write] = []
        self.sent: list[ReplayedEvent] = []
        self._counts: dict[tuple[str, str] | None, int] = {}
        self._connection_count = 0

    def pick(self, method: str, target: str) -> Recording | None:
        """The recording that answers this request (and count it), or None."""
        if self.match == "any":
            key: tuple[str, str] | None = None
            candidates = self.recordings
        else:
            path = target.split("?", 1)[0]
            key = (method, path)
            candidates = [r for r in self.recordings if r.method == method and r.path == path]
        if not candidates:
            return None
        k = self._counts.get(key, 0)
        self._counts[key] = k + 1
        return candidates[min(k, len(candidates) - 1)]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connection_count += 1
        connection = self._connection_count
        stream = requests(reader, writer)
        try:
            async for request in stream:
                method, target = request.method.decode("latin-1"), request.target.decode("latin-1")
                recording = self.pick(method, target)
                if recording is None:
                    writer.write(self._miss(method, target))
                    await writer.drain()
                    return
                if not await self.play(writer, recording, connection, f"{method} {target}"):
                    return
                if not recording.keep_alive or wants_close(request):
                    return
        finally:
            await stream.aclose()

    async def play(
        self, writer: asyncio.StreamWriter, recording: Recording, connection: int, request: str = ""
    ) -> bool:
        """Write one recording on schedule; False when the connection must end (or ended) after it."""
        start = time.monotonic()
        played = Played(connection, request, recording.source, start)
        self.played.append(played)
        index = len(self.played) - 1
        http = HTTPReader("response", strict=False)
        sse: SSEParser | None = None
        try:
            for at, piece in recording.pieces:
                await self._until(start, at)
                writer.write(piece)
                await writer.drain()
                now = time.monotonic()
                self.writes.append(Write(connection, now, len(piece), played.bytes))
                played.writes.append(len(self.writes) - 1)
                played.bytes += len(piece)
                self._log_record("write", self.writes[-1])
                sse = self._decode(http, sse, piece, now, connection, index)
            if not recording.complete:
                if recording.end_at is not None:
                    await self._until(start, recording.end_at)
                if recording.ending == "rst":
                    reset(writer.transport)
                played.ended = recording.ending
                return False
            played.ended = "complete"
            return True
        except ConnectionError:
            played.ended = "client-gone"
            return False
        finally:
            played.finished = time.monotonic()
            self._log_record("response", played)

    async def _until(self, start: float, at: float) -> None:
        if self.speed > 0:
            delay = start + at / self.speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    def _decode(
        self, http: HTTPReader, sse: SSEParser | None, piece: bytes, now: float, connection: int, index: int
    ) -> SSEParser | None:
        """Feed what was written to a parser, to log the SSE events it carries."""
        try:
            for event in http.feed(piece):
                if isinstance(event, Response) and event.status >= 200:
                    sse = SSEParser() if is_event_stream(event.headers) else None
                elif isinstance(event, (BodyData, ChunkData)) and sse is not None:
                    for ev in sse.feed(event.data):
                        replayed = ReplayedEvent(ev.id, ev.type, ev.data, now, connection, index)
                        self.sent.append(replayed)
                        self._log_record("event", replayed)
                elif isinstance(event, Malformed):
                    return None
        except WireError:
            return None
        return sse

    def _miss(self, method: str, target: str) -> bytes:
        recorded = sorted({f"{r.method} {r.path}" for r in self.recordings if r.method})
        body = (
            f"404 Not Found: no recorded response for {method} {target.split('?', 1)[0]}; "
            f"recorded: {', '.join(recorded) or '-'}\n"
        ).encode()
        return encode_response(
            404,
            "Not Found",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Connection", "close"),
                ("X-Faultproxy", "replay-miss"),
            ],
            body,
        )

    def _log_record(self, kind: str, record: Any) -> None:
        self.log_record({"record": kind, **asdict(record)})
