"""The official ``openai`` SDK against :class:`OpenAIServer`: it must assemble exactly what the mock meant.

Every test runs a real server on 127.0.0.1 and a real SDK client over loopback; the SDK's
HTTP client ignores proxy environment variables (``trust_env=False``), and retries are
off unless a test is about them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import openai
import pytest

from faultproxy.net.stream_server import running_in_thread
from faultproxy.servers import openai as openai_mock
from faultproxy.servers.openai import OpenAIServer

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
TOOL_CALL = {"name": "get_weather", "arguments": '{"city": "Paris"}'}
MESSAGES = [{"role": "user", "content": "Say something"}]


@contextmanager
def serving(**options) -> Iterator[tuple[OpenAIServer, openai.OpenAI]]:
    """A mock in a thread and a sync SDK client pointed at it, both closed afterwards."""
    max_retries = options.pop("max_retries", 0)
    with running_in_thread(OpenAIServer(**options)) as srv:
        client = openai.OpenAI(
            base_url=srv.base_url,
            api_key="test-key",
            max_retries=max_retries,
            http_client=openai.DefaultHttpxClient(trust_env=False),
        )
        with client:
            yield srv, client


def async_client(srv: OpenAIServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=srv.base_url,
        api_key="test-key",
        max_retries=0,
        http_client=openai.DefaultAsyncHttpxClient(trust_env=False),
    )


# -- chat completions -------------------------------------------------------------------------


def test_chat_stream_text_finish_and_usage_match_the_ground_truth():
    with serving(seed=1, tokens=12) as (srv, client):
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
    truth = srv.responses[-1]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert text == truth.text == truth.sent_text
    assert len(truth.text.split()) == 12
    assert finish == [truth.finish_reason] == ["stop"]
    assert chunks[-1].choices == []
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        truth.usage["prompt_tokens"],
        12,
        truth.usage["total_tokens"],
    )
    assert all(c.usage is None for c in chunks[:-1])  # "usage": null on every earlier chunk
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1
    # the ground truth: one event per chunk, [DONE] last, the request as parsed, no secrets
    assert [e.data for e in truth.events][-1] == "[DONE]"
    assert len(truth.events) == len(chunks) + 1
    assert [e.index for e in truth.events] == list(range(len(truth.events)))
    assert all(e.event is None for e in truth.events)
    first = json.loads(truth.events[0].data)["choices"][0]["delta"]
    assert first == {"role": "assistant", "content": "", "refusal": None}
    assert truth.events[0].offset == 0
    assert all(b.offset == a.offset + a.bytes for a, b in zip(truth.events, truth.events[1:], strict=False))
    assert (truth.method, truth.path, truth.model, truth.stream) == (
        "POST",
        "/v1/chat/completions",
        "gpt-4o-mini",
        True,
    )
    assert truth.headers["authorization"] == "<redacted>"
    assert "test-key" not in json.dumps(truth.summary())
    assert truth.retry_count == 0
    assert truth.completed and truth.outcome == "ok" and truth.status == 200


def test_chat_stream_without_include_usage_has_no_usage_field():
    with serving(seed=2, tokens=3) as (srv, client):
        chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    truth = srv.responses[-1]
    assert truth.usage is None
    assert all("usage" not in json.loads(e.data) for e in truth.events[:-1])
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == truth.text


def test_chat_non_stream():
    with serving(seed=3, tokens=7) as (srv, client):
        completion = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    truth = srv.responses[-1]
    assert completion.choices[0].message.content == truth.text
    assert completion.choices[0].finish_reason == truth.finish_reason == "stop"
    assert completion.usage.completion_tokens == truth.usage["completion_tokens"] == 7
    assert completion.model == "gpt-4o" and not truth.stream and truth.events == []
    assert json.loads(truth.body_sent)["id"] == completion.id


def test_fixed_text_and_max_tokens_cut_with_finish_reason_length():
    with serving(text="one two three four five") as (srv, client):
        completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=3)
        streamed = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        full = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert completion.choices[0].message.content == "one two three"
    assert completion.choices[0].finish_reason == srv.responses[0].finish_reason == "length"
    assert full == srv.responses[1].text == "one two three four five"


def test_chat_stream_async_client():
    async def scenario() -> tuple[str, str | None, OpenAIServer]:
        async with OpenAIServer(seed=4, tokens=9) as srv:
            async with async_client(srv) as client:
                stream = await client.chat.completions.create(
                    model="gpt-4o-mini", messages=MESSAGES, stream=True
                )
                text, finish = "", None
                async for chunk in stream:
                    text += chunk.choices[0].delta.content or ""
                    finish = chunk.choices[0].finish_reason or finish
            return text, finish, srv

    text, finish, srv = asyncio.run(scenario())
    assert text == srv.responses[-1].text and finish == "stop"
    assert srv.responses[-1].headers["x-stainless-async"].startswith("async")


def test_chat_tool_call_arguments_are_assembled_by_the_sdk():
    with serving(tool_call=TOOL_CALL, tool_fragments=4) as (srv, client):
        with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS) as stream:
            for _ in stream:
                pass
            completion = stream.get_final_completion()
        plain = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS)
    truth = srv.responses[0]
    (call,) = completion.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    assert call.function.arguments == truth.tool_arguments == '{"city": "Paris"}'
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert call.id == truth.tool_calls[0].id
    assert completion.choices[0].finish_reason == truth.finish_reason == "tool_calls"
    fragments = [
        json.loads(e.data)["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
        for e in truth.events[1:-2]
    ]
    assert len(fragments) == 4 and "".join(fragments) == truth.tool_arguments
    assert plain.choices[0].message.tool_calls[0].function.arguments == '{"city": "Paris"}'
    assert plain.choices[0].finish_reason == "tool_calls"


def test_tool_text_answers_text_then_the_tool_call_as_the_sdks_accumulate_it():
    """``tool_text``: text before the tool call, in one Chat message and as two Responses output
    items (``message`` at 0, ``function_call`` at 1), which the SDK's own stream helpers rebuild."""
    responses_tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
    with serving(seed=3, tokens=5, tool_call=TOOL_CALL, tool_text=True) as (srv, client):
        with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS) as stream:
            for _ in stream:
                pass
            chat = stream.get_final_completion().choices[0]
        with client.responses.stream(model="gpt-4.1-mini", input="hi", tools=responses_tools) as stream:
            for _ in stream:
                pass
            final = stream.get_final_response()
    chat_truth, responses_truth = srv.responses
    assert chat.message.content == chat_truth.text and len(chat_truth.text.split()) == 5
    assert (
        chat.message.tool_calls[0].function.arguments == TOOL_CALL["arguments"]
        and chat.finish_reason == "tool_calls"
    )
    assert [o.type for o in final.output] == ["message", "function_call"]
    assert final.output_text == responses_truth.text and final.output[1].arguments == TOOL_CALL["arguments"]
    numbers = [json.loads(e.data)["sequence_number"] for e in responses_truth.events]
    assert numbers == list(range(len(numbers)))
    assert final.usage.output_tokens == 5 + 4  # the words and the argument fragments


def test_no_tool_call_without_tools_in_the_request():
    with serving(tool_call=TOOL_CALL, tokens=4) as (srv, client):
        completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.choices[0].message.tool_calls is None
    assert srv.responses[-1].tool_calls == [] and srv.responses[-1].finish_reason == "stop"


# -- responses --------------------------------------------------------------------------------


def test_responses_stream_output_text_and_event_sequence():
    with serving(seed=5, tokens=6) as (srv, client):
        with client.responses.stream(model="gpt-4.1-mini", input="hi") as stream:
            types = [event.type for event in stream]
            final = stream.get_final_response()
    truth = srv.responses[-1]
    assert final.output_text == truth.text and len(truth.text.split()) == 6
    assert final.status == truth.finish_reason == "completed"
    assert final.usage.output_tokens == truth.usage["output_tokens"] == 6
    assert types == [e.event for e in truth.events]
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 6,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [json.loads(e.data)["sequence_number"] for e in truth.events] == list(range(len(truth.events)))


def test_responses_non_stream_async_and_function_call():
    async def scenario():
        async with OpenAIServer(seed=6, tokens=5, tool_call=TOOL_CALL) as srv:
            async with async_client(srv) as client:
                plain = await client.responses.create(model="gpt-4.1-mini", input="hi")
                tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
                async with client.responses.stream(model="gpt-4.1-mini", input="hi", tools=tools) as stream:
                    async for _ in stream:
                        pass
                    called = await stream.get_final_response()
            return plain, called, srv

    plain, called, srv = asyncio.run(scenario())
    assert plain.output_text == srv.responses[0].text
    (item,) = called.output
    assert item.type == "function_call" and item.name == "get_weather"
    assert item.arguments == srv.responses[1].tool_arguments == '{"city": "Paris"}'


def test_models_list():
    with serving(models=["gpt-4o-mini", "gpt-test"]) as (srv, client):
        ids = [m.id for m in client.models.list()]
        one = client.models.retrieve("gpt-test")
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("nope")
    assert ids == ["gpt-4o-mini", "gpt-test"] and one.id == "gpt-test"
    assert srv.responses[0].endpoint == "models"


# -- errors -----------------------------------------------------------------------------------


def test_missing_bearer_token_gets_401_with_the_real_error_shape():
    with running_in_thread(OpenAIServer()) as srv:
        with httpx.Client(trust_env=False) as http:
            response = http.post(f"{srv.base_url}/chat/completions", json={"model": "m", "messages": []})
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
    assert response.headers["x-request-id"].startswith("req_")
    assert srv.responses[-1].error["status"] == 401 and srv.responses[-1].outcome == "error_status"


def test_wrong_api_key_raises_authentication_error():
    with serving(api_key="the-right-key") as (srv, client):
        with pytest.raises(openai.AuthenticationError) as raised:
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raised.value.code == "invalid_api_key"
    assert "test-key" not in json.dumps([x.summary() for x in srv.log])


def test_rate_limit_raises_rate_limit_error_with_headers():
    with serving(error_status=429, retry_after=3) as (srv, client):
        with pytest.raises(openai.RateLimitError) as raised:
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    headers = raised.value.response.headers
    assert headers["retry-after"] == "3" and headers["x-ratelimit-remaining-requests"] == "0"
    assert raised.value.code == "rate_limit_exceeded" and raised.value.type == "requests"
    assert len(srv.log) == 1


@pytest.mark.parametrize("error_count", [None, 1])
def test_retry_after_429_is_seen_with_retry_count_0_then_1(error_count):
    with serving(error_status=429, error_count=error_count, retry_after=0.01, max_retries=1) as (srv, client):
        if error_count is None:
            with pytest.raises(openai.RateLimitError):
                client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        else:
            completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            assert completion.choices[0].message.content == srv.log[-1].text
    assert [x.retry_count for x in srv.log] == [0, 1]
    assert [x.status for x in srv.log] == [429, 429 if error_count is None else 200]


def test_server_error_500():
    with serving(error_status=500) as (srv, client):
        with pytest.raises(openai.InternalServerError) as raised:
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raised.value.status_code == 500 and raised.value.type == "server_error"


def test_mid_stream_error_raises_plain_api_error_after_the_deltas():
    with serving(seed=7, tokens=10, error_after=3) as (srv, client):
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        received = []
        with pytest.raises(openai.APIError) as raised:
            for chunk in stream:
                received.append(chunk.choices[0].delta.content or "")
    truth = srv.responses[0]
    # openai 3.54.0: the base APIError (not an APIStatusError subclass), the error's own message
    assert type(raised.value) is openai.APIError
    assert str(raised.value) == truth.error["message"]
    assert raised.value.body["type"] == "server_error"
    assert "".join(received) == truth.sent_text and len(truth.sent_text.split()) == 3
    # the plan stays the whole answer; the error is recorded beside it
    assert len(truth.text.split()) == 10 and truth.text.startswith(truth.sent_text)
    assert truth.finish_reason == "stop" and truth.error["after"] == 3
    assert truth.outcome == "stream_error" and not truth.completed
    assert truth.events[-1].data == "[DONE]" and "error" in json.loads(truth.events[-2].data)


def test_mid_stream_error_non_stream_gets_500():
    with serving(error_after=2) as (srv, client):
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


def test_responses_mid_stream_error_raises_api_error():
    with serving(seed=8, tokens=8, error_after=2) as (srv, client):
        deltas = []
        with pytest.raises(openai.APIError) as raised:
            with client.responses.stream(model="gpt-4.1-mini", input="hi") as stream:
                for event in stream:
                    if event.type == "response.output_text.delta":
                        deltas.append(event.delta)
    truth = srv.responses[-1]
    assert type(raised.value) is openai.APIError
    assert "".join(deltas) == truth.sent_text and len(deltas) == 2 and len(truth.text.split()) == 8
    assert [e.event for e in truth.events][-2:] == ["error", "response.failed"]


# -- ground truth plumbing --------------------------------------------------------------------


def test_pacing_jsonl_and_build(tmp_path):
    path = tmp_path / "truth.jsonl"
    srv = openai_mock.build(
        {
            "seed": "9",
            "tokens": "4",
            "ttft": "0.05",
            "tokens_per_s": "200",
            "jsonl": str(path),
            "obfuscation": "no",
        }
    )
    assert (srv.seed, srv.tokens, srv.ttft, srv.tokens_per_s, srv.obfuscation) == (9, 4, 0.05, 200.0, False)
    with running_in_thread(srv):
        with openai.OpenAI(
            base_url=srv.base_url, api_key="test-key", http_client=openai.DefaultHttpxClient(trust_env=False)
        ) as client:
            list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    truth = srv.responses[-1]
    deltas = [e for e in truth.events if e.text]
    # lower bounds only: a delta is never early (TTFT, then one every 1/tokens_per_s)
    for i, event in enumerate(deltas):
        assert event.time - truth.started >= 0.05 + i / 200 - 0.002
    assert all("obfuscation" not in json.loads(e.data) for e in truth.events[:-1])
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["record"] for r in records] == ["request"] + ["event"] * len(truth.events) + ["response"]
    assert records[-1]["text"] == truth.text and records[-1]["outcome"] == "ok"
    assert records[0]["headers"]["authorization"] == "<redacted>"
    assert "test-key" not in path.read_text()
    with pytest.raises(ValueError, match="unknown option"):
        openai_mock.build({"nope": 1})
    assert set(openai_mock.OPTIONS) >= {
        "seed",
        "tokens",
        "ttft",
        "tokens_per_s",
        "error_status",
        "error_after",
    }


def test_a_client_leaving_mid_stream_is_logged_as_client_gone():
    body = b'{"model": "gpt-4o-mini", "messages": [], "stream": true}'
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer test-key\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )

    async def scenario() -> OpenAIServer:
        async with OpenAIServer(tokens=500, tokens_per_s=500) as srv:
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            writer.write(head + body)
            await reader.readuntil(b'"content":')  # the stream is running
            writer.close()
            for _ in range(500):  # a bound on the wait, not a timing assertion
                if srv.log[-1].outcome != "pending":
                    break
                await asyncio.sleep(0.01)
            return srv

    srv = asyncio.run(scenario())
    truth = srv.log[-1]
    assert truth.outcome == "client_gone" and not truth.completed
    assert 0 < len(truth.events) < 500 and truth.ended is not None


def test_the_jsonl_log_keeps_every_secret_redact_knows_out(tmp_path):
    """The mock's log decides what is secret as every other artefact does (faultproxy.redact):
    an X-Auth-Token, a cookie and a key in the query string are never written."""
    path = tmp_path / "log.jsonl"
    with running_in_thread(OpenAIServer(seed=1, tokens=2, jsonl=str(path))) as srv:
        body = {"model": "m", "messages": MESSAGES, "stream": True, "api_key": "sk-BODY-SECRET"}
        headers = {
            "Authorization": "Bearer sk-AUTH-SECRET",
            "X-Auth-Token": "tok-HEADER-SECRET",
            "Cookie": "session=COOKIE-SECRET",
        }
        with httpx.Client(trust_env=False) as client:
            response = client.post(
                srv.base_url + "/chat/completions?api_key=sk-QUERY-SECRET", json=body, headers=headers
            )
            assert response.status_code == 200 and "[DONE]" in response.text
    text = path.read_text()
    assert '"x-auth-token": "<redacted>"' in text
    for secret in (
        "sk-AUTH-SECRET",
        "tok-HEADER-SECRET",
        "COOKIE-SECRET",
        "sk-QUERY-SECRET",
        "sk-BODY-SECRET",
    ):
        assert secret not in text
