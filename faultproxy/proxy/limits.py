"""What the proxy allows its clients, with nginx's defaults (docs/reliability.md, "Limits").

- request heads: :class:`~faultproxy.wire.limits.HeadLimits` (8 KiB lines, 100 fields, 32 KiB
  in all); a request over them is answered 414 or 431, an upstream's response head over them
  passes on as bytes (the response side is lenient: what a server sends is what is tested);
- ``header_timeout``: a request head must be whole this long after the connection opened or
  its next request's first byte (nginx's ``client_header_timeout``, 60 s): else 408;
- ``idle_timeout``: a kept-alive client connection with no request in progress is closed after
  this long (nginx's ``keepalive_timeout``, 75 s); a response that stalls is no idle connection,
  stalls are what the faults make;
- ``max_connections``: clients relayed at once; one more is answered 503 (a close under TCP)
  instead of holding a descriptor the healthy ones need. By default as many as the descriptor
  limit holds, two each (client and upstream), after :func:`raise_nofile` at start.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass, field

from faultproxy.wire.limits import DEFAULT_LIMITS, HeadLimits

# Descriptors kept beyond two per connection: the listening sockets, the capture, the control
# API, the event loop's own, and the clients over the cap that get their 503.
NOFILE_RESERVE = 64


@dataclass(frozen=True, slots=True)
class ProxyLimits:
    """The limits of one proxy; ``None`` for a timeout means none, for ``max_connections`` the
    descriptor limit's share (:meth:`connection_cap`)."""

    head: HeadLimits = field(default=DEFAULT_LIMITS)
    header_timeout: float | None = 60.0
    idle_timeout: float | None = 75.0
    max_connections: int | None = None

    def __post_init__(self) -> None:
        for name in ("header_timeout", "idle_timeout"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(
                    f"{name} must be a number of seconds above 0 (or None for none), not {value!r}"
                )
        cap = self.max_connections
        if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or cap < 1):
            raise ValueError(f"max_connections must be a whole number of at least 1, not {cap!r}")

    def connection_cap(self) -> int:
        """``max_connections``, or what the process's descriptor limit holds now."""
        if self.max_connections is not None:
            return self.max_connections
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return 1 << 20
        return max(1, (soft - NOFILE_RESERVE) // 2)


def raise_nofile() -> tuple[int, int]:
    """Raise this process's descriptor limit (``RLIMIT_NOFILE``) to its hard limit, as servers
    do at start: the common soft limit of 1,024 is 500 relayed connections. Returns the soft
    limit before and after (unchanged where the system refuses)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == soft:
        return soft, soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):  # macOS refuses RLIM_INFINITY: its own ceiling then
        return soft, soft
    return soft, hard
