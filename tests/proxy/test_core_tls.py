"""TLS and forward mode in the connection core: events in, commands out, no socket, no clock.

The core's two peers are real TLS endpoints over memory (:class:`~faultproxy.tls.TLSLayer`):
``app`` is the client application (it trusts the test CA), ``server`` the upstream (a
certificate for api.openai.com from that CA, or from another one). :class:`Loop` carries the
bytes each writes to the other through the core, as the adapter would carry socket reads and
writes, and records the core's commands (notes included) for the assertions.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import pytest
from playbook import Note, Recorder, Write

from faultproxy.faults import FaultSet, parse_fault
from faultproxy.net.addresses import Address
from faultproxy.proxy.core import ConnectionCore, RelayConfig
from faultproxy.proxy.forward import CONNECT_ESTABLISHED
from faultproxy.proxy.routing import make_routing
from faultproxy.proxy.states import CLIENT, UPSTREAM, Phase, Timer
from faultproxy.tls import LocalCA, ServerContexts, TLSLayer, server_context, upstream_context

HOST = "api.openai.com"
REQUEST = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer sk-1\r\nContent-Length: 2\r\n\r\n{}"
EVENTS = [b'data: {"n": %d}\n\n' % n for n in range(1, 4)]
RESPONSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@pytest.fixture(scope="module")
def ca() -> LocalCA:
    return LocalCA.ephemeral()


@pytest.fixture(scope="module")
def ca_file(ca, tmp_path_factory) -> str:
    return str(ca.write_cert(tmp_path_factory.mktemp("ca") / "ca.pem"))


@dataclass(frozen=True)
class WriteTLS:
    side: object


@dataclass(frozen=True)
class Secure:
    side: object


class Port(Recorder):
    """The recorder of the playbooks, that also carries bytes: what the core writes to a side
    (encrypted as its writer says) is queued toward that side's peer."""

    def __init__(self) -> None:
        super().__init__()
        self.to = {CLIENT: b"", UPSTREAM: b""}
        self.reads: dict = {}

    def writer(self, side, encrypt=None):
        def write(data: bytes) -> None:
            self.commands.append(Write(side, data))  # what the faults let out: plaintext
            self.to[side] += encrypt(data) if encrypt is not None else data

        return write

    def write_tls(self, side, records: bytes) -> None:
        self.commands.append(WriteTLS(side))
        self.to[side] += records

    def secure(self, side, decrypt) -> None:
        self.commands.append(Secure(side))
        plain = self.reads[side]
        self.reads[side] = lambda data: decrypt(data, plain)


class Loop:
    """A core between two in-memory peers (see the module docstring)."""

    def __init__(
        self,
        ca: LocalCA,
        routing,
        *,
        app_tls: bool = False,
        server_ca: LocalCA | None = None,
        faults=(),
        app_name: str = HOST,
        server_tls: bool = True,
    ):
        self.port = Port()
        self.clock = 0.0
        faultset = FaultSet([parse_fault(f, index=i) for i, f in enumerate(faults)])
        config = RelayConfig(None, False, 10.0, 5.0, routing=routing)
        self.core = ConnectionCore(config, faultset, 1, self.port, lambda: self.clock)
        self.port.reads = {CLIENT: self.core.from_client, UPSTREAM: self.core.from_upstream}
        self.ca = ca
        self.app: TLSLayer | None = None
        self.app_name = app_name if app_tls else None
        contexts = ServerContexts(server_ca or ca)
        self.server = TLSLayer.server(contexts, HOST) if server_tls else None
        self.got = {CLIENT: b"", UPSTREAM: b""}  # plaintext each peer received
        self.closed = {CLIENT: False, UPSTREAM: False}  # the peer got a close_notify

    def app_tls(self, name: str = HOST) -> None:
        """The client application starts its TLS handshake with the proxy."""
        trust = ssl.create_default_context()
        self.ca.trust(trust)
        self.app = TLSLayer.client(trust, name)
        self.feed(CLIENT, self.app.start().send)
        self.pump()

    def notes(self, kind: str) -> list[dict]:
        return [c.fields for c in self.port.commands if isinstance(c, Note) and c.kind == kind]

    def feed(self, side, data: bytes) -> None:
        """Bytes from ``side``'s peer reach the core, as a socket read."""
        if data:
            self.port.reads[side](data)

    def send(self, side, plaintext: bytes) -> None:
        peer = self.app if side is CLIENT else self.server
        self.feed(side, peer.send(plaintext) if peer is not None else plaintext)
        self.pump()

    def pump(self) -> None:
        for _ in range(50):
            moved = False
            for side, peer in ((CLIENT, self.app), (UPSTREAM, self.server)):
                data, self.port.to[side] = self.port.to[side], b""
                if not data:
                    continue
                moved = True
                if peer is None:
                    self.got[side] += data
                    continue
                out = peer.receive(data)
                self.got[side] += out.data
                self.closed[side] |= out.closed
                self.feed(side, out.send)
            if not moved:
                return
        raise AssertionError("the peers kept talking")

    def start(self) -> None:
        self.core.opened()
        if self.app_name is not None:
            self.app_tls(self.app_name)
        self.pump()

    def connect(self) -> None:
        self.core.connected()
        self.pump()


def reverse(ca_file, **options):
    return make_routing(f"https://{HOST}", resolve=[f"{HOST}:443:127.0.0.1"], upstream_ca=ca_file, **options)


def test_an_https_upstream_is_connected_once_its_handshake_is_done_and_gets_its_own_host(ca, ca_file):
    loop = Loop(ca, reverse(ca_file))
    loop.core.opened()
    connect = [c for c in loop.port.commands if type(c).__name__ == "Connect"]
    assert connect[0].target == Address("127.0.0.1", 443, "https")  # --resolve: the address, not DNS
    loop.send(CLIENT, REQUEST)  # the request waits for the upstream
    loop.connect()
    assert loop.core.phase is Phase.RELAYING
    assert [loop.notes("tls")[0][k] for k in ("side", "sni", "alpn")] == ["upstream", HOST, "http/1.1"]
    assert loop.got[UPSTREAM] == REQUEST.replace(b"127.0.0.1:8080", HOST.encode())
    loop.send(UPSTREAM, RESPONSE_HEAD + chunk(EVENTS[0]))
    assert loop.got[CLIENT] == RESPONSE_HEAD + chunk(EVENTS[0])


def test_the_client_waits_during_the_upstream_handshake(ca, ca_file):
    loop = Loop(ca, reverse(ca_file))
    loop.core.opened()
    loop.core.connected()  # TCP made; the ClientHello is out, no answer yet
    assert loop.core.phase is Phase.HANDSHAKING and loop.port.armed.get(Timer.UPSTREAM_TLS) == 10.0
    loop.feed(CLIENT, REQUEST)
    assert loop.port.commands[-1].__class__.__name__ == "Pause" and loop.core.early == [REQUEST]
    loop.pump()
    assert loop.core.phase is Phase.RELAYING and Timer.UPSTREAM_TLS not in loop.port.armed
    assert b"POST /v1/chat/completions" in loop.got[UPSTREAM]


@pytest.mark.parametrize(
    "case, words",
    [
        ("another CA", "certificate verify failed: self-signed certificate in certificate chain"),
        ("wrong host", "certificate verify failed: Hostname mismatch"),
        ("timeout", "timed out: no answer within 10s"),
        ("closed", "the peer closed the connection during the handshake"),
    ],
)
def test_a_failed_upstream_handshake_is_a_502_naming_the_host_and_the_reason(ca, ca_file, case, words):
    routing = reverse(ca_file)
    loop = Loop(ca, routing, server_ca=LocalCA.ephemeral() if case == "another CA" else None)
    if case == "wrong host":  # a server that presents another name's certificate, whatever the SNI
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = server_context(ca.mint("other.example.test")).wrap_bio(incoming, outgoing, server_side=True)
        loop.server = TLSLayer(obj, incoming, outgoing, "client")
    loop.core.opened()
    loop.send(CLIENT, REQUEST)
    if case == "timeout":
        loop.core.connected()
        loop.clock = 10.0
        loop.core.timer_fired(Timer.UPSTREAM_TLS)
        loop.pump()
    elif case == "closed":
        loop.core.connected()
        loop.core.eof(UPSTREAM)
        loop.pump()
    else:
        loop.connect()
    head, _, body = loop.got[CLIENT].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 502 Bad Gateway")
    assert body.startswith(f"faultproxy: TLS handshake with {HOST}:443 ".encode()) and words.encode() in body
    error = loop.notes("upstream_error")[0]
    assert words in error["reason"] and error["tls"] in ("verification", "wrong_host", "timeout", "closed")
    assert b"POST" not in loop.got[UPSTREAM]  # the request never left the proxy
    assert loop.core.phase is Phase.ANSWERED


def test_tls_toward_the_client_then_plaintext_through_the_faults(ca, ca_file):
    routing = make_routing("http://127.0.0.1:8000", tls=True, ca=ca)
    loop = Loop(
        ca,
        routing,
        app_tls=True,
        server_tls=False,
        faults=[{"type": "sse_drop", "attributes": {"event_index": 1}}],
    )
    loop.start()
    assert loop.notes("tls")[0]["side"] == "client" and loop.notes("tls")[0]["sni"] == HOST
    loop.connect()
    loop.send(CLIENT, REQUEST)
    assert loop.got[UPSTREAM] == REQUEST  # a plain-HTTP upstream: the head as sent
    loop.send(UPSTREAM, RESPONSE_HEAD + b"".join(chunk(e) for e in EVENTS))
    assert (
        loop.got[CLIENT].count(b"data:") == 2 and b'"n": 2' not in loop.got[CLIENT]
    )  # the fault, inside TLS


def test_plain_http_sent_to_the_tls_port_gets_a_plain_400(ca):
    loop = Loop(ca, make_routing("http://127.0.0.1:8000", tls=True, ca=ca), server_tls=False)
    loop.start()
    loop.send(CLIENT, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert loop.got[CLIENT].startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"plain HTTP request was sent to the HTTPS port" in loop.got[CLIENT]
    assert loop.notes("tls_failed")[0]["side"] == "client" and loop.core.phase is Phase.CLOSING


def test_a_client_handshake_that_never_ends_is_closed_when_its_timer_fires(ca):
    loop = Loop(ca, make_routing("http://127.0.0.1:8000", tls=True, ca=ca), server_tls=False)
    loop.start()
    assert loop.port.armed[Timer.CLIENT_TLS] == 10.0
    loop.clock = 10.0
    loop.core.timer_fired(Timer.CLIENT_TLS)
    assert loop.notes("tls_failed")[0]["failure"] == "timeout" and loop.core.phase is Phase.CLOSING


@pytest.mark.parametrize("clean", [True, False])
def test_close_notify_and_a_bare_fin_stay_apart(ca, ca_file, clean):
    loop = Loop(ca, reverse(ca_file, tls=True, ca=ca), app_tls=True)
    loop.start()
    loop.connect()
    loop.send(CLIENT, REQUEST)
    loop.send(UPSTREAM, b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" + EVENTS[0])
    if clean:
        loop.feed(UPSTREAM, loop.server.close())
    loop.core.eof(UPSTREAM)
    loop.pump()
    assert loop.got[CLIENT].endswith(EVENTS[0])
    assert loop.closed[CLIENT] is clean  # the client sees a truncation exactly when the upstream made one
    assert bool(loop.notes("tls_close_notify")) is clean


def test_forward_mode_intercepts_a_connect_and_relays_inside_with_faults(ca, ca_file):
    routing = make_routing(None, forward=True, resolve=[f"{HOST}:443:127.0.0.1"], upstream_ca=ca_file, ca=ca)
    loop = Loop(ca, routing, faults=[{"type": "sse_disconnect", "attributes": {"after_events": 1}}])
    loop.start()
    assert loop.core.phase is Phase.TARGET and not [
        c for c in loop.port.commands if type(c).__name__ == "Connect"
    ]
    loop.send(CLIENT, f"CONNECT {HOST}:443 HTTP/1.1\r\nHost: {HOST}:443\r\n\r\n".encode())
    assert loop.core.phase is Phase.CONNECTING
    loop.connect()
    assert loop.got[CLIENT] == CONNECT_ESTABLISHED
    loop.app_tls()  # the client's TLS inside the tunnel: intercepted
    loop.pump()
    assert {n["side"] for n in loop.notes("tls")} == {"client", "upstream"}
    assert loop.notes("tunnel") == [{"host": HOST, "carries": "intercept"}]
    request = REQUEST.replace(b"127.0.0.1:8080", HOST.encode())
    loop.send(CLIENT, request)
    assert loop.got[UPSTREAM] == request
    loop.send(UPSTREAM, RESPONSE_HEAD + b"".join(chunk(e) for e in EVENTS))
    assert loop.got[CLIENT].count(b"data:") == 1  # sse_disconnect cut the stream, inside TLS


def test_forward_mode_tunnels_a_host_it_does_not_intercept_as_bytes(ca, ca_file):
    routing = make_routing(None, forward=True, resolve=[f"{HOST}:443:127.0.0.1"], no_intercept=[HOST], ca=ca)
    loop = Loop(ca, routing)
    loop.start()
    loop.send(CLIENT, f"CONNECT {HOST}:443 HTTP/1.1\r\n\r\n".encode())
    loop.connect()
    hello = TLSLayer.client(upstream_context(), HOST).start().send
    loop.feed(CLIENT, hello)
    assert loop.notes("tunnel") == [{"host": HOST, "carries": "tcp"}]
    assert loop.port.to[UPSTREAM] == hello  # the ClientHello, as it came


def test_forward_mode_sends_an_absolute_form_request_on_in_origin_form(ca):
    loop = Loop(ca, make_routing(None, forward=True, no_intercept=["*"]), server_tls=False)
    loop.start()
    loop.send(
        CLIENT,
        b"GET http://127.0.0.1:8000/events?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
        b"Proxy-Connection: keep-alive\r\n\r\n",
    )
    connect = [c for c in loop.port.commands if type(c).__name__ == "Connect"]
    assert connect == [type(connect[0])(Address("127.0.0.1", 8000, "http"))]
    loop.connect()
    assert loop.got[UPSTREAM] == b"GET /events?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"


def test_forward_mode_refuses_what_is_no_proxy_request(ca):
    loop = Loop(ca, make_routing(None, forward=True, no_intercept=["*"]), server_tls=False)
    loop.start()
    loop.send(CLIENT, b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
    assert loop.got[CLIENT].startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")
    assert loop.core.phase is Phase.ANSWERED


def test_a_connect_that_cannot_be_made_is_a_502_with_the_reason(ca):
    loop = Loop(ca, make_routing(None, forward=True, no_intercept=["*"]), server_tls=False)
    loop.start()
    loop.send(CLIENT, b"CONNECT db.example.test:5432 HTTP/1.1\r\n\r\n")
    loop.core.connect_failed("connection refused")
    loop.pump()
    assert loop.got[CLIENT].startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert loop.got[CLIENT].endswith(
        b"faultproxy: upstream db.example.test:5432 unreachable: connection refused\n"
    )
