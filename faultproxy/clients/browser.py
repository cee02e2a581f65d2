"""The browser clients: registered here, imported by :func:`faultproxy.clients.registry.load_all`.

- ``chromium`` -- the native ``EventSource`` of headless Chromium (Debian's
  ``/usr/bin/chromium``, or ``$FAULTPROXY_CHROMIUM``), driven by Playwright for Python; the
  child is ``python -m faultproxy.clients.child chromium`` running
  :mod:`faultproxy.clients.browser_chromium` (read it for what is observed and how).
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys

from faultproxy.clients.registry import BROWSER, Availability, ClientInfo, _importable, register

INSTALL_HINT = "apt-get install chromium && pip install playwright"


def _chromium() -> str:
    from faultproxy.clients.browser_chromium import CHROMIUM

    return CHROMIUM


@functools.lru_cache(maxsize=None)
def chromium_version(executable: str) -> str | None:
    """``156.0.8078.79`` from ``chromium --version`` (the version the browser reports to Playwright)."""
    try:
        result = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+(?:\.\d+){1,3})", result.stdout)
    return match.group(1) if match else None


def _availability() -> Availability:
    executable = _chromium()
    if not os.access(executable, os.X_OK):
        return Availability(False, f"{executable} is missing", INSTALL_HINT)
    if not _importable("playwright"):
        return Availability(False, "cannot import playwright", INSTALL_HINT)
    return Availability(True, "", "")


register(ClientInfo(
    name="chromium", kind=BROWSER,
    description="headless Chromium's native EventSource, driven by Playwright (reconnects with Last-Event-ID; "
    "honours retry:)",
    install_hint=INSTALL_HINT,
    module="faultproxy.clients.browser_chromium",
    methods=("GET",), body=False, headers=False, reconnects=True,
    command_fn=lambda info: [sys.executable, "-m", "faultproxy.clients.child", info.name],
    version_fn=lambda: chromium_version(_chromium()),
    available_fn=_availability,
    notes=(
        "reconnect_ms is not applied: the browser waits 3000 ms, or what the server's retry: says",
        "events are read from the DevTools protocol as the EventSource dispatches them (named types too)",
    ),
))
