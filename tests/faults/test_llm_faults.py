"""The ``llm_*`` faults in memory (no sockets): a real mock's bytes, through a sans-IO pipeline.

Each fault is checked in all three dialects (OpenAI Chat, OpenAI Responses, Anthropic) on what
a client would parse from the result -- the events, the message they add up to, how the body
ends -- and, where the mock can send the same failure through its own options, against the
mock's version of it, so the faults and the mocks agree on the real formats.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from llm_support import WEATHER, mock_exchange, through

from faultproxy.faults import FaultSet, FaultSpecError, Pipeline, parse_fault
from faultproxy.faults.base import Close
from faultproxy.wire.http import HTTPReader, Response, parse_request_head

DIALECTS = ("chat", "responses", "anthropic")
ARGS = json.dumps(WEATHER["arguments"])


def fault(type_: str, **attributes) -> dict:
    return {"type": type_, "attributes": attributes}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_error_event_replaces_the_rest_of_the_answer_with_the_dialects_error(dialect):
    raw, truth = mock_exchange(dialect)
    view, evidence = through([fault("llm_error_event", after_deltas=3)], raw, dialect)
    message = view.message()
    assert message.text == _tokens(truth.text, 3)
    assert view.status == 200 and view.complete and len(evidence) == 1
    assert message.finish_reason in (None, "failed") and message.error is not None
    if dialect == "anthropic":
        assert view.types[-1] == "error" and message.error["type"] == "overloaded_error"
    elif dialect == "chat":
        assert view.data[-1] == "[DONE]" and message.error["type"] == "server_error"
    else:
        assert view.types[-2:] == ["error", "response.failed"]
        assert (
            json.loads(view.data[-1])["sequence_number"] == json.loads(view.data[-2])["sequence_number"] + 1
        )


def test_an_anthropic_error_event_without_the_responses_request_id_makes_one_of_the_same_form():
    """A server (or an intermediary) that sends no ``request-id`` header: the error event still
    carries one, as the API's always do (a NameError once hid here)."""
    import re

    raw, _ = mock_exchange("anthropic")
    head, sep, body = raw.partition(b"\r\n\r\n")
    raw = re.sub(rb"(?im)^request-id:[^\r\n]*\r\n", b"", head + b"\r\n") + sep[2:] + body
    assert b"request-id" not in raw.partition(b"\r\n\r\n")[0].lower()
    view, evidence = through([fault("llm_error_event", after_deltas=3)], raw, "anthropic")
    error = json.loads(view.data[-1])
    assert view.types[-1] == "error" and len(evidence) == 1
    assert re.fullmatch(r"req_011C[A-Za-z0-9]{20}", error["request_id"])


@pytest.mark.parametrize("dialect", DIALECTS)
def test_error_event_matches_the_mocks_own_error_after(dialect):
    """The fault on a healthy stream and the mock's ``error_after`` send the same events."""
    faulted, _ = through([fault("llm_error_event", after_deltas=3)], mock_exchange(dialect)[0], dialect)
    own, _ = through([], mock_exchange(dialect, error_after=3)[0], dialect)
    assert faulted.types == own.types
    a, b = faulted.message(), own.message()
    assert (a.text, a.error["type"], a.finish_reason, a.sentinel) == (
        b.text,
        b.error["type"],
        b.finish_reason,
        b.sentinel,
    )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_stall_keeps_the_stream_alive_with_the_dialects_keepalive(dialect):
    raw, truth = mock_exchange(dialect)
    view, evidence = through(
        [fault("llm_stall", after_deltas=2, duration_ms=1000, ping_ms=300)], raw, dialect
    )
    assert view.waits == pytest.approx(1.0)
    assert view.message().text == truth.text and view.complete  # nothing lost, only late
    pings = view.body.count(b"event: ping") if dialect == "anthropic" else view.body.count(b": keep-alive")
    assert pings == 3 + (1 if dialect == "anthropic" else 0)  # the mock's own ping is there too
    assert "3 keep-alives" in evidence[0]["detail"]


def test_stall_refuses_an_unbounded_number_of_pings():
    with pytest.raises(FaultSpecError, match="pings"):
        parse_fault(fault("llm_stall", duration_ms=3_600_000, ping_ms=10))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_hold_open_keeps_the_connection_after_the_sentinel(dialect):
    raw, truth = mock_exchange(dialect)
    view, evidence = through([fault("llm_hold_open")], raw, dialect)
    message = view.message()
    assert view.held and not view.complete and not view.closed
    assert message.sentinel and message.text == truth.text
    assert evidence[0]["detail"].startswith("held the connection open")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_no_sentinel_ends_the_body_cleanly_without_it(dialect):
    raw, truth = mock_exchange(dialect)
    view, _ = through([fault("llm_no_sentinel")], raw, dialect)
    message = view.message()
    assert view.complete and not message.sentinel and message.text == truth.text
    assert (
        "[DONE]" not in view.data
        and "message_stop" not in view.types
        and "response.completed" not in view.types
    )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_no_usage_takes_the_usage_away_and_nothing_else(dialect):
    raw, truth = mock_exchange(dialect)
    healthy, _ = through([], raw, dialect)
    view, evidence = through([fault("llm_no_usage")], raw, dialect)
    message = view.message()
    assert message.text == truth.text and message.sentinel and message.finish_reason == truth.finish_reason
    assert healthy.message().usage and evidence
    if dialect == "anthropic":  # message_start's early count (1) is all that is left
        assert message.usage["output_tokens"] == 1 != truth.usage["output_tokens"]
    else:
        assert message.usage is None
    assert len(view.events) == len(healthy.events) - (1 if dialect == "chat" else 0)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_duplicate_delta_repeats_one_token(dialect):
    raw, truth = mock_exchange(dialect)
    view, _ = through([fault("llm_duplicate_delta", delta_index=2)], raw, dialect)
    tokens = _token_list(truth.text)
    assert view.message().text == "".join(tokens[:3] + tokens[2:])


@pytest.mark.parametrize("dialect", DIALECTS)
def test_tool_args_cut_leaves_json_that_never_completes(dialect):
    raw, truth = mock_exchange(dialect, tools=True, tool_fragments=4)
    view, evidence = through([fault("llm_tool_args_cut", after_fragments=1)], raw, dialect)
    message = view.message()
    call = message.tool_calls[0]
    assert call.name == "get_weather" and not call.arguments_ok
    assert ARGS.startswith(call.arguments) and len(call.arguments) < len(ARGS)
    # the rest of the stream is as sent: the finish reason, the sentinel, a clean end
    assert message.finish_reason == truth.finish_reason and message.sentinel and view.complete
    assert json.dumps(ARGS) not in view.body.decode()  # no .done event still carries the whole JSON
    assert "cut tool-call arguments" in evidence[0]["detail"]


def test_tool_args_cut_then_end_stops_the_body_at_the_cut():
    raw, _ = mock_exchange("anthropic", tools=True)
    view, _ = through([fault("llm_tool_args_cut", after_fragments=2, then="end")], raw, "anthropic")
    assert view.complete and view.types[-1] == "content_block_delta" and not view.message().sentinel


@pytest.mark.parametrize("dialect", DIALECTS)
def test_reorder_swaps_two_deltas(dialect):
    raw, truth = mock_exchange(dialect)
    view, evidence = through([fault("llm_reorder", unit="delta", index=3)], raw, dialect)
    tokens = _token_list(truth.text)
    tokens[3], tokens[4] = tokens[4], tokens[3]
    assert view.message().text == "".join(tokens) and "delta 3 after delta 4" in evidence[0]["detail"]


def test_reorder_blocks_sends_the_tool_use_block_before_the_text_block():
    raw, truth = mock_exchange("anthropic", tools=True)
    view, evidence = through([fault("llm_reorder", unit="block", index=0)], raw, "anthropic")
    starts = [json.loads(d)["index"] for t, d in zip(view.types, view.data) if t == "content_block_start"]
    assert starts == [1, 0] and "content block 0 after block 1" in evidence[0]["detail"]
    message = view.message()  # placed by index, the message is whole
    assert message.text == truth.text and message.tool_calls[0].arguments == ARGS


def test_reorder_of_a_single_block_does_nothing():
    raw, truth = mock_exchange("anthropic")
    view, evidence = through([fault("llm_reorder", unit="block")], raw, "anthropic")
    assert view.message().text == truth.text and evidence == []


@pytest.mark.parametrize(
    ("dialect", "status", "kind"),
    [
        ("anthropic", 529, "overloaded_error"),
        ("anthropic", 429, "rate_limit_error"),
        ("chat", 429, "requests"),
        ("responses", 503, "server_error"),
    ],
)
def test_overloaded_answers_before_the_stream_in_the_apis_shape(dialect, status, kind):
    from llm_support import request_bytes

    pipeline = Pipeline(FaultSet([parse_fault(fault("llm_overloaded", status=status))]), 1, "response")
    request = parse_request_head(request_bytes(dialect).split(b"\r\n\r\n")[0] + b"\r\n\r\n")
    pipeline.sync(0.0)
    out = pipeline.expect(request)
    assert out is not None and isinstance(out[-1], Close)
    reader = HTTPReader("response")
    reader.expect_response_to(b"POST")
    events = reader.feed(b"".join(o for o in out if isinstance(o, bytes)))
    head = next(e for e in events if isinstance(e, Response))
    body = json.loads(b"".join(getattr(e, "data", b"") for e in events[1:]))
    assert head.status == status
    assert (body["error"]["type"]) == kind
    assert (head.headers.get("retry-after") is not None) == (status == 429)
    assert (head.headers.get("x-should-retry") == b"true") == (dialect == "anthropic")


@pytest.mark.parametrize(
    ("dialect", "status"),
    [
        ("anthropic", 529),
        ("anthropic", 429),
        ("anthropic", 503),
        ("chat", 429),
        ("chat", 503),
        ("responses", 500),
    ],
)
def test_overloaded_refuses_as_the_mocks_error_status_does(dialect, status):
    """The fault's refusal and the mock's ``error_status`` are the same JSON, headers that matter too."""
    from llm_support import request_bytes

    pipeline = Pipeline(FaultSet([parse_fault(fault("llm_overloaded", status=status))]), 1, "response")
    pipeline.sync(0.0)
    out = pipeline.expect(parse_request_head(request_bytes(dialect).split(b"\r\n\r\n")[0] + b"\r\n\r\n"))
    faulted_head, faulted = _answer(b"".join(o for o in out if isinstance(o, bytes)))
    mock_head, mine = _answer(mock_exchange(dialect, error_status=status)[0])
    for body in (faulted, mine):
        body.pop("request_id", None)
        if "Rate limit reached" in body.get("error", {}).get("message", ""):
            body["error"]["message"] = body["error"]["message"].replace(
                " for m in", " in"
            )  # the fault sees no body
    assert faulted == mine
    for name in (b"retry-after", b"retry-after-ms", b"x-should-retry"):
        assert faulted_head.headers.get(name) == mock_head.headers.get(name), name


def _answer(raw: bytes):
    reader = HTTPReader("response")
    reader.expect_response_to(b"POST")
    events = reader.feed(raw)
    head = next(e for e in events if isinstance(e, Response))
    return head, json.loads(b"".join(getattr(e, "data", b"") for e in events[1:]))


LLM_FAULTS = [
    fault("llm_error_event", after_deltas=2),
    fault("llm_stall", after_deltas=1, duration_ms=50, ping_ms=20),
    fault("llm_hold_open"),
    fault("llm_no_sentinel"),
    fault("llm_no_usage"),
    fault("llm_duplicate_delta"),
    fault("llm_tool_args_cut"),
    fault("llm_reorder", unit="block"),
    fault("llm_reorder", index=1),
]


PLAIN_SSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"".join(
        b"%x\r\n%s\r\n" % (len(block), block)
        for block in (
            b": hello\n\n",
            b"id: 1\ndata: one\n\n",
            b"event: tick\ndata: two\n\n",
            b'data: {"n": 3}\n\n',
            b"data: [DONE]\n\n",
        )
    )
    + b"0\r\n\r\n"
)


@pytest.mark.parametrize(
    "spec", LLM_FAULTS, ids=lambda f: f["type"] + "".join(f"-{v}" for v in f["attributes"].values())
)
def test_an_llm_fault_passes_a_plain_event_stream_through_and_says_why(spec):
    # review2 item 6: llm_error_event wrote an OpenAI error into a plain stream, llm_stall stalled it
    fault_set = FaultSet([parse_fault(spec)])
    pipeline = Pipeline(fault_set, 1, "response")
    pipeline.expect(parse_request_head(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n"))
    out = pipeline.feed(PLAIN_SSE, 0.0) + pipeline.eof(0.0)
    assert b"".join(o for o in out if isinstance(o, bytes)) == PLAIN_SSE
    assert [o for o in out if not isinstance(o, bytes)] == [] and fault_set.evidence == []
    (note,) = fault_set.notes
    assert note.detail.startswith("not an LLM stream") and "/events" in note.detail


@settings(max_examples=40, deadline=None)
@given(
    dialect=st.sampled_from(DIALECTS),
    which=st.integers(0, len(LLM_FAULTS) - 1),
    split=st.integers(1, 300),
    tools=st.booleans(),
)
def test_what_a_client_parses_does_not_depend_on_the_read_splits(dialect, which, split, tools):
    raw, _ = _cached(dialect, tools)
    whole, evidence = through([LLM_FAULTS[which]], raw, dialect)
    pieces, evidence_split = through([LLM_FAULTS[which]], raw, dialect, split=split)
    assert (pieces.data, pieces.complete, pieces.held, pieces.waits) == (
        whole.data,
        whole.complete,
        whole.held,
        whole.waits,
    )
    assert [e["detail"] for e in evidence_split] == [e["detail"] for e in evidence]


_CACHE: dict = {}


def _cached(dialect: str, tools: bool):
    if (dialect, tools) not in _CACHE:
        _CACHE[dialect, tools] = mock_exchange(dialect, tools=tools)
    return _CACHE[dialect, tools]


def _token_list(text: str) -> list[str]:
    from faultproxy.servers._llm import split_text

    return split_text(text)


def _tokens(text: str, n: int) -> str:
    return "".join(_token_list(text)[:n])


# -- the mocks send the same through their own options ---------------------------------------------

SAME = [
    ("llm_error_event", {"after_deltas": 3}, {"error_after": 3}, False),
    ("llm_error_event", {"after_deltas": 5}, {"error_after": 5}, True),
    (
        "llm_stall",
        {"after_deltas": 2, "duration_ms": 40, "ping_ms": 15},
        {"stall_after": 2, "stall_ms": 40, "ping_ms": 15},
        False,
    ),
    ("llm_no_sentinel", {}, {"omit_sentinel": True}, False),
    ("llm_no_usage", {}, {"omit_usage": True}, False),
    ("llm_duplicate_delta", {"delta_index": 2}, {"duplicate_delta": 2}, False),
    ("llm_reorder", {"unit": "delta", "index": 3}, {"swap_delta": 3}, False),
    ("llm_tool_args_cut", {"after_fragments": 1}, {"cut_tool_args": 1}, True),
]


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("kind", "attributes", "options", "tools"), SAME, ids=[s[0] for s in SAME])
def test_the_mocks_own_option_sends_what_the_fault_makes(dialect, kind, attributes, options, tools):
    healthy, _ = mock_exchange(dialect, tools=tools)
    faulted, _ = through([fault(kind, **attributes)], healthy, dialect)
    own, truth = mock_exchange(dialect, tools=tools, **options)
    mine, _ = through([], own, dialect)
    assert _no_pings(mine.types) == _no_pings(faulted.types)
    # event by event, every field (the sequence numbers, Anthropic's request_id, the messages) but the clock's
    assert _events(faulted) == _events(mine)
    a, b = _comparable(faulted.message()), _comparable(mine.message())
    assert a == b
    # the ground truth is still the answer the mock meant, not the damage it did on purpose
    assert truth.text == healthy_text(dialect, tools) and (not tools or truth.tool_calls[0].arguments == ARGS)


def test_the_anthropic_mock_swaps_blocks_as_the_fault_does():
    faulted, _ = through(
        [fault("llm_reorder", unit="block")], mock_exchange("anthropic", tools=True)[0], "anthropic"
    )
    mine, _ = through([], mock_exchange("anthropic", tools=True, swap_blocks=True)[0], "anthropic")
    assert _no_pings(mine.types) == _no_pings(faulted.types)
    assert _comparable(mine.message()) == _comparable(faulted.message())


def _events(view) -> list[tuple[str, object]]:
    """The events' types and JSON, without pings and the fields that tell the time."""

    def timeless(value):
        if isinstance(value, dict):
            return {
                k: timeless(v) for k, v in value.items() if k not in ("created", "created_at", "obfuscation")
            }
        return value

    return [
        (e.type, timeless(json.loads(e.data)) if e.data.startswith("{") else e.data)
        for e in view.events
        if e.type != "ping"
    ]


def _no_pings(types: list[str]) -> list[str]:
    return [t for t in types if t != "ping"]


def healthy_text(dialect: str, tools: bool) -> str:
    return _cached(dialect, tools)[1].text


def _comparable(message) -> dict:
    out = message.to_dict()
    for call in out["tool_calls"]:
        call.pop("id")
    return out


def test_llm_faults_by_name_from_the_cli_flag_and_the_toxic_shape():
    from faultproxy.faults import parse_cli_fault

    spec = parse_cli_fault("llm_tool_args_cut:after_fragments=2,then=end")
    assert spec.type == "llm_tool_args_cut" and spec.attributes.after_fragments == 2
    toxic = parse_fault(
        {
            "name": "slow",
            "type": "llm_stall",
            "stream": "downstream",
            "attributes": {"duration_ms": 500, "ping_ms": 100},
        }
    )
    assert toxic.as_dict()["attributes"]["ping_ms"] == 100
    with pytest.raises(FaultSpecError, match="then"):
        parse_cli_fault("llm_tool_args_cut:then=later")
