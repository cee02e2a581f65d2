"""The oracle frames delivered bodies as the wire layer does (``body_framing``), not by substring."""

from __future__ import annotations

from scenario_support import Capture, b64

from faultproxy.scenarios import oracle_from_records
from faultproxy.wire.sse import encode_event


def test_a_body_whose_last_coding_is_not_chunked_ends_with_the_close_not_as_a_cut() -> None:
    """``Transfer-Encoding: chunked, gzip`` (chunked not last) is delimited by the close (RFC 9112
    §6.3): a FIN after it is the body's clean end, not a chunked body cut before its last chunk."""
    cap = Capture().request(1)
    cap.response(1, headers={"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked, gzip"})
    cap.body(1, encode_event("one", id="1")).end(1).closed(1, "upstream").done(1)
    (x,) = oracle_from_records(cap.records).exchanges
    assert (x.framing, x.end, x.noticeable) == ("close", "close", False)


def test_a_response_to_head_has_no_body_whatever_its_length_says() -> None:
    cap = Capture().add(conn=1, type="open", client="127.0.0.1:5")
    cap.add(
        conn=1,
        type="head",
        dir="request",
        exchange=1,
        method="HEAD",
        target="/x",
        b64=b64(b"HEAD /x HTTP/1.1\r\nHost: x\r\n\r\n"),
    )
    cap.response(1, headers={"Content-Type": "text/event-stream", "Content-Length": "40"})
    cap.closed(1, "upstream").done(1)
    (x,) = oracle_from_records(cap.records).exchanges
    assert (x.framing, x.end) == ("none", "clean")
