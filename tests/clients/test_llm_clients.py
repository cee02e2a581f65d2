"""Every LLM client, end to end: its mock (``kind: llm``), the proxy, the client, the message verdict.

Three cells per client, run concurrently: a healthy tool call (the message must be exactly what
was sent); the same call with its arguments cut mid-fragment while the stream goes on as if
complete -- which every client here returns as a finished tool call, so the verdict must be
``silent_loss`` with the cut arguments shown beside the truth, and the client to blame (arguments
that do not parse are there for it to see); and the mock's own in-stream error after three
deltas, which every client raises: ``error``, blamed on the wire, never "the whole message".
"""

from __future__ import annotations

import asyncio
import json

import pytest
from clients_support import PARALLEL

from faultproxy.clients import registry
from faultproxy.scenarios.loader import load_text
from faultproxy.scenarios.runner import plan, run_cells

ARGS = {"city": "Paris", "unit": "celsius", "days": 3}
SCENARIOS = f"""
scenarios:
  - name: tool-call
    server: {{kind: llm, seed: 5, tokens: 4, tool_call: '{json.dumps({"name": "get_weather", "arguments": ARGS})}'}}
    request: {{json: {{prompt: 'the weather?', usage: true, tools: [{{name: get_weather, parameters: {{type: object}}}}]}}}}
    timeouts: {{deadline_ms: 20000}}
  - name: tool-call-cut
    server: {{kind: llm, seed: 5, tokens: 4, tool_call: '{json.dumps({"name": "get_weather", "arguments": ARGS})}'}}
    request: {{json: {{prompt: 'the weather?', usage: true, tools: [{{name: get_weather, parameters: {{type: object}}}}]}}}}
    faults: [{{type: llm_tool_args_cut, attributes: {{after_fragments: 1}}}}]
    timeouts: {{deadline_ms: 20000}}
  - name: server-error-event
    server: {{kind: llm, seed: 6, tokens: 10, error_after: 3}}
    request: {{json: {{prompt: 'say something', usage: true}}}}
    timeouts: {{deadline_ms: 20000}}
"""
LLM = (registry.OPENAI_CHAT, registry.OPENAI_RESPONSES, registry.ANTHROPIC)
CLIENTS = [n for n in registry.names() if registry.get(n).protocol in LLM]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[tuple[str, str], dict]:
    cells, availability = plan(load_text(SCENARIOS), None)
    missing = [f"{n}: {a.reason}" for n, a in availability.items() if not a.ok]
    assert not missing, missing  # bootstrap installs every LLM client
    out = asyncio.run(run_cells(cells, 1, tmp_path_factory.mktemp("llm-cells"), PARALLEL))
    return {(r.scenario, r.client): r.to_dict() for r in out}


def test_there_are_nine_llm_clients():
    assert sorted(CLIENTS) == sorted(
        [
            "openai",
            "openai-responses",
            "anthropic",
            "langchain-openai",
            "pydantic-ai",
            "node-openai",
            "node-anthropic",
            "vercel-ai-openai",
            "vercel-ai-anthropic",
        ]
    )


@pytest.mark.parametrize("client", CLIENTS)
def test_a_healthy_tool_call_reaches_the_application_whole(results, client):
    result = results["tool-call", client]
    message = result["evidence"]["message"]
    assert result["outcome"] == "ok", result["evidence"]["summary"]
    (call,) = message["received"]["tool_calls"]
    assert call["name"] == "get_weather" and json.loads(call["arguments"]) == ARGS
    assert message["received"]["text"] == message["truth"]["text"]
    assert message["received"]["usage"]["output_tokens"] == message["truth"]["usage"]["output_tokens"]


@pytest.mark.parametrize("client", CLIENTS)
def test_cut_tool_arguments_returned_without_an_error_are_silent_loss(results, client):
    result = results["tool-call-cut", client]
    message = result["evidence"]["message"]
    assert result["outcome"] == "silent_loss", result["evidence"]["summary"]
    got = message["received"]["tool_calls"][0]["arguments"]
    assert got != message["truth"]["tool_calls"][0]["arguments"]
    assert any("get_weather arguments" in d for d in message["differences"])
    # the delivered arguments do not parse: a client that parsed them could have told the application
    assert result["attribution"] == "client", result["evidence"]["summary"]
    assert "arguments that do not parse as JSON" in result["evidence"]["summary"]


@pytest.mark.parametrize("client", CLIENTS)
def test_the_servers_error_event_raised_is_the_wires_error_not_a_whole_message(results, client):
    result = results["server-error-event", client]
    message = result["evidence"]["message"]
    assert result["outcome"] == "error", result["evidence"]["summary"]
    assert result["attribution"] == "wire", result["evidence"]["summary"]
    assert "whole message" not in result["evidence"]["summary"]
    assert message["truth"]["error"]["after"] == 3 and len(message["truth"]["text"].split()) == 10
