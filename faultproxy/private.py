"""Files that hold traffic (captures, recordings, reports, logs) are for their owner only.

Redaction takes out the secrets faultproxy knows about (:mod:`faultproxy.redact`); what is left
is still other people's traffic: prompts, answers, internal URLs. So these files are created
``0600`` and the folders faultproxy makes for them ``0700``, whatever the umask, the way ssh
and gpg keep their files. A folder that already exists (``/tmp``, the user's own) is left as it is.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import IO, Any

FILE_MODE = 0o600
DIR_MODE = 0o700


def make_dirs(path: Path) -> None:
    """``mkdir -p`` with every folder it creates ``0700``."""
    path = Path(path)
    missing = []
    while not path.exists():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # made meanwhile (another cell of the same run)
        os.chmod(folder, DIR_MODE)  # mkdir's mode passes through the umask


def open_private(path: Path, mode: str = "w", **kwargs: Any) -> IO[Any]:
    """``open(path, mode)`` for writing (``w``, ``wb``, ``a``), a regular file ``0600`` even if it
    existed with another mode (a device such as ``/dev/null`` is left as it is)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode.startswith("a") else os.O_TRUNC)
    fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # never a device or a pipe: /dev/null is everyone's
            os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` (``0600``) and rename it into place,
    so a reader never sees half a file; on any error nothing is left behind."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
