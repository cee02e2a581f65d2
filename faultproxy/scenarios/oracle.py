"""The oracle: what a spec-exact client must have seen, given exactly the bytes the proxy delivered.

From a capture (:mod:`faultproxy.proxy.capture`) this rebuilds, per connection and exchange,
the response the proxy wrote to the client -- after the faults -- and parses its body with
faultproxy's own WHATWG parser (:class:`~faultproxy.wire.sse.SSEParser`, the same parser the
capture's ``event`` records come from; the body is re-parsed here so that a gzip'd body is
decoded as a client would, and so that the unfinished tail of an event is known too). For
each exchange it says how the body ended and whether a careful client could have noticed:

=================  ===========  ===========================================================
``end``            noticeable   meaning
=================  ===========  ===========================================================
``clean``          no           the body ended as its framing says (the last chunk, or the
                                Content-Length reached): a cut here is invisible to HTTP
``close``          no           a close-delimited body ended with a FIN: a cut looks the same
``no_terminator``  yes          a chunked body stopped between chunks and the connection closed
``cut_in_chunk``   yes          the connection closed inside a chunk (size line or data)
``short_body``     yes          the connection closed before Content-Length bytes came
``rst``            yes          the connection was reset (TCP RST) before the body ended
``malformed``      yes          the framing broke (a bad chunk-size line, ...): ``detail`` says how
``no_response``    yes          the request got no response at all
``open``           by timeout   the body never ended and the connection stayed open: only a
                                read timeout notices
``client_closed``  --           the client closed the connection before the body ended (it
                                stopped reading: a sentinel, an error of its own, a kill)
=================  ===========  ===========================================================

Usage::

    oracle = oracle_from_capture("capture.jsonl")        # or oracle_from_records(records)
    oracle.events                  # list[Item], every delivered event in delivery order
    oracle.exchanges               # list[DeliveredExchange], with .end / .noticeable / .detail
    oracle.fault_records           # the capture's fault records

Only ``200`` ``text/event-stream`` responses yield events: a spec client fails the connection on
any other status or Content-Type before it reads the body (``status_problem`` says why), so the
events a 500 or a ``text/plain`` body happens to hold are not events it may hand over. Times are
seconds since the capture started. Outcomes and the three views are defined in ``docs/outcomes.md``.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faultproxy.scenarios.events import Item
from faultproxy.wire.errors import WireError
from faultproxy.wire.http import Headers, body_framing, is_event_stream, parse_response_head
from faultproxy.wire.sse import SSEParser

NOTICEABLE = {
    "clean": False,
    "close": False,
    "no_terminator": True,
    "cut_in_chunk": True,
    "short_body": True,
    "rst": True,
    "malformed": True,
    "no_response": True,
    "open": True,
    "client_closed": False,
}


@dataclass
class DeliveredExchange:
    """One request/response on one proxied connection, as delivered to the client."""

    conn: int
    exchange: int
    method: str | None = None
    target: str | None = None
    last_event_id: str | None = None  # the request's Last-Event-ID header (None: absent)
    answered: bool = False  # the proxy answered the request itself: it never reached the upstream
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)  # response headers, lower-case names (last wins)
    framing: str = "none"  # chunked | length | close | none
    events: list[Item] = field(default_factory=list)
    body_bytes: int = 0
    end: str = "open"
    detail: str = ""
    pending: bytes = b""  # an unfinished event at the end of the body (a spec client discards it)
    t_start: float | None = None
    t_end: float | None = None
    # chunk bookkeeping while reading
    _chunk_left: int | None = None
    _length: int | None = None
    _parser: SSEParser | None = None
    _inflate: Any = None
    _parse_error: str | None = None

    @property
    def sse(self) -> bool:
        return is_event_stream(Headers(self.headers.items()))

    @property
    def noticeable(self) -> bool:
        return NOTICEABLE.get(self.end, True)

    @property
    def status_problem(self) -> str:
        """Why a spec client refuses this response ('' when it does not): a status other than 200
        (204 is the server's deliberate "stop"), or a Content-Type that is not text/event-stream."""
        if self.status is None or self.status == 204:
            return ""
        if self.status != 200:
            return f"status {self.status}"
        if not self.sse:
            return f"Content-Type {self.headers.get('content-type', '(none)')!r} is not text/event-stream"
        return ""

    @property
    def trouble(self) -> str:
        """What a careful client could notice about this exchange ('' when nothing): a refused
        response, or a body that did not end as its framing says."""
        if self.status_problem:
            return self.status_problem
        if self.end in ("clean", "close", "client_closed"):
            return ""
        return {
            "no_terminator": "a body cut without its last chunk",
            "cut_in_chunk": "a body cut inside a chunk",
            "short_body": "a body shorter than its Content-Length",
            "rst": "a connection reset",
            "malformed": "broken framing",
            "no_response": "no response",
            "open": "a stream that went quiet (a read timeout)",
        }.get(self.end, self.end)

    @property
    def label(self) -> str:
        return f"#{self.conn}.{self.exchange}"

    def describe(self) -> str:
        """``#1.1 GET /events → 200, 3 events, no_terminator (noticeable): ...``."""
        request = f"{self.method} {self.target}" if self.method else "(request not in the capture)"
        if self.answered:
            request += " (answered by the proxy, never forwarded)"
        status = self.status if self.status is not None else "no response"
        notice = "noticeable" if self.noticeable else "not noticeable"
        if self.end == "open":
            notice = "noticeable only by a read timeout"
        elif self.end == "client_closed":
            notice = "the client's doing"
        if self.status_problem:
            status = f"{status} ({self.status_problem}: noticeable)"
        text = f"{self.label} {request} → {status}, {len(self.events)} events, ended {self.end} ({notice})"
        return text + (f": {self.detail}" if self.detail else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "conn": self.conn,
            "exchange": self.exchange,
            "method": self.method,
            "target": self.target,
            "last_event_id": self.last_event_id,
            "answered": self.answered,
            "status": self.status,
            "framing": self.framing,
            "events": len(self.events),
            "body_bytes": self.body_bytes,
            "end": self.end,
            "noticeable": self.noticeable,
            "trouble": self.trouble,
            "detail": self.detail,
            "pending_bytes": len(self.pending),
        }


@dataclass
class Oracle:
    """Everything the proxy delivered, per exchange, with the events a spec client must have seen."""

    exchanges: list[DeliveredExchange]
    fault_records: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def events(self) -> list[Item]:
        return [e for x in self.exchanges for e in x.events]

    def stream_exchanges(self) -> list[DeliveredExchange]:
        """The exchanges that answered with an event stream (or nothing at all)."""
        return [x for x in self.exchanges if x.sse or x.status is None]

    def last(self) -> DeliveredExchange | None:
        streams = self.stream_exchanges() or self.exchanges
        return streams[-1] if streams else None

    @property
    def has_upstream(self) -> bool:
        """Whether the capture holds the server's side too (``upstream`` records; older captures
        and hand-made ones do not)."""
        meta = self.records[0] if self.records and self.records[0].get("type") == "meta" else {}
        return bool(meta.get("upstream_side"))

    def upstream(self) -> Oracle:
        """The same capture seen from the server's side: what the proxy read from the upstream,
        before any fault (exchanges that never reached the upstream are absent)."""
        from faultproxy.proxy.capture import server_side

        return oracle_from_records(server_side(self.records), side="upstream")


def _headers(raw: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in raw.split(b"\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon and name.strip():
            out[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
    return out


def _framing(x: DeliveredExchange, raw_head: bytes) -> str:
    """How the delivered body is delimited, decided by the wire layer (a head it cannot frame,
    and a tunnel, run until the connection closes)."""
    method = x.method.encode("latin-1") if x.method else None
    try:
        framing = body_framing(parse_response_head(raw_head, strict=False), method)
    except WireError:
        return "close"
    if framing.kind == "length":
        x._length = framing.length
    return "close" if framing.kind == "tunnel" else framing.kind


def _feed(x: DeliveredExchange, data: bytes, t: float) -> None:
    x.body_bytes += len(data)
    if x._parser is None:
        return
    if x._inflate is not None:
        try:
            data = x._inflate.decompress(data)
        except zlib.error as error:
            encoding = x.headers.get("content-encoding")
            x._parser, x._parse_error = None, f"the {encoding} body does not inflate: {error}"
            return
    try:
        events = x._parser.feed(data)
    except WireError as error:
        x._parser, x._parse_error = None, f"event stream: {error}"
        return
    for ev in events:
        x.events.append(
            Item(
                type=ev.type,
                data=ev.data,
                id=ev.id or None,
                t=t,
                connection=x.conn,
                index=len(x.events),
                retry=None if ev.own_retry is None else str(ev.own_retry),
            )
        )


def _start_body(x: DeliveredExchange, raw_head: bytes) -> None:
    x.framing = _framing(x, raw_head)
    if x.sse and x.status == 200:  # a spec client fails any other response before reading its body
        x._parser = SSEParser()
        encoding = x.headers.get("content-encoding", "").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            x._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            x._inflate = zlib.decompressobj()


def _finish(x: DeliveredExchange) -> None:
    if x._parser is not None:
        x.pending = x._parser.pending
        x._parser.close()
        x._parser = None
    if x._parse_error and not x.detail:
        x.detail = x._parse_error


def oracle_from_records(records: Iterable[dict[str, Any]], side: str = "response") -> Oracle:
    """The oracle of a capture given as its records (``meta`` first, or not).

    ``side``: ``response`` -- what the proxy delivered to the client (after the faults);
    ``upstream`` -- what it read from the server (before them), the same analysis of the
    server's own bytes (:func:`faultproxy.scenarios.truth.truth_from_capture` uses it)."""
    records = list(records)
    exchanges: dict[tuple[int, int], DeliveredExchange] = {}
    order: list[tuple[int, int]] = []
    closing: dict[int, tuple[str, str]] = {}  # conn -> (who, how) of the first close seen
    faults: list[dict[str, Any]] = []

    def get(conn: int, number: int, t: float) -> DeliveredExchange:
        key = (conn, number)
        if key not in exchanges:
            exchanges[key] = DeliveredExchange(conn, number, t_start=t)
            order.append(key)
        return exchanges[key]

    for r in records:
        kind = r.get("type")
        conn = r.get("conn")
        t = r.get("t", 0.0)
        if kind == "fault":
            faults.append(r)
            continue
        if conn is None:
            continue
        if kind in ("fault_close", "closed") and conn not in closing:
            who = "proxy" if kind == "fault_close" else r.get("side", "?")
            closing[conn] = (who, r.get("how", "fin"))
            continue
        if kind == "upstream_error" and conn not in closing:
            closing[conn] = ("upstream", "error: " + str(r.get("reason", "")))
            continue
        if "exchange" not in r or not r.get("exchange"):
            continue
        direction = r.get("dir")
        if direction in ("response", "upstream") and direction != side:
            continue
        x = get(conn, r["exchange"], t)
        x.t_end = t
        if direction == "request":
            if kind in ("head", "answered"):  # answered: the proxy answered it, the upstream never saw it
                x.method, x.target, x.answered = r.get("method"), r.get("target"), kind == "answered"
                raw = base64.b64decode(r.get("b64", ""))
                x.last_event_id = _headers(raw).get("last-event-id")
            continue
        if kind == "head":
            status = r.get("status")
            if status is not None and status < 200:
                continue  # an interim 1xx response: the final one follows on the same exchange
            x.status = status
            raw_head = base64.b64decode(r.get("b64", ""))
            x.headers = _headers(raw_head)
            _start_body(x, raw_head)
        elif kind == "chunk":
            x._chunk_left = r.get("size", 0) or None
        elif kind == "chunk_data":
            data = base64.b64decode(r.get("b64", ""))
            if x._chunk_left is not None:
                x._chunk_left -= len(data)
            _feed(x, data, t)
        elif kind == "chunk_end":
            x._chunk_left = None
        elif kind == "body":
            _feed(x, base64.b64decode(r.get("b64", "")), t)
        elif kind == "end":
            x.end = "close" if x.framing == "close" else "clean"
            _finish(x)
        elif kind == "malformed":
            reason = str(r.get("reason", ""))
            if x.end in ("clean", "close"):
                continue
            if reason.startswith("connection closed"):
                x.detail = reason  # a cut, classified below from the chunk state
            elif reason.startswith("event stream:"):
                x._parse_error = reason
            else:
                at = f" (at byte {r['offset']})" if r.get("offset") is not None else ""
                x.end, x.detail = "malformed", reason + at
                _finish(x)

    for key in order:
        x = exchanges[key]
        if x.end in ("clean", "close", "malformed"):
            continue
        _finish(x)
        who, how = closing.get(x.conn, (None, None))
        if x.status is None:
            x.end = "no_response" if who is not None else "open"
            if who is not None and not x.detail:
                x.detail = f"closed by the {who} ({how}) before a response head"
            continue
        if who is None:
            x.end = "open"
            continue
        if who == "client":
            x.end = "client_closed"
            x.detail = x.detail or f"the client closed the connection ({how}) before the body ended"
            continue
        if how == "rst":
            x.end = "rst"
        elif x.framing == "chunked":
            x.end = "cut_in_chunk" if x._chunk_left is not None else "no_terminator"
        elif x.framing == "length":
            x.end = "short_body"
        elif x.framing == "close":
            x.end = "close"  # the FIN is how such a body ends
        else:
            x.end = "clean"
        if not x.detail:
            x.detail = {
                "rst": f"the connection was reset ({'by the proxy' if who == 'proxy' else 'by the ' + who})",
                "cut_in_chunk": f"the connection closed inside a chunk ({x._chunk_left} bytes of it missing)",
                "no_terminator": "the connection closed between chunks, without the last chunk "
                "(0\\r\\n\\r\\n)",
                "short_body": f"the connection closed after {x.body_bytes} of {x._length} body bytes",
            }.get(x.end, "")
    out = [exchanges[k] for k in order if side == "response" or exchanges[k].status is not None]
    for x in out:
        if x.pending:
            note = f"an unfinished event ({len(x.pending)} bytes) was discarded at the end"
            x.detail = f"{x.detail}; {note}" if x.detail else note
    return Oracle(out, faults, records)


def oracle_from_capture(path: str | Path) -> Oracle:
    """The oracle of a capture file (``faultproxy proxy --capture``)."""
    from faultproxy.proxy.capture_read import capture_records

    return oracle_from_records(capture_records(Path(path)))


def oracle_of(capture: Oracle | str | Path | Iterable[dict[str, Any]] | None) -> Oracle | None:
    """Whatever a caller has -- an Oracle, a capture path, or records -- as an Oracle (None stays None)."""
    if capture is None or isinstance(capture, Oracle):
        return capture
    if isinstance(capture, (str, Path)):
        return oracle_from_capture(capture)
    return oracle_from_records(capture)
