"""Every fault in memory: a pipeline fed the reads of a response (or a request), no socket, no
clock, and what a client would decode from the bytes that come out (:mod:`fault_memory`).

The socket tests beside this file show each fault as real clients see it through the proxy;
these show the same behaviour in milliseconds, one assertion of what a user would notice each.
"""

from __future__ import annotations

import gzip as gzip_module
import math
import random

import pytest
from fault_memory import GET, SSE_HEAD, Run, Until, Wait, event, run, sse_reads, sse_response

from faultproxy.faults import FaultSet, Pipeline, parse_fault
from faultproxy.wire.chunked import encode_chunk, encode_chunked, encode_last_chunk
from faultproxy.wire.http import parse_request_head

OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\n"


def fault(type_: str, **attributes: object) -> dict:
    return {"type": type_, "attributes": attributes}


# -- sse ---------------------------------------------------------------------------------------


def test_no_fault_passes_every_byte_as_it_came() -> None:
    result = run([], sse_reads([1, 2, 3]))
    assert result.wire == sse_response([1, 2, 3]) and result.actions == [] and result.evidence == []


def test_sse_drop_loses_one_event_and_the_stream_still_ends_cleanly() -> None:
    delivered = run([fault("sse_drop", event_index=1)], sse_reads([1, 2, 3])).response()
    assert delivered.ids == ["1", "3"] and delivered.complete


def test_sse_duplicate_sends_the_event_twice() -> None:
    assert run([fault("sse_duplicate", event_index=0)], sse_reads([1, 2])).response().ids == ["1", "1", "2"]


def test_sse_reorder_swaps_an_event_with_the_next() -> None:
    assert run([fault("sse_reorder", event_index=0)], sse_reads([1, 2, 3])).response().ids == ["2", "1", "3"]


def test_sse_rewrite_strips_the_ids() -> None:
    assert run([fault("sse_rewrite", id="strip")], sse_reads([1, 2])).response().ids == ["", ""]


def test_sse_corrupt_breaks_one_event_only() -> None:
    delivered = run([fault("sse_corrupt", event_index=1, kind="field_typo")], sse_reads([1, 2, 3])).response()
    assert [e.data for e in delivered.events] == ["event 1", "event 3"]  # "dta:" is no data field


def test_sse_inject_adds_an_error_event_after_the_first() -> None:
    delivered = run(
        [fault("sse_inject", kind="event", text="boom", after_events=1)], sse_reads([1, 2])
    ).response()
    assert [(e.type, e.data) for e in delivered.events] == [
        ("message", "event 1"),
        ("error", "boom"),
        ("message", "event 2"),
    ]


def test_sse_split_cuts_events_into_small_chunks() -> None:
    delivered = run([fault("sse_split", size=5)], sse_reads([1, 2])).response()
    assert delivered.ids == ["1", "2"] and max(delivered.chunks) == 5 and len(delivered.chunks) > 4


def test_sse_delay_waits_before_each_event() -> None:
    result = run([fault("sse_delay", delay_ms=250)], sse_reads([1, 2]))
    assert result.response().ids == ["1", "2"]
    waits = [a for a in result.actions if isinstance(a, (Wait, Until))]
    assert len(waits) == 2


def test_sse_stall_goes_silent_after_an_event() -> None:
    result = run([fault("sse_stall", after_events=1)], sse_reads([1, 2, 3]))
    stall = next(i for i, o in enumerate(result.outputs) if isinstance(o, Wait))
    assert result.outputs[stall] == Wait(math.inf)  # for good: nothing after it ever goes out
    assert Run(result.outputs[:stall]).response().ids == ["1"]


@pytest.mark.parametrize("mode", ["fin", "rst"])
def test_sse_disconnect_ends_the_connection_after_n_events(mode: str) -> None:
    result = run([fault("sse_disconnect", after_events=2, mode=mode)], sse_reads([1, 2, 3]))
    assert result.response().ids == ["1", "2"] and result.closed == mode
    assert not result.response().complete  # the client can tell: no last chunk


def test_early_end_ends_the_body_cleanly_hiding_the_loss() -> None:
    result = run([fault("early_end", after_events=1)], sse_reads([1, 2, 3]))
    delivered = result.response()
    assert delivered.ids == ["1"] and delivered.complete and result.closed == "fin"


def test_buffer_holds_events_until_the_body_ends() -> None:
    result = run([fault("buffer", size_bytes=1 << 20)], sse_reads([1, 2, 3]))
    assert result.response().ids == ["1", "2", "3"]
    assert len(result.response().chunks) == 1  # one batch at the end, as nginx with proxy_buffering


def test_an_sse_fault_on_a_content_length_stream_carries_it_chunked() -> None:
    body = b"".join(event(n) for n in (1, 2, 3))
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n" % len(body)
    delivered = run([fault("sse_drop", event_index=0)], [head + body]).response()
    assert delivered.ids == ["2", "3"] and delivered.complete
    assert delivered.head is not None and delivered.head.headers.get("transfer-encoding") == b"chunked"
    assert "content-length" not in delivered.head.headers


def test_a_fault_joins_a_live_stream_at_the_next_event_boundary_only() -> None:
    """The head and the first half of an event in one read, then a fault added: the event goes
    out as it came, and the fault acts from the next event on. (Before, the read's head reset
    where the proxy thought the last event ended, and the fault took the body over mid-event.)"""
    faults = FaultSet()
    pipeline = Pipeline(faults, 1, "response")
    pipeline.expect(parse_request_head(GET))
    one = event(1)
    out = pipeline.feed(SSE_HEAD + encode_chunk(one[:6]), 0.0)  # the head and half of event 1
    faults.add(parse_fault(fault("sse_duplicate")))
    out += pipeline.feed(encode_chunk(one[6:]), 0.0)  # its other half: not the fault's
    out += pipeline.feed(encode_chunk(event(2)) + encode_last_chunk(), 0.0)  # event 2: twice
    assert Run(out).response().ids == ["1", "2", "2"]


# -- http ----------------------------------------------------------------------------------------


def test_http_status_answers_the_request_itself() -> None:
    result = run([fault("http_status", status=429, headers={"Retry-After": "2"})], sse_reads([1]))
    assert (
        result.wire.startswith(b"HTTP/1.1 429 Too Many Requests\r\n") and b"Retry-After: 2\r\n" in result.wire
    )
    assert result.closed == "fin" and b"event 1" not in result.wire


def test_set_and_remove_header_on_the_response() -> None:
    result = run(
        [fault("set_header", header="X-Test", value="1"), fault("remove_header", header="Content-Type")],
        sse_reads([1]),
    )
    head = result.response().head
    assert head is not None and head.headers.get("x-test") == b"1" and "content-type" not in head.headers


def test_content_length_mismatch_claims_more_than_it_sends() -> None:
    result = run([fault("content_length_mismatch", delta=5)], [OK_HEAD + b"hello world"])
    assert b"Content-Length: 16\r\n" in result.wire and result.wire.endswith(b"hello world")
    assert result.closed == "fin"


def test_drop_terminal_chunk_closes_before_the_last_chunk() -> None:
    result = run([fault("drop_terminal_chunk")], sse_reads([1, 2]))
    assert result.response().ids == ["1", "2"] and not result.response().complete and result.closed == "fin"


def test_empty_response_closes_before_the_first_byte() -> None:
    result = run([fault("empty_response", mode="rst")], sse_reads([1]))
    assert result.wire == b"" and result.closed == "rst"


def test_malformed_chunk_breaks_the_framing_of_one_chunk() -> None:
    result = run([fault("malformed_chunk", chunk=1, kind="bad_hex")], sse_reads([1, 2, 3]))
    delivered = result.response()
    assert delivered.ids == ["1"] and not delivered.complete  # the client's reader stops at chunk 1


def test_truncate_chunk_cuts_inside_a_chunk() -> None:
    result = run([fault("truncate_chunk", after_bytes=5, mode="rst")], sse_reads([1, 2]))
    assert result.wire == SSE_HEAD + encode_chunk(event(1))[: len(b"%x\r\n" % len(event(1))) + 5]
    assert result.closed == "rst"


def test_random_data_then_close_is_seeded() -> None:
    spec = {"name": "junk", **fault("random_data_then_close", bytes=16, after_bytes=3)}
    first, again = run([spec], sse_reads([1]), seed=7), run([spec], sse_reads([1]), seed=7)
    garbage = random.Random("7/junk/1/downstream").randbytes(16)
    assert first.wire == again.wire == SSE_HEAD + encode_chunk(event(1))[:3] + garbage


def test_gzip_compresses_the_body_and_the_events_survive_it() -> None:
    result = run([fault("gzip", flush="sync")], sse_reads([1, 2]))
    delivered = result.response()
    assert delivered.head is not None and delivered.head.headers.get("content-encoding") == b"gzip"
    assert gzip_module.decompress(delivered.body) == event(1) + event(2)


def test_an_http_fault_on_requests_changes_the_request_head() -> None:
    post = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + encode_chunked(b"hello")
    result = run([fault("set_header", header="Last-Event-ID", value="3")], [post], direction="request")
    assert b"\r\nLast-Event-ID: 3\r\n" in result.wire and result.wire.endswith(encode_chunked(b"hello"))


# -- bytes ---------------------------------------------------------------------------------------


def test_latency_delays_every_piece() -> None:
    result = run([fault("latency", latency=100)], [b"abc", b"def"], raw=True, step=0.01)
    assert result.outputs == [Until(0.1), b"abc", Until(0.11), b"def"]


def test_bandwidth_paces_the_bytes() -> None:
    result = run([fault("bandwidth", rate=1)], [b"x" * 100], raw=True)  # 1 KB/s: 20 bytes per 20 ms
    assert b"".join(o for o in result.outputs if isinstance(o, bytes)) == b"x" * 100
    assert len([a for a in result.actions if isinstance(a, Until)]) >= 4


def test_limit_data_closes_after_exactly_n_bytes() -> None:
    result = run([fault("limit_data", bytes=5)], [b"abc", b"defgh"], raw=True)
    assert result.wire == b"abcde" and result.closed == "fin"


def test_slicer_cuts_data_into_slices() -> None:
    result = run([fault("slicer", average_size=4, delay=1000)], [b"0123456789"], raw=True)
    assert [o for o in result.outputs if isinstance(o, bytes)] == [b"0123", b"4567", b"89"]


def test_slow_close_holds_the_fin_back() -> None:
    result = run([fault("slow_close", delay=300)], [b"abc"], raw=True)
    assert result.outputs == [b"abc", Wait(0.3)]


def test_slow_reader_reads_at_its_rate() -> None:
    result = run([fault("slow_reader", rate=1000)], [b"x" * 40], raw=True)
    # and nothing more is read from the sender until the last slice's time is up
    assert result.outputs == [Until(0.02), b"x" * 20, Until(0.04), b"x" * 20, Until(0.04)]


def test_timeout_drops_data_then_closes_when_its_alarm_rings() -> None:
    result = run([fault("timeout", timeout=300)], [b"abc"], raw=True)
    assert result.wire == b"" and result.closed == "fin"
    assert result.details[-1].startswith("closed after 300 ms")


def test_reset_peer_resets_at_the_first_data() -> None:
    result = run([fault("reset_peer")], [b"abc"], raw=True)
    assert result.closed == "rst"


def test_ok_head_is_a_complete_response() -> None:  # guards the helper the tests above use
    assert run([], [OK_HEAD + b"hello world"]).response().complete


# -- the pipeline itself -------------------------------------------------------------------------


def _request(target: bytes) -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: test\r\n\r\n"


def test_a_faults_answer_to_a_pipelined_request_waits_for_the_response_before_it() -> None:
    status = {"type": "http_status", "match": {"path": "/two"}, "attributes": {"status": 503}}
    pipeline = Pipeline(FaultSet([parse_fault(status)]), 1, "response")
    pipeline.sync(0.0)  # the connection starts: its faults with it
    assert pipeline.expect(parse_request_head(_request(b"/one"))) is None  # goes upstream
    assert pipeline.expect(parse_request_head(_request(b"/two"))) == []  # answered, after /one's response
    out = pipeline.feed(sse_response([1]), 0.0)
    wire = b"".join(o for o in out if isinstance(o, bytes))
    assert wire.startswith(sse_response([1]) + b"HTTP/1.1 503 Service Unavailable\r\n")


def test_match_limits_a_fault_to_the_requests_it_names() -> None:
    drop = {"type": "sse_drop", "match": {"path": "/events"}, "attributes": {"event_index": 0}}
    assert run([drop], sse_reads([1, 2]), request=_request(b"/events")).response().ids == ["2"]
    assert run([drop], sse_reads([1, 2]), request=_request(b"/other")).response().ids == ["1", "2"]


def test_evidence_says_where_the_fault_fired() -> None:
    result = run([{"name": "cut", **fault("sse_drop", event_index=1)}], sse_reads([1, 2, 3]))
    (fired,) = result.evidence
    assert (
        fired.fault,
        fired.fault_type,
        fired.conn,
        fired.direction,
        fired.exchange,
        fired.event_index,
    ) == (
        "cut",
        "sse_drop",
        1,
        "response",
        1,
        1,
    )


def test_a_removed_faults_alarm_never_rings() -> None:
    faults = FaultSet([parse_fault({"name": "t", **fault("timeout", timeout=300)})])
    pipeline = Pipeline(faults, 1, "response", raw=True)
    pipeline.sync(0.0)
    assert pipeline.next_alarm == 0.3
    faults.remove("t")
    assert pipeline.feed(b"abc", 0.1) == [b"abc"] and pipeline.next_alarm is None


def test_the_same_seed_gives_the_same_faults_whatever_the_reads() -> None:
    spec = fault("sse_duplicate", fraction=0.5)
    whole = run([spec], [sse_response(list(range(1, 30)))], seed=3).response().ids
    by_event = run([spec], sse_reads(list(range(1, 30))), seed=3).response().ids
    assert whole == by_event and len(whole) > 29
