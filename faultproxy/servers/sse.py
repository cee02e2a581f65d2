"""The reference SSE server: the lab server, with sized events and a durable, restartable event log.

:class:`ReferenceSSEServer` *is* :class:`~faultproxy.lab.sse_server.SSEServer` (same
``GET /events``, ids ``1..N``, ``retry``, keep-alives, named and multi-line events,
``drop_after``, resume from ``Last-Event-ID``, ``204`` when done, ground truth in
:attr:`sent` and ``log``) with two additions:

``size``
    every event's data is exactly ``size`` bytes long (UTF-8), by a ``"pad"`` member added
    to its JSON (or, when that does not fit, trailing spaces); a ``size`` below the unpadded
    length (about 10 bytes) leaves it unpadded.

``stamp``
    every event's JSON data carries ``"t"``: the wall-clock time (``time.time()``) at which it
    was made, right before it is written, so a client in another process -- or container on
    the same host -- can measure each arrival against its send time (``faultproxy repro nginx``).

``durable=PATH``
    the stream becomes one shared, persistent sequence of events -- like a message log
    behind a real server -- instead of a fresh timeline per connection:

    * **write before show**: event *n* is appended to the JSONL file at ``PATH`` and
      ``fsync``'d *before* its bytes go to any socket, so every event a client has ever
      seen is on disk;
    * an event that already exists (an earlier connection, or an earlier server process,
      produced it) is read back from the log and sent at once, with the same data; a new
      one is produced one ``interval`` after the previous event on that connection;
    * a server started on an existing log reads it, knows events ``1..M`` and continues the
      numbering at ``M+1``; so a client that resumes with ``Last-Event-ID: k`` gets
      ``k+1, k+2, ...`` exactly once, even across a server restart.

    An event can be in the log and never have reached a client: the server died between
    the ``fsync`` and the write. That is correct, not a duplicate: the client never saw it,
    its ``Last-Event-ID`` is still lower, so the resumed stream starts with it. The reverse
    -- a client holding an id the log does not have -- cannot happen, which is the point
    of writing first. A torn last line (the process died inside the write) is an event that
    was never fsync'd, hence never sent; it is cut off when the log is opened.

The durable log (JSON Lines, one object per line, ``type`` first)::

    {"type": "stream", "version": 1, "events": 10, "event_type": null, "multiline": false,
     "size": null, "created": 1700000000.0}                   # once, when the log is created
    {"type": "start", "instance": 1, "pid": 4242, "existing": 0, "t": 1700000000.1}
    {"type": "event", "id": 1, "event": "message", "data": "{\\"n\\": 1}", "instance": 1,
     "t": 1700000000.2}                                       # fsync'd before it is sent
    {"type": "sent", "id": 1, "connection": 1, "instance": 1, "bytes": 20,
     "t": 1700000000.2}                                       # after the bytes went out

``event`` lines are the events that exist (ids ``1..M`` in order, each exactly once);
``start`` lines mark each server instance that opened the log, ``sent`` lines say which
instance showed which event on which of its connections (they are flushed but not
fsync'd, so the last few can be lost in a crash; the ``event`` lines cannot). ``t`` is
wall-clock time (``time.time()``), comparable across processes; the in-memory
:attr:`~ReferenceSSEServer.sent` keeps ``time.monotonic()`` like every other server here.
A log written for a different stream (``events``, ``event_type``, ``multiline``, ``size``)
is refused with a ``ValueError`` rather than mixed, and so is a log another running server
holds (an exclusive ``flock`` for as long as a server has it open: two writers would both
append event ``M+1``; the kernel drops the lock when a process dies, so a restart after a
crash is never blocked).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from faultproxy.lab.sse_server import SentEvent, SSEServer

LOG_VERSION = 1
_PAD = "abcdefghijklmnopqrstuvwxyz0123456789"


def padding(n: int, length: int) -> str:
    """``length`` ASCII characters, different for each event so that no two events compress alike."""
    if length <= 0:
        return ""
    start = n % len(_PAD)
    pattern = _PAD[start:] + _PAD[:start]
    return (pattern * (length // len(pattern) + 1))[:length]


@dataclass(frozen=True)
class LoggedEvent:
    """One event as the durable log holds it."""

    id: int
    type: str
    data: str
    instance: int  # the server instance that produced it
    t: float  # wall-clock time it was written


class DurableLog:
    """The event store of a durable stream: append with fsync, read back, survive a restart.

    Not thread-safe by itself; :class:`ReferenceSSEServer` serialises appends with a lock
    and runs the blocking ``fsync`` in a worker thread.
    """

    def __init__(self, path: str | Path, stream: dict[str, Any]):
        self.path = Path(path)
        self.stream = stream  # what defines the events: must match an existing log's
        self.events: list[LoggedEvent] = []
        self.instance = 0
        self._file: IO[str] | None = None

    def open(self) -> None:
        """Read the existing log (if any), repair a torn tail, and register this instance."""
        self._file = self.path.open("a+", encoding="utf-8")
        try:
            self._lock()
            # empty, or only a torn first line: nothing was ever fsync'd there, so it is new
            created = self._file.tell() == 0 or not self._read()
            if created:
                self._append(
                    {"type": "stream", "version": LOG_VERSION, **self.stream, "created": time.time()}
                )
                self._fsync_dir()
            self.instance += 1
            self._append(
                {
                    "type": "start",
                    "instance": self.instance,
                    "pid": os.getpid(),
                    "existing": len(self.events),
                    "t": time.time(),
                }
            )
            self._sync()
        except BaseException:
            self.close()
            raise

    def _lock(self) -> None:
        """One server per log: two writers would both append event M+1."""
        if sys.platform == "win32":
            return
        import fcntl

        assert self._file is not None
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"{self.path} is in use by another running server") from None

    def _read(self) -> int:
        """Load the events; the number of complete lines (0: nothing usable was ever written)."""
        raw = self.path.read_bytes()
        complete = raw[: raw.rfind(b"\n") + 1]
        if len(complete) != len(raw):
            # The process died inside a write: that line was never fsync'd, so never sent.
            with self.path.open("r+b") as handle:
                handle.truncate(len(complete))
                os.fsync(handle.fileno())
        try:
            lines = complete.decode("utf-8").split("\n")[:-1]  # not splitlines(): data may hold U+2028
        except UnicodeDecodeError:
            raise ValueError(f"{self.path}: not a durable SSE log (not UTF-8)") from None
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
                kind = record["type"]
            except (ValueError, TypeError, KeyError):
                raise ValueError(f"{self.path}:{number}: not a durable SSE log line") from None
            if number == 1:
                if kind != "stream":
                    raise ValueError(f"{self.path}: not a durable SSE log (no 'stream' line first)")
                self._check_stream(record)
            elif kind == "start":
                self.instance = max(self.instance, int(record["instance"]))
            elif kind == "event":
                expected = len(self.events) + 1
                if record.get("id") != expected:
                    raise ValueError(
                        f"{self.path}:{number}: event id {record.get('id')!r}, expected {expected}"
                    )
                self.events.append(
                    LoggedEvent(
                        expected,
                        record["event"],
                        record["data"],
                        int(record.get("instance", 0)),
                        float(record.get("t", 0.0)),
                    )
                )
        return len(lines)

    def _check_stream(self, record: dict[str, Any]) -> None:
        differ = [
            f"{key}={record.get(key)!r} (not {value!r})"
            for key, value in self.stream.items()
            if record.get(key) != value
        ]
        if differ:
            raise ValueError(f"{self.path} is the log of another stream: " + ", ".join(differ))

    def append_event(self, type: str, data: str) -> LoggedEvent:
        """Write event ``len(events)+1`` and fsync it; only then does it exist (and may be sent)."""
        event = LoggedEvent(len(self.events) + 1, type, data, self.instance, time.time())
        self._append(
            {
                "type": "event",
                "id": event.id,
                "event": type,
                "data": data,
                "instance": self.instance,
                "t": event.t,
            }
        )
        self._sync()
        self.events.append(event)
        return event

    def note_sent(self, event: SentEvent) -> None:
        self._append(
            {
                "type": "sent",
                "id": event.id,
                "connection": event.connection,
                "instance": self.instance,
                "bytes": event.bytes,
                "t": time.time(),
            }
        )

    def _append(self, record: dict[str, Any]) -> None:
        assert self._file is not None, "the durable log is not open"
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()

    def _sync(self) -> None:
        assert self._file is not None
        os.fsync(self._file.fileno())

    def _fsync_dir(self) -> None:
        """Make the new file's directory entry durable too (a file can be fsync'd and still vanish)."""
        try:
            fd = os.open(self.path.parent, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_durable_log(path: str | Path) -> dict[str, list[dict[str, Any]]]:
    """A durable log's lines by type: ``{"stream": [...], "start": [...], "event": [...], "sent": [...]}``."""
    out: dict[str, list[dict[str, Any]]] = {"stream": [], "start": [], "event": [], "sent": []}
    for line in Path(path).read_text(encoding="utf-8").split("\n"):
        if line.strip():
            record = json.loads(line)
            out.setdefault(record["type"], []).append(record)
    return out


class ReferenceSSEServer(SSEServer):
    """``async with ReferenceSSEServer(events=10, interval=0.01, size=1024, durable=path) as srv:``.

    All of :class:`~faultproxy.lab.sse_server.SSEServer`'s options, plus ``size`` (bytes of
    data per event), ``stamp`` (the send time in each event) and ``durable`` (the path of the
    event log; see the module docstring).
    """

    def __init__(
        self,
        *,
        size: int | None = None,
        stamp: bool = False,
        durable: str | Path | None = None,
        **options: Any,
    ):
        super().__init__(**options)  # SSEServer's options, passed on so the two lists never drift
        if size is not None and size < 0:
            raise ValueError("size must be >= 0")
        self.size = size
        self.stamp = stamp
        self.durable_path = Path(durable) if durable is not None else None
        self.durable: DurableLog | None = None
        self._produce = asyncio.Lock()
        self._appending: asyncio.Future[LoggedEvent] | None = None

    def data(self, n: int) -> str:
        text = super().data(n)
        if self.stamp:
            value = json.loads(text)
            value["t"] = round(time.time(), 6)
            text = json.dumps(value, indent=2 if self.multiline else None)
        if self.size is None:
            return text
        unpadded = len(text.encode())
        if self.size <= unpadded:
            return text
        value = json.loads(text)
        indent = 2 if self.multiline else None
        value["pad"] = ""
        bare = len(json.dumps(value, indent=indent).encode())
        if self.size < bare:  # too short for a "pad" member: trailing spaces, still valid JSON
            return text + " " * (self.size - unpadded)
        value["pad"] = padding(n, self.size - bare)
        return json.dumps(value, indent=indent)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        if self.durable_path is not None:
            durable = DurableLog(
                self.durable_path,
                {
                    "events": self.events,
                    "event_type": self.event_type,
                    "multiline": self.multiline,
                    "size": self.size,
                },
            )
            durable.open()
            self.durable = durable
        try:
            await super().start()
        except BaseException:
            if self.durable is not None:
                self.durable.close()
                self.durable = None
            raise

    async def stop(self) -> None:
        await super().stop()
        if self._appending is not None:
            # a connection was cancelled while its event was being fsync'd: let the write finish
            # (the event then exists without having been sent, which a resume puts right)
            await asyncio.gather(self._appending, return_exceptions=True)
            self._appending = None
        if self.durable is not None:
            self.durable.close()
            self.durable = None

    @property
    def existing(self) -> int:
        """How many events exist in the durable log (0 without one)."""
        return len(self.durable.events) if self.durable is not None else 0

    # -- events -------------------------------------------------------------------------------

    async def next_event(self, writer: asyncio.StreamWriter, n: int) -> tuple[str | None, str]:
        durable = self.durable
        if durable is None:
            return await super().next_event(writer, n)
        if n <= len(durable.events):  # it exists: catch the client up at once
            return self._logged(durable.events[n - 1])
        await self.wait_for_next(writer)
        async with self._produce:
            # Another connection may have produced it meanwhile. Appends never overlap: one that
            # outlived its cancelled connection (shielded, so the fsync completes) is waited for.
            while len(durable.events) < n:
                if self._appending is None or self._appending.done():
                    k = len(durable.events) + 1
                    self._appending = asyncio.ensure_future(
                        asyncio.to_thread(durable.append_event, self.event_type or "message", self.data(k))
                    )
                await asyncio.shield(self._appending)
            return self._logged(durable.events[n - 1])

    def _logged(self, event: LoggedEvent) -> tuple[str | None, str]:
        return (None if event.type == "message" and self.event_type is None else event.type), event.data

    def record(self, event: SentEvent) -> None:
        super().record(event)
        if self.durable is not None:
            self.durable.note_sent(event)
