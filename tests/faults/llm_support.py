"""Real LLM mock streams without sockets, and what a client parses from a faulted copy of one.

:func:`mock_exchange` runs a mock server's own connection handler on an in-memory reader and
writer, so the bytes are exactly what the mock sends on a socket. :func:`through` feeds them to
a downstream :class:`~faultproxy.faults.pipeline.Pipeline` (sans-IO, as the relay would, ringing
no clock) and :class:`View` is what a client reads out of the result: the events, the message
they add up to, whether the body ended, and the actions (waits, a hold, a close) in between.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass, field
from typing import Any

from faultproxy.faults import FaultSet, Pipeline, parse_fault
from faultproxy.faults.base import Close, Hold, Wait
from faultproxy.servers.anthropic import AnthropicServer
from faultproxy.servers.openai import OpenAIServer
from faultproxy.wire.chunked import ChunkData
from faultproxy.wire.http import BodyData, EndOfMessage, HTTPReader, Response, parse_request_head
from faultproxy.wire.llm import LLMMessage, assemble
from faultproxy.wire.sse import Event, SSEParser

PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses", "anthropic": "/v1/messages"}
TOOLS = {
    "chat": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
    "responses": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}],
    "anthropic": [{"name": "get_weather", "input_schema": {"type": "object"}}],
}
WEATHER = {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius", "days": 3}}


class _Writer:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        return None

    def is_closing(self) -> bool:
        return False


def request_bytes(dialect: str, *, tools: bool = False, usage: bool = True) -> bytes:
    body: dict[str, Any] = {"model": "m", "stream": True}
    if dialect == "chat":
        body["messages"] = [{"role": "user", "content": "hi"}]
        if usage:
            body["stream_options"] = {"include_usage": True}
    elif dialect == "responses":
        body["input"] = "hi"
    else:
        body.update(max_tokens=256, messages=[{"role": "user", "content": "hi"}])
    if tools:
        body["tools"] = TOOLS[dialect]
    raw = json.dumps(body).encode()
    return (
        f"POST {PATHS[dialect]} HTTP/1.1\r\nHost: mock\r\nAuthorization: Bearer k\r\n"
        f"anthropic-version: 2023-06-01\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(raw)}\r\n\r\n"
    ).encode() + raw


def mock_exchange(
    dialect: str, *, tools: bool = False, usage: bool = True, **options: Any
) -> tuple[bytes, Any]:
    """The mock's whole response to one streamed request, and its ground-truth exchange."""
    options.setdefault("seed", 1)
    options.setdefault("tokens", 8)
    if tools:
        options.setdefault("tool_call", json.dumps(WEATHER))
    server = (AnthropicServer if dialect == "anthropic" else OpenAIServer)(**options)
    writer = _Writer()

    async def serve() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(request_bytes(dialect, tools=tools, usage=usage))
        reader.feed_eof()
        await server.serve_connection(reader, writer)  # type: ignore[arg-type]

    asyncio.run(serve())
    return bytes(writer.data), server.log[-1]


@dataclass
class View:
    """What a client reads out of a pipeline's outputs."""

    events: list[Event] = field(default_factory=list)
    complete: bool = False  # the body ended as its framing says
    status: int | None = None
    body: bytes = b""
    actions: list[Any] = field(default_factory=list)
    waits: float = 0.0  # seconds of Wait before the end
    held: bool = False  # a Hold: the connection stays open and silent
    closed: bool = False

    @property
    def types(self) -> list[str]:
        return [e.type for e in self.events]

    @property
    def data(self) -> list[str]:
        return [e.data for e in self.events]

    def message(self, dialect: str | None = None) -> LLMMessage:
        return assemble(self.events, dialect)  # type: ignore[arg-type]


def through(
    faults: list[dict[str, Any]], response: bytes, dialect: str, *, seed: int = 0, split: int | None = None
) -> tuple[View, list[dict[str, Any]]]:
    """``response`` through a downstream pipeline with ``faults``; what a client reads, and the evidence."""
    specs = [parse_fault(f, index=i) for i, f in enumerate(faults)]
    fault_set = FaultSet(specs, seed=seed)
    pipeline = Pipeline(fault_set, 1, "response")
    request = parse_request_head(request_bytes(dialect).split(b"\r\n\r\n")[0] + b"\r\n\r\n")
    pipeline.expect(request)
    pieces = [response] if not split else [response[i : i + split] for i in range(0, len(response), split)]
    out: list[Any] = []
    for piece in pieces:
        out += pipeline.feed(piece, 0.0)
    out += pipeline.eof(0.0)
    return view_of(out), [e.as_dict() for e in fault_set.evidence]


def view_of(out: list[Any]) -> View:
    view = View()
    data = bytearray()
    for item in out:
        if isinstance(item, bytes):
            if not view.held:
                data += item
            continue
        view.actions.append(item)
        if isinstance(item, Wait) and math.isfinite(item.seconds):
            view.waits += item.seconds
        elif isinstance(item, Hold):
            view.held = True
        elif isinstance(item, Close):
            view.closed = True
            break
    reader = HTTPReader("response", strict=False)
    reader.expect_response_to(b"POST")
    parser = SSEParser()
    for event in reader.feed(bytes(data)) + reader.close():
        if isinstance(event, Response):
            view.status = event.status
        elif isinstance(event, (ChunkData, BodyData)):
            view.body += event.data
            view.events += parser.feed(event.data)
        elif isinstance(event, EndOfMessage):
            view.complete = True
    return view
