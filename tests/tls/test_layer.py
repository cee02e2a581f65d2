"""The sans-IO TLS layer, both sides of real handshakes over memory buffers: no socket anywhere.

A client :class:`TLSLayer` (the proxy toward an upstream) talks to a server :class:`TLSLayer`
(the proxy toward a client, certificates from a :class:`LocalCA`); :class:`Wire` carries what
each says to the other, in whatever pieces a test chooses, as a socket would.
"""

from __future__ import annotations

import ssl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faultproxy.tls import LocalCA, ServerContexts, TLSLayer, upstream_context
from faultproxy.tls.facts import CLOSED, HANDSHAKE, PROTOCOL, TIMEOUT, VERIFICATION, WRONG_HOST
from faultproxy.tls.layer import FAILED, OPEN


@pytest.fixture(scope="module")
def ca() -> LocalCA:
    return LocalCA.ephemeral()


@pytest.fixture(scope="module")
def contexts(ca: LocalCA) -> ServerContexts:
    return ServerContexts(ca)


def trusting(ca: LocalCA, **options) -> ssl.SSLContext:
    context = upstream_context(**options)
    ca.trust(context)
    return context


class Wire:
    """Two layers and what each has received so far; ``run`` exchanges bytes until both are quiet."""

    def __init__(self, client: TLSLayer, server: TLSLayer, split=None):
        self.client, self.server = client, server
        self.split = split or (lambda data: [data])
        self.outputs = {"client": [], "server": []}
        self.plain = {"client": b"", "server": b""}
        self.to = {"client": b"", "server": b""}  # ciphertext in flight toward each

    def note(self, who: str, out) -> None:
        self.outputs[who].append(out)
        self.plain[who] += out.data
        self.to["server" if who == "client" else "client"] += out.send

    def run(self, limit: int = 50) -> None:
        for _ in range(limit):
            if not self.to["client"] and not self.to["server"]:
                return
            for who, layer in (("server", self.server), ("client", self.client)):
                data, self.to[who] = self.to[who], b""
                for piece in self.split(data):
                    self.note(who, layer.receive(piece))
        raise AssertionError("the layers kept talking")

    def handshake(self) -> None:
        self.note("client", self.client.start())
        self.run()

    def facts(self, who: str):
        return next(o.handshake for o in self.outputs[who] if o.handshake is not None)

    def failure(self, who: str):
        return next((o.failure for o in self.outputs[who] if o.failure is not None), None)


def pair(
    ca: LocalCA,
    contexts: ServerContexts,
    *,
    name="api.example.test",
    expect="api.example.test",
    split=None,
    **options,
) -> Wire:
    return Wire(TLSLayer.client(trusting(ca, **options), name), TLSLayer.server(contexts, expect), split)


def test_a_handshake_reports_its_facts_on_both_sides(ca, contexts):
    wire = pair(ca, contexts)
    wire.handshake()
    assert wire.client.state == wire.server.state == OPEN
    up, down = wire.facts("client"), wire.facts("server")
    assert up.side == "upstream" and down.side == "client"
    assert up.sni == down.sni == "api.example.test"
    assert up.alpn == down.alpn == "http/1.1"
    assert up.version == down.version == "TLSv1.3"
    assert up.cipher == down.cipher and up.cipher.startswith("TLS_")
    assert up.certificate == down.certificate
    assert "CN=api.example.test" in up.certificate and "O=faultproxy" in up.certificate


def test_plaintext_crosses_both_ways_exactly(ca, contexts):
    wire = pair(ca, contexts)
    wire.handshake()
    request = b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.example.test\r\n\r\n"
    wire.to["server"] += wire.client.send(request)
    wire.run()
    assert wire.plain["server"] == request
    body = bytes(range(256)) * 1000  # larger than one TLS record (16 KiB)
    wire.to["client"] += wire.server.send(body)
    wire.run()
    assert wire.plain["client"] == body


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=30),
    st.binary(min_size=1, max_size=3000),
)
def test_any_split_of_the_ciphertext_gives_the_same_plaintext(ca, contexts, cuts, payload):
    def split(data: bytes) -> list[bytes]:  # the socket hands the bytes over in these sizes, round robin
        pieces, i, k = [], 0, 0
        while i < len(data):
            pieces.append(data[i : i + cuts[k % len(cuts)]])
            i += cuts[k % len(cuts)]
            k += 1
        return pieces

    wire = pair(ca, contexts, split=split)
    wire.handshake()
    assert wire.client.state == wire.server.state == OPEN
    for part in (payload[: len(payload) // 2], payload[len(payload) // 2 :]):
        wire.to["client"] += wire.server.send(part)
    wire.run()
    assert wire.plain["client"] == payload


def test_each_send_is_its_own_record_so_a_slicing_fault_still_slices(ca, contexts):
    wire = pair(ca, contexts)
    wire.handshake()
    records = [wire.server.send(bytes([b])) for b in b"data: hi\n\n"]
    assert all(records)  # one record per byte, nothing held back
    delivered = []
    for record in records:
        delivered.append(wire.client.receive(record).data)
    assert delivered == [bytes([b]) for b in b"data: hi\n\n"]


def test_plaintext_sent_during_the_handshake_goes_out_when_it_completes(ca, contexts):
    wire = pair(ca, contexts)
    assert wire.client.send(b"GET / HTTP/1.1\r\n\r\n") == b""
    assert wire.client.pending == 18
    wire.handshake()
    assert wire.client.pending == 0
    assert wire.plain["server"] == b"GET / HTTP/1.1\r\n\r\n"


def test_sni_chooses_the_certificate(ca, contexts):
    wire = pair(ca, contexts, name="api.anthropic.test", expect="connect-target.test")
    wire.handshake()
    assert wire.client.state == OPEN  # verified for the name the client asked for
    assert "CN=api.anthropic.test" in wire.facts("server").certificate


def test_an_sni_no_certificate_can_hold_is_refused_with_an_alert(ca, contexts):
    context = trusting(ca)
    context.check_hostname = False  # so that the client sends a name no certificate could carry
    wire = Wire(TLSLayer.client(context, "bad_name!.test"), TLSLayer.server(contexts, "api.example.test"))
    wire.handshake()
    assert wire.server.state == wire.client.state == FAILED
    assert "unrecognized name" in wire.failure("client").reason


def test_no_sni_gets_the_expected_hosts_certificate(ca, contexts):
    wire = pair(ca, contexts, name="127.0.0.1", expect="127.0.0.1")
    wire.handshake()
    assert wire.client.state == OPEN
    assert wire.facts("client").sni is None and wire.facts("server").sni is None


def test_close_notify_is_reported_apart_from_a_bare_fin(ca, contexts):
    wire = pair(ca, contexts)
    wire.handshake()
    out = wire.client.receive(wire.server.close())
    assert out.closed and wire.client.peer_closed
    assert wire.client.receive_eof().closed

    wire = pair(ca, contexts)
    wire.handshake()
    out = wire.client.receive_eof()  # FIN without close_notify: truncated
    assert out.closed and not wire.client.peer_closed


def test_an_untrusted_certificate_fails_verification_and_the_server_learns_why(ca, contexts):
    other = LocalCA.ephemeral()
    wire = Wire(
        TLSLayer.client(trusting(other), "api.example.test"), TLSLayer.server(contexts, "api.example.test")
    )
    wire.handshake()
    failure = wire.failure("client")
    assert wire.client.state == FAILED
    assert failure.kind == VERIFICATION
    assert "self-signed certificate in certificate chain" in failure.reason  # the CA comes with the leaf
    assert failure.describe("api.example.test:443").startswith(
        "TLS handshake with api.example.test:443 failed: "
    )
    # the client's alert reached the server: it names the cause too
    assert wire.failure("server").kind == HANDSHAKE
    assert "unknown CA" in wire.failure("server").reason


def fixed_server(ca: LocalCA, host: str) -> TLSLayer:
    """A server with one certificate, whatever name the client asks for (no SNI choice)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.leaf(host).load_into(context)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    return TLSLayer(context.wrap_bio(incoming, outgoing, server_side=True), incoming, outgoing, "client")


def test_a_certificate_for_another_host_is_the_wrong_host(ca):
    wire = Wire(TLSLayer.client(trusting(ca), "api.example.test"), fixed_server(ca, "elsewhere.test"))
    wire.handshake()
    failure = wire.failure("client")
    assert failure.kind == WRONG_HOST
    assert "api.example.test" in failure.reason


def test_insecure_accepts_what_verification_refuses(ca, contexts):
    other = LocalCA.ephemeral()
    client = TLSLayer.client(upstream_context(insecure=True), "api.example.test")
    wire = Wire(client, TLSLayer.server(ServerContexts(other), "api.example.test"))
    wire.handshake()
    assert wire.client.state == OPEN
    assert "CN=api.example.test" in wire.facts("client").certificate  # still reported, unverified


def test_plain_http_to_the_tls_side_is_named(contexts):
    server = TLSLayer.server(contexts, "api.example.test")
    out = server.receive(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert out.failure.kind == HANDSHAKE
    assert "plain HTTP" in out.failure.reason


def test_a_server_that_does_not_speak_tls_is_named(ca):
    client = TLSLayer.client(trusting(ca), "api.example.test")
    client.start()
    out = client.receive(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    assert out.failure.kind == HANDSHAKE
    assert "does not speak TLS" in out.failure.reason


def test_a_fin_during_the_handshake_and_a_timeout(ca):
    client = TLSLayer.client(trusting(ca), "api.example.test")
    client.start()
    assert client.receive_eof().failure.kind == CLOSED
    assert client.time_out(10) is None  # already failed: nothing more to report

    client = TLSLayer.client(trusting(ca), "api.example.test")
    client.start()
    failure = client.time_out(2.5)
    assert (
        failure.kind == TIMEOUT
        and failure.describe("h:443") == "TLS handshake with h:443 timed out: no answer within 2.5s"
    )
    assert client.receive(b"\x16\x03\x03").failure is None and client.state == FAILED


def test_a_corrupted_record_after_the_handshake_is_a_protocol_failure(ca, contexts):
    wire = pair(ca, contexts)
    wire.handshake()
    record = bytearray(wire.server.send(b"data: 1\n\n"))
    record[-1] ^= 0xFF  # one flipped bit: the record no longer authenticates
    out = wire.client.receive(bytes(record))
    assert out.failure.kind == PROTOCOL and out.data == b""
    assert out.failure.describe("h:443").startswith("TLS connection with h:443 broke: ")
    assert wire.client.send(b"more") == b""  # a failed layer sends nothing more
