"""What a TLS handshake established, and why one failed, in words a user can act on.

:class:`HandshakeFacts` goes into captures next to the decrypted bytes (SNI, ALPN, version,
cipher, the server certificate's subject). :class:`TLSFailure` is what the proxy's ``502``
and its log say when a handshake fails: a *kind* a program can test (``verification``,
``wrong_host``, ``handshake``, ``timeout``, ``closed``, ``protocol``) and a *reason* for people, e.g.
``certificate verify failed: unable to get local issuer certificate``.
"""

from __future__ import annotations

import ssl
from dataclasses import asdict, dataclass
from typing import Any

# TLSFailure.kind
HANDSHAKE = "handshake"  # the handshake failed: an alert, no common version or cipher, not TLS at all
VERIFICATION = "verification"  # the peer's certificate is not trusted (issuer unknown, expired, ...)
WRONG_HOST = "wrong_host"  # the certificate is valid, but not for the name we asked for
TIMEOUT = "timeout"  # the handshake did not finish in time
CLOSED = "closed"  # the peer closed the connection during the handshake
PROTOCOL = "protocol"  # after the handshake: a record that does not decrypt, an alert from the peer

_HOSTNAME_MISMATCH = 62  # X509_V_ERR_HOSTNAME_MISMATCH
_IP_MISMATCH = 64  # X509_V_ERR_IP_ADDRESS_MISMATCH

# OpenSSL's reason codes, said so that the user knows what to look at
_REASONS = {
    "WRONG_VERSION_NUMBER": "the peer does not speak TLS (plain HTTP on a TLS port?)",
    "HTTP_REQUEST": "the client sent plain HTTP to a TLS port (use https://, or drop --tls)",
    "TLSV1_ALERT_UNKNOWN_CA": "the peer does not trust our certificate (unknown CA): "
    "trust the faultproxy CA, see 'faultproxy ca path'",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the peer rejected our certificate (bad certificate alert)",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the peer rejected our certificate (certificate unknown alert)",
    "UNSUPPORTED_PROTOCOL": "no TLS version in common",
    "TLSV1_ALERT_PROTOCOL_VERSION": "no TLS version in common (protocol version alert)",
    "NO_SHARED_CIPHER": "no cipher suite in common",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "the peer ended the handshake (handshake failure alert)",
    "TLSV1_ALERT_NO_APPLICATION_PROTOCOL": "no application protocol in common (ALPN: we offer only http/1.1)",
    "NO_APPLICATION_PROTOCOL": "no application protocol in common (ALPN: we offer only http/1.1)",
    "TLSV1_UNRECOGNIZED_NAME": "the peer does not serve this host name (unrecognized name alert)",
    "TLSV1_ALERT_INTERNAL_ERROR": "the peer had an internal error (internal error alert)",
}


@dataclass(frozen=True, slots=True)
class HandshakeFacts:
    """One completed handshake, on one side of the proxy.

    ``side`` is the socket it was made on: ``client`` (the proxy was the TLS server) or
    ``upstream`` (the proxy was the client). ``certificate`` is the subject of the server's
    certificate in that handshake: the minted leaf toward the client, the real server's toward
    the upstream.
    """

    side: str
    sni: str | None
    alpn: str | None
    version: str | None
    cipher: str | None
    certificate: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class TLSFailure:
    """Why a handshake failed: ``kind`` (one of the constants above) and ``reason`` (words)."""

    kind: str
    reason: str

    def describe(self, peer: str) -> str:
        """The sentence for the 502 and the log: ``TLS handshake with api.openai.com:443 failed: ...``."""
        if self.kind == TIMEOUT:
            return f"TLS handshake with {peer} timed out: {self.reason}"
        if self.kind == PROTOCOL:
            return f"TLS connection with {peer} broke: {self.reason}"
        return f"TLS handshake with {peer} failed: {self.reason}"

    @classmethod
    def from_error(cls, error: BaseException) -> TLSFailure:
        if isinstance(error, ssl.SSLCertVerificationError):
            message = error.verify_message or error.reason or str(error)
            if error.verify_code in (_HOSTNAME_MISMATCH, _IP_MISMATCH):
                return cls(WRONG_HOST, f"certificate verify failed: {message}")
            return cls(VERIFICATION, f"certificate verify failed: {message}")
        if isinstance(error, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            return cls.closed()
        if isinstance(error, ssl.SSLError):
            reason = error.reason or ""
            return cls(HANDSHAKE, _REASONS.get(reason) or _plain(reason, error))
        return cls(HANDSHAKE, str(error) or type(error).__name__)

    @classmethod
    def timeout(cls, seconds: float) -> TLSFailure:
        return cls(TIMEOUT, f"no answer within {seconds:g}s")

    @classmethod
    def closed(cls) -> TLSFailure:
        return cls(CLOSED, "the peer closed the connection during the handshake")


def _plain(reason: str, error: ssl.SSLError) -> str:
    if reason:
        return reason.lower().replace("_", " ")
    return str(error) or type(error).__name__
