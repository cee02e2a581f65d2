"""TLS for the proxy: the local CA, the SSL contexts, and TLS as a sans-IO layer.

- :mod:`~faultproxy.tls.ca`: the user's local CA (created on first use, kept in the config
  directory) that mints a certificate per host, cached;
- :mod:`~faultproxy.tls.contexts`: the upstream (client) context and the server contexts
  toward clients (a certificate chosen by SNI), with an NSS key log on request;
- :mod:`~faultproxy.tls.layer`: :class:`TLSLayer`, TLS over memory buffers, fed and drained
  by the connection core like any other layer;
- :mod:`~faultproxy.tls.facts`: what a handshake established, and why one failed.

How a user trusts the CA and reads a key log: ``docs/tls.md``.
"""

from faultproxy.tls.ca import CAError, Leaf, LocalCA, config_dir
from faultproxy.tls.contexts import ServerContexts, TLSConfigError, server_context, upstream_context
from faultproxy.tls.facts import HandshakeFacts, TLSFailure
from faultproxy.tls.layer import TLSLayer, TLSOutput

__all__ = [
    "CAError",
    "HandshakeFacts",
    "Leaf",
    "LocalCA",
    "ServerContexts",
    "TLSConfigError",
    "TLSFailure",
    "TLSLayer",
    "TLSOutput",
    "config_dir",
    "server_context",
    "upstream_context",
]
