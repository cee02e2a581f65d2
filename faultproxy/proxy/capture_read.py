"""Reading a capture file (``faultproxy proxy --capture``) back, record by record.

One reader for everything that reads captures (``faultproxy capture show``, the scenario
oracle, the replay server), so that they agree on what a capture is: JSON Lines, each
record an object with a ``type``, the first one ``meta``. Each caller says what a bad file
means to it (a CLI exit code, a :class:`~faultproxy.servers.replay.ReplayError`), so a
bad record is :class:`CaptureFileError` and a file that cannot be opened is the
``OSError`` itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class CaptureFileError(ValueError):
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
