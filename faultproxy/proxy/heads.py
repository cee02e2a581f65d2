"""Request heads as the upstream must see them: ``Host`` for a TLS upstream, origin form in
forward mode. Sans-IO: client bytes in, the same bytes out with each request head rewritten.

A client pointed at the proxy sends ``Host: 127.0.0.1:8080``; a real API behind a CDN refuses
a request for a host it does not serve, so toward an ``https://`` upstream the proxy writes
the upstream's authority instead (:func:`faultproxy.upstream.with_host`, unless
``--keep-host``). A forward proxy's client sends ``GET http://host/path``, which the origin
must get as ``GET /path`` (:func:`faultproxy.proxy.forward.origin_rule`). Either way only the
head changes, and only the lines the rule names; bodies and everything after a ``CONNECT`` or
an ``Upgrade`` pass as they came.

It runs before the request's faults, so a fault sees (and a capture records) what the upstream
gets. The wire reader finds the heads, across reads: a head split over reads goes out whole,
once complete. It reads leniently: a malformed request passes on unchanged, for the request
pipeline after it to refuse with the proxy's 400, as without a rewrite.
"""

from __future__ import annotations

from collections.abc import Callable

from faultproxy.upstream import with_host
from faultproxy.wire.http import HTTPReader, Request

Rule = Callable[[Request], Request]


def host_rule(authority: str) -> Rule:
    """Every request with ``Host: authority`` (reverse mode toward a TLS upstream)."""
    return lambda request: with_host(request, authority)


class HeadRewriter:
    """One client's request stream with each head passed through ``rule`` (which may raise
    :class:`~faultproxy.upstream.TargetError` to refuse a request; the core answers it)."""

    __slots__ = ("_reader", "_rule")

    def __init__(self, rule: Rule):
        self._rule = rule
        self._reader = HTTPReader("request", strict=False)

    def feed(self, data: bytes) -> bytes:
        rule = self._rule
        return b"".join(rule(e).raw if isinstance(e, Request) else e.raw for e in self._reader.feed(data))

    def eof(self) -> bytes:
        """The client's FIN: what a cut head held back goes on as it is (the upstream sees it cut)."""
        return b"".join(e.raw for e in self._reader.close())
