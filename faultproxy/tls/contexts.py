"""The SSL contexts of the proxy: toward the upstream (client side) and toward clients (server side).

Upstream: SNI and certificate checks for the upstream's host name, ALPN ``http/1.1`` (the
relay speaks HTTP/1.1, and a server that would pick h2 must not), the system's trust store
or only ``--upstream-ca FILE`` (as curl's ``--cacert``), no checks at all only with
``--insecure``. Toward clients: a certificate for the name each client asks for (SNI), minted
by the :class:`~faultproxy.tls.ca.LocalCA`; a client that sends no SNI (an IP address, or an
old client) gets the certificate of the host the proxy expected (``--listen`` host, or the
``CONNECT`` target).

Both sides can write an NSS key log (``--keylog FILE``), which Wireshark reads to decrypt a
capture of the same traffic (see ``docs/tls.md``). The file holds the keys of every session:
it is created with mode ``0600``.
"""

from __future__ import annotations

import os
import ssl
import threading
import weakref
from pathlib import Path

from faultproxy.tls.ca import LEAF_CACHE, Leaf, LocalCA, normalize_host

ALPN = ["http/1.1"]


class TLSConfigError(ValueError):
    """A TLS option cannot be used (a CA file that is missing or holds no certificate, a key log
    that cannot be written); the message names the option and the file."""


def prepare_keylog(path: str | Path) -> str:
    """Create the key log file (mode 0600) if needed, so no session key is ever world-readable."""
    path = str(Path(path).expanduser())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as error:
        raise TLSConfigError(f"--keylog: cannot write {path}: {error.strerror or error}") from None
    os.close(fd)
    return path


def upstream_context(
    *, ca_file: str | Path | None = None, insecure: bool = False, keylog: str | Path | None = None
) -> ssl.SSLContext:
    """A client context for the upstream: verification on (system store, or only ``ca_file``)."""
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)
    except FileNotFoundError:
        raise TLSConfigError(f"--upstream-ca: no such file: {ca_file}") from None
    except (ssl.SSLError, OSError) as error:
        raise TLSConfigError(f"--upstream-ca: {ca_file} holds no usable PEM certificate ({error})") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(ALPN)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if keylog is not None:
        context.keylog_filename = prepare_keylog(keylog)
    return context


def server_context(leaf: Leaf, *, keylog: str | None = None) -> ssl.SSLContext:
    """A server context presenting ``leaf`` (TLS 1.2 or newer, ALPN ``http/1.1``).

    For a reference server posing as a real API: ``server_context(ca.mint("api.openai.com",
    "127.0.0.1"))``, then ``OpenAIServer(tls=context)``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(ALPN)
    leaf.load_into(context)
    if keylog is not None:
        context.keylog_filename = keylog
    return context


class ServerContexts:
    """Server-side contexts for the proxy's clients, one per host name, chosen by SNI.

    ``for_host(host)`` is the context to start a handshake with, presenting ``host``'s
    certificate; when the client's SNI names another host, the handshake switches to that
    host's context (OpenSSL's servername callback). Every context has the same settings
    (ALPN, key log): after the switch the new context's are the ones in force.
    """

    def __init__(self, ca: LocalCA, *, keylog: str | Path | None = None, cache_size: int = LEAF_CACHE):
        self.ca = ca
        self.cache_size = cache_size
        self.keylog = prepare_keylog(keylog) if keylog is not None else None
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._leaves: weakref.WeakKeyDictionary[ssl.SSLContext, Leaf] = weakref.WeakKeyDictionary()
        self._sni: weakref.WeakKeyDictionary[ssl.SSLObject, str] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def for_host(self, host: str) -> ssl.SSLContext:
        host = normalize_host(host)
        with self._lock:
            context = self._contexts.get(host)
        if context is not None:
            return context
        leaf = self.ca.leaf(host)
        context = server_context(leaf, keylog=self.keylog)
        context.sni_callback = self._on_sni
        with self._lock:
            made_meanwhile = self._contexts.get(host)
            if made_meanwhile is not None:  # by another thread: that one is the one in use
                return made_meanwhile
            self._contexts[host] = context
            self._leaves[context] = leaf
            if len(self._contexts) > self.cache_size:
                oldest = next(iter(self._contexts))
                del self._contexts[oldest]
        return context

    def _on_sni(self, connection: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> int | None:
        """OpenSSL's servername callback: remember the name, present its certificate."""
        if not name:
            return None
        self._sni[connection] = name
        if normalize_host(name) == getattr(self._leaves.get(context), "host", None):
            return None
        try:
            connection.context = self.for_host(name)
        except ValueError:  # not a name a certificate can hold: say so in the handshake
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        return None

    def sni_of(self, connection: ssl.SSLObject) -> str | None:
        """The server name the client sent in this handshake (None: it sent none)."""
        return self._sni.get(connection)

    def leaf_of(self, connection: ssl.SSLObject) -> Leaf | None:
        """The certificate this handshake presented."""
        return self._leaves.get(connection.context)
