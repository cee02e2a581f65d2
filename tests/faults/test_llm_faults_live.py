"""Each ``llm_*`` fault on a real socket: the OpenAI or Anthropic mock, the proxy, a raw client.

The client POSTs a streamed request through the proxy and reads the response with the project's
own HTTP reader and SSE parser, so what it sees is exactly what went over loopback. Timing is
only asserted as a lower bound the fault guarantees (a stall lasts at least its duration), or
as "still open" after a quiet wait that the fault makes endless.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
from llm_support import WEATHER, View, request_bytes

from faultproxy.net.stream_server import running_in_thread
from faultproxy.servers.anthropic import AnthropicServer
from faultproxy.servers.openai import OpenAIServer
from faultproxy.wire.chunked import ChunkData
from faultproxy.wire.http import BodyData, EndOfMessage, HTTPReader, Response
from faultproxy.wire.sse import SSEParser

QUIET_S = 0.5  # a held connection must stay silent and open at least this long
READ_S = 20.0  # a stream meant to complete may pause this long between reads (a loaded machine)


def fetch(
    port: int, dialect: str, *, tools: bool = False, quiet_s: float = READ_S
) -> tuple[View, list[float], str]:
    """One streamed request through the proxy: the view, each event's arrival time, how it ended
    (``open``: nothing came for ``quiet_s``, which is short only where the test expects silence)."""
    view, times = View(), []
    reader = HTTPReader("response", strict=False)
    reader.expect_response_to(b"POST")
    parser = SSEParser()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request_bytes(dialect, tools=tools))
        sock.settimeout(quiet_s)
        end = "open"
        while not view.complete:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            if not data:
                end = "fin"
                break
            for event in reader.feed(data):
                if isinstance(event, Response):
                    view.status = event.status
                elif isinstance(event, (ChunkData, BodyData)):
                    view.body += event.data
                    for parsed in parser.feed(event.data):
                        view.events.append(parsed)
                        times.append(time.monotonic())
                elif isinstance(event, EndOfMessage):
                    view.complete, end = True, "complete"
    return view, times, end


CASES = [
    ("llm_error_event", {"after_deltas": 2}, "anthropic", False),
    ("llm_stall", {"after_deltas": 2, "duration_ms": 600, "ping_ms": 150}, "chat", False),
    ("llm_hold_open", {}, "anthropic", False),
    ("llm_no_sentinel", {}, "chat", False),
    ("llm_no_usage", {}, "responses", False),
    ("llm_duplicate_delta", {"delta_index": 1}, "responses", False),
    ("llm_tool_args_cut", {"after_fragments": 1}, "chat", True),
    ("llm_reorder", {"unit": "block"}, "anthropic", True),
    ("llm_overloaded", {"status": 529}, "anthropic", False),
]


@pytest.mark.parametrize(("kind", "attributes", "dialect", "tools"), CASES, ids=[c[0] for c in CASES])
def test_llm_fault_through_the_proxy(kind, attributes, dialect, tools, make_proxy):
    server_cls = AnthropicServer if dialect == "anthropic" else OpenAIServer
    options = {"seed": 4, "tokens": 6, **({"tool_call": json.dumps(WEATHER)} if tools else {})}
    with running_in_thread(server_cls(**options)) as server:
        proxy = make_proxy(f"http://127.0.0.1:{server.port}", [{"type": kind, "attributes": attributes}])
        started = time.monotonic()
        quiet = 2 * QUIET_S if kind == "llm_hold_open" else READ_S
        view, times, end = fetch(proxy.port, dialect, tools=tools, quiet_s=quiet)
        truth = server.log[-1] if server.log else None
    message = view.message(dialect)
    evidence = [e for e in proxy.evidence if e.fault_type == kind]
    assert evidence, f"{kind} did not fire"
    if kind == "llm_overloaded":
        assert (
            view.status == 529 and truth is None and end == "complete"
        )  # the upstream never saw the request
        assert json.loads(view.body)["error"]["type"] == "overloaded_error"
        return
    assert view.status == 200
    if kind == "llm_error_event":
        assert message.error["type"] == "overloaded_error" and message.deltas == 2 and end == "complete"
    elif kind == "llm_stall":
        assert times[-1] - started >= 0.6 and view.body.count(b": keep-alive") >= 3
        assert message.text == truth.text and end == "complete"
    elif kind == "llm_hold_open":
        assert message.sentinel and message.text == truth.text and end == "open" and not view.complete
    elif kind == "llm_no_sentinel":
        assert not message.sentinel and message.text == truth.text and end == "complete"
    elif kind == "llm_no_usage":
        assert message.usage is None and truth.usage is not None and message.sentinel
    elif kind == "llm_duplicate_delta":
        assert message.deltas == 7 and message.text != truth.text
    elif kind == "llm_tool_args_cut":
        call = message.tool_calls[0]
        assert not call.arguments_ok and truth.tool_calls[0].arguments.startswith(call.arguments)
        assert message.finish_reason == "tool_calls" and message.sentinel and end == "complete"
    elif kind == "llm_reorder":
        starts = [json.loads(e.data)["index"] for e in view.events if e.type == "content_block_start"]
        assert starts == [1, 0] and message.text == truth.text


@pytest.mark.parametrize("dialect", ["chat", "anthropic"])
def test_the_mocks_hold_open_option_keeps_the_connection_after_the_sentinel(dialect):
    server_cls = AnthropicServer if dialect == "anthropic" else OpenAIServer
    with running_in_thread(server_cls(seed=4, tokens=5, hold_open=True)) as server:
        view, _, end = fetch(server.port, dialect, quiet_s=2 * QUIET_S)
        assert server.log[-1].outcome in ("held_open", "client_gone")
    message = view.message(dialect)
    assert message.sentinel and message.text == server.log[-1].text and end == "open" and not view.complete
