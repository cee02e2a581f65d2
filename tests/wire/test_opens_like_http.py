"""Telling an HTTP client from any other by its first bytes (a proxy with ``raw=None``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faultproxy.wire.http import opens_like_http

methods = st.sampled_from(
    [b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH", b"CONNECT", b"PROPFIND"]
)
targets = st.sampled_from(
    [b"/", b"/v1/chat/completions?stream=true", b"http://example.com/x", b"example.com:443", b"*"]
)


@given(
    methods,
    targets,
    st.sampled_from([b"HTTP/1.1", b"HTTP/1.0"]),
    st.sampled_from([b"\r\n", b"\n"]),
    st.integers(min_value=1),
)
def test_a_request_line_and_every_read_cut_short_inside_it_is_http(method, target, version, eol, cut) -> None:
    line = method + b" " + target + b" " + version + eol
    whole = line + b"Host: x\r\n\r\n"
    assert opens_like_http(whole)
    assert opens_like_http(whole[: 1 + cut % len(line)])


@pytest.mark.parametrize(
    "first",
    [
        b"*1\r\n$4\r\nPING\r\n",  # Redis (RESP)
        b"SET key value\r\n",  # Redis inline command
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",  # HTTP/2 prior knowledge: not HTTP/1.1
        b"\x00\x00\x00\x08\x04\xd2\x16\x2f",  # PostgreSQL SSLRequest
        b"get some-key\r\n",  # memcached
    ],
)
def test_other_protocols_are_not(first: bytes) -> None:
    assert not opens_like_http(first)
