"""What a proxy does, told through :mod:`logging` (``faultproxy proxy -v``): connections, faults, failures.

The proxy tells this log what it tells its capture -- a connection opened, a note about it (an
upstream that could not be reached, a refused request, a reset, the end), a fault that fired -- in
the capture's own vocabulary (:mod:`faultproxy.proxy.capture`), so a person watching a running proxy
sees what a capture would hold, one line each, without writing one. Wire bytes are never logged, and
what is logged comes from notes that are already free of secrets.

Levels (logger ``faultproxy.proxy``): WARNING -- the upstream failed (its TLS too), a request was
refused (a client over the connection cap: once a second at most, with how many more since), a
client's TLS failed; INFO -- connections opening and ending, closed by a timeout, TLS handshakes,
forward-mode targets, faults firing, resets; DEBUG -- every other note (each FIN).
:meth:`ActivityLog.summary` is the one line a proxy says when it stops.
"""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("faultproxy.proxy")


class ActivityLog:
    """Counts and logs one proxy's connections, faults and failures."""

    def __init__(self, logger: logging.Logger = log):
        self.log = logger
        self.connections = 0
        self.faults = 0
        self.upstream_failures = 0
        self.refused = 0
        self.over_cap = 0  # clients answered 503 at the connection cap
        self.timeouts = 0  # connections closed by the header or idle timeout, with no answer
        self._opened: dict[int, float] = {}
        self._cap_said = -1.0  # when the last over-the-cap warning was said …
        self._cap_unsaid = 0  # … and the clients over the cap since

    def open(self, conn: int, client: Any) -> None:
        self.connections += 1
        self._opened[conn] = time.monotonic()
        peer = f"{client[0]}:{client[1]}" if client else "?"
        self.log.info("#%d open from %s", conn, peer)

    def note(self, conn: int, kind: str, **fields: Any) -> None:
        if kind == "upstream_error":
            self.upstream_failures += 1
            self.log.warning("#%d upstream failed: %s", conn, fields.get("reason", "?"))
        elif kind == "refused" and fields.get("limit") == "connections":
            self._at_cap(conn, fields)
        elif kind == "refused":
            self.refused += 1
            self.log.warning("#%d refused the request: %s", conn, fields.get("reason", "?"))
        elif kind == "tls":
            self.log.info(
                "#%d TLS with the %s: %s %s, ALPN %s, SNI %s, certificate %s",
                conn,
                fields.get("side", "?"),
                fields.get("version"),
                fields.get("cipher"),
                fields.get("alpn"),
                fields.get("sni"),
                fields.get("certificate"),
            )
        elif kind == "tls_failed":
            self.log.warning(
                "#%d TLS with the %s failed: %s", conn, fields.get("side", "?"), fields.get("reason", "?")
            )
        elif kind in ("target", "tunnel"):
            detail = " ".join(f"{k}={v}" for k, v in fields.items())
            self.log.info("#%d %s %s", conn, kind, detail)
        elif kind == "timeout":
            self.timeouts += 1
            self.log.info(
                "#%d closed: %s of %s s passed",
                conn,
                str(fields.get("limit", "?")).replace("_", " "),
                fields.get("seconds", "?"),
            )
        elif kind == "fault_close":
            self.log.info("#%d a fault closed the connection (%s)", conn, _how(fields.get("how")))
        elif kind == "closed" and fields.get("how") == "rst":
            self.log.info("#%d the %s reset the connection (RST)", conn, fields.get("side", "?"))
        elif kind == "done":
            opened = self._opened.pop(conn, None)
            took = f" after {time.monotonic() - opened:.3f} s" if opened is not None else ""
            self.log.info("#%d done%s", conn, took)
        elif self.log.isEnabledFor(logging.DEBUG):
            detail = " ".join(f"{k}={v}" for k, v in fields.items())
            self.log.debug("#%d %s %s", conn, kind, detail)

    def _at_cap(self, conn: int, fields: dict[str, Any]) -> None:
        """A client over the connection cap: said once a second at most (a flood of them would
        drown everything else), with how many came since the last time."""
        self.over_cap += 1
        now = time.monotonic()
        if now - self._cap_said < 1.0:
            self._cap_unsaid += 1
            return
        since = f" (and {self._cap_unsaid} more since the last such line)" if self._cap_unsaid else ""
        self.log.warning("#%d answered 503: %s%s", conn, fields.get("reason", "?"), since)
        self._cap_said, self._cap_unsaid = now, 0

    def fault(self, evidence: Any) -> None:
        self.faults += 1
        if self.log.isEnabledFor(logging.INFO):
            e = evidence.as_dict() if hasattr(evidence, "as_dict") else dict(evidence)
            where = f"#{e['conn']} " if e.get("conn") is not None else ""
            name, kind = e.get("fault"), e.get("fault_type")
            label = f"{kind} {name!r}" if name and name != kind else str(kind)
            self.log.info("%sfault %s fired: %s", where, label, e.get("detail") or "")

    def summary(self) -> str:
        limits = f", {self.over_cap} over the connection cap" if self.over_cap else ""
        limits += f", {_n(self.timeouts, 'timeout')}" if self.timeouts else ""
        return (
            f"{_n(self.connections, 'connection')}, {_n(self.faults, 'fault')} fired, "
            f"{_n(self.upstream_failures, 'upstream failure')}, {_n(self.refused, 'request')} refused{limits}"
        )


def _how(how: Any) -> str:
    return {"rst": "RST", "fin": "FIN"}.get(str(how), str(how))


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
