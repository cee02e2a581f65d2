"""The probe: one event stream read as a client reads it, every read timed, and its shape.

:func:`probe` sends ``GET`` (with ``Accept-Encoding: gzip``, as browsers and most HTTP libraries
do, so that a compressing intermediary compresses), reads with one ``recv`` per wakeup and
decodes with the project's own wire code: the HTTP/1.1 reader (chunked, Content-Length or
close-delimited), gzip when the response says so, the SSE parser. It records when the head
arrived, which read completed each event, and how the stream ended.

The server stamps every event's data with the wall-clock time it wrote it (``"t"``; the
reference server's ``stamp`` option), so the arrival of each event is measured against its
own send time in the same run -- never against a fixed number of milliseconds. The *shape*
(:meth:`Reading.shape`) is what the table shows and the tests assert:

- ``lag``: for each event, how many *later* events had already been sent when it arrived.
  0 for every event: it streams; the first event's lag equal to all the others: it was held to
  the end; anything between: batches;
- ``release``: for each event, how many events had been sent when it arrived (its lag + its
  own position). Two readings have the same arrival shape when every event's release differs
  by at most one -- a batch boundary within one event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
import zlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from faultproxy.wire.chunked import ChunkData, Malformed
from faultproxy.wire.http import BodyData, EndOfMessage, HTTPReader, Response
from faultproxy.wire.sse import SSEParser

READ_SIZE = 65536

# how a stream ended
CLEAN = "clean"  # the body's framing said it was complete (last chunk, all Content-Length bytes)
CLOSED = "closed"  # a close-delimited body: the connection closed, which an end and a cut both are
CUT = "cut"  # the connection closed before the framing said the body was complete
RESET = "reset"
TIMED_OUT = "probe timeout"


@dataclass
class Arrival:
    """One event as the probe got it."""

    id: str
    t: float  # wall-clock time of the read that completed it
    sent: float | None  # the server's stamp: when it wrote the event
    read: int  # index of that read


@dataclass
class Reading:
    """Everything the probe saw of one stream (times are wall-clock seconds)."""

    url: str
    t_request: float
    status: int | None = None
    t_headers: float | None = None
    framing: str = ""  # chunked, length, close-delimited
    encoding: str = ""  # Content-Encoding, e.g. gzip
    reads: list[tuple[float, int]] = field(default_factory=list)  # (time, bytes) of every read
    events: list[Arrival] = field(default_factory=list)
    end: str = ""
    end_detail: str = ""
    t_end: float | None = None

    # -- what the table shows -------------------------------------------------------------------

    def since_request(self, t: float | None) -> float | None:
        return None if t is None else t - self.t_request

    @property
    def lags(self) -> list[int]:
        """For each event: how many later events had been sent when it arrived."""
        sent = [e.sent for e in self.events]
        if any(s is None for s in sent):
            return []
        return [sum(1 for later in sent[k + 1:] if later <= e.t) for k, e in enumerate(self.events)]

    @property
    def releases(self) -> list[int]:
        """For each event: how many events had been sent when it arrived (>= its own number)."""
        return [k + 1 + lag for k, lag in enumerate(self.lags)]

    def batches(self) -> list[int]:
        """Events per release: events that were let out together (by the same send)."""
        sizes: dict[int, int] = {}
        for release in self.releases:
            sizes[release] = sizes.get(release, 0) + 1
        return list(sizes.values())

    def shape(self) -> str:
        """``streams``, ``held to the end``, ``batches of N``, or ``no events``."""
        lags = self.lags
        if not self.events:
            return "no events"
        if not lags:
            return "unknown (events not stamped)"
        if max(lags) == 0:
            return "streams"
        if len(self.events) > 1 and lags[0] == len(self.events) - 1 and len(self.batches()) == 1:
            return "held to the end"
        sizes = self.batches()
        typical = statistics.median_high(sizes[:-1] or sizes)
        return f"batches of {typical}"

    def gaps(self) -> list[float]:
        """Seconds between consecutive event arrivals."""
        return [b.t - a.t for a, b in zip(self.events, self.events[1:])]

    def events_per_read(self) -> list[int]:
        counts: dict[int, int] = {}
        for event in self.events:
            counts[event.read] = counts.get(event.read, 0) + 1
        return list(counts.values())

    def summary(self) -> dict[str, Any]:
        """The numbers of one table row (ms, rounded), as JSON."""
        gaps = self.gaps()
        per_read = self.events_per_read()

        def ms(seconds: float | None) -> float | None:
            return None if seconds is None else round(seconds * 1000, 1)

        delays = [e.t - e.sent for e in self.events if e.sent is not None]
        return {
            "status": self.status, "framing": self.framing, "encoding": self.encoding or None,
            "time_to_headers_ms": ms(self.since_request(self.t_headers)),
            "time_to_first_event_ms": ms(self.since_request(self.events[0].t)) if self.events else None,
            "events": len(self.events),
            "gap_p50_ms": ms(statistics.median(gaps)) if gaps else None,
            "gap_max_ms": ms(max(gaps)) if gaps else None,
            "delay_max_ms": ms(max(delays)) if delays else None,
            "events_per_read_max": max(per_read) if per_read else None,
            "reads": len(self.reads),
            "shape": self.shape(), "releases": self.releases, "batches": self.batches(),
            "end": self.end, "end_detail": self.end_detail,
            "ended_after_ms": ms(self.since_request(self.t_end)),
        }


class _Decoder:
    """Response bytes in; head, events and the end out (HTTP reader → gzip → SSE parser)."""

    def __init__(self, reading: Reading):
        self.reading = reading
        self.http = HTTPReader("response", strict=False)
        self.http.expect_response_to(b"GET")
        self.sse = SSEParser()
        self.gunzip: Any = None

    def feed(self, data: bytes, t: float, read: int) -> None:
        self._handle(self.http.feed(data), t, read)

    def close(self, t: float, read: int) -> None:
        self._handle(self.http.close(), t, read)
        if not self.reading.end:
            self.end(CUT, "the connection closed before the response was complete", t)

    def _handle(self, wire: list[Any], t: float, read: int) -> None:
        reading = self.reading
        for item in wire:
            if isinstance(item, Response) and item.status >= 200:
                reading.status, reading.t_headers = item.status, t
                te = (item.headers.get("transfer-encoding") or b"").lower()
                reading.framing = ("chunked" if te.endswith(b"chunked") else
                                   "length" if item.headers.get("content-length") else "close-delimited")
                reading.encoding = (item.headers.get("content-encoding") or b"").decode("latin-1")
                if reading.encoding.lower() == "gzip":
                    self.gunzip = zlib.decompressobj(wbits=31)
            elif isinstance(item, (ChunkData, BodyData)):
                data = self.gunzip.decompress(item.data) if self.gunzip is not None else item.data
                for event in self.sse.feed(data):
                    reading.events.append(Arrival(event.id, t, _stamp(event.data), read))
            elif isinstance(item, EndOfMessage):
                closed = reading.framing == "close-delimited"
                self.end(CLOSED if closed else CLEAN,
                            "the connection closed: the only end a close-delimited body has" if closed else
                            f"the {reading.framing} body was complete", t)
            elif isinstance(item, Malformed):
                self.end(CUT, item.reason, t)

    def end(self, how: str, detail: str, t: float) -> None:
        if not self.reading.end:
            self.reading.end, self.reading.end_detail, self.reading.t_end = how, detail, t


def _stamp(data: str) -> float | None:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    stamp = value.get("t") if isinstance(value, dict) else None
    return float(stamp) if isinstance(stamp, (int, float)) else None


async def probe(url: str, *, time_limit: float) -> Reading:
    """Read the stream at ``url`` (``http://HOST:PORT/PATH``) until it ends or ``time_limit`` s pass."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    reading = Reading(url, time.time())
    decoder = _Decoder(reading)
    deadline = time.monotonic() + time_limit
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), time_limit)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n"
                     "Accept-Encoding: gzip\r\nUser-Agent: faultproxy-probe\r\n\r\n".encode("latin-1"))
        await writer.drain()
        while not reading.end:
            left = deadline - time.monotonic()
            if left <= 0:
                decoder.end(TIMED_OUT, f"still open after {time_limit:g} s", time.time())
                break
            try:
                data = await asyncio.wait_for(reader.read(READ_SIZE), left)
            except asyncio.TimeoutError:
                continue
            except ConnectionResetError:
                decoder.end(RESET, "the connection was reset", time.time())
                break
            t = time.time()
            if not data:
                decoder.close(t, len(reading.reads))
                break
            reading.reads.append((t, len(data)))
            decoder.feed(data, t, len(reading.reads) - 1)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return reading
