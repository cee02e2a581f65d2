"""Upstream URLs, presets, --resolve and the Host the upstream sees: pure functions, no sockets."""

from __future__ import annotations

import pytest

from faultproxy.upstream import (
    PRESETS,
    Resolver,
    TargetError,
    Upstream,
    connect_target,
    forward_target,
    parse_resolve,
    parse_upstream_url,
    preset,
    split_url,
    with_host,
)
from faultproxy.wire.http import parse_request_head


@pytest.mark.parametrize(
    "text, url, authority, tls",
    [
        ("https://api.openai.com", "https://api.openai.com:443", "api.openai.com", True),
        ("https://API.Anthropic.com/", "https://api.anthropic.com:443", "api.anthropic.com", True),
        ("https://127.0.0.1:18443", "https://127.0.0.1:18443", "127.0.0.1:18443", True),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000", "127.0.0.1:8000", False),
        ("http://example.test", "http://example.test:80", "example.test", False),
        ("127.0.0.1:8000", "http://127.0.0.1:8000", "127.0.0.1:8000", False),
        ("https://[::1]:8443", "https://[::1]:8443", "[::1]:8443", True),
        ("https://example.test:80", "https://example.test:80", "example.test:80", True),
    ],
)
def test_upstream_urls(text, url, authority, tls):
    upstream = parse_upstream_url(text)
    assert (upstream.url, upstream.authority, upstream.tls) == (url, authority, tls)


@pytest.mark.parametrize(
    "text, message",
    [
        ("ftp://x", "scheme must be http or https"),
        ("https://", "no host"),
        ("https://api.openai.com/v1", "no path"),
        ("https://h:99999", "invalid port"),
    ],
)
def test_bad_upstream_urls_say_why(text, message):
    with pytest.raises(TargetError, match=message):
        parse_upstream_url(text)


def test_presets_name_the_real_api_and_the_line_for_each_sdk():
    openai, anthropic = preset("openai"), preset("Anthropic")
    assert parse_upstream_url(openai.upstream) == Upstream("https", "api.openai.com", 443)
    assert parse_upstream_url(anthropic.upstream) == Upstream("https", "api.anthropic.com", 443)
    assert openai.lines("http://127.0.0.1:8080") == ["export OPENAI_BASE_URL=http://127.0.0.1:8080/v1"]
    assert anthropic.lines("http://127.0.0.1:8080/") == ["export ANTHROPIC_BASE_URL=http://127.0.0.1:8080"]
    assert anthropic.lines("https://127.0.0.1:8443", "/ca.pem")[1:] == [
        "export SSL_CERT_FILE=/ca.pem",
        "export NODE_EXTRA_CA_CERTS=/ca.pem",
    ]
    with pytest.raises(TargetError, match="unknown preset 'gemini'; choose one of openai, anthropic"):
        preset("gemini")
    assert sorted(PRESETS) == ["anthropic", "openai"]


def test_resolve_like_curl():
    entry = parse_resolve("API.openai.com:443:127.0.0.1,[::1]")
    assert (entry.host, entry.port, entry.addresses) == ("api.openai.com", 443, ("127.0.0.1", "::1"))
    resolver = Resolver.parse(["api.openai.com:18443:127.0.0.1", "api.anthropic.com:443:127.0.0.2"])
    assert resolver.connect_to(parse_upstream_url("https://api.openai.com:18443")) == ("127.0.0.1", 18443)
    assert resolver.connect_to(parse_upstream_url("https://api.anthropic.com")) == ("127.0.0.2", 443)
    # another port of the same host is not covered, as in curl
    assert resolver.connect_to(parse_upstream_url("https://api.openai.com")) == ("api.openai.com", 443)
    assert not Resolver() and resolver


@pytest.mark.parametrize(
    "text, message",
    [
        ("api.openai.com:443", "expected HOST:PORT:ADDR"),
        ("api.openai.com::127.0.0.1", "port must be a number"),
        ("api.openai.com:0:127.0.0.1", "port must be a number from 1 to 65535"),
        ("api.openai.com:443:localhost", "'localhost' is not an IP address"),
        (":443:127.0.0.1", "expected HOST:PORT:ADDR"),
    ],
)
def test_bad_resolve_entries_say_why(text, message):
    with pytest.raises(TargetError, match=message):
        parse_resolve(text)


def test_one_host_resolved_two_ways_is_refused():
    with pytest.raises(TargetError, match="given twice"):
        Resolver.parse(["a.test:443:127.0.0.1", "a.test:443:127.0.0.2"])


def head(text: str):
    return parse_request_head(text.replace("\n", "\r\n").encode())


def test_host_becomes_the_upstreams_in_place_and_nothing_else_changes():
    request = head(
        "POST /v1/chat/completions HTTP/1.1\nHost: 127.0.0.1:8080\nAuthorization: Bearer sk-x\n"
        "content-type:application/json\n\n"
    )
    sent = with_host(request, "api.openai.com")
    assert sent.raw == (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
        b"Authorization: Bearer sk-x\r\ncontent-type:application/json\r\n\r\n"
    )
    assert parse_request_head(sent.raw).headers == sent.headers


def test_a_missing_host_is_added_first_and_duplicates_go():
    request = head("GET / HTTP/1.0\nAccept: */*\n\n")
    assert with_host(request, "api.anthropic.com").raw == (
        b"GET / HTTP/1.0\r\nHost: api.anthropic.com\r\nAccept: */*\r\n\r\n"
    )
    # a strict reader refuses two Host lines (RFC 9112 §3.2); a lenient one passes them on
    twice = parse_request_head(b"GET / HTTP/1.1\r\nX: 1\r\nHost: a\r\nHost: b\r\n\r\n", strict=False)
    assert with_host(twice, "c").raw == b"GET / HTTP/1.1\r\nX: 1\r\nHost: c\r\n\r\n"


def test_a_right_host_leaves_the_request_as_it_was():
    request = head("GET / HTTP/1.1\nHost: api.openai.com\n\n")
    assert with_host(request, "api.openai.com") is request


def test_absolute_form_goes_on_in_origin_form_with_the_urls_host():
    request = head(
        "GET http://Example.test:8000/events?x=1 HTTP/1.1\nHost: stale\nAccept: text/event-stream\n\n"
    )
    upstream, sent = forward_target(request)
    assert upstream == Upstream("http", "example.test", 8000)
    assert (
        sent.raw
        == b"GET /events?x=1 HTTP/1.1\r\nHost: example.test:8000\r\nAccept: text/event-stream\r\n\r\n"
    )
    with pytest.raises(TargetError, match="needs an absolute URL"):
        forward_target(head("GET /events HTTP/1.1\nHost: x\n\n"))


@pytest.mark.parametrize(
    "url, address, target",
    [
        ("http://localhost/events", "localhost:80", "/events"),  # no port: the scheme's
        ("https://api.example.test/v1/chat?stream=1", "api.example.test:443", "/v1/chat?stream=1"),
        ("http://127.0.0.1:8000", "127.0.0.1:8000", "/"),
        ("http://[::1]:9/x", "[::1]:9", "/x"),
    ],
)
def test_a_url_splits_into_its_upstream_and_target(url, address, target):
    upstream, origin = split_url(url)
    assert (upstream.address, origin) == (address, target)


@pytest.mark.parametrize("url", ["localhost:80/events", "ftp://x/y", "http:///events", "http://x:99999/"])
def test_a_url_that_names_no_upstream_says_so(url):
    with pytest.raises(TargetError):
        split_url(url)


def test_connect_targets():
    assert connect_target(head("CONNECT api.openai.com:443 HTTP/1.1\nHost: api.openai.com:443\n\n")) == (
        "api.openai.com",
        443,
    )
    assert connect_target(head("CONNECT [::1]:8443 HTTP/1.1\n\n")) == ("::1", 8443)
    for bad in ("api.openai.com", "api.openai.com:https", "http://a:1/", ":443"):
        with pytest.raises(TargetError, match="CONNECT needs host:port"):
            connect_target(head(f"CONNECT {bad} HTTP/1.1\n\n"))
