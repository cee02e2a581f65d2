"""Files that hold traffic are their owner's only; files that are not ours keep their mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from faultproxy.private import make_dirs, open_private, write_atomic


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_and_existing_files_and_the_folders_made_for_them_are_private(tmp_path: Path) -> None:
    outer = tmp_path / "reports"
    outer.mkdir()
    outer.chmod(0o755)  # the user's own folder
    folder = outer / "a" / "b"
    make_dirs(folder)
    assert mode(outer / "a") == mode(folder) == 0o700 and mode(outer) == 0o755  # not ours: left alone
    existing = folder / "capture.jsonl"
    existing.write_text("old")
    existing.chmod(0o644)
    with open_private(existing, "w") as handle:
        handle.write("new")
    assert existing.read_text() == "new" and mode(existing) == 0o600
    write_atomic(folder / "report.json", b"{}")
    assert mode(folder / "report.json") == 0o600


def test_a_device_or_pipe_keeps_its_mode(tmp_path: Path) -> None:
    """``faultproxy record`` writes its session capture to /dev/null: that must stay 0666."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo, 0o644)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with open_private(fifo, "w") as handle:
            handle.write("x")
        assert os.read(reader, 10) == b"x"
    finally:
        os.close(reader)
    assert mode(fifo) == 0o644
