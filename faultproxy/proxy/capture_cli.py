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

from faultproxy.proxy.capture_read import CaptureFileError, capture_records, raw_lines


class CaptureError(click.ClickException):
    exit_code = 2


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
        click.echo(f"{r['t'] * 1000:10.3f} ms  #{r['conn']}.{r['exchange']} [{r['index']}] "
                   f"event={ev['type']} id={ev['id'] or '-'} retry={retry}")
        for line in ev["data"].split("\n"):
            click.echo(f"    {line}")


def _show_summary(records: Iterator[dict[str, Any]]) -> None:
    exchanges: dict[tuple[int, int], dict[str, Any]] = {}
    order: list[tuple[int, int]] = []
    closes: dict[int, list[str]] = {}
    for r in records:
        kind = r["type"]
        if r.get("dir") == "upstream":
            continue  # the server's own bytes; the summary is of what the client got
        if kind in ("closed", "upstream_error"):
            closes.setdefault(r["conn"], []).append(
                f"{r.get('side', 'upstream')} {r.get('how', r.get('reason', ''))}".strip())
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
    for conn, number in order:
        x = exchanges[(conn, number)]
        ending = "complete" if x["complete"] else x.get("malformed", "incomplete")
        click.echo(f"#{conn}.{number}  {x.get('request', '?'):<40} {x.get('status', '---')}  "
                   f"{x['bytes']:>10} B  {x['events']:>6} events  {(x['end'] - x['start']) * 1000:9.1f} ms  {ending}")
    for conn, notes in closes.items():
        click.echo(f"#{conn}  closed: {', '.join(notes)}")


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
