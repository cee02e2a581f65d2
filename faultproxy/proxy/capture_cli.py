"""``faultproxy capture show FILE [--raw|--events]``: read a capture back as a person would.

Default: one line per exchange (request, status, body size, SSE events, how it ended).
``--raw``: the wire as ``curl --raw`` shows it, both directions, with the time of each piece
and CR/LF made visible. ``--events``: the SSE events the proxy delivered, with times.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from faultproxy.cli import BadInput
from faultproxy.proxy.capture_read import CaptureFileError, capture_records, raw_lines


class CaptureError(BadInput):
    """A capture that cannot be read: exit code 2 (bad input)."""


def read_capture(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a capture file; an unreadable or malformed one is a :class:`CaptureError` (exit 2)."""
    try:
        yield from capture_records(path)
    except OSError as error:
        raise CaptureError(f"cannot read capture {path}: {error.strerror or error}") from None
    except CaptureFileError as error:
        raise CaptureError(str(error)) from None


def _show_raw(records: Iterator[dict[str, Any]]) -> None:
    for line in raw_lines(records):
        click.echo(line)


def _show_events(records: Iterator[dict[str, Any]]) -> None:
    for r in records:
        if r["type"] != "event":
            continue
        ev = r["event"]
        retry = "-" if ev["retry"] is None else ev["retry"]
        click.echo(
            f"{r['t'] * 1000:10.3f} ms  #{r['conn']}.{r['exchange']} event {r['index'] + 1}: "
            f"type={ev['type']} id={ev['id'] or '-'} retry={retry}"
        )
        for line in ev["data"].split("\n"):
            click.echo(f"    {line}")


def _show_summary(records: Iterator[dict[str, Any]]) -> None:
    exchanges: dict[tuple[int, int], dict[str, Any]] = {}
    order: list[tuple[int, int]] = []
    ends: dict[int, Ends] = {}
    for r in records:
        kind = r["type"]
        if r.get("dir") == "upstream":
            continue  # the server's own bytes; the summary is of what the client got
        if r.get("conn") is not None and kind in ("fault", "fault_close", "closed", "upstream_error"):
            ends.setdefault(r["conn"], Ends()).add(r)
        if "exchange" not in r or not r.get("exchange"):
            continue
        key = (r["conn"], r["exchange"])
        if key not in exchanges:
            exchanges[key] = {"start": r["t"], "end": r["t"], "bytes": 0, "events": 0, "complete": False}
            order.append(key)
        x = exchanges[key]
        x["end"] = r["t"]
        if kind == "head" and r["dir"] == "request":
            x["request"] = f"{r['method']} {r['target']}"
        elif kind == "answered":  # the proxy answered it: it never crossed to the upstream
            x["request"] = f"{r['method']} {r['target']} (answered)"
        elif kind == "head":
            x["status"] = r["status"]
        elif kind in ("body", "chunk_data") and r["dir"] == "response":
            x["bytes"] += len(base64.b64decode(r["b64"]))
        elif kind == "event":
            x["events"] += 1
        elif kind == "end" and r["dir"] == "response":
            x["complete"] = True
        elif kind == "malformed":
            x["malformed"] = r["reason"]
    last = {conn: number for conn, number in order}  # a connection's ends follow its last exchange
    for conn, number in order:
        x = exchanges[(conn, number)]
        ending = "complete" if x["complete"] else x.get("malformed", "incomplete")
        click.echo(
            f"#{conn}.{number}  {x.get('request', '?'):<40} {x.get('status', '---')}  "
            f"{x['bytes']:>10} B  {x['events']:>6} events  {(x['end'] - x['start']) * 1000:9.1f} ms  {ending}"
        )
        if last[conn] == number and conn in ends:
            for line in ends[conn].lines():
                click.echo(f"      {line}")
    for conn in sorted(set(ends) - set(last)):
        for line in ends[conn].lines():
            click.echo(f"#{conn}    {line}")


class Ends:
    """How one connection went: the faults that fired on it, and how each side of it ended --
    as the client saw it: an RST the proxy sent it (a fault's, or passing on the upstream's) is
    said as an RST, whatever FIN the capture records for the socket afterwards."""

    def __init__(self) -> None:
        self.faults: list[str] = []
        self.reset_by: str | None = None  # why the client got an RST
        self.closes: list[str] = []

    def add(self, r: dict[str, Any]) -> None:
        kind = r["type"]
        if kind == "fault":
            name, ftype = r.get("fault"), r.get("fault_type")
            label = f"{ftype} {name!r}" if name and name != ftype else str(ftype)
            self.faults.append(f"fault {label}: {r.get('detail', '')}".rstrip(": "))
        elif kind == "fault_close" and r.get("how") == "rst":
            self.reset_by = self.reset_by or "a fault reset the connection"
        elif kind == "fault_close":
            self.closes.append("a fault closed the connection (FIN)")
        elif kind == "upstream_error":
            self.closes.append(f"upstream failed: {r.get('reason', '')}")
        elif kind == "closed" and r.get("how") == "rst" and r.get("side") == "upstream":
            self.reset_by = self.reset_by or "the upstream reset its side; the proxy passed the RST on"
        elif kind == "closed":
            self.closes.append(f"{r.get('side', '?')} {'RST' if r.get('how') == 'rst' else 'FIN'}")

    def lines(self) -> list[str]:
        out = list(self.faults)
        if self.reset_by:
            out.append(f"the client got an RST ({self.reset_by})")
        closes = [c for c in self.closes if not (self.reset_by and c == "client FIN")]  # the RST ended it
        closes.sort(
            key=lambda c: (
                {"client": 1, "upstream": 2}.get(c.split(" ")[0], 0) if c.endswith(("FIN", "RST")) else 0
            )
        )  # what ended it first, then each socket's end (the order the loop saw says nothing)
        if closes:
            out.append("closed: " + ", ".join(closes))
        return out


@click.group("capture")
def capture() -> None:
    """Read captures written by ``faultproxy proxy --capture``."""


@capture.command("show")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--raw", "view", flag_value="raw", help="The wire bytes of both directions, with timing.")
@click.option("--events", "view", flag_value="events", help="The SSE events delivered, with timing.")
def show(file: Path, view: str | None) -> None:
    """Show a capture: exchanges (default), the raw wire, or the SSE events."""
    records = read_capture(file)
    {"raw": _show_raw, "events": _show_events}.get(view or "", _show_summary)(records)
