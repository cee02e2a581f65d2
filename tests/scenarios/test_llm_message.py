"""The message verdict of LLM clients (:mod:`faultproxy.scenarios.llm_message`), on plain data."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "faults"))
from llm_support import mock_exchange  # noqa: E402

from faultproxy.clients.transcript import Transcript  # noqa: E402
from faultproxy.scenarios.llm_message import compare, judge, truth_of  # noqa: E402
from faultproxy.servers._llm import Exchange, SentEvent, ToolCall  # noqa: E402

ARGS = '{"city": "Paris", "days": 3}'


def server(text="Hello there.", tools=(), finish="end_turn", usage=None):
    x = Exchange(
        n=1,
        endpoint="messages",
        method="POST",
        path="/v1/messages",
        headers={},
        body={},
        body_bytes=0,
        model="m",
        stream=True,
        started=0.0,
        text=text,
        tool_calls=[ToolCall("toolu_1", name, args) for name, args in tools],
        finish_reason=finish,
        usage=usage or {"input_tokens": 5, "output_tokens": 9},
        status=200,
        events=[SentEvent(0, "message_start", "{}", 20, 0, 0.0)],
    )
    return SimpleNamespace(log=[x])


def transcript(end="completed", **message):
    base = {
        "text": "Hello there.",
        "tool_calls": [],
        "finish_reason": "end_turn",
        "usage": {"input_tokens": 5, "output_tokens": 9},
    }
    return Transcript(
        client="x",
        end=end,
        message={**base, **message},
        error_type="anthropic.APIStatusError" if end == "error" else None,
        error_message="Overloaded" if end == "error" else None,
    )


def test_the_same_message_in_other_words_is_ok():
    sent = server(tools=[("get_weather", ARGS)], finish="tool_use")
    got = transcript(
        tool_calls=[{"name": "get_weather", "arguments": '{"days":3,"city":"Paris"}'}],
        finish_reason="tool-calls",
    )
    assert judge(sent, got).outcome == "ok"


def test_half_the_tool_arguments_without_an_error_is_silent_loss():
    sent = server(tools=[("get_weather", ARGS)], finish="tool_use")
    verdict = judge(
        sent,
        transcript(tool_calls=[{"name": "get_weather", "arguments": ARGS[:12]}], finish_reason="tool_use"),
    )
    assert verdict.outcome == "silent_loss"
    assert "arguments are not JSON" in verdict.summary and verdict.truth["tool_calls"][0]["arguments"] == ARGS


def test_truncated_text_missing_usage_and_finish_are_each_named():
    differences = compare(
        {"text": "Hello", "tool_calls": [], "finish_reason": None, "usage": None},
        {
            "text": "Hello there.",
            "tool_calls": [],
            "finish_reason": "stop",
            "usage": {"input_tokens": 1, "output_tokens": 2},
        },
    )
    assert [d.split(":")[0].split(" (")[0] for d in differences] == [
        "text truncated",
        "no finish reason",
        "no usage",
    ]


def test_an_error_is_error_even_after_the_whole_message():
    verdict = judge(server(), transcript(end="error"))
    assert verdict.outcome == "error" and "although the whole message had arrived" in verdict.summary


def test_hung_and_no_message():
    assert judge(server(), transcript(end="hung")).outcome == "hung"
    assert judge(server(), Transcript(client="x", end="completed")) is None


def test_a_repeated_or_swapped_piece_of_text_is_named_as_such():
    from faultproxy.scenarios.llm_message import alteration

    assert alteration("the the cat sat", "the cat sat") == "duplicated"
    assert alteration("the cat cat sat", "the cat sat") == "duplicated"
    assert alteration("the sat cat", "the cat sat") == "reordered"
    assert alteration("the cat", "the cat sat") is None
    assert alteration("the dog sat", "the cat sat") is None


def reported(exchange, end="completed", **message):
    """What a client that joins the deltas it received reports (the mock's sent text, no finish/usage)."""
    base = {"text": exchange.sent_text, "tool_calls": [], "finish_reason": None, "usage": None}
    return Transcript(
        client="x",
        end=end,
        message={**base, **message},
        error_type="openai.APIError" if end == "error" else None,
        error_message="The server had an error" if end == "error" else None,
    )


@pytest.mark.parametrize("dialect", ["chat", "responses", "anthropic"])
def test_a_client_that_swallows_the_mocks_error_event_is_silent_loss(dialect):
    # review2 item 1: the truth was the deltas before the error, so returning them was "ok"
    raw, exchange = mock_exchange(dialect, error_after=3, tokens=12)
    sent = SimpleNamespace(log=[exchange])
    verdict = judge(sent, reported(exchange))
    assert verdict.outcome == "silent_loss"
    assert "error event" in verdict.differences[0] and "text truncated" in verdict.summary
    assert verdict.truth["error"]["after"] == 3 and len(verdict.truth["text"]) > len(exchange.sent_text)
    # even a client that reported the whole planned text (it cannot, but) is not ok: the server said error
    whole = judge(
        sent,
        reported(exchange, text=exchange.text, finish_reason=exchange.finish_reason, usage=exchange.usage),
    )
    assert whole.outcome == "silent_loss"


def test_a_client_that_raises_on_the_error_event_is_not_said_to_have_the_whole_message():
    raw, exchange = mock_exchange("chat", error_after=3, tokens=16)
    verdict = judge(SimpleNamespace(log=[exchange]), reported(exchange, end="error"))
    assert verdict.outcome == "error"
    assert "whole message" not in verdict.summary and "text truncated" in verdict.summary
    assert "server's error event (server_error, after 3 deltas)" in verdict.summary


@pytest.mark.parametrize("status", [429, 529, 500])
def test_a_refused_request_gives_no_message_truth(status):
    # review2 item 2: a 429 answered before any stream gave an empty truth, so swallowing it was "ok"
    raw, exchange = mock_exchange("anthropic" if status == 529 else "chat", error_status=status)
    assert exchange.status == status and not exchange.events
    sent = SimpleNamespace(log=[exchange])
    assert truth_of(sent) is None
    assert judge(sent, reported(exchange, text="")) is None  # the event verdict judges the cell


def test_input_tokens_and_count_types_are_compared():
    sent = server()
    assert compare(
        {
            "text": "Hello there.",
            "finish_reason": "end_turn",
            "usage": {"input_tokens": 999, "output_tokens": 9},
        },
        truth_of(sent),
    ) == ["usage says 999 input tokens, not 5"]
    assert compare(
        {
            "text": "Hello there.",
            "finish_reason": "end_turn",
            "usage": {"prompt_tokens": 5, "completion_tokens": "9"},
        },
        truth_of(sent),
    ) == ["usage says '9' output tokens, not 9"]


def test_a_tool_call_ended_with_stop_is_wrong_except_for_the_responses_completed():
    call = [{"name": "get_weather", "arguments": ARGS}]
    chat = server(tools=[("get_weather", ARGS)], finish="tool_calls")
    assert judge(chat, transcript(tool_calls=call, finish_reason="stop")).outcome == "silent_loss"
    responses = server(tools=[("get_weather", ARGS)], finish="completed")
    assert judge(responses, transcript(tool_calls=call, finish_reason="tool-calls")).outcome == "ok"


def test_an_altered_text_shows_where_it_differs_whitespace_included():
    (difference,) = compare(
        {"text": "Hello there.\n", "finish_reason": "end_turn"},
        {"text": "Hello there.", "finish_reason": "end_turn", "usage": None},
    )
    assert difference.startswith("text altered at character 12") and "\\n" in difference


def test_content_blocks_in_another_order_are_reordered_where_the_client_reports_an_order():
    sent = server(tools=[("get_weather", ARGS)], finish="tool_use")
    assert truth_of(sent)["blocks"] == ["text", "tool_call"]
    call = [{"name": "get_weather", "arguments": ARGS}]
    swapped = judge(sent, transcript(tool_calls=call, finish_reason="tool_use", blocks=["tool_call", "text"]))
    assert swapped.outcome == "reordered"
    assert swapped.differences == ["content blocks in the order tool_call, text instead of text, tool_call"]
    assert (
        judge(
            sent, transcript(tool_calls=call, finish_reason="tool_use", blocks=["text", "tool_call"])
        ).outcome
        == "ok"
    )
    assert (
        judge(sent, transcript(tool_calls=call, finish_reason="tool_use")).outcome == "ok"
    )  # no order: Chat
