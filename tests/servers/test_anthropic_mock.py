"""The official ``anthropic`` SDK against :class:`AnthropicServer`: it must assemble exactly
what the mock meant.

Every test runs a real server on 127.0.0.1 and a real SDK client over loopback; the SDK's
HTTP client ignores proxy environment variables (``trust_env=False``), and retries are off.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager

import anthropic
import httpx
import pytest

from faultproxy.net.stream_server import running_in_thread
from faultproxy.servers import anthropic as anthropic_mock
from faultproxy.servers.anthropic import AnthropicServer

MODEL = "claude-sonnet-4-6"
MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS = [
    {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
]
TOOL_CALL = {"name": "get_weather", "arguments": {"city": "Paris"}}


@contextmanager
def serving(
    client_options: dict | None = None, **options
) -> Iterator[tuple[AnthropicServer, anthropic.Anthropic]]:
    """A mock in a thread and a sync SDK client pointed at it, both closed afterwards."""
    with running_in_thread(AnthropicServer(**options)) as srv:
        client = anthropic.Anthropic(
            base_url=srv.base_url,
            api_key="test-key",
            max_retries=0,
            http_client=anthropic.DefaultHttpxClient(trust_env=False),
            **(client_options or {}),
        )
        with client:
            yield srv, client


def test_stream_text_stop_reason_usage_and_event_sequence():
    with serving(seed=1, tokens=8) as (srv, client):
        with client.messages.stream(model=MODEL, max_tokens=1024, messages=MESSAGES) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
    truth = srv.responses[-1]
    assert text == truth.text == truth.sent_text and len(truth.text.split()) == 8
    assert final.content[0].text == truth.text
    assert final.stop_reason == truth.finish_reason == "end_turn"
    assert final.usage.output_tokens == truth.usage["output_tokens"] == 8
    assert final.usage.input_tokens == truth.usage["input_tokens"]
    assert final.id == json.loads(truth.events[0].data)["message"]["id"]
    assert truth.event_types == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 8,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    # the SSE event name always equals the JSON type, which the SDK relies on
    assert all(json.loads(e.data)["type"] == e.event for e in truth.events)
    assert truth.headers["authorization"] == "<redacted>"  # anthropic 2.x sends the key as a Bearer token
    assert truth.headers["anthropic-version"]  # 2.12.0 sends "2026-10-21", not the long-standing 2023-06-01
    assert truth.headers["x-stainless-helper-method"] == "stream"
    assert "test-key" not in json.dumps(truth.summary())
    assert truth.completed and truth.outcome == "ok"


def test_non_stream_create_and_max_tokens():
    with serving(text="alpha beta gamma delta") as (srv, client):
        whole = client.messages.create(model=MODEL, max_tokens=100, messages=MESSAGES)
        cut = client.messages.create(model=MODEL, max_tokens=2, messages=MESSAGES)
    assert whole.content[0].text == srv.responses[0].text == "alpha beta gamma delta"
    assert whole.stop_reason == "end_turn" and whole.usage.output_tokens == 4
    assert cut.content[0].text == srv.responses[1].text == "alpha beta"
    assert cut.stop_reason == srv.responses[1].finish_reason == "max_tokens"
    assert srv.responses[1].events == [] and not srv.responses[1].stream


def test_async_stream_and_create():
    async def scenario():
        async with AnthropicServer(seed=2, tokens=5) as srv:
            async with anthropic.AsyncAnthropic(
                base_url=srv.base_url,
                api_key="test-key",
                max_retries=0,
                http_client=anthropic.DefaultAsyncHttpxClient(trust_env=False),
            ) as client:
                async with client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
                    pieces = [text async for text in stream.text_stream]
                    final = await stream.get_final_message()
                created = await client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
            return pieces, final, created, srv

    pieces, final, created, srv = asyncio.run(scenario())
    assert pieces == [e.text for e in srv.responses[0].events if e.text]
    assert "".join(pieces) == final.content[0].text == srv.responses[0].text
    assert created.content[0].text == srv.responses[1].text
    assert srv.responses[0].headers["x-stainless-async"].startswith("async")


def test_tool_use_input_json_deltas_become_the_final_input():
    with serving(seed=3, tokens=4, tool_call=TOOL_CALL, tool_fragments=3) as (srv, client):
        with client.messages.stream(model=MODEL, max_tokens=1024, messages=MESSAGES, tools=TOOLS) as stream:
            final = stream.get_final_message()
        plain = client.messages.create(model=MODEL, max_tokens=1024, messages=MESSAGES, tools=TOOLS)
    truth = srv.responses[0]
    assert [block.type for block in final.content] == ["text", "tool_use"]
    tool_use = final.content[1]
    assert tool_use.name == "get_weather" and tool_use.input == {"city": "Paris"}
    assert tool_use.id == truth.tool_calls[0].id and truth.tool_calls[0].input == {"city": "Paris"}
    assert final.content[0].text == truth.text
    assert final.stop_reason == truth.finish_reason == "tool_use"
    partial = [
        json.loads(e.data)["delta"]["partial_json"]
        for e in truth.events
        if e.event == "content_block_delta" and json.loads(e.data)["delta"]["type"] == "input_json_delta"
    ]
    assert partial[0] == "" and len(partial) == 4 and "".join(partial) == truth.tool_arguments
    assert plain.content[1].input == {"city": "Paris"} and plain.stop_reason == "tool_use"


def test_forced_tool_choice_without_configured_call():
    with serving(tokens=2) as (srv, client):
        message = client.messages.create(
            model=MODEL,
            max_tokens=100,
            messages=MESSAGES,
            tools=TOOLS,
            tool_choice={"type": "tool", "name": "get_weather"},
        )
    assert message.content[-1].type == "tool_use" and message.content[-1].input == {}
    assert srv.responses[-1].tool_calls[0].name == "get_weather"


def test_models_list():
    with serving() as (srv, client):
        ids = [m.id for m in client.models.list()]
    assert ids == list(srv.models)


# -- errors -----------------------------------------------------------------------------------


def test_overloaded_529_before_the_stream():
    with serving(error_status=529) as (srv, client):
        with pytest.raises(anthropic.OverloadedError) as raised:
            with client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
                stream.get_final_message()
    error = raised.value
    assert type(error) is anthropic.OverloadedError and isinstance(error, anthropic.InternalServerError)
    assert error.status_code == 529
    assert error.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert error.response.headers["x-should-retry"] == "true"
    assert (
        error.request_id == dict(srv.responses[-1].response_headers)["request-id"] == error.body["request_id"]
    )
    assert srv.responses[-1].outcome == "error_status"


def test_rate_limit_429_and_wrong_key_401():
    with serving(error_status=429, retry_after=7) as (srv, client):
        with pytest.raises(anthropic.RateLimitError) as limited:
            client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    assert limited.value.response.headers["retry-after"] == "7"
    assert limited.value.body["error"]["type"] == "rate_limit_error"
    with serving(api_key="another-key") as (srv, client):
        with pytest.raises(anthropic.AuthenticationError) as denied:
            client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    assert denied.value.body["error"]["type"] == "authentication_error"


def test_overloaded_error_mid_stream():
    with serving(seed=4, tokens=10, error_after=3) as (srv, client):
        pieces = []
        with pytest.raises(anthropic.APIStatusError) as raised:
            with client.messages.stream(model=MODEL, max_tokens=1024, messages=MESSAGES) as stream:
                for text in stream.text_stream:
                    pieces.append(text)
    truth = srv.responses[-1]
    # anthropic 2.12.0: an in-stream error becomes the *base* APIStatusError with the 200 of the stream,
    # not OverloadedError (that class is chosen by the 529 status, which a stream never has)
    assert type(raised.value) is anthropic.APIStatusError and raised.value.status_code == 200
    assert raised.value.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert "".join(pieces) == truth.sent_text and len(pieces) == 3
    assert truth.event_types[-1] == "error" and "message_stop" not in truth.event_types
    # the plan stays the whole answer; the error is recorded beside it
    assert len(truth.text.split()) == 10 and truth.finish_reason == "end_turn" and truth.error["after"] == 3
    assert truth.outcome == "stream_error" and not truth.completed


def test_error_after_on_a_non_streamed_request_is_529():
    with serving(error_after=1) as (srv, client):
        with pytest.raises(anthropic.OverloadedError):
            client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)


def test_missing_api_key_and_missing_version():
    with serving(client_options={"default_headers": {"anthropic-version": anthropic.Omit()}}) as (
        srv,
        client,
    ):
        with pytest.raises(anthropic.BadRequestError) as no_version:
            client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    assert no_version.value.body["error"] == {
        "type": "invalid_request_error",
        "message": "anthropic-version: header is required",
    }
    assert "anthropic-version" not in srv.responses[-1].headers
    with running_in_thread(AnthropicServer()) as srv:
        with httpx.Client(trust_env=False) as http:
            url = f"{srv.base_url}/v1/messages"
            body = {"model": MODEL, "max_tokens": 8, "messages": MESSAGES}
            no_key = http.post(url, json=body, headers={"anthropic-version": "2023-06-01"})
            with_key = http.post(
                url, json=body, headers={"anthropic-version": "2023-06-01", "x-api-key": "k1"}
            )
    assert no_key.status_code == 401
    assert no_key.json()["type"] == "error"
    assert no_key.json()["error"] == {
        "type": "authentication_error",
        "message": "x-api-key header is required",
    }
    assert no_key.json()["request_id"] == no_key.headers["request-id"]
    assert with_key.status_code == 200 and with_key.json()["content"][0]["text"] == srv.log[-1].text
    assert srv.log[-1].headers["x-api-key"] == "<redacted>"


def test_build_from_cli_options(tmp_path):
    path = tmp_path / "truth.jsonl"
    srv = anthropic_mock.build(
        {
            "tokens": "3",
            "tool_call": '{"name": "f", "arguments": {"x": 1}}',
            "jsonl": str(path),
            "require_version": "false",
        }
    )
    assert srv.tool_call == {"name": "f", "arguments": '{"x": 1}'} and srv.require_version is False
    with pytest.raises(ValueError):
        AnthropicServer(tool_call={"name": "f", "arguments": "not json"})
    with running_in_thread(srv):
        with httpx.Client(trust_env=False) as http:
            http.post(
                f"{srv.base_url}/v1/messages",
                json={"model": MODEL, "max_tokens": 8, "messages": MESSAGES, "stream": True},
                headers={"x-api-key": "secret-value"},
            )
    text = path.read_text()
    records = [json.loads(line) for line in text.splitlines()]
    assert records[0]["record"] == "request" and records[-1]["record"] == "response"
    assert records[-1]["text"] == srv.log[-1].text and "secret-value" not in text
