"""Turning command-line text into something to connect to or listen on.

``HOST:PORT`` for listeners and echo peers, ``http://HOST:PORT/path`` for HTTP clients; for
the proxy, ``--listen [HOST:]PORT`` and ``--upstream URL`` (:func:`parse_listen`,
:func:`parse_upstream`). IPv6 literals go in brackets (``[::1]:8080``), as in URLs. Errors are
``ValueError`` with a message meant for the user, so the CLI can print it as is.

The proxy listens on loopback unless told otherwise: a fault-injection proxy open to the
network would let anyone break (or read) the streams that pass through it.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit


def url_host(host: str) -> str:
    """The host as it is written in a URL or a ``Host`` header: an IPv6 literal in brackets."""
    return f"[{host}]" if ":" in host else host


_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class HTTPURL:
    host: str
    port: int
    target: str  # the request-target: path and query, what goes on the request line
    scheme: str = "http"

    @property
    def authority(self) -> str:
        """The ``Host`` header value (the port only when it is not the scheme's default)."""
        host = url_host(self.host)
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Address:
    """Where the proxy listens, or its upstream (``scheme`` http or https)."""

    host: str
    port: int
    scheme: str = "http"

    def __str__(self) -> str:
        return f"{url_host(self.host)}:{self.port}"


def _split(text: str) -> tuple[str, str] | None:
    """``HOST:PORT`` or ``[IPv6]:PORT`` as (host without brackets, port text); None without a port."""
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
    else:
        host, sep, port = text.rpartition(":")
    return (host, port) if sep else None


def _is_port(text: str) -> bool:
    return text.isdigit() and int(text) <= 65535


def parse_hostport(text: str) -> tuple[str, int]:
    """``"127.0.0.1:8080"`` -> ``("127.0.0.1", 8080)``; port 0 means "any free port"."""
    parts = _split(text)
    if parts is None or not parts[0] or not _is_port(parts[1]):
        raise ValueError(f"expected HOST:PORT (e.g. 127.0.0.1:8080), got {text!r}")
    return parts[0], int(parts[1])


def _listen_port(text: str) -> int:
    if not _is_port(text):
        raise ValueError(f"--listen: port must be a number from 0 to 65535, got {text!r}")
    return int(text)


def parse_listen(text: str) -> Address:
    """``PORT``, ``HOST:PORT`` or ``[IPv6]:PORT``; the host defaults to 127.0.0.1."""
    text = text.strip()
    if text.isdigit():
        return Address("127.0.0.1", _listen_port(text))
    parts = _split(text)
    if parts is None:
        expected = "[IPv6]:PORT" if text.startswith("[") else "HOST:PORT or PORT"
        raise ValueError(f"--listen: expected {expected}, got {text!r}")
    host, port = parts
    return Address(host or "127.0.0.1", _listen_port(port))


def parse_http_url(url: str, schemes: tuple[str, ...] = ("http",)) -> HTTPURL:
    """``http://host[:port]/path?query``; plain http unless the caller also speaks ``https``."""
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(f"expected an {' or '.join(s + '://' for s in schemes)} URL, got {url!r}")
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise ValueError(f"bad port in URL {url!r}") from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return HTTPURL(parts.hostname, port, target, parts.scheme)


def parse_upstream(text: str) -> Address:
    """``http://HOST:PORT`` (``https://`` for TLS upstreams) or a bare ``HOST:PORT``."""
    url = text if "://" in text else f"http://{text}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"--upstream: scheme must be http or https, got {parts.scheme!r} in {text!r}")
    if not parts.hostname:
        raise ValueError(f"--upstream: no host in {text!r}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"--upstream: invalid port in {text!r}") from None
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    if parts.path not in ("", "/") or parts.query:
        raise ValueError(f"--upstream: give only scheme, host and port (no path) in {text!r}")
    return Address(parts.hostname, port, parts.scheme)


def error_text(error: BaseException) -> str:
    """A short reason for a socket error: ``Connection refused`` rather than asyncio's wrapper text."""
    if isinstance(error, ssl.SSLError):  # its errno is OpenSSL's, not the system's
        from faultproxy.tls.facts import TLSFailure

        return f"TLS: {TLSFailure.from_error(error).reason}"
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno)
    return str(error) or type(error).__name__
