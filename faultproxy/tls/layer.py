"""TLS as a sans-IO layer: ciphertext in from a socket, plaintext out, and back.

The proxy's connection core never touches a socket (see ``docs/tls.md``): it is fed what a
socket read and says what to write. TLS fits that shape through OpenSSL's memory BIOs
(:class:`ssl.MemoryBIO` + :class:`ssl.SSLObject`): :class:`TLSLayer` is fed the bytes that
arrived from the peer (:meth:`~TLSLayer.receive`) and returns a :class:`TLSOutput` -- the
ciphertext to write back (handshake messages, alerts, session tickets), the handshake's
facts the moment it completes, the plaintext that arrived, whether the peer sent its
``close_notify``, and the :class:`~faultproxy.tls.facts.TLSFailure` if the handshake or the
record layer failed. Plaintext to send goes through :meth:`~TLSLayer.send`, which returns
the records to write. No timer, no socket, no event loop: a handshake timeout is the core's
timer, reported with :meth:`~TLSLayer.time_out`.

So the relay and every fault work on plaintext exactly as without TLS; TLS only changes
what the two sockets carry. Each :meth:`~TLSLayer.send` becomes its own TLS record(s), so a
fault that slices or delays the plaintext slices and delays what the client decrypts.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from cryptography import x509

from faultproxy.tls.ca import is_ip, normalize_host
from faultproxy.tls.contexts import ServerContexts
from faultproxy.tls.facts import PROTOCOL, HandshakeFacts, TLSFailure

READ_SIZE = 65536  # plaintext bytes per SSLObject.read (one TLS record holds at most 16 KiB)

HANDSHAKING, OPEN, FAILED = "handshaking", "open", "failed"


@dataclass(slots=True)
class TLSOutput:
    """What one step of the layer produced, in the order the caller acts on it:
    write ``send`` to the socket, then note ``handshake``, pass ``data`` on, then ``closed``
    (the peer's ``close_notify``: no more data from it) and ``failure`` (the layer is dead;
    ``send`` may still hold the alert that tells the peer why)."""

    send: bytes = b""
    handshake: HandshakeFacts | None = None
    data: bytes = b""
    closed: bool = False
    failure: TLSFailure | None = None


class TLSLayer:
    """One TLS connection over memory buffers: the client side toward an upstream, or the server
    side toward a client (:meth:`client`, :meth:`server`).

    ``state`` is ``handshaking``, ``open`` or ``failed``. Plaintext given to :meth:`send`
    during the handshake is kept and sent as soon as the handshake completes (in the
    ``send`` of the output that reports it), so the core may pass a client's bytes on before
    the upstream's handshake is done; ``pending`` says how many bytes wait.
    ``peer_closed`` says the peer sent ``close_notify``; a connection that ends with a
    TCP FIN and no ``close_notify`` (:meth:`receive_eof`) was truncated, which the core can
    pass on as it was (a FIN without ``close_notify``) rather than tidy it up.
    """

    __slots__ = (
        "_contexts",
        "_in",
        "_obj",
        "_out",
        "_pending",
        "closed_by_us",
        "facts",
        "peer_closed",
        "pending",
        "side",
        "state",
    )

    def __init__(
        self,
        obj: ssl.SSLObject,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        side: str,
        contexts: ServerContexts | None = None,
    ):
        self._obj, self._in, self._out = obj, incoming, outgoing
        self._contexts = contexts
        self._pending: list[bytes] = []
        self.pending = 0
        self.side = side  # "upstream": we are the TLS client; "client": we are the TLS server
        self.state = HANDSHAKING
        self.facts: HandshakeFacts | None = None
        self.peer_closed = False
        self.closed_by_us = False

    @classmethod
    def client(cls, context: ssl.SSLContext, server_hostname: str) -> TLSLayer:
        """Toward an upstream: SNI and certificate check for ``server_hostname`` (an IP address is
        checked against the certificate's IP entries and sends no SNI, as RFC 6066 says)."""
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = context.wrap_bio(incoming, outgoing, server_side=False, server_hostname=server_hostname)
        return cls(obj, incoming, outgoing, "upstream")

    @classmethod
    def server(cls, contexts: ServerContexts, host: str) -> TLSLayer:
        """Toward a client: presents ``host``'s certificate, or the one its SNI asks for."""
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = contexts.for_host(host).wrap_bio(incoming, outgoing, server_side=True)
        return cls(obj, incoming, outgoing, "client", contexts)

    # -- events in --------------------------------------------------------------------------------

    def start(self) -> TLSOutput:
        """Begin the handshake: the client's ``ClientHello`` (a server side has nothing to say yet)."""
        return self._step(TLSOutput())

    def receive(self, data: bytes) -> TLSOutput:
        """Bytes read from the peer's socket."""
        if self.state == FAILED:
            return TLSOutput()
        self._in.write(data)
        return self._step(TLSOutput())

    def receive_eof(self) -> TLSOutput:
        """The peer's TCP FIN. During the handshake that is a failure; after it, the end of the
        peer's data, with or without a ``close_notify`` before it (see :attr:`peer_closed`)."""
        if self.state == HANDSHAKING:
            self.state = FAILED
            return TLSOutput(failure=TLSFailure.closed())
        return TLSOutput(closed=self.state == OPEN)

    def time_out(self, seconds: float) -> TLSFailure | None:
        """The core's handshake timer fired: the failure to report, or None if the handshake is done."""
        if self.state != HANDSHAKING:
            return None
        self.state = FAILED
        return TLSFailure.timeout(seconds)

    # -- commands out -----------------------------------------------------------------------------

    def send(self, data: bytes) -> bytes:
        """Plaintext to the peer; returns the TLS records to write (``b""`` while the handshake
        runs: the data waits, see :attr:`pending`). After :meth:`close` or a failure it is dropped."""
        if self.state == HANDSHAKING:
            self._pending.append(data)
            self.pending += len(data)
            return b""
        if self.state == FAILED or self.closed_by_us or not data:
            return b""
        try:
            self._obj.write(data)  # a memory BIO takes everything at once: no partial writes
        except ssl.SSLError:
            self.state = FAILED
        return self._out.read()

    def close(self) -> bytes:
        """Our ``close_notify`` (once); the caller then sends a FIN, or keeps reading the peer's."""
        if self.state != OPEN or self.closed_by_us:
            return b""
        self.closed_by_us = True
        try:
            self._obj.unwrap()
        except ssl.SSLWantReadError:
            pass  # the peer's close_notify has not come: we do not wait for it
        except ssl.SSLError:
            self.state = FAILED
        return self._out.read()

    # -- the work ---------------------------------------------------------------------------------

    def _step(self, out: TLSOutput) -> TLSOutput:
        if self.state == HANDSHAKING:
            try:
                self._obj.do_handshake()
            except ssl.SSLWantReadError:
                out.send = self._out.read()
                return out
            except ssl.SSLError as error:
                self.state = FAILED
                out.failure = TLSFailure.from_error(error)
                out.send = self._out.read()  # the alert that tells the peer why
                return out
            self.state = OPEN
            out.handshake = self.facts = self._facts()
            if self._pending:
                self._obj.write(b"".join(self._pending))
                self._pending.clear()
                self.pending = 0
        self._read(out)
        out.send += self._out.read()
        return out

    def _read(self, out: TLSOutput) -> None:
        chunks: list[bytes] = []
        read, incoming = self._obj.read, self._in
        while True:
            try:
                chunk = read(READ_SIZE)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                chunk = b""
            except ssl.SSLError as error:
                self.state = FAILED
                out.failure = TLSFailure(PROTOCOL, TLSFailure.from_error(error).reason)
                break
            if not chunk:  # read() returns nothing only once the peer's close_notify has come
                self.peer_closed = out.closed = True
                break
            chunks.append(chunk)
            if not incoming.pending and not self._obj.pending():
                break  # all read: asking again would only raise SSLWantReadError, which costs
        out.data = b"".join(chunks) if len(chunks) != 1 else chunks[0]

    def _facts(self) -> HandshakeFacts:
        obj = self._obj
        cipher = obj.cipher()
        if self._contexts is not None:
            leaf = self._contexts.leaf_of(obj)
            sni = self._contexts.sni_of(obj)
            certificate = leaf.subject if leaf is not None else None
        else:
            name = obj.server_hostname
            sni = name if name and not is_ip(normalize_host(name)) else None
            der = obj.getpeercert(binary_form=True)
            certificate = x509.load_der_x509_certificate(der).subject.rfc4514_string() if der else None
        return HandshakeFacts(
            side=self.side,
            sni=sni,
            alpn=obj.selected_alpn_protocol(),
            version=obj.version(),
            cipher=cipher[0] if cipher else None,
            certificate=certificate,
        )
