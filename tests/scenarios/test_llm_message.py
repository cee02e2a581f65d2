"""The message verdict of LLM clients (:mod:`faultproxy.scenarios.llm_message`), on plain data."""

from __future__ import annotations

from types import SimpleNamespace

from faultproxy.clients.transcript import Transcript
from faultproxy.scenarios.llm_message import compare, judge
from faultproxy.servers._llm import Exchange, ToolCall

ARGS = '{"city": "Paris", "days": 3}'


def server(text="Hello there.", tools=(), finish="end_turn", usage=None):
    x = Exchange(n=1, endpoint="messages", method="POST", path="/v1/messages", headers={}, body={},
                 body_bytes=0, model="m", stream=True, started=0.0, text=text,
                 tool_calls=[ToolCall("toolu_1", name, args) for name, args in tools], finish_reason=finish,
                 usage=usage or {"input_tokens": 5, "output_tokens": 9})
    return SimpleNamespace(log=[x])


def transcript(end="completed", **message):
    base = {"text": "Hello there.", "tool_calls": [], "finish_reason": "end_turn",
            "usage": {"input_tokens": 5, "output_tokens": 9}}
    return Transcript(client="x", end=end, message={**base, **message}, error_type="anthropic.APIStatusError"
                      if end == "error" else None, error_message="Overloaded" if end == "error" else None)


def test_the_same_message_in_other_words_is_ok():
    sent = server(tools=[("get_weather", ARGS)], finish="tool_use")
    got = transcript(tool_calls=[{"name": "get_weather", "arguments": '{"days":3,"city":"Paris"}'}],
                     finish_reason="tool-calls")
    assert judge(sent, got).outcome == "ok"


def test_half_the_tool_arguments_without_an_error_is_silent_loss():
    sent = server(tools=[("get_weather", ARGS)], finish="tool_use")
    verdict = judge(sent, transcript(tool_calls=[{"name": "get_weather", "arguments": ARGS[:12]}],
                                     finish_reason="tool_use"))
    assert verdict.outcome == "silent_loss"
    assert "arguments are not JSON" in verdict.summary and verdict.truth["tool_calls"][0]["arguments"] == ARGS


def test_truncated_text_missing_usage_and_finish_are_each_named():
    differences = compare({"text": "Hello", "tool_calls": [], "finish_reason": None, "usage": None},
                          {"text": "Hello there.", "tool_calls": [], "finish_reason": "stop",
                           "usage": {"input_tokens": 1, "output_tokens": 2}})
    assert [d.split(":")[0].split(" (")[0] for d in differences] == [
        "text truncated", "no finish reason", "no usage"]


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
