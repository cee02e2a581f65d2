"""TLS for the benchmark: one throw-away CA, and certificates from it for the upstream and the proxy.

With ``faultproxy bench --tls`` every hop is HTTPS: the load talks TLS to the proxy under test,
which terminates it and opens TLS to the upstream (verifying its certificate), as in front of
a real API. Direct is the load talking TLS to the upstream itself. Every certificate comes from
the same CA, so the peers are compared on the same work (same key type, same chain).
"""

from __future__ import annotations

import ssl
from pathlib import Path

from faultproxy.tls import LocalCA
from faultproxy.tls.ca import CERT_FILE

HOSTS = ("127.0.0.1", "localhost")


class BenchTLS:
    """The files in ``directory``: the CA as the proxy keeps its own (``ca.pem`` with the key,
    ``ca-cert.pem``: so ``FAULTPROXY_CONFIG_DIR=directory`` makes faultproxy mint from it),
    ``upstream.pem`` (key + chain), ``proxy-cert.pem`` and ``proxy-key.pem`` (nginx wants them apart)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.ca_file = self.directory / CERT_FILE
        self.upstream_pem = self.directory / "upstream.pem"
        self.proxy_cert = self.directory / "proxy-cert.pem"
        self.proxy_key = self.directory / "proxy-key.pem"

    @classmethod
    def create(cls, directory: str | Path) -> BenchTLS:
        tls = cls(directory)
        ca = LocalCA.load_or_create(tls.directory)
        upstream, proxy = ca.mint(*HOSTS), ca.mint(*HOSTS)
        tls.upstream_pem.write_bytes(upstream.key_pem + upstream.chain_pem)
        tls.proxy_cert.write_bytes(proxy.chain_pem)
        tls.proxy_key.write_bytes(proxy.key_pem)
        for path in (tls.upstream_pem, tls.proxy_key):
            path.chmod(0o600)
        return tls

    def upstream_context(self) -> ssl.SSLContext:
        """What the bench upstream serves with (TLS 1.2+, ALPN http/1.1)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])
        context.load_cert_chain(self.upstream_pem)
        return context

    def client_context(self) -> ssl.SSLContext:
        """What the load uses: trusts the CA, checks the name 127.0.0.1, offers http/1.1."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.set_alpn_protocols(["http/1.1"])
        return context
