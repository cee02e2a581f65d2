"""Turning command-line text into something to connect to or listen on.

``HOST:PORT`` for listeners and echo peers, ``http://HOST:PORT/path`` for HTTP clients.
IPv6 literals go in brackets (``[::1]:8080``), as in URLs. Errors are ``ValueError`` with
a message meant for the user, so the CLI can print it as is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class HTTPURL:
    host: str
    port: int
    target: str  # the request-target: path and query, what goes on the request line

    @property
    def authority(self) -> str:
        """The ``Host`` header value."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 80 else f"{host}:{self.port}"


def parse_hostport(text: str) -> tuple[str, int]:
    """``"127.0.0.1:8080"`` -> ``("127.0.0.1", 8080)``; port 0 means "any free port"."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected HOST:PORT (e.g. 127.0.0.1:8080), got {text!r}")
    return host, int(port)


def parse_http_url(url: str) -> HTTPURL:
    """``http://host[:port]/path?query``; only plain http, since this is a raw-socket client."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"expected an http:// URL, got {url!r}")
    try:
        port = parts.port or 80
    except ValueError:
        raise ValueError(f"bad port in URL {url!r}") from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return HTTPURL(parts.hostname, port, target)


def error_text(error: BaseException) -> str:
    """A short reason for a socket error: ``Connection refused`` rather than asyncio's wrapper text."""
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno)
    return str(error) or type(error).__name__
