"""Parsing the addresses a user types: ``--listen HOST:PORT`` and ``--upstream URL``.

Listening defaults to loopback: a fault-injection proxy open to the network would let
anyone break (or read) the streams that pass through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int
    scheme: str = "http"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _port(text: str, what: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise ValueError(f"{what}: port must be a number from 0 to 65535, got {text!r}")
    return int(text)


def parse_listen(text: str) -> Address:
    """``PORT``, ``HOST:PORT`` or ``[IPv6]:PORT``; the host defaults to 127.0.0.1."""
    text = text.strip()
    if text.isdigit():
        return Address("127.0.0.1", _port(text, "--listen"))
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"--listen: expected [IPv6]:PORT, got {text!r}")
    else:
        host, sep, port = text.rpartition(":")
        if not sep:
            raise ValueError(f"--listen: expected HOST:PORT or PORT, got {text!r}")
    return Address(host or "127.0.0.1", _port(port, "--listen"))


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
