"""LLM token streams: the layer above SSE -- which API dialect a stream is, what each event means,
and the message the events add up to. Sans-IO, like the rest of ``faultproxy.wire``: fed parsed
SSE :class:`~faultproxy.wire.sse.Event` objects, it returns what they are.

Three dialects, described with their wire formats in ``docs/llm-streams.md``:

- ``chat``: OpenAI Chat Completions -- data-only events of ``chat.completion.chunk`` JSON, an
  optional ``choices: []`` usage chunk, then ``data: [DONE]``;
- ``responses``: OpenAI Responses -- named events whose JSON ``type`` repeats the name, with a
  ``sequence_number``; ``response.completed`` (or ``.incomplete`` / ``.failed``) ends it;
- ``anthropic``: Anthropic Messages -- ``message_start``, content blocks (start, deltas, stop),
  ``message_delta`` (stop reason, usage), ``message_stop``; ``ping`` anywhere.

:func:`classify` says what one event is (:class:`Piece`); :class:`Assembler` adds the pieces up
into an :class:`LLMMessage` (text, tool calls, finish reason, usage, error, whether the end
sentinel came) the way an application that concatenates deltas does -- the ground truth a
``faultproxy chat`` view, a fault and a verdict all read a stream with.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from faultproxy.wire.sse import Event

Dialect = Literal["chat", "responses", "anthropic"]
DIALECTS: tuple[Dialect, ...] = ("chat", "responses", "anthropic")
DONE = "[DONE]"
RESPONSES_ENDS = ("response.completed", "response.incomplete", "response.failed")
# events before any content: they open the message or a block and carry no delta
_ANTHROPIC_STARTS = ("message_start", "content_block_start")
_RESPONSES_STARTS = (
    "response.created",
    "response.in_progress",
    "response.queued",
    "response.output_item.added",
    "response.content_part.added",
)


def dialect_of_path(target: bytes | str | None) -> Dialect | None:
    """The dialect a request path asks for (``/v1/chat/completions`` → ``chat``), or None."""
    if target is None:
        return None
    path = (target.decode("latin-1") if isinstance(target, bytes) else target).split("?", 1)[0].rstrip("/")
    if path.endswith("/chat/completions"):
        return "chat"
    if path.endswith("/responses"):
        return "responses"
    if path.endswith("/messages"):
        return "anthropic"
    return None


def dialect_of_event(event: Event) -> Dialect | None:
    """The dialect a (first) event belongs to, or None when it does not tell."""
    data = _json(event.data)
    kind = data.get("type") if isinstance(data, dict) else None
    if event.type in ("message_start", "ping") or kind == "message_start":
        return "anthropic"
    if str(kind or event.type).startswith("response."):
        return "responses"
    if isinstance(data, dict) and (data.get("object") == "chat.completion.chunk" or "choices" in data):
        return "chat"
    return None


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Piece:
    """What one event is in an LLM stream.

    ``kind``: ``start`` (opens the message or a block, no content), ``text`` / ``args`` (a delta of
    answer text / of a tool call's JSON arguments; ``text`` is the fragment), ``done`` (a block's
    end, or a ``.done`` event repeating what the deltas said), ``finish`` (the stop or finish
    reason), ``usage`` (OpenAI chat's usage chunk), ``sentinel`` (``[DONE]``, ``message_stop``,
    ``response.completed``...), ``ping``, ``error``, ``other``. ``block`` names the content block
    the event belongs to (Anthropic's ``index``, Responses' ``output_index``, in Chat ``text`` or
    ``tool:N``), None for message-level events.
    """

    kind: str
    block: str | None = None
    text: str = ""
    data: Any = None

    @property
    def delta(self) -> bool:
        return self.kind in ("text", "args")


def classify(event: Event, dialect: Dialect) -> Piece:
    data = _json(event.data)
    if dialect == "chat":
        return _chat_piece(event, data)
    body = data if isinstance(data, dict) else {}
    kind = str(body.get("type") or event.type)
    if dialect == "responses":
        return _responses_piece(kind, body, data)
    return _anthropic_piece(kind, body, data)


def _chat_piece(event: Event, data: Any) -> Piece:
    if event.data.strip() == DONE:
        return Piece("sentinel")
    if not isinstance(data, dict):
        return Piece("other")
    if data.get("error"):
        return Piece("error", data=data)
    choices = data.get("choices") or []
    if not choices:
        return Piece("usage" if data.get("usage") else "other", data=data)
    choice = choices[0] if isinstance(choices[0], dict) else {}
    delta = choice.get("delta") or {}
    if delta.get("content"):
        return Piece("text", "text", str(delta["content"]), data)
    for call in delta.get("tool_calls") or []:
        fragment = str((call.get("function") or {}).get("arguments") or "")
        block = f"tool:{call.get('index', 0)}"
        return Piece("args", block, fragment, data) if fragment else Piece("start", block, data=data)
    if choice.get("finish_reason"):
        return Piece("finish", data=data)
    return Piece("start", data=data)


def _responses_piece(kind: str, body: dict[str, Any], data: Any) -> Piece:
    block = str(body["output_index"]) if "output_index" in body else None
    if kind == "response.output_text.delta":
        return Piece("text", block, str(body.get("delta") or ""), data)
    if kind == "response.function_call_arguments.delta":
        return Piece("args", block, str(body.get("delta") or ""), data)
    if kind in RESPONSES_ENDS:
        return Piece("sentinel", data=data)
    if kind == "error":
        return Piece("error", data=data)
    if kind in _RESPONSES_STARTS:
        return Piece("start", block, data=data)
    if kind.endswith(".done"):
        return Piece("done", block, data=data)
    return Piece("other", block, data=data)


def _anthropic_piece(kind: str, body: dict[str, Any], data: Any) -> Piece:
    block = str(body["index"]) if "index" in body else None
    if kind == "content_block_delta":
        delta = body.get("delta") or {}
        if delta.get("type") == "text_delta":
            return Piece("text", block, str(delta.get("text") or ""), data)
        if delta.get("type") == "input_json_delta":
            return Piece("args", block, str(delta.get("partial_json") or ""), data)
        return Piece("other", block, data=data)
    if kind in _ANTHROPIC_STARTS:
        return Piece("start", block, data=data)
    return Piece(
        {
            "content_block_stop": "done",
            "message_delta": "finish",
            "message_stop": "sentinel",
            "ping": "ping",
            "error": "error",
        }.get(kind, "other"),
        block,
        data=data,
    )


@dataclass
class ToolCall:
    """One tool call as assembled: ``arguments`` is the JSON text the fragments joined into;
    ``input`` it parsed (None when it is not complete JSON: see ``arguments_ok``)."""

    name: str
    arguments: str = ""
    id: str | None = None

    @property
    def arguments_ok(self) -> bool:
        try:
            json.loads(self.arguments or "{}")
        except ValueError:
            return False
        return True

    @property
    def input(self) -> Any:
        return json.loads(self.arguments or "{}") if self.arguments_ok else None


@dataclass
class LLMMessage:
    """What a stream added up to. ``finish_reason`` is in the API's own words (``stop``,
    ``end_turn``, ``completed`` ...); ``usage`` as the API sent it; ``error`` the in-stream error
    object; ``sentinel`` whether the end sentinel (``[DONE]``, ``message_stop``, the final
    ``response.*`` event) arrived."""

    dialect: str | None = None
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    sentinel: bool = False
    deltas: int = 0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for call, raw in zip(self.tool_calls, out["tool_calls"]):
            raw["input"] = call.input
        return out


class Assembler:
    """Adds a stream's events up into an :class:`LLMMessage`; ``feed(event)`` returns its :class:`Piece`.

    Text is joined per content block in the order blocks first appear; a tool call is keyed by
    its block (Chat's ``tool_calls[].index``, Anthropic's block index, the Responses output
    index), so out-of-order blocks still land in their own call.
    """

    def __init__(self, dialect: Dialect | None = None):
        self.dialect: Dialect | None = dialect
        self.message = LLMMessage(dialect)
        self._tools: dict[str, ToolCall] = {}

    def feed(self, event: Event) -> Piece:
        if self.dialect is None:
            self.dialect = dialect_of_event(event)
            self.message.dialect = self.dialect
            if self.dialect is None:
                return Piece("other")
        piece = classify(event, self.dialect)
        m = self.message
        if piece.delta and piece.text:
            m.deltas += 1
        if piece.kind == "text":
            m.text += piece.text
        elif piece.kind == "args":
            self._tool(piece).arguments += piece.text
        elif piece.kind == "start" and piece.block is not None:
            self._start_tool(piece)
        body = piece.data if isinstance(piece.data, dict) else {}
        if piece.kind == "error":
            m.error = body.get("error") if isinstance(body.get("error"), dict) else body
        elif piece.kind == "sentinel":
            m.sentinel = True
        self._finish_and_usage(piece.kind, body)
        return piece

    def _tool(self, piece: Piece) -> ToolCall:
        key = piece.block or "?"
        if key not in self._tools:
            self._tools[key] = ToolCall(name="")
            self.message.tool_calls.append(self._tools[key])
        return self._tools[key]

    def _start_tool(self, piece: Piece) -> None:
        """A block or item that opens a tool call names it (and gives its id)."""
        body = piece.data if isinstance(piece.data, dict) else {}
        spec = body.get("content_block") or body.get("item") or {}
        if self.dialect == "chat":
            calls = ((body.get("choices") or [{}])[0].get("delta") or {}).get("tool_calls") or []
            spec = {**calls[0].get("function", {}), "id": calls[0].get("id")} if calls else {}
        if spec.get("type") in ("tool_use", "function_call") or (self.dialect == "chat" and spec.get("name")):
            call = self._tool(piece)
            call.name = spec.get("name") or call.name
            call.id = spec.get("call_id") or spec.get("id") or call.id

    def _finish_and_usage(self, kind: str, body: dict[str, Any]) -> None:
        m = self.message
        if self.dialect == "chat":
            for choice in body.get("choices") or []:
                if isinstance(choice, dict) and choice.get("finish_reason"):
                    m.finish_reason = choice["finish_reason"]
            if body.get("usage"):
                m.usage = body["usage"]
        elif self.dialect == "responses":
            response = body.get("response")
            if kind == "sentinel" and isinstance(response, dict):
                m.finish_reason = response.get("status")
                m.usage = response.get("usage") or m.usage
        else:
            if body.get("type") == "message_start":
                usage = (body.get("message") or {}).get("usage")
                m.usage = dict(usage) if isinstance(usage, dict) else m.usage
            elif body.get("type") == "message_delta":
                m.finish_reason = (body.get("delta") or {}).get("stop_reason") or m.finish_reason
                if isinstance(body.get("usage"), dict):
                    m.usage = {**(m.usage or {}), **body["usage"]}


def token_counts(usage: Any) -> tuple[Any, Any]:
    """``(input, output)`` token counts from any API's usage object (Chat's ``prompt_tokens`` /
    ``completion_tokens``, the others' ``input_tokens`` / ``output_tokens``); None where absent."""
    if not isinstance(usage, dict):
        return None, None
    return (
        usage.get("input_tokens", usage.get("prompt_tokens")),
        usage.get("output_tokens", usage.get("completion_tokens")),
    )


def assemble(events: list[Event], dialect: Dialect | None = None) -> LLMMessage:
    """The message a list of events adds up to."""
    assembler = Assembler(dialect)
    for event in events:
        assembler.feed(event)
    return assembler.message
