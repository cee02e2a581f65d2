"""Builders for the scenario tests: synthetic captures, sent streams, transcripts, schema checks."""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path
from typing import Any

import jsonschema

from faultproxy.clients.transcript import Attempt, ReceivedEvent, Transcript
from faultproxy.scenarios.events import Item
from faultproxy.wire.chunked import encode_chunk
from faultproxy.wire.sse import encode_event

SCHEMA = json.loads((Path(__file__).parents[2] / "faultproxy" / "report" / "schema.json").read_text())


def assert_valid(result: dict[str, Any]) -> None:
    """The result validates against the report schema's ``result`` object (inside a whole report)."""
    report = {
        "schema": "faultproxy-report/1",
        "run_id": "t",
        "started": "2024-01-01T00:00:00Z",
        "duration_s": 0.0,
        "seed": 0,
        "faultproxy_version": "0",
        "clients": [],
        "scenarios": [],
        "results": [result],
    }
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    json.dumps(result)  # JSON-safe


def data(n: int) -> str:
    return json.dumps({"n": n})


def sent(n: int, *, event_type: str = "message") -> list[Item]:
    """What the reference server means to send: ids 1..n."""
    return [
        Item(type=event_type, data=data(k), id=str(k), t=100.0 + k * 0.01, connection=1, index=k - 1)
        for k in range(1, n + 1)
    ]


def ev(
    k: int,
    connection: int = 1,
    t: float | None = None,
    *,
    data_: str | None = None,
    id_: str | None = "auto",
    type_: str = "message",
) -> ReceivedEvent:
    return ReceivedEvent(
        type=type_,
        data=data(k) if data_ is None else data_,
        id=str(k) if id_ == "auto" else id_,
        t=t if t is not None else 0.01 * k,
        connection=connection,
    )


def transcript(
    events: list[ReceivedEvent],
    *,
    end: str = "completed",
    attempts: list[Attempt] | None = None,
    error: tuple[str, str] | None = None,
    duration: float = 0.2,
    client: str = "raw",
) -> Transcript:
    return Transcript(
        client=client,
        version="1.0",
        events=events,
        attempts=attempts if attempts is not None else [Attempt(1, 0.001, None, 200)],
        end=end,
        error_type=error[0] if error else None,
        error_message=error[1] if error else None,
        duration_s=duration,
        t0_monotonic=100.0,
    )


def evidence(
    fault: str,
    kind: str,
    conn: int = 1,
    *,
    event_index: int | None = None,
    offset: int | None = None,
    detail: str = "",
    t: float = 100.05,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "fault": fault,
        "fault_type": kind,
        "conn": conn,
        "direction": "downstream",
        "t": t,
        "exchange": 1,
        "detail": detail,
    }
    if event_index is not None:
        out["event_index"] = event_index
    if offset is not None:
        out["offset"] = offset
    return out


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


class Capture:
    """Capture records written by hand, in the format of :mod:`faultproxy.proxy.capture`."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = [
            {"type": "meta", "version": 1, "started": 0.0, "redacted": True}
        ]
        self.t = 0.0

    def add(self, **record: Any) -> Capture:
        self.t = round(self.t + 0.001, 6)
        self.records.append({"t": self.t, **record})
        return self

    def request(
        self, conn: int, *, exchange: int = 1, last_event_id: str | None = None, target: str = "/events"
    ) -> Capture:
        self.add(conn=conn, type="open", client="127.0.0.1:5")
        head = f"GET {target} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
        if last_event_id is not None:
            head += f"Last-Event-ID: {last_event_id}\r\n"
        self.add(
            conn=conn,
            type="head",
            dir="request",
            exchange=exchange,
            method="GET",
            target=target,
            b64=b64((head + "\r\n").encode()),
        )
        return self.add(conn=conn, type="end", dir="request", exchange=exchange)

    def response(
        self, conn: int, *, exchange: int = 1, status: int = 200, headers: dict[str, str] | None = None
    ) -> Capture:
        fields = (
            headers
            if headers is not None
            else {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"}
        )
        head = f"HTTP/1.1 {status} OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
        return self.add(
            conn=conn,
            type="head",
            dir="response",
            exchange=exchange,
            status=status,
            reason="OK",
            b64=b64(head.encode()),
        )

    def chunk(self, conn: int, payload: bytes, *, exchange: int = 1, cut_after: int | None = None) -> Capture:
        """One chunk; ``cut_after``: only that many payload bytes (then nothing of it)."""
        framed = encode_chunk(payload)
        size_line = framed[: framed.index(b"\r\n") + 2]
        base = {"conn": conn, "dir": "response", "exchange": exchange}
        self.add(type="chunk", size=len(payload), b64=b64(size_line), **base)
        body = payload if cut_after is None else payload[:cut_after]
        if body:
            self.add(type="chunk_data", b64=b64(body), **base)
        if cut_after is None:
            self.add(type="chunk_end", b64=b64(b"\r\n"), **base)
        return self

    def event(self, conn: int, k: int, **kw: Any) -> Capture:
        return self.chunk(conn, encode_event(data(k), id=str(k)), **kw)

    def body(self, conn: int, payload: bytes, *, exchange: int = 1) -> Capture:
        return self.add(conn=conn, type="body", dir="response", exchange=exchange, b64=b64(payload))

    def last_chunk(self, conn: int, *, exchange: int = 1) -> Capture:
        base = {"conn": conn, "dir": "response", "exchange": exchange}
        self.add(type="chunk", size=0, b64=b64(b"0\r\n"), **base)
        self.add(type="trailers", b64=b64(b"\r\n"), **base)
        return self.add(type="end", **base)

    def end(self, conn: int, *, exchange: int = 1) -> Capture:
        return self.add(conn=conn, type="end", dir="response", exchange=exchange)

    def fault(self, conn: int, fault: str, kind: str, **fields: Any) -> Capture:
        return self.add(
            type="fault", fault_type=kind, fault=fault, conn=conn, direction="downstream", **fields
        )

    def fault_close(self, conn: int, how: str = "fin") -> Capture:
        return self.add(conn=conn, type="fault_close", how=how)

    def closed(self, conn: int, side: str, how: str = "fin") -> Capture:
        return self.add(conn=conn, type="closed", side=side, how=how)

    def done(self, conn: int) -> Capture:
        return self.add(conn=conn, type="done")

    def stream(
        self, conn: int, ids: list[int], *, last_event_id: str | None = None, clean: bool = True
    ) -> Capture:
        """A whole chunked SSE response with these events; ``clean=False`` leaves it open."""
        self.request(conn, last_event_id=last_event_id).response(conn)
        for k in ids:
            self.event(conn, k)
        if clean:
            self.last_chunk(conn).closed(conn, "upstream").closed(conn, "client").done(conn)
        return self

    def write(self, path: Path) -> Path:
        path.write_text("".join(json.dumps(r) + "\n" for r in self.records))
        return path


def gzip_bytes(payload: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    return compressor.compress(payload) + compressor.flush()
