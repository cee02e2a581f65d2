"""A capture that fails for a connection (not a full disk: a bug, a record it cannot write) is
one clear line in the proxy's log, not a traceback per connection; the relay goes on."""

from __future__ import annotations

import logging

import pytest

from faultproxy.proxy.activity import ActivityLog
from faultproxy.proxy.sinks import ProxySink


class BrokenWriter:
    """A capture writer whose records of connection data fail, as a decoder bug would."""

    def __init__(self) -> None:
        self.forgotten: list[int] = []

    def open(self, conn: int, client: object = None) -> None:
        pass

    def data(self, conn: int, direction: str, data: bytes) -> None:
        raise RuntimeError(f"cannot decode {len(data)} bytes")

    def forget(self, conn: int) -> None:
        self.forgotten.append(conn)


def test_a_failing_capture_is_one_line_per_connection_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer = BrokenWriter()
    sink = ProxySink(ActivityLog(), writer)  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger="faultproxy"):
        for conn in (1, 2):
            sink.open(conn, ("127.0.0.1", 5000 + conn))
            sink.data(conn, "request", b"GET / HTTP/1.1\r\n\r\n")
    failures = [r for r in caplog.records if "capture of connection" in r.getMessage()]
    assert [r.getMessage() for r in failures] == [
        f"capture of connection #{conn} failed (RuntimeError: cannot decode 18 bytes); it is still relayed, "
        "no longer decoded"
        for conn in (1, 2)
    ]
    assert all(r.exc_info is None for r in caplog.records), "a traceback reached the log below -vv"
    assert writer.forgotten == [1, 2]
