"""What the control API refuses before it acts: browsers, foreign Host names, oversized or
over-deep bodies, names a URL cannot carry.

Whoever reaches the API can open listeners and read the traffic through them, so:

- a request with a browser's ``User-Agent`` (``Mozilla/…``) is refused (403), as Toxiproxy does;
- a request whose ``Host`` is a DNS name other than ``localhost`` (or the server's own host, or one
  allowed with ``--allow-host``) is refused (403): that is what *DNS rebinding* looks like — a web
  page whose name was re-pointed at 127.0.0.1, talking to the API with the browser's help. An
  address (``127.0.0.1:8474``, ``[::1]``) is always fine: a page cannot be served from one it
  does not own;
- a body over :data:`MAX_BODY` is refused (413) without being read whole, and a JSON body nested
  deeper than :data:`MAX_DEPTH` (or holding ``NaN``) is a 400, never a 500 with a traceback;
- proxy and toxic names follow :func:`~faultproxy.control.registry.check_name`, so every name
  created can be read, updated and deleted at ``/proxies/NAME``.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from faultproxy.control.registry import ControlError

MAX_BODY = 1 << 20  # bytes: a populate of thousands of proxies fits
MAX_DEPTH = 32  # levels of JSON nesting: a toxic is three deep
LOOPBACK_NAMES = ("localhost",)


async def read_json(request: Request) -> Any:
    """The request's JSON body (an empty body is ``null``), within :data:`MAX_BODY` and
    :data:`MAX_DEPTH`; anything else is a :class:`ControlError`."""
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise ControlError(413, f"request body over {MAX_BODY} bytes")
    try:
        value = json.loads(bytes(raw) or b"null", parse_constant=_no_constant)
    except RecursionError:
        raise ControlError(400, f"bad request body: JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as error:
        raise ControlError(400, f"bad request body: {error}") from None
    if _depth(value) > MAX_DEPTH:
        raise ControlError(400, f"bad request body: JSON nested deeper than {MAX_DEPTH} levels")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _depth(value: Any) -> int:
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                todo += [(child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)]
    return deepest


def host_allowed(host_header: bytes | None, allowed: Iterable[str]) -> bool:
    """Whether a ``Host`` header is one the API answers (see the module doc)."""
    if not host_header:
        return True  # not a browser: every browser sends Host
    host = host_header.decode("latin-1").strip().lower()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    host = host.rstrip(".")
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    return host in {name.lower().rstrip(".") for name in allowed}


class Guard:
    """ASGI middleware: the refusals that come before any route (see the module doc)."""

    def __init__(self, app: Any, allowed_hosts: Iterable[str] = ()):
        self.app = app
        self.allowed_hosts = tuple(allowed_hosts)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        refusal = self._refusal(headers)
        if refusal is not None:
            status, message = refusal
            await JSONResponse({"error": message, "status": status}, status_code=status)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, headers: dict[bytes, bytes]) -> tuple[int, str] | None:
        if headers.get(b"user-agent", b"").startswith(b"Mozilla/"):
            return 403, "User agent not allowed"
        host = headers.get(b"host")
        if not host_allowed(host, self.allowed_hosts):
            name = host.decode("latin-1")[:100] if host else ""
            return 403, (
                f"Host {name!r} not allowed (a guard against DNS rebinding): use an address or "
                "localhost, or start the server with --allow-host NAME"
            )
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > MAX_BODY:
            return 413, f"request body over {MAX_BODY} bytes"
        return None
