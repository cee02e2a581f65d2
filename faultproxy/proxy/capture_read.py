"""Reading a capture file (``faultproxy proxy --capture``) back, record by record.

One reader for everything that reads captures (``faultproxy capture show``, the scenario
oracle, the replay server), so that they agree on what a capture is: JSON Lines, each
record an object with a ``type``, the first one ``meta``. Each caller says what a bad file
means to it (a CLI exit code, a :class:`~faultproxy.servers.replay.ReplayError`), so a
bad record is :class:`CaptureFileError` and a file that cannot be opened is the
``OSError`` itself.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from faultproxy.errors import InputError

_ARROW = {"request": "→", "response": "←", "upstream": "⇠"}


class CaptureFileError(InputError):
    """A line of the file that is not a capture record; the message names the file and the line."""


def capture_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a capture file, checked for shape (blank lines skipped).

    Raises ``OSError`` when the file cannot be opened, :class:`CaptureFileError` at the
    first bad line.
    """
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise CaptureFileError(f"{path}:{number}: not a capture record ({error.msg})") from None
            if not isinstance(record, dict) or "type" not in record:
                raise CaptureFileError(f"{path}:{number}: not a capture record (no 'type')")
            if number == 1 and record["type"] != "meta":
                raise CaptureFileError(f"{path}:1: not a faultproxy capture (no meta record first)")
            yield record


def _visible(data: bytes) -> str:
    text = data.decode("utf-8", errors="backslashreplace")
    return text.replace("\r", "\\r").replace("\n", "\\n\n")


def raw_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The lines ``capture show --raw`` prints for these records (the scenario reports' wire excerpts too):
    here, not in the CLI module, because product code (the verdicts) uses them too."""
    for r in records:
        if r["type"] == "meta":
            continue
        stamp = f"{r['t'] * 1000:10.3f} ms  #{r.get('conn', '-')}"
        if r["type"] == "answered":  # a request that never crossed to the upstream: not wire bytes of it
            yield f"{stamp} · answered by the proxy, never forwarded: {r.get('method')} {r.get('target')}"
        elif "b64" in r:
            data = base64.b64decode(r["b64"])
            if not data:
                continue
            arrow = _ARROW.get(r.get("dir", ""), " ")
            lines = _visible(data).splitlines() or [""]
            yield f"{stamp} {arrow} {lines[0]}"
            for line in lines[1:]:
                yield f"{'':>{len(stamp)}} {arrow} {line}"
        elif r["type"] in (
            "eof",
            "closed",
            "fault_close",
            "upstream_error",
            "refused",
            "malformed",
            "fault",
            "upstream_split",
            "timeout",
        ):
            detail = " ".join(f"{k}={v}" for k, v in r.items() if k not in ("t", "conn", "type"))
            yield f"{stamp} · {r['type']} {detail}"
