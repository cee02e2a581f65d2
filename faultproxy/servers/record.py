"""``faultproxy record``: relay real traffic and keep every exchange as a replayable file.

:class:`Recorder` is the proxy (:class:`~faultproxy.proxy.server.Proxy`) with a capture
that, as each exchange completes (its response ends, or its connection closes with the
response cut short), writes two files into the output directory::

    001-GET-events.jsonl   a capture of just that exchange (meta line, then the request
                           and response records with their times): ``faultproxy serve
                           replay`` plays it back with its timing, and ``faultproxy
                           capture show`` reads it
    001-GET-events.http    the response bytes exactly as relayed, like ``curl --raw -i``

Numbers follow the order the requests arrived in. ``faultproxy serve replay DIR`` serves
the whole directory, matching requests by method and path, repeated requests in order.

Secrets: the capture already replaces the values of ``Authorization``, ``x-api-key``,
``Cookie``, ``Set-Cookie`` and the other secret headers with ``[redacted]``; here secret-
looking query parameters (``api_key``, ``token``, ...) are also replaced in the recorded
request line, and any secret header value seen in a request is masked (same length,
``*``, so chunk sizes and Content-Length still hold) wherever else it turns up -- say, a
server that echoes the request headers in its body. Nothing in the directory holds them.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from faultproxy.faults import FaultSpec
from faultproxy.private import make_dirs, open_private
from faultproxy.proxy.capture import CaptureWriter
from faultproxy.proxy.server import Proxy
from faultproxy.redact import known_values, mask_bytes
from faultproxy.servers.cli import Command, ServeError
from faultproxy.wire.http import HTTPReader, Request


def _secret_values(request: Request) -> set[bytes]:
    """Values of a request's secret headers, and their parts (``Bearer TOKEN``, ``a=1; b=2``)."""
    pairs = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in request.headers]
    return {v.encode("latin-1") for v in known_values(pairs)}


def _slug(target: str | None) -> str:
    if not target:
        return "unknown"
    path = target.split("?", 1)[0]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", path).strip("-.")
    return slug[:60].strip("-.") or "root"


@dataclass
class _Exchange:
    conn: int
    number: int
    seq: int = 0
    method: str | None = None
    target: str | None = None
    records: list[dict[str, Any]] = field(default_factory=list)


class RecordingCapture(CaptureWriter):
    """A capture that also writes each finished exchange of each connection to ``out_dir``."""

    def __init__(self, out_dir: Path, session: Path | None = None):
        super().__init__(session if session is not None else Path(os.devnull), redact=True)
        self.out_dir = out_dir
        self.written: list[Path] = []
        self._meta: dict[str, Any] = {}
        self._open: dict[tuple[int, int], _Exchange] = {}
        self._seq = 0
        self._requests: dict[int, HTTPReader] = {}  # our own view of each request stream, for secrets
        self._secrets: set[bytes] = set()

    # -- what the proxy calls ---------------------------------------------------------------

    def data(self, conn: int, direction: str, data: bytes) -> None:
        if direction == "request":
            reader = self._requests.setdefault(conn, HTTPReader("request", strict=False))
            for event in reader.feed(data):
                if isinstance(event, Request):
                    self._secrets |= _secret_values(event)
        super().data(conn, direction, data)

    def _write(self, record: dict[str, Any]) -> None:
        kind = record["type"]
        if self._secrets:
            record = self._mask(record)
        super()._write(record)  # the session capture, if one is kept
        if kind == "meta":
            self._meta = record
            return
        conn = record.get("conn")
        if conn is None:
            return
        number = record.get("exchange")
        if record.get("dir") in ("request", "response") and number:
            exchange = self._open.get((conn, number))
            if exchange is None:
                self._seq += 1
                exchange = self._open[(conn, number)] = _Exchange(conn, number, self._seq)
            if kind == "head" and record["dir"] == "request":
                exchange.method, exchange.target = record["method"], record["target"]
            exchange.records.append(record)
            if kind == "end" and record["dir"] == "response":
                self._finish(exchange, complete=True)
            return
        # a note about the connection (eof, closed, fault, ...): it belongs to its open exchanges
        for exchange in [x for x in self._open.values() if x.conn == conn]:
            if number is None or number == exchange.number:
                exchange.records.append(record)
        if kind == "done":
            self._requests.pop(conn, None)
            for exchange in sorted((x for x in self._open.values() if x.conn == conn), key=lambda x: x.seq):
                self._finish(exchange, complete=False)

    # -- files --------------------------------------------------------------------------------

    def _finish(self, exchange: _Exchange, complete: bool) -> None:
        self._open.pop((exchange.conn, exchange.number), None)
        if not any(r.get("dir") == "response" and "b64" in r for r in exchange.records):
            return  # no response at all (the client gave up first): nothing to replay
        stem = f"{exchange.seq:03d}-{exchange.method or 'UNKNOWN'}-{_slug(exchange.target)}"
        meta = {
            **self._meta,
            "recorded_by": "faultproxy record",
            "recorded": {"conn": exchange.conn, "exchange": exchange.number, "complete": complete},
        }
        records = self._mask_streams([self._mask(r) for r in [meta, *exchange.records]])
        response = b"".join(
            base64.b64decode(r["b64"]) for r in records if r.get("dir") == "response" and "b64" in r
        )
        make_dirs(self.out_dir)
        capture = self.out_dir / f"{stem}.jsonl"
        with open_private(capture, "w", encoding="utf-8") as handle:
            handle.write(
                "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
            )
        raw = self.out_dir / f"{stem}.http"
        with open_private(raw, "wb") as handle:
            handle.write(response)
        self.written += [capture, raw]

    def _mask_streams(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Mask secrets split across payloads too: per direction, join, mask, cut at the same places.

        Masks keep the length, so the pieces keep their sizes (and chunk sizes stay true).
        """
        if not self._secrets:
            return records
        for direction in ("request", "response", "upstream"):
            at = [i for i, r in enumerate(records) if r.get("dir") == direction and "b64" in r]
            pieces = [base64.b64decode(records[i]["b64"]) for i in at]
            joined = b"".join(pieces)
            masked = mask_bytes(joined, self._secrets)
            if masked == joined:
                continue
            offset = 0
            for i, piece in zip(at, pieces, strict=True):
                part = masked[offset : offset + len(piece)]
                offset += len(piece)
                if part != piece:
                    records[i] = {**records[i], "b64": base64.b64encode(part).decode("ascii")}
        return records

    def _mask(self, value: Any, key: str = "") -> Any:
        """Mask every secret value seen in a request, anywhere in a record (b64 payloads decoded)."""
        if not self._secrets:
            return value
        if isinstance(value, dict):
            return {k: self._mask(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self._mask(v) for v in value]
        if isinstance(value, str) and key == "b64":
            data = base64.b64decode(value)
            masked = mask_bytes(data, self._secrets)
            return value if masked == data else base64.b64encode(masked).decode("ascii")
        if isinstance(value, str):
            encoded = value.encode("utf-8", "surrogatepass")
            masked = mask_bytes(encoded, self._secrets)
            return value if masked == encoded else masked.decode("utf-8", "replace")
        return value

    def flush_open(self) -> None:
        """Write what is still open (the proxy is stopping mid-exchange)."""
        for exchange in sorted(self._open.values(), key=lambda x: x.seq):
            self._finish(exchange, complete=False)

    def close(self) -> None:
        self.flush_open()
        super().close()


class Recorder(Proxy):
    """``async with Recorder("http://127.0.0.1:8000", out_dir) as rec:`` -- clients use ``rec.url``.

    ``capture=PATH`` also keeps the whole session as one capture file. Faults may be given
    as for the proxy; the recording is of what the clients received.
    """

    def __init__(
        self,
        upstream: str,
        out_dir: str | Path,
        listen: str = "127.0.0.1:0",
        *,
        capture: str | Path | None = None,
        connect_timeout: float = 10.0,
        faults: list[FaultSpec] | None = None,
        seed: int = 0,
        **tls: Any,
    ):
        """``tls``: for an ``https://`` upstream, the proxy's TLS options (``resolve``,
        ``upstream_ca``, ``insecure``, ``keep_host``; :class:`~faultproxy.proxy.server.Proxy`)."""
        super().__init__(upstream, listen, connect_timeout=connect_timeout, faults=faults, seed=seed, **tls)
        self.out_dir = Path(out_dir)
        self.session_path = Path(capture) if capture is not None else None
        self.recording: RecordingCapture | None = None

    @property
    def written(self) -> list[Path]:
        """The files written so far, in order."""
        return self.recording.written if self.recording is not None else []

    async def start(self) -> Recorder:
        make_dirs(self.out_dir)
        self.recording = RecordingCapture(self.out_dir, self.session_path)
        target = self.routing.upstream
        upstream = target.url if target is not None and target.tls else str(self.upstream)
        self.recording.meta(upstream=upstream, listen=str(self.listen), raw=False)
        self._capture = self.recording  # Proxy.start makes no capture of its own (capture_path is None)
        try:
            await super().start()
        except BaseException:
            self._capture = None
            self.recording.close()
            raise
        return self

    # Proxy.stop closes the capture, which writes any exchange still open.


@click.command("record", cls=Command)
@click.option(
    "--upstream",
    required=True,
    help="The server to record: http://HOST:PORT, or https://HOST[:PORT] (spoken to over TLS, verified).",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the recorded exchanges (created if missing).",
)
@click.option(
    "--listen",
    default="127.0.0.1:8086",
    show_default=True,
    help="HOST:PORT to accept clients on (port 0: any free port).",
)
@click.option(
    "--capture",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also keep the whole session as one capture file (put it outside --out).",
)
@click.option(
    "--connect-timeout",
    type=click.FloatRange(min=0.001),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the upstream connection before answering 502.",
)
@click.option(
    "--resolve",
    multiple=True,
    metavar="HOST:PORT:ADDR",
    help="As curl's: connect to ADDR for HOST:PORT, keeping HOST for SNI, the certificate check and Host.",
)
@click.option(
    "--upstream-ca",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Verify the https upstream against the CA certificates in FILE only (PEM).",
)
@click.option("--insecure", is_flag=True, help="Do not verify the https upstream's certificate.")
def record(
    upstream: str,
    out_dir: Path,
    listen: str,
    capture: Path | None,
    connect_timeout: float,
    resolve: tuple[str, ...],
    upstream_ca: Path | None,
    insecure: bool,
) -> None:
    """Relay clients to an upstream and write each exchange to --out as a replayable file.

    Replay them with `faultproxy serve replay DIR`. Secret headers are never written.
    """
    from faultproxy.aio import run

    try:
        tls = {
            k: v
            for k, v in {"resolve": resolve, "upstream_ca": upstream_ca, "insecure": insecure}.items()
            if v
        }
        recorder = Recorder(
            upstream, out_dir, listen, capture=capture, connect_timeout=connect_timeout, **tls
        )
    except ValueError as error:
        raise ServeError(str(error)) from None

    async def main() -> None:
        try:
            await recorder.start()
        except OSError as error:
            what = f"write {error.filename}" if error.filename else f"listen on {recorder.listen}"
            raise ServeError(f"cannot {what}: {error.strerror or error}") from None
        click.echo(f"listening on {recorder.url}  (recording {recorder.routing.describe()} into {out_dir})")
        try:
            await recorder.serve_forever()
        finally:
            await recorder.stop()
            click.echo(f"recorded {len(recorder.written) // 2} exchanges into {out_dir}", err=True)

    try:
        run(main())
    except KeyboardInterrupt:
        sys.exit(0)
