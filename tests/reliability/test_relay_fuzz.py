"""Both sides of the relay fuzzed through real sockets: hostile requests from clients, hostile
responses from the upstream. The proxy never crashes or hangs, a hostile response reaches the
client as the bytes it was (the response side is lenient on purpose: garbage is the product),
and after every example a healthy stream through the same proxy still arrives byte for byte.

One proxy and one upstream live for the whole test (they must survive everything); hypothesis
tries ``FAULTPROXY_FUZZ_EXAMPLES`` (100) inputs per side in CI, on asyncio and uvloop, in HTTP and
auto mode.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proxy_harness import LOOPS, Conn, LoopThread, RawClient, ScriptedServer, wait_until

from faultproxy.proxy.server import Proxy

EXAMPLES = int(os.environ.get("FAULTPROXY_FUZZ_EXAMPLES", "100"))
HEALTHY = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"".join(
        b"%x\r\n%s\r\n" % (len(e), e) for e in (b"id: %d\ndata: event %d\n\n" % (n, n) for n in range(1, 6))
    )
    + b"0\r\n\r\n"
)


class Rig:
    """A proxy in front of an upstream that answers ``/healthy`` with :data:`HEALTHY` and
    ``/hostile`` with whatever the current example put in :attr:`hostile`."""

    def __init__(self, kind: str, raw: bool | None):
        self.aio = LoopThread("fuzz", kind)
        self.hostile: tuple[list[bytes], str] = ([], "fin")
        self.upstream = ScriptedServer(self.aio, self._serve).start()
        self.proxy: Proxy = self.aio.call(Proxy(self.upstream.url, raw=raw).start())

    async def _serve(self, conn: Conn) -> None:
        head = await conn.read_until(b"\r\n\r\n")
        if b" /hostile" not in head.split(b"\r\n", 1)[0]:
            await conn.write(HEALTHY)
            await conn.fin()
            return
        pieces, end = self.hostile
        for piece in pieces:
            await conn.write(piece)
        if end == "rst":
            conn.rst()
        else:
            await conn.fin()

    def exchange(self, request: list[bytes], half_close: bool = True) -> tuple[bytes, str]:
        """Send the pieces, optionally FIN, and read until the proxy ends the connection."""
        client = RawClient(self.proxy.port)
        try:
            try:
                client.send(b"".join(request), [len(piece) for piece in request])
                if half_close:
                    client.shutdown_write()
            except OSError:  # the proxy answered and closed before we were done: fine
                pass
            return client.recv_to_end()
        finally:
            client.close()

    def healthy(self) -> None:
        got, _ = self.exchange([b"GET /healthy HTTP/1.1\r\nHost: u\r\n\r\n"], half_close=False)
        assert got == HEALTHY

    def close(self) -> None:
        wait_until(lambda: self.proxy.active == 0, "every fuzzed connection to be forgotten")
        self.aio.call(self.proxy.stop())
        self.upstream.stop()
        self.aio.stop()


@pytest.fixture(params=[(loop, mode) for loop in LOOPS for mode in ("http", "auto")], ids="-".join)
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    """``http``: ``faultproxy proxy``'s mode (requests parsed strictly); ``auto``: the control API's
    (HTTP or plain TCP, decided by the client's first bytes)."""
    loop, mode = request.param
    rig = Rig(loop, raw=False if mode == "http" else None)
    yield rig
    rig.close()


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    pieces, pos = [], 0
    for cut in sorted(set(c % (len(data) + 1) for c in cuts)):
        pieces.append(data[pos:cut])
        pos = cut
    return [p for p in [*pieces, data[pos:]] if p]


# -- hostile requests -----------------------------------------------------------------------------

tokens = st.sampled_from([b"GET", b"POST", b"HEAD", b"CONNECT", b"G\x00T", b"", b" ", b"PRI", b"get"])
targets = st.sampled_from([b"/", b"/healthy", b"*", b"http://x/", b"/a b", b"/%00", b"", b"/" + b"a" * 9000])
versions = st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/9.9", b"HTTP/1.1 ", b"", b"HTTP/1"])
header_lines = st.one_of(
    st.sampled_from(
        [
            b"Host: u",
            b"Host: a\r\nHost: b",
            b"Content-Length: 5",
            b"Content-Length: -1",
            b"Content-Length: 99999999999999999999",
            b"Transfer-Encoding: chunked",
            b"Transfer-Encoding: gzip, chunked",
            b"Transfer-Encoding: chunked\r\nContent-Length: 3",
            b" folded",
            b"No-Colon",
            b"Bad Name: x",
            b"X: \x00\x7f\xff",
            b"Expect: 100-continue",
            b"Connection: close",
            b"Upgrade: websocket",
            b"Cookie: " + b"c" * 10000,
        ]
    ),
    st.binary(max_size=40),
)
bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"5\r\nhello\r\n0\r\n\r\n",
            b"ffffffffffffffffffff\r\n",
            b"5 \r\nhello\r\n0\r\n\r\n",
            b"-1\r\n",
            b"5\r\nhel",
            b"0\r\nTrailer: x\r\n\r\n",
        ]
    ),
)
crlf = st.sampled_from([b"\r\n", b"\n", b"\r"])


@st.composite
def hostile_requests(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=300))
    eol = draw(crlf)
    line = draw(tokens) + b" " + draw(targets) + b" " + draw(versions)
    head = eol.join([line, *draw(st.lists(header_lines, max_size=6))]) + eol + eol
    return (
        head
        + draw(bodies)
        + (draw(st.just(b"GET /healthy HTTP/1.1\r\nHost: u\r\n\r\n")) if draw(st.booleans()) else b"")
    )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(hostile_requests(), st.lists(st.integers(0, 10_000), max_size=8))
def test_hostile_requests_never_break_the_proxy(rig: Rig, request: bytes, cuts: list[int]) -> None:
    answer, _ = rig.exchange(split(request, cuts))
    if answer:  # whatever came back came from the upstream or is one of the proxy's own answers
        assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    rig.healthy()


# -- hostile responses ------------------------------------------------------------------------------

statuses = st.sampled_from(
    [
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 204 No Content",
        b"HTTP/1.1 304 Not Modified",
        b"HTTP/1.1 101 Switching Protocols",
        b"HTTP/1.1 100 Continue",
        b"HTTP/1.0 200 OK",
        b"HTTP/1.1 999 Huh",
        b"HTTP/1.1 200",
        b"HTTP/2 200",
        b"ICY 200 OK",
        b"HTTP/1.1 -1 x",
    ]
)
response_headers = st.one_of(
    st.sampled_from(
        [
            b"Content-Type: text/event-stream",
            b"Transfer-Encoding: chunked",
            b"Content-Length: 10",
            b"Content-Length: 0",
            b"Content-Length: 1, 2",
            b"Content-Length: x",
            b"Transfer-Encoding: chunked\r\nContent-Length: 4",
            b"Transfer-Encoding: identity",
            b"Content-Encoding: gzip",
            b"Connection: close",
            b"Set-Cookie: a=b",
            b" folded",
            b"Junk",
        ]
    ),
    st.binary(max_size=30),
)
response_bodies = st.one_of(
    st.binary(max_size=300),
    st.lists(st.binary(max_size=40), max_size=5).map(
        lambda events: b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"
    ),
    st.sampled_from(
        [
            b"data: x\n\n",
            b"ffffffffffffffffff\r\n",
            b"5\r\nabc",
            b"3\r\nabcdef\r\n",
            b"\xef\xbb\xbfdata: bom\n\n",
            b"data: " + b"y" * 70000 + b"\n\n",
            b"0\r\n\r\nextra after the end",
        ]
    ),
)


@st.composite
def hostile_responses(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=400))
    eol = draw(crlf)
    head = eol.join([draw(statuses), *draw(st.lists(response_headers, max_size=6))]) + eol + eol
    return head + draw(response_bodies)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(hostile_responses(), st.lists(st.integers(0, 100_000), max_size=8), st.sampled_from(["fin", "rst"]))
def test_hostile_responses_reach_the_client_as_the_bytes_they_were(
    rig: Rig, response: bytes, cuts: list[int], end: str
) -> None:
    rig.hostile = (split(response, cuts), end)
    received, how = rig.exchange([b"GET /hostile HTTP/1.1\r\nHost: u\r\n\r\n"], half_close=False)
    assert response.startswith(received), (received[:200], response[:200])
    if end == "fin":  # nothing lost: every byte the upstream sent came through (an RST may drop the tail)
        assert received == response, (how, received[-200:], response[-200:])
    rig.healthy()
