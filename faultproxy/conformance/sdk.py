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
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from faultproxy.clients import registry
from faultproxy.conformance.cases import BOM, Case

_LINE = re.compile(rb"([^\r\n]*)(\r\n|\r|\n|$)")


def _openai_chat(text: str) -> dict:
    return {"id": "chatcmpl-conformance", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}


def _openai_responses(text: str) -> dict:
    return {"type": "response.output_text.delta", "item_id": "msg_0", "output_index": 0, "content_index": 0,
            "delta": text, "sequence_number": 0, "logprobs": []}


def _anthropic(text: str) -> dict:
    return {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}


ENVELOPES: dict[str, tuple[Callable[[str], dict], bytes | None]] = {
    registry.OPENAI_CHAT: (_openai_chat, None),
    registry.OPENAI_RESPONSES: (_openai_responses, None),
    registry.ANTHROPIC: (_anthropic, b"content_block_delta"),
}


def unfit(case: Case) -> str | None:
    """Why ``case`` cannot be carried in an SDK's envelope (None: it can)."""
    if case.reconnects:
        return "needs a reconnect; the SDKs never resume a stream"
    if any(not e.data or "\n" in e.data or "\r" in e.data for e in case.events):
        return "an expected event is empty or has several data lines; an SDK delta cannot carry it"
    if any(e.type != "message" for e in case.events) or any(
            name == b"event" for body in (r.body for r in case.responses) for name, _ in _fields(body)):
        return "sets an event type, which the SDK reads as its own"
    return None


def _fields(body: bytes) -> list[tuple[bytes, bytes]]:
    lines = [m.group(1) for m in _LINE.finditer(body) if m.group(0)]
    if lines and lines[0].startswith(BOM):
        lines[0] = lines[0][3:]
    return [(line.partition(b":")[0], line) for line in lines]


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
