"""Forward mode's decisions, sans-IO: the first request names the target, CONNECT answers,
what the tunnel carries, which hosts are intercepted, the heads the origin gets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faultproxy.proxy.forward import (
    CONNECT_ESTABLISHED,
    ForwardError,
    Intercept,
    Origin,
    ProxyHead,
    Tunnel,
    TunnelMode,
    opens_tls,
    origin_rule,
    tunnel_mode,
)
from faultproxy.proxy.heads import HeadRewriter, host_rule
from faultproxy.upstream import TargetError, Upstream
from faultproxy.wire.http import parse_response_head

CONNECT = (
    b"CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\nProxy-Connection: keep-alive\r\n\r\n"
)
ABSOLUTE = (
    b"POST http://127.0.0.1:8000/v1/chat?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
    b"Proxy-Authorization: Basic dTpw\r\nContent-Length: 2\r\n\r\n{}"
)
CLIENT_HELLO_START = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"


def test_connect_names_a_tunnel_and_keeps_every_byte():
    head = ProxyHead()
    assert head.feed(CONNECT[:20]) is None
    target = head.feed(CONNECT[20:] + CLIENT_HELLO_START)
    assert isinstance(target, Tunnel)
    assert (target.host, target.port, target.upstream.url) == (
        "api.openai.com",
        443,
        "https://api.openai.com:443",
    )
    assert head.received == CONNECT + CLIENT_HELLO_START


def test_the_connect_answer_is_a_200_with_no_body():
    response = parse_response_head(CONNECT_ESTABLISHED)
    assert (response.status, response.reason) == (200, b"Connection Established")
    assert response.raw == CONNECT_ESTABLISHED


def test_an_absolute_form_request_names_its_origin_and_goes_on_in_origin_form():
    target = ProxyHead().feed(ABSOLUTE)
    assert isinstance(target, Origin)
    assert target.upstream == Upstream("http", "127.0.0.1", 8000)
    assert target.request.raw == (
        b"POST /v1/chat?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nContent-Length: 2\r\n\r\n"
    )  # the proxy's credentials stay here


@pytest.mark.parametrize(
    "data, status, words",
    [
        (b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n", 405, "forward proxy: send absolute-form"),
        (b"CONNECT api.openai.com HTTP/1.1\r\n\r\n", 400, "CONNECT needs host:port"),
        (b"GET https://api.openai.com/ HTTP/1.1\r\nHost: api.openai.com\r\n\r\n", 400, "as CONNECT host:443"),
        (b"GET ftp://x/ HTTP/1.1\r\n\r\n", 400, "absolute URL"),
        (b"\x16\x03\x01\x00\x05hello", 400, "not an HTTP request"),
        (b"GET http://x/ HTTP/1.1\r\nbad header\r\n\r\n", 400, "malformed request"),
        (b"GET http://x/ HTTP/1.1\r\nX: " + b"a" * 70_000, 431, "larger than"),
    ],
)
def test_what_a_forward_proxy_cannot_relay_is_refused_with_the_reason(data, status, words):
    with pytest.raises(ForwardError) as error:
        ProxyHead().feed(data)
    assert error.value.status == status and words in str(error.value)


def test_later_requests_on_a_forward_connection_go_to_the_same_origin_in_origin_form():
    origin = Upstream("http", "127.0.0.1", 8000)
    rewriter = HeadRewriter(origin_rule(origin))
    second = b"GET http://127.0.0.1:8000/b HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"
    out = rewriter.feed(ABSOLUTE + second)
    assert out == (
        b"POST /v1/chat?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nContent-Length: 2\r\n\r\n{}"
        b"GET /b HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"
    )
    with pytest.raises(ForwardError, match="needs a connection of its own"):
        rewriter.feed(b"GET http://other.test/ HTTP/1.1\r\nHost: other.test\r\n\r\n")


@given(st.lists(st.integers(min_value=1, max_value=40), max_size=8))
def test_a_head_rewrite_gives_the_same_bytes_however_the_reads_are_split(cuts):
    stream = (
        b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nx-api-key: k\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        b"GET / HTTP/1.1\r\nhost: 127.0.0.1:8080\r\n\r\n"
    )
    rewriter = HeadRewriter(host_rule("api.anthropic.com"))
    out, at = [], 0
    for cut in cuts:
        out.append(rewriter.feed(stream[at : at + cut]))
        at += cut
    out.append(rewriter.feed(stream[at:]))
    assert b"".join(out) == stream.replace(b"127.0.0.1:8080", b"api.anthropic.com").replace(
        b"host: api.anthropic.com", b"Host: api.anthropic.com"
    )


def test_a_head_rewrite_passes_what_it_cannot_parse_on_for_the_strict_reader_to_refuse():
    rewriter = HeadRewriter(host_rule("api.openai.com"))
    assert (
        rewriter.feed(b"GET / HTTP/1.1\r\nno colon here\r\n\r\nmore")
        == b"GET / HTTP/1.1\r\nno colon here\r\n\r\nmore"
    )
    cut = HeadRewriter(host_rule("api.openai.com"))
    assert cut.feed(b"GET / HTTP/1.1\r\nHo") == b""  # a head is sent whole, once complete
    assert cut.eof() == b"GET / HTTP/1.1\r\nHo"  # or as it was, if the client ends inside it


@pytest.mark.parametrize(
    "first, tls",
    [
        (CLIENT_HELLO_START, True),
        (b"\x16", True),
        (b"GET / HTTP/1.1\r\n", False),
        (b"\x16\x01", False),
        (b"SSH-2.0-OpenSSH\r\n", False),
        (b"", False),
    ],
)
def test_a_tunnel_opening_with_a_tls_record_is_tls(first, tls):
    assert opens_tls(first) is tls


def test_what_a_tunnel_carries_decides_what_the_proxy_does_with_it():
    everything, not_openai = Intercept(), Intercept.parse(never=["*.openai.com"])
    assert tunnel_mode(CLIENT_HELLO_START, "api.openai.com", everything) is TunnelMode.INTERCEPT
    assert tunnel_mode(CLIENT_HELLO_START, "api.openai.com", not_openai) is TunnelMode.TCP
    assert tunnel_mode(b"GET / HTTP/1.1\r\n", "api.openai.com", everything) is TunnelMode.HTTP
    assert tunnel_mode(b"\x00\x00\x00\x08", "db.test", everything) is TunnelMode.TCP


def test_intercept_patterns():
    only = Intercept.parse(only=["api.openai.com", "*.anthropic.com"], never=["bad.anthropic.com"])
    assert [
        only(h)
        for h in (
            "api.openai.com",
            "API.OpenAI.com.",
            "x.api.openai.com",
            "api.anthropic.com",
            "bad.anthropic.com",
            "anthropic.com",
            "example.test",
        )
    ] == [True, True, False, True, False, False, False]
    assert not Intercept.parse(never=["*"])("api.openai.com")
    assert Intercept.parse(only=["[::1]", "127.0.0.1"])("::1")
    assert Intercept.parse(never=["*"]).describe() == "nothing intercepted (every CONNECT tunnelled as bytes)"
    assert only.describe() == "intercepting api.openai.com, *.anthropic.com except bad.anthropic.com"


@pytest.mark.parametrize("pattern", ["http://api.openai.com", "api.openai.com:443", "*openai.com", "a b", ""])
def test_a_bad_intercept_pattern_is_refused_with_the_option(pattern):
    with pytest.raises(TargetError, match="--no-intercept: .* is not a host name"):
        Intercept.parse(never=[pattern])
