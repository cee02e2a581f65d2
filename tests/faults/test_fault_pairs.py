"""Every pair of registered faults composes, or is refused with a reason -- never half applied.

A fault that records evidence of something no client ever sees makes a verdict lie: the cell
says the fault fired, the scenario passes "every fault fired", and the client was judged on a
stream the fault never touched. It happens when two faults take over the same thing (two that
re-frame the body, two that end the stream, two that decide the writes, one that replaces the
whole response): the second acts on what the first replaced, or the other way round. Such pairs
are refused at load (:func:`faultproxy.faults.spec.check_unique`, ``Fault.takes_over``); and in
one read, the first fault to end the stream wins: no fault acts on what follows it.

The property, for every ordered pair of every registered fault (each with attributes that make
it fire on its test stream): either the pair is refused with a reason, or each fault of the pair
that fired changed what the client gets -- the outputs, with their times, differ from the other
fault's alone. Sans-IO: the downstream :class:`~faultproxy.faults.pipeline.Pipeline` fed a real
stream at a moving clock, alarms rung as the relay would; some two thousand pairs in seconds.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from typing import Any

import pytest
from llm_support import mock_exchange, request_bytes

from faultproxy.faults import REGISTRY, FaultSet, FaultSpecError, Pipeline, parse_fault
from faultproxy.faults.base import Close, Hold, Wait
from faultproxy.faults.spec import check_unique
from faultproxy.wire.chunked import ChunkEnd, encode_chunk, encode_last_chunk
from faultproxy.wire.http import HTTPReader, Response, parse_request_head
from faultproxy.wire.sse import encode_event

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
EVENTS = [encode_event(json.dumps({"n": n}), id=str(n)) for n in range(1, 13)]


def _pieces(response: bytes) -> list[bytes]:
    """A chunked response cut after its head and after each chunk: the pieces its server writes."""
    reader = HTTPReader("response")
    reader.expect_response_to(b"POST")
    pieces, at, start = [], 0, 0
    for event in reader.feed(response):
        at += len(event.raw)
        if isinstance(event, (Response, ChunkEnd)):
            pieces.append(response[start:at])
            start = at
    return pieces + [response[start:]]


def _head_of(request: bytes) -> Any:
    return parse_request_head(request.split(b"\r\n\r\n")[0] + b"\r\n\r\n")


# The streams a pair runs on, as the request and the pieces its server writes: the reference
# stream (twelve events, ids 1..12); the same with the upstream dying before its last chunk (what
# upstream_http10 acts on); the OpenAI mock's chat streams (what the llm_* faults act on): 24 text
# deltas, or a tool call's arguments in 12 fragments; then the finish, the usage, [DONE].
STREAMS = {
    "events": (
        _head_of(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n"),
        [HEAD] + [encode_chunk(e) for e in EVENTS] + [encode_last_chunk()],
    ),
    "chat": (_head_of(request_bytes("chat")), _pieces(mock_exchange("chat", tokens=24)[0])),
    "tool": (
        _head_of(request_bytes("chat", tools=True)),
        _pieces(mock_exchange("chat", tools=True, tool_fragments=12)[0]),
    ),
}
STREAMS["cut"] = (STREAMS["events"][0], STREAMS["events"][1][:-1])


def _times(pieces: int) -> list[float]:
    """One piece every 10 ms, then a silence of 300 ms before the last (a read timeout's)."""
    return [i * 0.01 for i in range(pieces - 1)] + [(pieces - 2) * 0.01 + 0.3]


# How the proxy reads a stream: each piece as it comes, or the whole response in one read (a
# server that bursts): then a fault that ends the stream shares its read with what follows it.
READS = ("apart", "at once")

# Attributes that make each fault fire on its stream (reference events unless named); a fault that
# ends the stream does it late (after event 10, ~350 of the ~430 bytes), the others earlier, each at
# a point of its own. Every registered fault must be here: a new one joins by adding its entry.
PAIR_ATTRIBUTES: dict[str, list[dict[str, Any]]] = {
    "bandwidth": [{"rate": 1}],
    "buffer": [{"size_bytes": 64}, {"preset": "nginx-gzip"}],
    "close_delimited": [{}],
    "content_length_mismatch": [{"delta": -5}, {"delta": 5}],
    "drop_terminal_chunk": [{}, {"mode": "rst"}],
    "early_end": [{"after_events": 10}],
    "empty_response": [{}],
    "gzip": [{"flush": "sync"}, {"flush": "none"}],
    "http_status": [{"status": 503, "when": "response"}, {"status": 429}],
    "latency": [{"latency": 5}],
    "limit_data": [{"bytes": 350}],
    "llm_duplicate_delta": [{"delta_index": 2}],
    "llm_error_event": [{"after_deltas": 15}],
    "llm_hold_open": [{}],
    "llm_no_sentinel": [{}],
    "llm_no_usage": [{}],
    "llm_overloaded": [{"status": 429}],
    "llm_reorder": [{"index": 6}],
    "llm_stall": [{"after_deltas": 8, "duration_ms": 50, "ping_ms": 20}],
    "llm_tool_args_cut": [{"after_fragments": 8}, {"after_fragments": 8, "then": "end"}],
    "malformed_chunk": [{"chunk": 9}],
    "random_data_then_close": [{"after_bytes": 320, "bytes": 16}, {"after_bytes": 100_000, "bytes": 16}],
    "read_timeout": [{"timeout_ms": 150}],
    "remove_header": [{"header": "Content-Type"}],
    "reset_peer": [{"timeout": 75}],
    "set_header": [{"header": "Content-Type", "value": "text/plain"}, {"header": "X-Test", "value": "1"}],
    "slicer": [{"average_size": 7}],
    "slow_close": [{"delay": 5}],
    "slow_reader": [{"rate": 100_000}],
    "sse_corrupt": [{"kind": "invalid_json", "event_index": 4}],
    "sse_delay": [{"delay_ms": 3}],
    "sse_disconnect": [{"after_events": 10}, {"after_events": 10, "mode": "rst"}],
    "sse_drop": [{"event_index": 1}],
    "sse_duplicate": [{"event_index": 2}],
    "sse_inject": [{"kind": "event", "after_events": 3}],
    "sse_reorder": [{"event_index": 5}],
    "sse_rewrite": [{"id": "x-{id}"}, {"id": "strip"}],
    "sse_split": [{"mode": "fixed", "size": 7}],
    "sse_stall": [{"after_events": 6, "duration_ms": 5}, {"after_events": 10}],
    "timeout": [{"timeout": 30}],
    "truncate_chunk": [{"after_bytes": 150}],
    "upstream_http10": [{}],
}
STREAM_OF = {
    **{name: "chat" for name in REGISTRY if name.startswith("llm_")},
    "llm_tool_args_cut": "tool",
    "upstream_http10": "cut",
}
FAULTS = [(name, attributes) for name, variants in PAIR_ATTRIBUTES.items() for attributes in variants]


def _stream(faults: list[dict[str, Any]]) -> str:
    """The stream a set of faults runs on: the one a fault of it needs (the LLM stream first)."""
    needed = {STREAM_OF.get(f["type"], "events") for f in faults}
    return next((name for name in ("tool", "chat", "cut") if name in needed), "events")


def timed_outputs(
    faults: list[dict[str, Any]], reads: str = "apart", stream: str | None = None
) -> tuple[tuple[Any, ...], set[str]]:
    """What the client gets -- each output with the time it went out, up to the first that ends
    the stream for it (a close, a hold, a wait that never ends) -- and the names that fired."""
    specs = check_unique([parse_fault(f, index=i) for i, f in enumerate(faults)])
    fault_set = FaultSet(specs, seed=1)
    pipeline = Pipeline(fault_set, 1, "response")
    request, pieces = STREAMS[stream or _stream(faults)]
    times = _times(len(pieces))
    if reads == "at once":
        pieces, times = [b"".join(pieces)], [0.0]
    out: list[tuple[float, Any]] = []

    def ring(until: float) -> None:
        for _ in range(1000):
            at = pipeline.next_alarm
            if at is None or at > until:
                return
            out.extend((at, o) for o in pipeline.alarm(at))

    out.extend((0.0, o) for o in pipeline.sync(0.0))
    out.extend((0.0, o) for o in pipeline.expect(request, 0.0) or [])
    for piece, now in zip(pieces, times):
        ring(now)
        out.extend((now, o) for o in pipeline.feed(piece, now))
    end = times[-1] + 5
    ring(end)
    out.extend((end, o) for o in pipeline.eof(end))
    ring(end + 3600)
    seen: list[tuple[float, Any]] = []
    for t, o in out:
        seen.append((t, o))
        if isinstance(o, (Close, Hold)) or (isinstance(o, Wait) and math.isinf(o.seconds)):
            break
    return tuple(seen), {e.fault for e in fault_set.evidence}


def _fault(name: str, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"type": name, "attributes": attributes}


def test_every_registered_fault_is_in_the_pair_test():
    assert set(PAIR_ATTRIBUTES) == set(REGISTRY), (
        "faults the pair test does not know (add attributes that make them fire): "
        f"{sorted(set(REGISTRY) - set(PAIR_ATTRIBUTES))}"
    )


@pytest.mark.parametrize(("name", "attributes"), FAULTS, ids=[f"{n}{a}" for n, a in FAULTS])
def test_each_fault_fires_alone_on_its_stream(name: str, attributes: dict[str, Any]):
    _, fired = timed_outputs([_fault(name, attributes)])
    assert fired, f"{name} {attributes} does not fire on its test stream: the pair test would prove nothing"


def _lies(
    first: tuple[str, dict[str, Any]], second: tuple[str, dict[str, Any]], reads: str = "apart"
) -> list[str]:
    """The faults of the pair that fired though what the client gets is the other's alone (none
    when the pair is refused)."""
    faults = [_fault(*first), _fault(*second)]
    try:
        both, fired = timed_outputs(faults, reads)
    except FaultSpecError as error:
        assert "cannot apply together: " in str(error)  # refused, with a reason
        return []
    lies = []
    for k, other in ((0, 1), (1, 0)):
        if reads == "at once" and _excused_in_one_read(faults[k], faults[other]):
            continue
        alone = _alone(json.dumps(faults[other], sort_keys=True), reads, _stream(faults))
        if f"{faults[k]['type']}_{k + 1}" in fired and both == alone:
            lies.append(
                f"{faults[0]} + {faults[1]}: {faults[k]['type']} fired, but the client gets what "
                f"{faults[other]['type']} alone gives"
            )
    return lies


LAYERS = ("sse", "http", "bytes")


@functools.cache
def _alone(fault: str, reads: str, stream: str) -> tuple[Any, ...]:
    return timed_outputs([json.loads(fault)], reads, stream)[0]


def _excused_in_one_read(fault: dict[str, Any], other: dict[str, Any]) -> bool:
    """In one read, what the pair test does not hold against ``fault``: a fault that decides the
    writes has nothing to spread or hold; and a fault of a lower layer that cuts the stream
    (limit_data, truncate_chunk, random_data_then_close) cuts it after the higher layers have
    acted on the whole read -- their evidence of what follows the cut is still recorded (a known
    limit: evidence is recorded where a fault acts, not where the bytes reach the client)."""

    def takes(f: dict[str, Any]) -> frozenset[str]:
        return REGISTRY[f["type"]].takes(parse_fault(f).attributes)

    lower = LAYERS.index(REGISTRY[other["type"]].layer) > LAYERS.index(REGISTRY[fault["type"]].layer)
    return "writes" in takes(fault) or (lower and "end" in takes(other))


@pytest.mark.parametrize("reads", READS)
def test_no_pair_of_faults_records_evidence_of_nothing(reads: str):
    """In one read, the first fault to end the stream (a Close, an endless stall) wins: the faults
    after it in that read never act (they did, and recorded evidence of events no client got)."""
    lies = [lie for a, b in itertools.permutations(FAULTS, 2) for lie in _lies(a, b, reads)]
    assert not lies, "\n".join(lies)


# The pairs an independent review found half applied (each fired, one did nothing the client saw).
HALF_APPLIED = [
    [_fault("close_delimited", {}), _fault("content_length_mismatch", {"delta": -5})],
    [_fault("content_length_mismatch", {"delta": 5}), _fault("close_delimited", {})],
    [_fault("drop_terminal_chunk", {}), _fault("close_delimited", {})],
    [_fault("random_data_then_close", {"after_bytes": 300}), _fault("close_delimited", {})],
    [_fault("random_data_then_close", {"after_bytes": 300}), _fault("drop_terminal_chunk", {})],
    [_fault("sse_disconnect", {"after_events": 8, "mode": "rst"}), _fault("early_end", {"after_events": 8})],
    [_fault("sse_split", {"mode": "fixed", "size": 7}), _fault("content_length_mismatch", {"delta": -5})],
    [_fault("buffer", {"size_bytes": 64}), _fault("content_length_mismatch", {"delta": -5})],
]


@pytest.mark.parametrize("pair", HALF_APPLIED, ids=lambda p: f"{p[0]['type']}+{p[1]['type']}")
def test_the_pairs_found_half_applied_are_refused_with_a_reason(pair):
    for order in (pair, pair[::-1]):
        with pytest.raises(FaultSpecError, match=r"cannot apply together: .*(each|replaces)"):
            check_unique([parse_fault(f, index=i) for i, f in enumerate(order)])


def test_faults_on_different_traffic_never_conflict():
    """Two that would fight on one connection compose when they cannot meet: other connections,
    requests no request can match both of, or the other stream."""

    def specs(*extra: dict[str, Any]) -> list[Any]:
        base = [_fault("sse_disconnect", {"after_events": 2}), _fault("early_end", {"after_events": 5})]
        return [parse_fault({**f, **x}, index=i) for i, (f, x) in enumerate(zip(base, extra))]

    with pytest.raises(FaultSpecError):
        check_unique(specs({}, {}))
    with pytest.raises(FaultSpecError):
        check_unique(specs({"connections": [1, 2]}, {"connections": [2]}))
    assert check_unique(specs({"connections": [1]}, {"connections": [2]}))
    assert check_unique(specs({"match": {"method": "GET"}}, {"match": {"method": "POST"}}))
    assert check_unique(specs({"match": {"path": "/a"}}, {"match": {"path": "/b"}}))
    with pytest.raises(FaultSpecError):
        check_unique(specs({"match": {"path": "/a*"}}, {"match": {"path": "/ab"}}))
    two_headers = [
        parse_fault(_fault("set_header", {"header": "X-A", "value": "1"}), index=0),
        parse_fault({**_fault("remove_header", {"header": "x-a"}), "stream": "upstream"}, index=1),
    ]
    assert check_unique(two_headers)  # one on responses, one on requests


def test_a_scenario_with_a_half_applied_pair_is_refused_where_it_is_written():
    from faultproxy.scenarios import ScenarioError, load_text

    text = """
name: two-ends
server: {kind: sse, events: 5}
faults:
  - {type: drop_terminal_chunk}
  - {type: close_delimited}
"""
    with pytest.raises(ScenarioError, match="drop_terminal_chunk.*close_delimited.*cannot apply together"):
        load_text(text, "s.yaml")
