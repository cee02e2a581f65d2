"""A realistic sample report: test data for the report tests (and to look at the pages).

Seven scenarios × five Python clients (and one Node client that is not installed), shaped
like what ``faultproxy run`` produces: every outcome occurs, with timelines built by a small
simulation of the lab server, the proxy's faults and each client's reconnection policy, so
the evidence (missing, duplicated, reordered, garbled) agrees with the timelines. There is a
cell that passes only because of a recorded known behaviour, one whose known behaviour
changed, a flaky cell with two repetitions, a client error, wire captures, and hostile text
from the wire (``</script>``, ``onerror=``, control characters) in event data, event IDs,
an error message and a capture.

Deterministic: the same arguments give the same report.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from faultproxy.report.model import build_matrix, excerpt_heading

# Hostile strings, as a malicious or broken server could send them. A report page that runs
# any of them sets window.__pwned.
HOSTILE_DATA = '</script><img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'
HOSTILE_ID = '"><svg onload=window.__pwned=1>'
HOSTILE_TYPE = "<b onmouseover=window.__pwned=1>bold</b>"
HOSTILE_CONTROL = "bell\x07 nul\x00 esc\x1b[2J form\x0c feed"  # control characters: invalid in XML 1.0
HOSTILE_UNDECODABLE = (
    "bytes \udcff\udcfe decoded with surrogateescape"  # lone surrogates: not encodable as UTF-8
)
HOSTILE_ERROR = "unexpected field '</pre><script>window.__pwned=1</script>' in \x1b[31mline\x1b[0m 4"

N_EVENTS = 12
INTERVAL = 0.05


@dataclass(frozen=True)
class _Client:
    name: str
    version: str
    reconnects: bool
    read_timeout: float | None  # seconds; None: waits forever
    retry_s: float = 0.1


CLIENTS = (
    _Client("httpx-sse", "0.4.3", reconnects=False, read_timeout=5.0),
    _Client("sseclient-py", "1.9.0", reconnects=False, read_timeout=None),
    _Client("requests-sse", "0.5.3", reconnects=True, read_timeout=None, retry_s=0.2),
    _Client("launchdarkly-eventsource", "1.7.4", reconnects=True, read_timeout=2.0, retry_s=0.1),
    _Client("naive", "0.1.0", reconnects=False, read_timeout=None),
)
UNAVAILABLE = {
    "name": "node-eventsource",
    "version": None,
    "available": False,
    "reason": "node: command not found (install Node.js 18 or newer: apt-get install nodejs npm)",
}

_ERRORS = {
    "httpx-sse": (
        "httpx.RemoteProtocolError",
        "peer closed connection without sending complete message body (incomplete chunked read)",
    ),
    "sseclient-py": (
        "requests.exceptions.ChunkedEncodingError",
        "('Connection broken: IncompleteRead(0 bytes read)', IncompleteRead(0 bytes read))",
    ),
    "naive": (
        "requests.exceptions.ChunkedEncodingError",
        (
            "('Connection broken: ConnectionResetError(104, 'Connection reset by peer')', "
            "ConnectionResetError(104, 'Connection reset by peer'))"
        ),
    ),
}


@dataclass
class _Sim:
    """One cell being simulated: what the server sent, the client received, the proxy did."""

    client: _Client
    rng: random.Random
    sent: list[list[Any]] = field(default_factory=list)  # [t, id]
    received: list[list[Any]] = field(default_factory=list)  # [t, id, connection]
    events: list[dict[str, Any]] = field(default_factory=list)  # the transcript's events
    faults: list[list[Any]] = field(default_factory=list)  # [t, name, detail]
    fired: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[list[Any]] = field(default_factory=list)  # [t, last_event_id]
    transcript_attempts: list[dict[str, Any]] = field(default_factory=list)
    delivered: int = 0
    end_t: float = 0.0
    end: str = "completed"
    error: tuple[str, str] | None = None
    data: dict[str, str] = field(default_factory=dict)  # id -> data as sent
    types: dict[str, str] = field(default_factory=dict)

    def connect(self, t: float, last_event_id: str | None) -> int:
        number = len(self.attempts) + 1
        self.attempts.append([round(t, 4), last_event_id])
        self.transcript_attempts.append(
            {
                "number": number,
                "t": round(t, 4),
                "last_event_id": last_event_id,
                "status": 200,
                "ended": None,
                "t_end": None,
                "error_type": None,
                "error_message": None,
            }
        )
        return number

    def close_attempt(self, t: float, how: str, error: tuple[str, str] | None = None) -> None:
        attempt = self.transcript_attempts[-1]
        attempt.update(ended=how, t_end=round(t, 4))
        if error:
            attempt.update(error_type=error[0], error_message=error[1])

    def send(self, ids: list[int], start: float) -> list[float]:
        """The server sends ``ids`` every INTERVAL from ``start``; returns the send times."""
        times = []
        for n, i in enumerate(ids):
            t = round(start + n * INTERVAL + self.rng.uniform(0, 0.004), 4)
            self.sent.append([t, str(i)])
            times.append(t)
        return times

    def receive(
        self, event_id: str, t: float, conn: int, data: str | None = None, type_: str | None = None
    ) -> None:
        t = round(t + self.rng.uniform(0.0015, 0.006), 4)
        self.received.append([t, event_id, conn])
        self.delivered += 1
        self.events.append(
            {
                "type": type_ or self.types.get(event_id, "message"),
                "data": self.data.get(event_id, "") if data is None else data,
                "id": event_id,
                "t": t,
                "connection": conn,
            }
        )

    def after_last(self, t: float) -> float:
        """``t``, or just after the last event the client received if that came later."""
        return max(t, (self.received[-1][0] + 0.0008) if self.received else t)

    def fault(self, t: float, name: str, type_: str, detail: str, **where: Any) -> None:
        t = round(t, 4)
        self.faults.append([t, name, detail])
        self.fired.append(
            {
                "fault": name,
                "fault_type": type_,
                "conn": where.pop("conn", 1),
                "direction": "downstream",
                "t": t,
                **where,
                "detail": detail,
            }
        )

    def finish(self, t: float, end: str, error: tuple[str, str] | None = None) -> None:
        self.end_t, self.end, self.error = round(t, 4), end, error


def _data(i: int) -> str:
    if i == 7:
        return "line one\nline two"  # two data: lines on the wire
    text = {4: "naïve café — ✓ αβγ ∑"}.get(i, f"token {i}")
    return json.dumps({"seq": i, "delta": text}, ensure_ascii=False)


def _new(client: _Client, rng: random.Random) -> _Sim:
    sim = _Sim(client, rng)
    sim.data = {str(i): _data(i) for i in range(1, N_EVENTS + 1)}
    return sim


def _stream(sim: _Sim, ids: list[int], start: float, conn: int, deliver: int | None = None) -> list[float]:
    """Send ``ids`` from ``start``; the client receives the first ``deliver`` of them (all: None)."""
    times = sim.send(ids, start)
    for n, (i, t) in enumerate(zip(ids, times)):
        if deliver is None or n < deliver:
            sim.receive(str(i), t, conn)
    return times


ALL = list(range(1, N_EVENTS + 1))


# --- the scenarios: each simulates one client, returns (sim, outcome, passed, expectations, summary) ---


def _clean(sim: _Sim) -> tuple[str, bool, list[dict[str, Any]], str]:
    sim.connect(0.0, None)
    times = _stream(sim, ALL, 0.03, 1)
    sim.close_attempt(times[-1] + 0.01, "ended")
    sim.finish(times[-1] + 0.012, "completed")
    exp = [
        {"name": "every event exactly once, in order", "met": True},
        {"name": "ends without error", "met": True},
    ]
    return "ok", True, exp, f"All {N_EVENTS} events arrived once, in order, and the stream ended cleanly."


def _rst(sim: _Sim, repetition: int) -> tuple[str, bool, list[dict[str, Any]], str]:
    c = sim.client
    sim.connect(0.0, None)
    times = _stream(sim, ALL[:5], 0.03, 1)
    cut = sim.after_last(times[-1] + 0.003)
    sim.send(ALL[5:6], times[-1] + INTERVAL)  # the server wrote event 6; the proxy had reset the connection
    sim.fault(
        cut, "cut-after-5", "sse_disconnect", "after event 5: RST to the client", event_index=4, offset=412
    )
    honest = [{"name": "no silent loss (error, or every event exactly once)", "met": True}]
    if not c.reconnects:
        error = _ERRORS.get(c.name, ("ConnectionResetError", "[Errno 104] Connection reset by peer"))
        sim.close_attempt(cut + 0.001, "error", error)
        sim.finish(cut + 0.002, "error", error)
        return "error", True, honest, f"Stream reset after event 5; the client raised {error[0]} (honest)."
    sim.close_attempt(cut + 0.001, "error", ("ConnectionResetError", "[Errno 104] Connection reset by peer"))
    again = cut + c.retry_s
    conn = sim.connect(again, "5")
    if c.name == "requests-sse" and repetition == 1:
        # the flaky repetition: the client had buffered events 4-5 unreported and resumed from 3
        sim.attempts[-1][1] = "3"
        sim.transcript_attempts[-1]["last_event_id"] = "3"
        times = _stream(sim, ALL[3:], again + 0.012, conn)
        sim.finish(times[-1] + 0.012, "completed")
        exp = [
            {
                "name": "no silent loss (error, or every event exactly once)",
                "met": False,
                "detail": "events 4, 5 twice",
            }
        ]
        return (
            "duplicated",
            False,
            exp,
            "Resumed with Last-Event-ID 3 although 5 had arrived: events 4 and 5 twice.",
        )
    times = _stream(sim, ALL[5:], again + 0.012, conn)
    sim.finish(times[-1] + 0.012, "completed")
    return (
        "resumed",
        True,
        honest,
        f"Reset after event 5; reconnected with Last-Event-ID 5 and got 6–{N_EVENTS}.",
    )


def _clean_end(sim: _Sim) -> tuple[str, bool, list[dict[str, Any]], str]:
    c = sim.client
    sim.connect(0.0, None)
    times = _stream(sim, ALL[:8], 0.03, 1)
    cut = sim.after_last(times[-1] + 0.002)
    sim.fault(
        cut,
        "end-after-8",
        "early_end",
        "after event 8: last chunk 0\\r\\n\\r\\n, body ended cleanly",
        event_index=7,
        offset=690,
    )
    sim.send(ALL[8:], times[-1] + INTERVAL)  # the upstream kept sending; the proxy dropped it
    sim.close_attempt(cut + 0.001, "ended")
    if c.reconnects:
        again = cut + c.retry_s
        conn = sim.connect(again, "8")
        more = _stream(sim, ALL[8:], again + 0.011, conn)
        sim.finish(more[-1] + 0.012, "completed")
        return (
            "resumed",
            True,
            [{"name": "every event exactly once, in order", "met": True}],
            "The body ended cleanly after event 8; the client reconnected with Last-Event-ID 8 and got 9–12.",
        )
    sim.finish(cut + 0.003, "completed")
    exp = [
        {"name": "every event exactly once, in order", "met": False, "detail": "missing 9, 10, 11, 12"},
        {
            "name": "an incomplete stream is reported",
            "met": False,
            "detail": "the client ended as completed after 8 of 12 events",
        },
    ]
    return (
        "silent_loss",
        False,
        exp,
        "The body ended cleanly after event 8 and the client finished without an error: 4 events lost silently.",
    )


def _dup(sim: _Sim) -> tuple[str, bool, list[dict[str, Any]], str]:
    c = sim.client
    sim.connect(0.0, None)
    times = _stream(sim, ALL[:6], 0.03, 1)
    cut = sim.after_last(times[-1] + 0.003)
    sim.fault(cut, "cut-after-6", "sse_disconnect", "after event 6: FIN", event_index=5, offset=508)
    exp_ok = [{"name": "no event twice", "met": True}, {"name": "no silent loss", "met": True}]
    if not c.reconnects:
        error = (
            (
                "httpx.RemoteProtocolError",
                ("peer closed connection without sending complete message body (incomplete chunked read)"),
            )
            if c.name == "httpx-sse"
            else None
        )
        sim.close_attempt(cut + 0.001, "error" if error else "ended", error)
        if error:
            sim.finish(cut + 0.002, "error", error)
            return "error", True, exp_ok, f"Connection closed after event 6; the client raised {error[0]}."
        sim.finish(cut + 0.002, "completed")
        exp = [
            {"name": "no event twice", "met": True},
            {"name": "no silent loss", "met": False, "detail": "completed after 6 of 12 events"},
        ]
        return (
            "silent_loss",
            False,
            exp,
            "Connection closed after event 6 mid-stream and the client reported success.",
        )
    sim.close_attempt(cut + 0.001, "ended")
    again = cut + c.retry_s
    conn = sim.connect(again, "6")
    sim.fault(
        again + 0.004,
        "replay-from-4",
        "sse_rewrite",
        "upstream ignored Last-Event-ID 6, replayed from 4",
        conn=conn,
        event_index=0,
    )
    more = _stream(sim, ALL[3:], again + 0.012, conn)
    sim.finish(more[-1] + 0.012, "completed")
    exp = [
        {"name": "no event twice", "met": False, "detail": "4, 5, 6 twice"},
        {"name": "no silent loss", "met": True},
    ]
    return (
        "duplicated",
        False,
        exp,
        "After reconnecting with Last-Event-ID 6 the server replayed from 4; the client delivered 4, 5, 6 twice.",
    )


def _stall(sim: _Sim) -> tuple[str, bool, list[dict[str, Any]], str, dict[str, Any]]:
    c = sim.client
    sim.connect(0.0, None)
    times = _stream(sim, ALL[:3], 0.03, 1)
    hold = sim.after_last(times[-1] + 0.003)
    sim.fault(
        hold,
        "stall-after-3",
        "sse_stall",
        "after event 3: hold the connection open, deliver nothing",
        event_index=2,
        offset=263,
    )
    sim.send(ALL[3:], times[-1] + INTERVAL)
    exp_in_time = {"name": "ends (error or complete) within 8 s", "met": True}
    extra: dict[str, Any] = {}
    if c.name == "launchdarkly-eventsource":
        give_up = hold + 2.0
        sim.close_attempt(give_up, "error", ("TimeoutError", "read timed out after 2.0 s"))
        conn = sim.connect(give_up + c.retry_s, "3")
        more = _stream(sim, ALL[3:], give_up + c.retry_s + 0.01, conn)
        sim.finish(more[-1] + 0.012, "completed")
        return (
            "resumed",
            True,
            [exp_in_time],
            ("Stalled after event 3; read timeout after 2 s, reconnected with Last-Event-ID 3, got 4–12."),
            extra,
        )
    if c.read_timeout is not None:
        t_err = hold + c.read_timeout
        error = ("httpx.ReadTimeout", "The read operation timed out")
        sim.close_attempt(t_err, "error", error)
        sim.finish(t_err + 0.001, "error", error)
        return (
            "error",
            True,
            [exp_in_time],
            "Stalled after event 3; the client's read timeout fired after 5 s.",
            extra,
        )
    if c.name == "requests-sse":
        # the known behaviour recorded "hung"; this version has a default read timeout now
        t_err = hold + 6.0
        error = (
            "requests.exceptions.ReadTimeout",
            ("HTTPConnectionPool(host='127.0.0.1', port=41877): Read timed out. (read timeout=6.0)"),
        )
        sim.close_attempt(t_err, "error", error)
        sim.finish(t_err + 0.001, "error", error)
        extra = {
            "known_changed": True,
            "known": None,
            "known_recorded": "hung: requests-sse 0.4 had no read timeout: waits forever on a stalled stream",
        }
        return (
            "error",
            False,
            [exp_in_time],
            (
                "Recorded as hung (known), but now the client raised ReadTimeout after "
                "6 s: the known behaviour changed; update the record."
            ),
            extra,
        )
    sim.finish(8.0, "hung")
    exp = [
        {
            "name": "ends (error or complete) within 8 s",
            "met": False,
            "detail": "still waiting after 8 s; the harness killed the client",
        }
    ]
    return (
        "hung",
        False,
        exp,
        "Stalled after event 3; the client waited without a read timeout until killed at 8 s.",
        extra,
    )


def _reorder(sim: _Sim) -> tuple[str, bool, list[dict[str, Any]], str]:
    c = sim.client
    sim.connect(0.0, None)
    times = sim.send(ALL, 0.03)
    order = [1, 2, 3, 5, 6, 4, 7, 8, 9, 10, 11, 12]
    t_fault = times[3] + 0.001
    sim.fault(t_fault, "swap-4", "sse_reorder", "held event 4 back by two events (window 3)", event_index=3)
    for n, i in enumerate(order):
        t = max(times[n], times[i - 1])
        if c.name == "naive" and i == 7:
            # event 7 has two data lines; the naive parser keeps only the first
            sim.receive("7", t, 1, data="line one")
            continue
        sim.receive(str(i), t, 1)
    sim.close_attempt(times[-1] + 0.01, "ended")
    sim.finish(times[-1] + 0.012, "completed")
    if c.name == "naive":
        exp = [
            {
                "name": "outcome is reordered (the proxy reordered; no client can tell)",
                "met": False,
                "detail": "event 7 garbled: multi-line data cut to its first line",
            }
        ]
        return (
            "silent_loss",
            False,
            exp,
            "Event 7 arrived garbled (its second data line was dropped) and the client reported success.",
        )
    exp = [{"name": "outcome is reordered (the proxy reordered; no client can tell)", "met": True}]
    return (
        "reordered",
        True,
        exp,
        "The proxy delivered event 4 after 6; the client passed them on in that order.",
    )


def _hostile(sim: _Sim) -> tuple[str, bool, list[dict[str, Any]], str]:
    c = sim.client
    sim.data["5"] = HOSTILE_DATA
    sim.types["5"] = HOSTILE_TYPE
    sim.data["10"] = HOSTILE_CONTROL
    sim.data["11"] = HOSTILE_UNDECODABLE
    sim.connect(0.0, None)
    times = sim.send(ALL, 0.03)
    sim.fault(
        times[4], "inject-markup", "sse_inject", f"replaced event 5 data with {HOSTILE_DATA}", event_index=4
    )
    for i, t in zip(ALL, times):
        event_id = HOSTILE_ID if i == 9 else str(i)
        if i == 9:
            sim.sent[8][1] = HOSTILE_ID
        sim.receive(event_id, t, 1, data=sim.data[str(i)] if i != 9 else "id was markup")
    sim.close_attempt(times[-1] + 0.01, "ended")
    if c.name == "naive":
        error = ("ValueError", HOSTILE_ERROR)
        sim.events = sim.events[:8]
        sim.received = sim.received[:8]
        sim.finish(times[8] + 0.004, "error", error)
        sim.transcript_attempts[-1].update(
            ended="error", t_end=sim.end_t, error_type=error[0], error_message=error[1]
        )
        exp = [
            {"name": "markup in data passes through as data", "met": True},
            {"name": "every event exactly once, in order", "met": False, "detail": "stopped at event 9"},
        ]
        return (
            "error",
            False,
            exp,
            f"The client choked on event 9 and raised ValueError: {HOSTILE_ERROR[:40]}…",
        )
    sim.finish(times[-1] + 0.012, "completed")
    exp = [
        {"name": "markup in data passes through as data", "met": True},
        {"name": "every event exactly once, in order", "met": True},
    ]
    return "ok", True, exp, f"All {N_EVENTS} events arrived, markup included, as data: {HOSTILE_DATA}"


SCENARIOS: list[dict[str, Any]] = [
    {
        "name": "clean-stream",
        "line": 1,
        "tags": ["baseline"],
        "description": "12 events, no faults: every client must deliver all of them, once, in order.",
        "faults": [],
        "run": _clean,
    },
    {
        "name": "rst-after-5",
        "line": 1,
        "tags": ["disconnect", "reconnect"],
        "repeat": 2,
        "description": "The proxy resets the connection after event 5. Ending with an error is honest; a reconnecting "
        "client should resume with Last-Event-ID 5.",
        "faults": [
            {
                "name": "cut-after-5",
                "type": "sse_disconnect",
                "stream": "downstream",
                "toxicity": 1.0,
                "attributes": {"after_events": 5, "mode": "rst"},
                "connections": [1],
            }
        ],
        "run": _rst,
    },
    {
        "name": "clean-end-after-8",
        "line": 1,
        "tags": ["truncation", "silent-loss"],
        "description": "The proxy ends the chunked body cleanly (0\\r\\n\\r\\n) after event 8, as a load balancer "
        "timing out an idle stream does. The stream looks complete; 4 events are gone.",
        "faults": [
            {
                "name": "end-after-8",
                "type": "early_end",
                "stream": "downstream",
                "toxicity": 1.0,
                "attributes": {"after_events": 8},
                "connections": [1],
            }
        ],
        "run": _clean_end,
    },
    {
        "name": "replay-on-resume",
        "line": 1,
        "tags": ["reconnect", "duplicates"],
        "description": "FIN after event 6; on the second connection the upstream ignores Last-Event-ID and replays from 4.",
        "faults": [
            {
                "name": "cut-after-6",
                "type": "sse_disconnect",
                "attributes": {"after_events": 6, "mode": "fin"},
                "connections": [1],
            },
            {
                "name": "replay-from-4",
                "type": "sse_rewrite",
                "attributes": {"replay_from": 4},
                "connections": [2],
            },
        ],
        "run": _dup,
    },
    {
        "name": "stall-after-3",
        "line": 1,
        "tags": ["stall", "timeouts"],
        "description": "After event 3 the proxy holds the connection open and delivers nothing more.",
        "faults": [{"name": "stall-after-3", "type": "sse_stall", "attributes": {"after_events": 3}}],
        "run": _stall,
    },
    {
        "name": "reorder-window-3",
        "line": 1,
        "tags": ["reorder", "framing"],
        "description": "The proxy holds event 4 back by two events. Event 7 has two data lines.",
        "faults": [{"name": "swap-4", "type": "sse_reorder", "attributes": {"window": 3, "events": [4]}}],
        "run": _reorder,
    },
    {
        "name": "hostile-payload",
        "line": 1,
        "tags": ["security", "escaping"],
        "description": "Event data, type and ID carry HTML/JS markup: reports and clients must treat them as data.",
        "faults": [
            {
                "name": "inject-markup",
                "type": "sse_inject",
                "attributes": {"event_index": 4, "data": HOSTILE_DATA, "event": HOSTILE_TYPE},
            }
        ],
        "run": _hostile,
    },
]


def _visible(data: str) -> list[str]:
    return data.replace("\r", "\\r").replace("\n", "\\n\n").splitlines() or [""]


def _capture(sim: _Sim, around: float | None) -> str | None:
    """The wire near ``around`` (the first fault), as the runner's excerpts show it: the lines of
    ``faultproxy capture show --raw``, on the cell's clock, under their heading."""
    pieces: list[tuple[float, int, str, str]] = []
    if around is None or around < 0.2:
        pieces.append(
            (
                0.0012,
                1,
                "→",
                (
                    "GET /events HTTP/1.1\r\nHost: 127.0.0.1:8765\r\nAccept: text/event-stream\r\n"
                    "Authorization: [redacted]\r\n\r\n"
                ),
            )
        )
        pieces.append(
            (
                0.0241,
                1,
                "←",
                (
                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
                    "transfer-encoding: chunked\r\n\r\n"
                ),
            )
        )
    for t, event_id, conn in sim.received:
        if around is not None and not (around - 0.12 <= t <= around + 0.12):
            continue
        if around is None and t > 0.2:
            break
        data = next((e["data"] for e in sim.events if e["id"] == event_id and e["connection"] == conn), "")
        body = "".join(f"data: {line}\n" for line in data.split("\n"))
        body = (
            f"event: {sim.types[event_id]}\n" if event_id in sim.types else ""
        ) + f"id: {event_id}\n{body}\n"
        pieces.append((t - 0.0015, conn, "←", f"{len(body.encode()):x}\r\n{body}\r\n"))
    for f in sim.fired:
        detail = " ".join(f"{k}={v}" for k, v in f.items() if k not in ("t", "conn"))
        pieces.append((f["t"], f["conn"], "·", f"fault {detail}"))
        if f["fault_type"] == "early_end":
            pieces.append((f["t"] + 0.0001, f["conn"], "←", "0\r\n\r\n"))
        if f["fault_type"] == "sse_disconnect":
            how = "rst" if "RST" in f["detail"] else "fin"
            pieces.append((f["t"] + 0.0002, f["conn"], "·", f"closed side=client how={how}"))
    lines = [excerpt_heading()]
    for t, conn, arrow, data in sorted(pieces, key=lambda piece: piece[0]):
        stamp = f"{t * 1000:10.3f} ms  #{conn}"
        if arrow == "·":
            lines.append(f"{stamp} · {data}")
            continue
        parts = _visible(data)
        lines.append(f"{stamp} {arrow} {parts[0]}")
        lines.extend(f"{'':>{len(stamp)}} {arrow} {p}" for p in parts[1:])
    return "\n".join(lines) + "\n"


def _evidence(sim: _Sim, summary: str) -> dict[str, Any]:
    truth = [str(i) for i in ALL]
    if any(s[1] == HOSTILE_ID for s in sim.sent):
        truth = [HOSTILE_ID if i == "9" else i for i in truth]
    got = [r[1] for r in sim.received]
    seen: set[str] = set()
    duplicated = sorted({i for i in got if i in seen or seen.add(i)}, key=truth.index)  # type: ignore[func-returns-value]
    firsts = list(dict.fromkeys(got))
    reordered = [i for n, i in enumerate(firsts) if any(truth.index(j) > truth.index(i) for j in firsts[:n])]
    garbled = [
        e["id"]
        for e in sim.events
        if e["id"] in sim.data and e["data"] != sim.data[e["id"]] and e["id"] != HOSTILE_ID
    ]
    return {
        "summary": summary,
        "sent": len(sim.sent),
        "delivered": sim.delivered,
        "received": len(sim.received),
        "missing": [i for i in truth if i not in seen],
        "duplicated": duplicated,
        "reordered": reordered,
        "garbled": garbled,
        "error": None if sim.error is None else {"type": sim.error[0], "message": sim.error[1]},
        "faults_fired": sim.fired,
        "attempts": [
            {k: a[k] for k in ("number", "t", "last_event_id", "status", "ended")}
            for a in sim.transcript_attempts
        ],
        "end": sim.end,
        "matched_by": "id",
        "exchanges": [_exchange(sim, a) for a in sim.transcript_attempts],
    }


def _exchange(sim: _Sim, attempt: dict[str, Any]) -> dict[str, Any]:
    """The oracle's view of one delivered exchange (one per connection in this simulation)."""
    conn = attempt["number"]
    kinds = {f["fault_type"] for f in sim.fired if f["conn"] == conn}
    end, trouble = "clean", None
    if "sse_disconnect" in kinds:
        end, trouble = "no_terminator", "a body cut without its last chunk"
    elif "sse_stall" in kinds:
        end = "open"
    return {
        "conn": conn,
        "exchange": 1,
        "method": "GET",
        "target": "/events",
        "last_event_id": attempt["last_event_id"],
        "status": attempt["status"],
        "framing": "chunked",
        "events": sum(1 for r in sim.received if r[2] == conn),
        "end": end,
        "noticeable": trouble is not None,
        "trouble": trouble,
    }


def sample_report(
    run_id: str = "20250514-103207-sample", seed: int = 20250514, started: str = "2025-05-14T10:32:07+00:00"
) -> dict[str, Any]:
    """A complete ``faultproxy-report/1`` report (see the module docstring)."""
    rng = random.Random(seed)
    results: list[dict[str, Any]] = []
    scenarios: list[dict[str, Any]] = []
    for spec in SCENARIOS:
        scenarios.append(
            {
                "name": spec["name"],
                "file": f"scenarios/{spec['name']}.yaml",
                "line": spec["line"],
                "description": spec["description"],
                "tags": spec["tags"],
                "server": {
                    "kind": "lab-sse",
                    "events": N_EVENTS,
                    "interval_ms": int(INTERVAL * 1000),
                    "retry_ms": 100,
                },
                "faults": spec["faults"],
                "expectations": [{"outcome_in": ["ok", "resumed", "error"]}, {"deadline_s": 8}],
            }
        )
        for repetition in range(spec.get("repeat", 1)):
            for client in CLIENTS:
                sim = _new(client, rng)
                run = spec["run"]
                extra: dict[str, Any] = {}
                if run is _rst:
                    got = _rst(sim, repetition)
                elif run is _stall:
                    *got, extra = _stall(sim)
                else:
                    got = run(sim)
                outcome, passed, expectations, summary = got
                known = None
                if spec["name"] == "clean-end-after-8" and client.name == "sseclient-py":
                    known = (
                        "sseclient-py cannot tell a clean early end from the real end and does not reconnect "
                        "(upstream issue #1234; recorded 2025-04-18)"
                    )
                    passed = True
                _fix_attempts(sim)
                evidence = _evidence(sim, summary)
                received_vs_oracle = (
                    "event 7: two data lines delivered, the client kept one" if evidence["garbled"] else ""
                )
                if evidence["missing"] and sim.fired and sim.delivered < len(sim.sent):
                    evidence["oracle_vs_sent"] = (
                        f"the proxy delivered {sim.delivered} of {len(sim.sent)} sent events; "
                        f"{sim.fired[0]['fault']} dropped {', '.join(evidence['missing'])}"
                    )
                if received_vs_oracle:
                    evidence["received_vs_oracle"] = received_vs_oracle
                first_fault = sim.fired[0]["t"] if sim.fired else None
                result = {
                    "scenario": spec["name"],
                    "client": client.name,
                    "client_version": client.version,
                    "repetition": repetition,
                    "outcome": outcome,
                    "passed": passed,
                    "known": known,
                    "known_changed": False,
                    "duration_s": round(sim.end_t + 0.05, 3),
                    "expectations": expectations,
                    "evidence": evidence,
                    "timeline": {
                        "sent": sim.sent,
                        "received": sim.received,
                        "faults": sim.faults,
                        "attempts": sim.attempts,
                        "end": sim.end_t,
                    },
                    "capture_excerpt": _capture(sim, first_fault),
                    "transcript": _transcript(sim),
                }
                if "known_recorded" in extra:  # as the runner writes it: "outcomes: why"
                    result["evidence"]["known_recorded"] = extra.pop("known_recorded")
                result.update(extra)
                results.append(result)
    report = {
        "schema": "faultproxy-report/1",
        "run_id": run_id,
        "started": started,
        "duration_s": round(sum(r["duration_s"] for r in results) / 4, 3),  # 4 cells at a time
        "seed": seed,
        "faultproxy_version": "0.1.0",
        "environment": {"python": "3.11.2", "platform": "Linux-6.1.0-x86_64-with-glibc2.36", "parallel": "4"},
        "clients": [
            {"name": c.name, "version": c.version, "available": True, "reason": None} for c in CLIENTS
        ]
        + [dict(UNAVAILABLE)],
        "scenarios": scenarios,
        "results": results,
    }
    report["flaky"] = [cell.flaky_record() for cell in build_matrix(report).ran_cells() if cell.flaky]
    return report


def _fix_attempts(sim: _Sim) -> None:
    """Attempt records closed out of order by the simulation: give each its own end, in time order."""
    for attempt, nxt in zip(sim.transcript_attempts, sim.transcript_attempts[1:]):
        if attempt["t_end"] is None or attempt["t_end"] > nxt["t"]:
            attempt.update(ended=attempt["ended"] or "error", t_end=nxt["t"] - sim.client.retry_s + 0.001)
    last = sim.transcript_attempts[-1]
    if last["t_end"] is None and sim.end != "hung":
        last.update(ended="ended" if sim.end == "completed" else "error", t_end=sim.end_t)


def _transcript(sim: _Sim) -> dict[str, Any]:
    c = sim.client
    notes = []
    if not c.reconnects:
        notes.append(f"reconnect policy not applied: {c.name} does not reconnect")
    if c.read_timeout is None:
        notes.append("no read timeout configured (the library's default: wait forever)")
    stderr = ""
    if sim.end == "hung":
        stderr = "Traceback (most recent call last):\n  ...\nKeyboardInterrupt\n[harness] deadline 8.0 s passed: SIGKILL"
    return {
        "client": c.name,
        "version": c.version,
        "events": sim.events,
        "attempts": sim.transcript_attempts,
        "end": sim.end,
        "error_type": sim.error[0] if sim.error else None,
        "error_message": sim.error[1] if sim.error else None,
        "duration_s": sim.end_t,
        "stderr_tail": stderr,
        "notes": notes,
        "t0_monotonic": 81234.5678,
        "exit_code": -9 if sim.end == "hung" else 0,
    }


# The default suite's clients, for a matrix as wide as a real run's.
SUITE_CLIENTS = (
    "raw",
    "httpx-sse",
    "sseclient-py",
    "requests-sse",
    "aiohttp-sse-client2",
    "launchdarkly-eventsource",
    "naive",
    "node-eventsource",
    "fetch-event-source",
    "chromium",
    "openai",
    "openai-responses",
    "anthropic",
)


def wide_report(
    scenarios: int = 70, clients: tuple[str, ...] = SUITE_CLIENTS, **kwargs: Any
) -> dict[str, Any]:
    """The sample's results spread over many scenarios and the default suite's clients: a report the
    size of a real run's (``scenarios`` × ``clients`` cells), every result a copy of a sample one."""
    base = sample_report(**kwargs)
    pool = [r for r in base["results"] if r.get("repetition", 0) == 0]
    out_scenarios, results = [], []
    for s in range(scenarios):
        template = base["scenarios"][s % len(base["scenarios"])]
        name = f"{template['name']}-{s + 1:03d}"
        out_scenarios.append({**template, "name": name})
        for c, client in enumerate(clients):
            result = json.loads(json.dumps(pool[(s * len(clients) + c) % len(pool)]))
            result.update(scenario=name, client=client, repetition=0)
            if result.get("transcript"):
                result["transcript"]["client"] = client
            results.append(result)
    versions = {c["name"]: c.get("version") for c in base["clients"]}
    return {
        **base,
        "scenarios": out_scenarios,
        "results": results,
        "clients": [
            {"name": c, "version": versions.get(c) or "1.2.3", "available": True, "reason": None}
            for c in clients
        ],
    }
