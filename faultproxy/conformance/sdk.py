"""Cases for the LLM SDK clients: the same framing, each event's data inside the vendor's envelope.

The ``openai``, ``openai-responses`` and ``anthropic`` clients hand the application the text of
each delta, not raw events, and their SDKs give meaning to the ``event`` field. A case is carried
over when its lines can be kept while only the ``data`` values change: every ``data:`` line's
value becomes the vendor's delta JSON around that value (the ``anthropic`` SDK also needs an
``event: content_block_delta`` line before it, with the same line ending); everything else --
BOMs, comments, unknown fields, ``id`` and ``retry`` lines, line endings, an unfinished last
block -- stays byte for byte. The application must then see exactly the expected data, in order.

That works when every expected event has one non-empty data line (a multi-line JSON value, or an
empty delta that the SDK skips, would test the envelope rather than the parser), the case sets no
event type, and it does not need a reconnect (the SDKs retry a failed request, never a stream).

Some SDKs refuse deltas that no opening events announced (Pydantic AI asserts that a Messages
stream starts with ``message_start``; the Vercel AI SDK looks up the text part a delta belongs
to). For them (:data:`WHOLE_STREAM`) the body is the vendor's whole stream: its opening events
(``message_start`` and ``content_block_start``; ``response.created`` to ``content_part.added``)
before the case's bytes -- after a leading BOM, so the BOM still sits at offset 0 and a client
that keeps it loses the opening event its SDK needs -- and, when the case's body ends between
blocks, its closing events after them (``message_stop``; ``response.completed``), in the body's
own line ending. The other SDK clients get the deltas alone: an opening event in front would take
the BOM's place and hide their BOM handling (the Python SDKs keep it, and lose the first delta).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from faultproxy.clients import registry
from faultproxy.conformance.cases import BOM, Case
from faultproxy.conformance.chunking import cut

_LINE = re.compile(rb"([^\r\n]*)(\r\n|\r|\n|$)")


def _openai_chat(text: str) -> dict:
    return {
        "id": "chatcmpl-conformance",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }


def _openai_responses(text: str) -> dict:
    return {
        "type": "response.output_text.delta",
        "item_id": "msg_0",
        "output_index": 0,
        "content_index": 0,
        "delta": text,
        "sequence_number": 0,
        "logprobs": [],
    }


def _anthropic(text: str) -> dict:
    return {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}


ENVELOPES: dict[str, tuple[Callable[[str], dict], bytes | None]] = {
    registry.OPENAI_CHAT: (_openai_chat, None),
    registry.OPENAI_RESPONSES: (_openai_responses, None),
    registry.ANTHROPIC: (_anthropic, b"content_block_delta"),
}

# the SDK clients that need the vendor's whole stream around the deltas (see the module's docstring)
WHOLE_STREAM = frozenset({"pydantic-ai", "vercel-ai-openai", "vercel-ai-anthropic"})

_RESPONSE = {
    "id": "resp_conformance",
    "object": "response",
    "created_at": 0,
    "model": "m",
    "output": [],
    "status": "in_progress",
    "usage": None,
}
_ITEM = {"id": "msg_0", "type": "message", "role": "assistant", "status": "in_progress", "content": []}
_PART = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
_PLACE = {"item_id": "msg_0", "output_index": 0, "content_index": 0}
_MESSAGE = {
    "id": "msg_conformance",
    "type": "message",
    "role": "assistant",
    "model": "m",
    "content": [],
    "stop_reason": None,
    "stop_sequence": None,
    "usage": {"input_tokens": 1, "output_tokens": 0},
}


def _opening(protocol: str) -> list[dict]:
    if protocol == registry.ANTHROPIC:
        return [
            {"type": "message_start", "message": _MESSAGE},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ]
    if protocol == registry.OPENAI_RESPONSES:
        return [
            {"type": "response.created", "response": _RESPONSE},
            {"type": "response.output_item.added", "output_index": 0, "item": _ITEM},
            {"type": "response.content_part.added", **_PLACE, "part": _PART},
        ]
    return [
        {
            **_openai_chat(""),
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        }
    ]


def _closing(protocol: str, text: str) -> list[dict]:
    if protocol == registry.ANTHROPIC:
        return [
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 1},
            },
            {"type": "message_stop"},
        ]
    if protocol == registry.OPENAI_RESPONSES:
        part = {**_PART, "text": text}
        item = {**_ITEM, "status": "completed", "content": [part]}
        usage = {
            "input_tokens": 1,
            "output_tokens": 1,
            "total_tokens": 2,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        }
        return [
            {"type": "response.output_text.done", **_PLACE, "text": text, "logprobs": []},
            {"type": "response.content_part.done", **_PLACE, "part": part},
            {"type": "response.output_item.done", "output_index": 0, "item": item},
            {
                "type": "response.completed",
                "response": {**_RESPONSE, "status": "completed", "output": [item], "usage": usage},
            },
        ]
    return [{**_openai_chat(""), "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]


def unfit(case: Case) -> str | None:
    """Why ``case`` cannot be carried in an SDK's envelope (None: it can)."""
    if case.reconnects:
        return "needs a reconnect; the SDKs never resume a stream"
    if any(not e.data or "\n" in e.data or "\r" in e.data for e in case.events):
        return "an expected event is empty or has several data lines; an SDK delta cannot carry it"
    if any(e.type != "message" for e in case.events) or any(
        name == b"event" for body in (r.body for r in case.responses) for name, _ in _fields(body)
    ):
        return "sets an event type, which the SDK reads as its own"
    return None


def _fields(body: bytes) -> list[tuple[bytes, bytes]]:
    lines = [m.group(1) for m in _LINE.finditer(body) if m.group(0)]
    if lines and lines[0].startswith(BOM):
        lines[0] = lines[0][3:]
    return [(line.partition(b":")[0], line) for line in lines]


def whole_stream(body: bytes, protocol: str, text: str) -> bytes:
    """``body`` wrapped (:func:`wrap`), between the vendor's opening and -- when the body ends
    between blocks -- closing events; ``text`` is what the deltas add up to (the closing events
    repeat it, as the vendors' do)."""
    return b"".join(whole_stream_pieces(body, protocol, text, "whole"))


def whole_stream_pieces(body: bytes, protocol: str, text: str, chunking: str) -> list[bytes]:
    """:func:`whole_stream` in the pieces the server writes: the case's bytes cut as ``chunking``
    says, the vendor's opening and closing events each in one piece (they are not what the case
    tests, and a kilobyte of them a byte at a time would only slow the stream)."""
    eol = next((m.group(2) for m in _LINE.finditer(body) if m.group(2)), b"\n")
    bom = BOM if body.startswith(BOM) else b""
    rest = wrap(body, protocol)[len(bom) :]  # wrapped whole, so the stream's BOM is read as in wrap()
    opening = _events(_opening(protocol), protocol, eol)
    closing = b""
    if ends_between_blocks(body):
        closing = _events(_closing(protocol, text), protocol, eol)
        closing += b"data: [DONE]" + eol + eol if protocol == registry.OPENAI_CHAT else b""
    if chunking == "whole":
        return [bom + opening + rest + closing]
    return [*cut(bom, chunking), opening, *cut(rest, chunking), *([closing] if closing else [])]


def ends_between_blocks(body: bytes) -> bool:
    """The body ends with a line ending and no block is pending: a blank line more dispatches nothing."""
    if body and body[-1:] not in (b"\r", b"\n"):
        return False
    blank = b"\r" if body.endswith(b"\r") else b"\n"
    return len(_parsed(body + blank)) == len(_parsed(body))


def _parsed(body: bytes) -> list:
    from faultproxy.wire.sse import SSEParser

    parser = SSEParser()
    return [*parser.feed(body)]


def _events(payloads: list[dict], protocol: str, eol: bytes) -> bytes:
    named = protocol != registry.OPENAI_CHAT  # the Messages and Responses streams name each event
    out = b""
    for payload in payloads:
        line = b"data: " + json.dumps(payload).encode() + eol
        out += (b"event: " + payload["type"].encode() + eol if named else b"") + line + eol
    return out


def wrap(body: bytes, protocol: str) -> bytes:
    """``body`` with every ``data`` value inside ``protocol``'s envelope; every other byte kept."""
    envelope, event = ENVELOPES[protocol]
    out = bytearray()
    for number, match in enumerate(_LINE.finditer(body)):
        line, eol = match.group(1), match.group(2)
        if not match.group(0):
            break
        prefix = b""
        if number == 0 and line.startswith(BOM):
            prefix, line = BOM, line[3:]
        name, colon, value = line.partition(b":")
        if name != b"data":
            out += prefix + line + eol
            continue
        value = value[1:] if value.startswith(b" ") else value
        text = json.dumps(envelope(value.decode("utf-8", "replace")), ensure_ascii=False).encode()
        if event is not None:
            out += prefix + b"event: " + event + (eol or b"\n")
            prefix = b""
        out += prefix + b"data: " + text + eol
    return bytes(out)
