"""``llm_tool_args_cut``: a tool call's JSON arguments are cut in the middle of a fragment.

The first ``after_fragments`` argument fragments of the first tool call pass whole; the next
is cut to its first half and every later fragment of that call is dropped, so the arguments
never form complete JSON. With ``then: continue`` (the default) everything else goes on as
sent -- the finish reason (``tool_calls`` / ``tool_use``), the usage, the end sentinel -- and
the Responses API's ``.done`` events and final ``response`` carry the same cut arguments (and
its sequence numbers close the gap the dropped fragments left), so every view of the call
agrees and nothing but the JSON itself says it is broken: the silent loss a client must catch
by parsing the arguments. With ``then: end`` the body ends cleanly right after the cut.

Fragments are Chat's ``delta.tool_calls[].function.arguments``, Anthropic's
``input_json_delta.partial_json`` and the Responses API's
``response.function_call_arguments.delta`` (see ``docs/llm-streams.md``).
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import Field

from faultproxy.faults.base import Attributes, Context, EndBody, register
from faultproxy.faults.llm_common import LLMFault, Piece, rewritten
from faultproxy.wire.sse import Block


class LLMToolArgsCutAttributes(Attributes):
    after_fragments: int = Field(1, ge=0, description="argument fragments delivered whole before the cut one")
    then: Literal["continue", "end"] = Field(
        "continue", description="continue: the rest of the stream as sent; end: the body ends after the cut"
    )


@register
class LLMToolArgsCut(LLMFault):
    name = "llm_tool_args_cut"
    summary = "cut a tool call's arguments mid-fragment (the JSON never completes); the stream goes on"
    Attributes = LLMToolArgsCutAttributes

    @classmethod
    def takes(cls, attributes: LLMToolArgsCutAttributes) -> frozenset[str]:
        """With ``then: end`` the body ends after the cut (base.TAKES)."""
        return frozenset({"end"}) if attributes.then == "end" else frozenset()

    def reset(self) -> None:
        self.block: str | None = None  # the tool call being cut
        self.fragments = 0
        self.full = ""  # the arguments as the server sent them
        self.kept = ""  # what the client gets
        self.cut = False
        self.dropped = 0  # events left out: later Responses sequence numbers close the gap

    def on_piece(self, block: Block, piece: Piece, seen: int, ctx: Context) -> list[object]:
        if piece.kind == "args" and piece.text and self.block in (None, piece.block):
            out = self._fragment(block, piece, ctx)
            self.dropped += 1 - len([o for o in out if isinstance(o, Block)])
            return out
        if self.cut and isinstance(piece.data, dict):
            data = _replace_arguments(piece.data, self.full, self.kept)
            if self.dropped and isinstance(data.get("sequence_number"), int):
                data = {**data, "sequence_number": data["sequence_number"] - self.dropped}
            return [block] if data == piece.data else [rewritten(block, data)]
        return [block]

    def _fragment(self, block: Block, piece: Piece, ctx: Context) -> list[object]:
        text = piece.text
        self.block = piece.block
        self.full += text
        if self.cut:
            return []
        self.fragments += 1
        if self.fragments <= self.a.after_fragments:
            self.kept += text
            return [block]
        self.cut = True
        half = text[: len(text) // 2]
        self.kept += half
        ctx.fired(
            f"cut tool-call arguments in fragment {self.fragments - 1} after {len(self.kept)} characters "
            f"({self.kept[-24:]!r})"
        )
        out: list[object] = [rewritten(block, _with_fragment(piece.data, half))] if half else []
        return out + ([EndBody()] if self.a.then == "end" else [])


def _with_fragment(data: dict[str, Any], text: str) -> dict[str, Any]:
    """The event's JSON with its argument fragment replaced, whatever the dialect."""
    data = copy.deepcopy(data)
    if "choices" in data:
        for call in data["choices"][0]["delta"]["tool_calls"]:
            call["function"]["arguments"] = text
    elif isinstance(data.get("delta"), dict):
        data["delta"]["partial_json"] = text
    else:
        data["delta"] = text
    return data


def _replace_arguments(value: Any, full: str, kept: str) -> Any:
    """Every ``arguments`` string equal to ``full`` (a Responses ``.done`` event, the final
    ``response``'s output) replaced with ``kept``."""
    if isinstance(value, dict):
        return {
            k: kept if k == "arguments" and v == full else _replace_arguments(v, full, kept)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_replace_arguments(v, full, kept) for v in value]
    return value
