"""TLS end to end for a scenario cell (``tls: true``) or the pytest plugin (``tls=True``).

As in front of a real API: the built-in server serves HTTPS posing as its API's host
(``api.openai.com``, ``api.anthropic.com``; the SSE servers as ``sse.faultproxy.test``) with a
certificate from a throw-away CA; the proxy reaches it through ``--resolve``, verifies it
against that CA only (``--upstream-ca``), and serves HTTPS itself (``--tls``) with a
certificate from the same CA; each client trusts that CA by its own setting
(:func:`~faultproxy.clients.harness.child_env`'s ``ca_file``). So every fault is exercised
inside TLS, on both sides of the proxy. docs/tls.md and docs/scenarios.md say more.

One CA per process (minting is cheap, making a CA is not); its certificate is written where
each cell or test keeps its files.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from faultproxy.net.stream_server import StreamServer
from faultproxy.tls import LocalCA, server_context

SSE_HOST = "sse.faultproxy.test"
CA_NAME = "ca-cert.pem"

_lock = threading.Lock()
_ca: LocalCA | None = None


def shared_ca() -> LocalCA:
    global _ca
    with _lock:
        if _ca is None:
            _ca = LocalCA.ephemeral()
        return _ca


def api_host(server: Any) -> str:
    """The host a built-in server poses as: the real API's for the mocks."""
    from faultproxy.servers.anthropic import AnthropicServer
    from faultproxy.servers.openai import OpenAIServer

    if isinstance(server, OpenAIServer):
        return "api.openai.com"
    if isinstance(server, AnthropicServer):
        return "api.anthropic.com"
    return SSE_HOST


class TLSWorld:
    """The CA, the server's certificate, and the proxy's TLS options for one cell or test."""

    def __init__(self, folder: Path):
        self.ca = shared_ca()
        self.ca_file = self.ca.write_cert(Path(folder) / CA_NAME)
        self.host = SSE_HOST

    def serve(self, server: Any, kind: str = "") -> None:
        """Make an unstarted built-in server serve HTTPS as its API's host."""
        if not isinstance(server, StreamServer):
            raise ValueError(
                f"tls: true needs a server faultproxy can serve over TLS; the {kind or 'given'} "
                "server cannot (use sse, openai, anthropic or llm)"
            )
        self.host = api_host(server)
        server.tls = server_context(self.ca.mint(self.host, "127.0.0.1"))

    def upstream(self, kind: str, port: int) -> str:
        return f"https://{self.host}:{port}"

    def proxy_options(self, kind: str, port: int) -> dict[str, Any]:
        """The proxy's TLS options: the server by name through --resolve, verified against the CA;
        HTTPS toward the clients."""
        return {
            "resolve": [f"{self.host}:{port}:127.0.0.1"],
            "upstream_ca": self.ca_file,
            "tls": True,
            "ca": self.ca,
        }
