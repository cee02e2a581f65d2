"""Where a result came from: faultproxy's commit and the machine that produced it.

Reports and benchmark results are read long after the run, often on another machine; a
behaviour that changed between two reports is only explainable if each says which code,
Python, event loop and Node.js made it.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def revision() -> str | None:
    """The git commit of this faultproxy, with ``+dirty`` if its code has local changes
    (None when it is not a git checkout, e.g. an installed wheel)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "faultproxy"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def event_loop() -> str:
    """The event loop faultproxy's own servers and proxies run on."""
    try:
        import uvloop
    except ImportError:
        return "asyncio"
    return f"uvloop {uvloop.__version__}"


def node_version() -> str | None:
    node = shutil.which("node")
    if node is None:
        return None
    try:
        done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def environment(**extra: str | int | None) -> dict[str, str | int | None]:
    """The run's environment for a report header: commit, Python, platform, loop, Node.js, CPUs."""
    return {
        "faultproxy_revision": revision(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loop": event_loop(),
        "node": node_version(),
        "cpus": os.cpu_count(),
        **extra,
    }
