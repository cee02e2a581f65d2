"""The probe: one event stream read as a client reads it, every read timed, and its shape.

:func:`probe` sends ``GET`` (with ``Accept-Encoding: gzip``, as browsers and most HTTP libraries
do, so that a compressing intermediary compresses) and reads with one ``recv`` per wakeup. It
decodes nothing itself: each read goes through the capture's decoder
(:func:`~faultproxy.proxy.capture.response_decoder`) stamped with its time, and the records are
judged by the scenario oracle (:mod:`faultproxy.scenarios.oracle`) -- framing, gzip, the SSE
parser, and how the body ended, exactly as a cell's capture is judged. What the probe adds is
time: when the head arrived, which read completed each event, when the stream ended.

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

The response's ``Server`` header is kept: nginx names its version there (``nginx/1.22.1``),
which is how a reading through an nginx started elsewhere knows which nginx it measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from faultproxy.net.addresses import error_text
from faultproxy.proxy.capture import response_decoder
from faultproxy.scenarios.oracle import DeliveredExchange, oracle_from_records
from faultproxy.upstream import split_url

READ_SIZE = 65536

# how a stream ended
CLEAN = "clean"  # the body's framing said it was complete (last chunk, all Content-Length bytes)
CLOSED = "closed"  # a close-delimited body: the connection closed, which an end and a cut both are
CUT = "cut"  # the connection closed before the framing said the body was complete
RESET = "reset"
TIMED_OUT = "probe timeout"
FAILED = "error"  # the probe could not read the stream at all (connection refused, ...)
# the oracle's word for how a body ended -> the probe's
ENDS = {"clean": CLEAN, "close": CLOSED, "rst": RESET, "open": TIMED_OUT}


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
    framing: str = ""  # chunked, length, close (close-delimited)
    encoding: str = ""  # Content-Encoding, e.g. gzip
    server: str = ""  # the Server header, e.g. nginx/1.22.1
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
        return [sum(1 for later in sent[k + 1 :] if later <= e.t) for k, e in enumerate(self.events)]

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
            "status": self.status,
            "framing": self.framing,
            "encoding": self.encoding or None,
            "server": self.server or None,
            "time_to_headers_ms": ms(self.since_request(self.t_headers)),
            "time_to_first_event_ms": ms(self.since_request(self.events[0].t)) if self.events else None,
            "events": len(self.events),
            "gap_p50_ms": ms(statistics.median(gaps)) if gaps else None,
            "gap_max_ms": ms(max(gaps)) if gaps else None,
            "delay_max_ms": ms(max(delays)) if delays else None,
            "events_per_read_max": max(per_read) if per_read else None,
            "reads": len(self.reads),
            "shape": self.shape(),
            "releases": self.releases,
            "batches": self.batches(),
            "end": self.end,
            "end_detail": self.end_detail,
            "ended_after_ms": ms(self.since_request(self.t_end)),
        }

    @property
    def nginx_version(self) -> str | None:
        """The version in ``Server: nginx/x.y.z`` (None: another server, or nginx with
        ``server_tokens off``)."""
        match = re.fullmatch(r"nginx/(\d+(?:\.\d+)*)", self.server.strip())
        return match[1] if match else None

    @classmethod
    def failed(cls, url: str, error: BaseException) -> Reading:
        """A stream the probe could not read: its row says why instead of ending the table."""
        now = time.time()
        return cls(url, now, end=FAILED, end_detail=error_text(error), t_end=now)


def _stamp(data: str) -> float | None:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    stamp = value.get("t") if isinstance(value, dict) else None
    return float(stamp) if isinstance(stamp, (int, float)) else None


class _Records:
    """The reads of one response, as capture records (each stamped with its read's time)."""

    def __init__(self) -> None:
        self.decoder = response_decoder(b"GET")
        self.records: list[dict[str, Any]] = []
        self.read_at: dict[float, int] = {}  # a read's time -> its index

    def feed(self, data: bytes, t: float) -> bool:
        """One read; True once the response is over by its framing (or broken)."""
        self.read_at[t] = len(self.read_at)
        new = [{"t": t, "conn": 1, **r} for r in self.decoder.records(data, False)]
        self.records += new
        return any(
            r["type"] == "end"
            and self._final()
            or r["type"] == "malformed"
            and not str(r.get("reason", "")).startswith("event stream:")
            for r in new
        )

    def _final(self) -> bool:
        return any(r["type"] == "head" and (r.get("status") or 0) >= 200 for r in self.records)

    def close(self, t: float, how: str) -> None:
        """The connection ended (``fin`` or ``rst``): the decoder's last word and the close."""
        self.records += [{"t": t, "conn": 1, **r} for r in self.decoder.close(False)]
        self.records.append({"t": t, "conn": 1, "type": "closed", "side": "upstream", "how": how})

    def exchange(self) -> DeliveredExchange | None:
        exchanges = [x for x in oracle_from_records(self.records).exchanges if x.status is not None]
        return exchanges[-1] if exchanges else None


def _reading(
    url: str,
    t_request: float,
    records: _Records,
    reads: list[tuple[float, int]],
    end: str,
    detail: str,
    t_end: float,
) -> Reading:
    """What the oracle made of the records, with the probe's clock on it."""
    reading = Reading(url, t_request, reads=reads, t_end=t_end)
    x = records.exchange()
    if x is None:
        reading.end, reading.end_detail = end or CUT, detail or "the connection closed before a response"
        return reading
    reading.status, reading.t_headers, reading.framing = x.status, x.t_start, x.framing
    reading.encoding = x.headers.get("content-encoding", "")
    reading.server = x.headers.get("server", "")
    reading.events = [
        Arrival(e.id or "", e.t or t_end, _stamp(e.data), records.read_at.get(e.t, -1)) for e in x.events
    ]
    reading.end = end or ENDS.get(x.end, CUT)
    reading.end_detail = (
        detail
        or x.detail
        or {
            CLEAN: f"the {x.framing} body was complete",
            CLOSED: "the connection closed: the only end a close-delimited body has",
        }.get(reading.end, x.end)
    )
    return reading


async def probe(url: str, *, time_limit: float) -> Reading:
    """Read the stream at ``url`` (``http://HOST[:PORT]/PATH``) until it ends or ``time_limit`` s pass."""
    upstream, target = split_url(url)
    t_request = time.time()
    records = _Records()
    reads: list[tuple[float, int]] = []  # (time, bytes) of every read
    end, detail = "", ""
    deadline = time.monotonic() + time_limit
    reader, writer = await asyncio.wait_for(asyncio.open_connection(upstream.host, upstream.port), time_limit)
    try:
        writer.write(
            f"GET {target} HTTP/1.1\r\nHost: {upstream.authority}\r\nAccept: text/event-stream\r\n"
            "Accept-Encoding: gzip\r\nUser-Agent: faultproxy-probe\r\n\r\n".encode("latin-1")
        )
        await writer.drain()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                end, detail, t_end = TIMED_OUT, f"still open after {time_limit:g} s", time.time()
                break
            try:
                data = await asyncio.wait_for(reader.read(READ_SIZE), left)
            except TimeoutError:
                continue
            except ConnectionResetError:
                t_end = time.time()
                records.close(t_end, "rst")
                break
            t_end = time.time()
            if not data:
                records.close(t_end, "fin")
                break
            reads.append((t_end, len(data)))
            if records.feed(data, t_end):
                break
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return _reading(url, t_request, records, reads, end, detail, t_end)
