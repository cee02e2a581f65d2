"""The conformance cases against faultproxy's own parser, in memory: every case, every cut.

These are the promise that ``wire`` passes every case; they also check the cases themselves
(every way of cutting a body gives the same events) and the pieces the server writes.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faultproxy.clients import registry
from faultproxy.conformance import sdk
from faultproxy.conformance.cases import CASES, QUICK, Case, Expected, Response, select
from faultproxy.conformance.chunking import CHUNKINGS, cut
from faultproxy.conformance.judge import FAIL, PASS, Got, judge, parse_case
from faultproxy.wire.sse import SSEParser

CUTS = [(case, chunking) for case in CASES for chunking in CHUNKINGS]


@pytest.mark.parametrize(("case", "chunking"), CUTS, ids=[f"{c.name}-{k}" for c, k in CUTS])
def test_wire_parser_passes_every_case_under_every_chunking(case: Case, chunking: str) -> None:
    verdict = parse_case(case, chunking)
    assert verdict.status == PASS, verdict.detail


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([c for c in CASES if not c.stops]), st.data())
def test_any_cut_of_a_case_gives_its_events(case: Case, data: st.DataObject) -> None:
    """Beyond the three chunkings: the first response cut anywhere parses to the case's events."""
    body = case.responses[0].body
    points = sorted(data.draw(st.lists(st.integers(0, len(body)), max_size=12)))
    parser = SSEParser()
    got = []
    for start, end in zip([0, *points], [*points, len(body)]):
        got += parser.feed(body[start:end])
    # a reconnection case's later events come on the next response: here only the first one's are due
    expected = case.events if len(case.responses) == 1 else case.events[: len(got)]
    assert [(e.type, e.data) for e in got] == [(e.type, e.data) for e in expected]


@pytest.mark.parametrize("chunking", CHUNKINGS)
def test_cut_keeps_every_byte(chunking: str) -> None:
    body = b"\xef\xbb\xbfdata: a\r\ndata:\rb\n\n:c\r\r\n"
    pieces = cut(body, chunking)
    assert b"".join(pieces) == body
    if chunking == "bytes":
        assert all(len(p) == 1 for p in pieces)
    if chunking == "eol":
        assert all(p[-1:] in (b"\r", b"\n") for p in pieces[:-1])
        assert b"\r\n" not in b"|".join(pieces)  # every CRLF arrives split


def test_judge_names_every_difference() -> None:
    case = Case("t", "ld", "x", "y", (Response(b"id: 1\ndata: a\n\n"),), (Expected("a", id="1"), Expected("b")),
                check_ids=True)
    verdict = judge(case, case.events, [Got("message", "a\r", None)], requests=1, last_event_ids=[], ended="completed")
    assert verdict.status == FAIL
    assert verdict.problems == ["event 1: data 'a\\r', expected 'a'", "event 1: last event ID none, expected '1'",
                                "1 event(s) missing: 'b'"]


def test_a_case_that_must_stop_fails_a_client_that_reconnects() -> None:
    case = select(["wpt-status-404"])[0]
    verdict = judge(case, case.events, [], requests=2, last_event_ids=[None], ended="completed")
    assert verdict.problems == ["reconnected (2 requests) after a response that must stop it"]


def test_the_quick_subset_names_existing_cases() -> None:
    assert [c.name for c in select(quick=True)] == list(QUICK)
    with pytest.raises(KeyError, match="unknown case"):
        select(["no-such-case"])


SDK_CASES = [(case, protocol) for case in CASES if sdk.unfit(case) is None for protocol in sdk.ENVELOPES]


@pytest.mark.parametrize(("case", "protocol"), SDK_CASES, ids=[f"{c.name}-{p}" for c, p in SDK_CASES])
def test_sdk_envelope_changes_only_the_data_values(case: Case, protocol: str) -> None:
    """A spec-exact parser finds, in the wrapped body, the case's events with their data inside the envelope."""
    wrapped = sdk.wrap(case.responses[0].body, protocol)
    if not case.events:
        return
    texts = []
    for event in SSEParser().feed(wrapped):
        payload = json.loads(event.data)
        if protocol == registry.OPENAI_CHAT:
            texts.append(payload["choices"][0]["delta"]["content"])
        elif protocol == registry.OPENAI_RESPONSES:
            texts.append(payload["delta"])
        else:
            assert event.type == "content_block_delta"
            texts.append(payload["delta"]["text"])
    assert texts == [e.data for e in case.events]
    lines = case.responses[0].body.splitlines(keepends=True)[1:]  # the first may carry the stream's BOM
    unchanged = [line for line in lines if not line.startswith(b"data")]
    assert all(line in wrapped for line in unchanged)
