"""``sse_corrupt``: an event arrives broken in one of the ways real streams break.

The event is written anew with :func:`~faultproxy.wire.sse.encode_event`, keeping its
``event``, ``id`` and ``retry`` fields (those its block had), its comments and its line
ending, and breaking one thing, ``kind``:

- ``invalid_json``: the data is cut at a seeded point and ends in an unclosed ``{``, like a
  payload truncated mid-object; no JSON text ends in ``{``, so it never parses;
- ``invalid_utf8``: byte 0xFF before the data: a correct client shows U+FFFD;
- ``missing_blank_line``: no blank line after the event, so it merges with the next one
  (one event with both data, the later id and type); the last event of a body is lost;
- ``cr_only``: CR line endings; a correct parser reads them, a ``split("\\n")`` one does not;
- ``mixed_line_endings``: the fields end with LF and the blank line after them with CRLF (valid:
  any of CR, LF, CRLF ends a line); a parser that looks for ``\\n\\n``, ``\\r\\r`` or
  ``\\r\\n\\r\\n`` to find the end of an event never finds this one's;
- ``bom``: a UTF-8 BOM in front. Mid-stream it hides the event's first line (its ``event``,
  ``id`` or ``retry`` field, or its data, losing the event); at the very start of the body it
  is legal and stripped, so it changes nothing;
- ``no_space``: ``data:x`` instead of ``data: x``: the same to a correct parser, fatal to one
  that slices off ``"data: "``;
- ``field_typo``: ``dta:`` instead of ``data:``: the event never fires (its ``id`` still counts).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from faultproxy.faults.base import Context, Fault, SSEOut, register
from faultproxy.faults.sse_common import EventSelection, field_name, line_ending, lines, portable, selected
from faultproxy.wire.sse import Block, encode_event

Kind = Literal[
    "invalid_json",
    "invalid_utf8",
    "missing_blank_line",
    "cr_only",
    "mixed_line_endings",
    "bom",
    "no_space",
    "field_typo",
]


class SSECorruptAttributes(EventSelection):
    kind: Kind = Field(
        ...,
        description=(
            "invalid_json: data cut short; invalid_utf8: a 0xFF byte; missing_blank_line: merges with the next; "
            "cr_only: CR line endings; mixed_line_endings: LF after the fields, CRLF for the blank line; bom: a BOM "
            "in front; no_space: data:x; field_typo: dta: instead of data:"
        ),
    )


def break_json(data: str, ctx: Context) -> str:
    """``data`` cut at a seeded point in its second half, ending in an unclosed ``{``."""
    cut = ctx.rng.randint(len(data) // 2, len(data))
    return data[:cut] + "{"


@register
class SSECorrupt(Fault):
    name = "sse_corrupt"
    layer = "sse"
    directions = ("response",)
    summary = (
        "break an event: invalid JSON or UTF-8, a missing blank line, CR or mixed endings, a BOM, no space, "
        "a field typo"
    )
    Attributes = SSECorruptAttributes

    def __init__(self, attributes: SSECorruptAttributes):
        super().__init__(attributes)
        self.eat_lf = False  # the next block's leading LF belonged to a CRLF this fault rewrote

    def on_response(self, ctx: Context) -> list[SSEOut]:
        self.eat_lf = False
        return []

    def on_block(self, block: Block, ctx: Context) -> list[SSEOut]:
        if self.eat_lf:
            self.eat_lf = False
            if block.raw.startswith(b"\n"):
                block = Block(block.raw[1:], block.event, block.offset + 1)
        if block.event is None or not selected(self.a, ctx):
            return [block]
        raw = self.rewrite(block, ctx)
        # The original ended in a CR whose LF may start the next block; after our bytes that
        # LF would be a blank line of its own (and end a block this fault left unterminated).
        self.eat_lf = block.raw.endswith(b"\r") and not raw.endswith(b"\r")
        ctx.fired(f"{self.a.kind} on event {ctx.event_index + 1} (id {block.event.id or '-'})")
        return [Block(raw, block.event, block.offset)]

    def rewrite(self, block: Block, ctx: Context) -> bytes:
        event = block.event
        assert event is not None
        kind = self.a.kind
        present: set[bytes] = set()
        comments: list[str] = []
        for line, _ in lines(portable(block))[0]:
            name = field_name(line)
            present.add(name)
            if not name and line:
                comments.append(line[1:].removeprefix(b" ").decode("utf-8", "replace"))
        data = event.data
        if kind == "invalid_json":
            data = break_json(data, ctx)
        options: dict[str, Any] = {
            "event": event.type if b"event" in present else None,
            "id": event.id if b"id" in present else None,
            "retry": event.retry if b"retry" in present else None,
            "comment": "\n".join(comments) if comments else None,
            "line_ending": {"cr_only": "\r", "mixed_line_endings": "\n"}.get(kind) or line_ending(block),
            "space": kind != "no_space",
            "terminate": kind != "missing_blank_line",
            "bom": kind == "bom",
            "invalid_utf8": kind == "invalid_utf8",
            "field_typo": kind == "field_typo",
        }
        raw = encode_event(data, **options)
        return raw[:-1] + b"\r\n" if kind == "mixed_line_endings" else raw
