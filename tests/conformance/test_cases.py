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
from faultproxy.conformance.runner import chunkings_for
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
    case = Case(
        "t",
        "ld",
        "x",
        "y",
        (Response(b"id: 1\ndata: a\n\n"),),
        (Expected("a", id="1"), Expected("b")),
        check_ids=True,
    )
    verdict = judge(
        case, case.events, [Got("message", "a\r", None)], requests=1, last_event_ids=[], ended="completed"
    )
    assert verdict.status == FAIL
    assert verdict.problems == [
        "event 1: data 'a\\r', expected 'a'",
        "event 1: last event ID none, expected '1'",
        "1 event(s) missing: 'b'",
    ]


def test_a_case_that_must_stop_fails_a_client_that_reconnects() -> None:
    case = select(["wpt-status-404"])[0]
    verdict = judge(case, case.events, [], requests=2, last_event_ids=[None], ended="error")
    assert verdict.problems == ["reconnected (2 requests) after a response that must stop it"]


@pytest.mark.parametrize("name", ["wpt-status-404", "wpt-status-205", "wpt-mime-bogus"])
def test_a_refused_response_must_reach_the_application_as_an_error(name: str) -> None:
    """No event and no reconnect is not enough: a client that ends as if an empty stream had
    completed never tells the application that the server refused (an EventSource fires error)."""
    [case] = select([name])
    quiet = judge(case, case.events, [], requests=1, last_event_ids=[], ended="completed")
    assert quiet.status == FAIL
    assert quiet.problems == [
        "ended as if the stream had completed, without an error: the application is never "
        "told that the response was refused"
    ]
    assert judge(case, case.events, [], requests=1, last_event_ids=[], ended="error").status == PASS


def test_a_204_is_the_servers_stop_and_may_end_cleanly() -> None:
    [case] = select(["wpt-status-204"])
    assert judge(case, case.events, [], requests=1, last_event_ids=[], ended="completed").status == PASS
    assert judge(case, case.events, [], requests=1, last_event_ids=[], ended="error").status == PASS
    assert judge(case, case.events, [], requests=1, last_event_ids=[], ended="hung").status == FAIL


def test_a_client_that_raises_on_a_well_formed_stream_fails_even_with_every_event() -> None:
    [case] = select(["ld-one-line"])
    got = [Got("message", "Hello", None)]
    verdict = judge(
        case,
        case.events,
        got,
        requests=1,
        last_event_ids=[],
        ended="error",
        error="TypeError: text part msg_0 not found",
    )
    assert verdict.status == FAIL
    assert verdict.problems == [
        "ended in an error although the stream was well-formed (TypeError: text part msg_0 not found)"
    ]
    assert (
        judge(case, case.events, got, requests=1, last_event_ids=[], ended="error", may_raise=True).status
        == PASS
    )
    assert judge(case, case.events, got, requests=1, last_event_ids=[], ended="crashed").status == FAIL


@pytest.mark.parametrize("content_type", ["Text/Event-Stream", "TEXT/EVENT-STREAM; charset=utf-8"])
def test_the_mime_essence_compares_without_case(content_type: str) -> None:
    case = Case(
        "t", "wpt", "x", "y", (Response(b"data: a\n\n", content_type=content_type),), (Expected("a"),)
    )
    assert parse_case(case, "whole").status == PASS


def test_the_status_cases_cover_every_status_of_the_upstream_test() -> None:
    """web-platform-tests request-status-error: 204, 205, 210, 299, 404, 410 and 503 all fail the connection."""
    names = {c.name for c in CASES}
    assert {f"wpt-status-{code}" for code in (204, 205, 210, 299, 404, 410, 503)} <= names
    assert all(c.stops and c.cuts == ("whole",) for c in CASES if c.name.startswith("wpt-status-"))


def test_the_large_message_also_runs_in_two_halves_as_upstream() -> None:
    [case] = select(["ld-large-message"])
    assert chunkings_for(case) == ("whole", "halves")
    assert chunkings_for(case, ("bytes",)) == ("halves",)
    first, second = cut(case.responses[0].body, "halves")
    assert first.startswith(b"data: ") and not first.endswith(b"\n") and len(second) >= len(first)
    assert parse_case(case, "halves").status == PASS


def test_a_nul_id_is_never_sent_as_last_event_id() -> None:
    [case] = select(["wpt-reconnect-id-null"])
    assert case.last_event_ids == ("1",) and parse_case(case, "bytes").status == PASS
    sent_nul = judge(
        case,
        case.events,
        [Got("message", e.data, e.id) for e in case.events],
        requests=2,
        last_event_ids=["x\x00y"],
        ended="completed",
    )
    assert sent_nul.problems == ["request 2 sent Last-Event-ID 'x\\x00y', expected '1'"]


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


def _types(body: bytes) -> list[str]:
    return [json.loads(e.data)["type"] if e.data.startswith("{") else e.data for e in SSEParser().feed(body)]


def test_the_whole_stream_opens_after_the_bom_and_closes_only_between_blocks() -> None:
    """For the SDKs that refuse unannounced deltas: the vendor's opening events first (the BOM stays
    at offset 0), the case's deltas, and its closing events when the body ends between blocks."""
    [bom] = select(["ld-bom-start"])
    wrapped = sdk.whole_stream(bom.responses[0].body, registry.ANTHROPIC, "FirstSecond")
    assert wrapped.startswith(sdk.BOM + b"event: message_start\ndata: ")
    assert _types(wrapped) == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    [cr] = select(["ld-one-line-events-cr"])
    responses = sdk.whole_stream(cr.responses[0].body, registry.OPENAI_RESPONSES, "event 1event 2")
    assert b"\n" not in responses  # in the body's own line ending
    assert _types(responses)[:3] == [
        "response.created",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert _types(responses)[-1] == "response.completed"
    [unfinished] = select(["wpt-final-block"])
    assert not sdk.ends_between_blocks(unfinished.responses[0].body)
    cut_short = sdk.whole_stream(unfinished.responses[0].body, registry.ANTHROPIC, "test1")
    assert _types(cut_short) == ["message_start", "content_block_start", "content_block_delta"]  # no closing


def test_the_vendors_events_arrive_whole_while_the_case_is_cut() -> None:
    """A kilobyte of opening events a byte at a time only slows the stream (the Vercel AI SDK was
    killed at the deadline under `bytes`): they go in one piece, the case's own bytes as cut."""
    [bom] = select(["ld-bom-start"])
    pieces = sdk.whole_stream_pieces(bom.responses[0].body, registry.OPENAI_RESPONSES, "FirstSecond", "bytes")
    assert pieces[:3] == [b"\xef", b"\xbb", b"\xbf"]  # the BOM split byte by byte, as the case says
    assert pieces[3].startswith(b"event: response.created\n") and pieces[3].endswith(b"\n\n")
    assert all(len(p) == 1 for p in pieces[4:-1]) and pieces[-1].startswith(
        b"event: response.output_text.done"
    )
    whole = sdk.whole_stream_pieces(bom.responses[0].body, registry.OPENAI_RESPONSES, "FirstSecond", "whole")
    assert whole == [b"".join(pieces)]
    [two_boms] = select(["wpt-bom-2"])  # the second BOM's line stays an unknown field, as in wrap()
    assert b"\xef\xbb\xbfdata:1\n" in sdk.whole_stream(two_boms.responses[0].body, registry.ANTHROPIC, "23")
