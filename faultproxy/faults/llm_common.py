"""What the ``llm_*`` faults share: which LLM stream dialect a response is, what each event is in it.

Not a fault. The three dialects (``chat``, ``responses``, ``anthropic``) and what each event is
in them come from :mod:`faultproxy.wire.llm`; their wire formats are in ``docs/llm-streams.md``.

A response's dialect comes from the request path (``/chat/completions``, ``/responses``,
``/messages``), else from its first event, so the faults work behind any base URL.
:class:`LLMStream` follows one response and says what each event is (:class:`Piece`): the
faults act on *deltas* (text or tool-call argument fragments), the *sentinel*, the *usage*, and
content *blocks*, whatever the dialect calls them. The blocks the faults write (an error event,
a ping) are built here, in each dialect's real shape.
"""

from __future__ import annotations

import json
from typing import Any

from faultproxy.faults.base import Attributes, Context, Fault
from faultproxy.faults.sse_common import field_name, lines, portable
from faultproxy.wire.llm import DONE, Assembler, Dialect, Piece, dialect_of_path
from faultproxy.wire.llm_errors import anthropic_error, anthropic_request_id, openai_stream_error
from faultproxy.wire.sse import Block, SSEParser, encode_comment, encode_event

__all__ = ["LLMFault", "LLMStream", "Piece", "dialect_of_path", "rewritten"]


class LLMStream:
    """One LLM stream response as it passes: its dialect, and the events seen so far.

    ``observe(block)`` classifies each event block; ``deltas`` counts the deltas that carried
    text or argument bytes (Anthropic's empty first ``input_json_delta`` does not count);
    ``sequence`` is the last Responses ``sequence_number`` seen and ``response`` the last
    Responses ``response`` object, which the blocks a fault writes continue from (``before``:
    both as they were before the last event, which an error written in its place continues).
    """

    def __init__(self, ctx: Context):
        request = ctx.request
        self.assembler = Assembler(dialect_of_path(request.target if request is not None else None))
        self.sequence = -1
        self.response: dict[str, Any] | None = None
        self.before: tuple[int, dict[str, Any] | None] = (-1, None)  # both as they were before the last event
        value = ctx.response.headers.get("request-id") if ctx.response is not None else None
        self.request_id = value.decode("latin-1") if value is not None else None  # Anthropic's
        self.rng = ctx.rng

    @property
    def dialect(self) -> Dialect | None:
        return self.assembler.dialect

    @property
    def deltas(self) -> int:
        return self.assembler.message.deltas

    def observe(self, block: Block) -> Piece | None:
        """What ``block`` is (None for a block that dispatches no event, e.g. a comment)."""
        if block.event is None:
            return None
        piece = self.assembler.feed(block.event)
        body = piece.data if isinstance(piece.data, dict) else {}
        self.before = (self.sequence, self.response)
        if isinstance(body.get("sequence_number"), int):
            self.sequence = body["sequence_number"]
        if isinstance(body.get("response"), dict):
            self.response = body["response"]
        return piece

    # -- blocks a fault writes, in this stream's dialect ------------------------------------------

    def _next(self, kind: str, **fields: Any) -> bytes:
        self.sequence += 1
        return encode_event(compact({"type": kind, "sequence_number": self.sequence, **fields}), event=kind)

    def error_blocks(self, error_type: str | None = None, message: str | None = None) -> list[bytes]:
        """The dialect's in-stream error, as the real API ends a stream that failed after its 200,
        *in place of* the event just observed (a Responses error takes over its sequence number):
        Anthropic's ``event: error`` (with the response's ``request-id``); Chat's
        ``data: {"error": ...}`` then ``data: [DONE]``; the Responses API's nested ``error`` event
        then ``response.failed``. The shapes are :mod:`faultproxy.wire.llm_errors`'."""
        if self.dialect == "anthropic":
            # the error repeats the response's request-id (one of the same form when it has none)
            request_id = self.request_id or anthropic_request_id(self.rng)
            body = anthropic_error(error_type or "overloaded_error", message, request_id)
            return [encode_event(compact(body), event="error")]
        error = openai_stream_error(self.dialect or "chat", error_type, message)
        if self.dialect == "responses":
            self.sequence, response = self.before
            failed = dict(
                response or {},
                status="failed",
                error={"code": error["code"], "message": error["message"]},
                usage=None,
            )
            return [self._next("error", error=error), self._next("response.failed", response=failed)]
        return [encode_event(compact({"error": error})), encode_event(DONE)]

    def ping_block(self) -> bytes:
        """What the API sends to keep an idle stream alive: Anthropic's ``ping`` event; for
        OpenAI's formats (which have no ping event) a ``: keep-alive`` comment."""
        if self.dialect == "anthropic":
            return encode_event(compact({"type": "ping"}), event="ping")
        return encode_comment("keep-alive") + b"\n"


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def rewritten(block: Block, data: Any) -> Block:
    """``block`` with its ``data`` replaced (JSON-encoded unless a string), its ``event:`` line kept.

    The LLM formats use one ``data:`` line and no ids, so the block is written anew with the
    same event name and line ending; what a parser makes of it is the old event with new data.
    """
    text = data if isinstance(data, str) else compact(data)
    parsed, _ = lines(portable(block))
    named = any(field_name(line) == b"event" for line, _ in parsed)
    eol = parsed[0][1].decode() if parsed else "\n"
    raw = encode_event(text, event=block.event.type if named and block.event else None, line_ending=eol)
    event = SSEParser().feed(raw)[0]
    return Block(raw, event, block.offset)


class LLMFault(Fault):
    """Base of the ``sse`` faults that follow each response's LLM stream (:attr:`stream`).

    :meth:`on_block` follows the stream and hands each event to :meth:`on_piece` with what it is
    and the deltas before it. A stream in no LLM dialect (neither its request path nor its first
    event says ``chat``, ``responses`` or ``anthropic``: a plain event stream) passes untouched,
    and the fault says why once per response (:meth:`Context.passed_over`): its deltas, sentinel
    and usage mean nothing there. :meth:`reset` clears a subclass's per-response state;
    :meth:`strikes` says whether a block is the first one, after ``n`` deltas, that carries
    content or ends the answer (where a fault that acts "after N deltas" strikes, once).
    """

    layer = "sse"
    directions = ("response",)

    def __init__(self, attributes: Attributes):
        super().__init__(attributes)
        self.stream: LLMStream | None = None
        self.struck = False  # strikes() acted on this response
        self.passed = False  # said why it passed this response over
        self.reset()

    def reset(self) -> None:
        """Forget the previous response (a new one starts)."""

    def on_response(self, ctx: Context) -> list[object]:
        self.stream = LLMStream(ctx)
        self.struck = self.passed = False
        self.reset()
        return []

    def on_block(self, block: Block, ctx: Context) -> list[object]:
        if self.stream is None:
            return [block]
        seen = self.stream.deltas
        piece = self.stream.observe(block)
        if piece is None:
            return [block]
        if self.stream.dialect is None:
            if not self.passed:
                self.passed = True
                target = ctx.request.target.decode("latin-1") if ctx.request is not None else "?"
                ctx.passed_over(
                    f"not an LLM stream (neither its request path {target.split('?', 1)[0]} nor its "
                    "first event is OpenAI Chat, Responses or Anthropic): no deltas, sentinel or "
                    "usage to act on, passed through unchanged"
                )
            return [block]
        return self.on_piece(block, piece, seen, ctx)

    def on_piece(self, block: Block, piece: Piece, seen: int, ctx: Context) -> list[object]:
        """One event of an LLM stream: ``piece`` is what it is, ``seen`` the deltas before it."""
        raise NotImplementedError

    def strikes(self, piece: Piece, seen: int, n: int) -> bool:
        """Whether this is the first event, once ``n`` deltas have passed, that carries content
        or ends the answer (not one that opens or closes a block); in an answer of fewer deltas,
        the one that ends it (Chat's finish chunk, Anthropic's ``message_delta``, the Responses
        API's ``response.completed``: where the mocks' ``error_after`` strikes too) -- once per
        response: for faults that act one time only."""
        ends = piece.kind in ("finish", "usage", "sentinel")
        if self.struck or piece.kind in ("start", "ping", "done") or (seen < n and not ends):
            return False
        self.struck = True
        return True
