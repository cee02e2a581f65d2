"""``sse_rewrite``: the stream's ``id:`` and ``retry:`` fields are stripped or changed.

What a proxy that rebuilds events, or a server with a resume bug, does to reconnection:

- ``id: strip`` removes every ``id`` line: the client has no last event id, so a reconnect
  cannot resume (and sends no ``Last-Event-ID``);
- ``id: "<template>"`` gives every event an id made from the template, with ``{id}`` (the
  id the server gave, or the one in effect) and ``{index}`` (the event's index); blocks that
  dispatch nothing lose their ``id`` lines. E.g. ``"x-{id}"`` sends ids the server will not
  recognise on a reconnect, ``"7"`` sends the same id every time;
- ``retry: strip`` removes every ``retry`` line (the client falls back to its default);
- ``retry: <ms>`` sets every ``retry`` line to that value, and adds one to the first event
  if the stream set none before it.

Everything else in a block (data, comments, other fields, line endings) stays byte for byte.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from faultproxy.faults.base import Attributes, Context, Fault, SSEOut, register
from faultproxy.faults.sse_common import field_name, lines
from faultproxy.wire.sse import BOM, MAX_RETRY, Block


class SSERewriteAttributes(Attributes):
    id: str = Field(
        "keep",
        description='keep, strip, or a template for every event id with {id} and {index}, e.g. "x-{id}"',
    )
    retry: Literal["keep", "strip"] | int = Field(
        "keep", description="keep, strip, or the ms every retry line says"
    )

    @field_validator("id")
    @classmethod
    def _template(cls, value: str) -> str:
        if value in ("keep", "strip"):
            return value
        try:
            sample = value.format(id="1", index=0)
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"bad id template (placeholders are {{id}} and {{index}}): {error}") from None
        if any(c in sample for c in "\r\n\0"):
            raise ValueError("an id cannot contain CR, LF or NUL")
        return value

    @field_validator("retry")
    @classmethod
    def _retry(cls, value: str | int) -> str | int:
        if isinstance(value, int) and not 0 <= value <= MAX_RETRY:
            raise ValueError("retry must be 0..2**64-1 ms")
        return value


@register
class SSERewrite(Fault):
    name = "sse_rewrite"
    layer = "sse"
    directions = ("response",)
    summary = "strip or change the id: and retry: fields"
    Attributes = SSERewriteAttributes

    @classmethod
    def takes(cls, attributes: SSERewriteAttributes) -> frozenset[str]:
        """The event fields it rewrites (base.TAKES): two rewrites of one field, and one undoes the other."""
        return frozenset(f"field:{name}" for name in ("id", "retry") if getattr(attributes, name) != "keep")

    def __init__(self, attributes: SSERewriteAttributes):
        super().__init__(attributes)
        self.retry_seen = False  # a retry line went out in this response

    def on_response(self, ctx: Context) -> list[SSEOut]:
        self.retry_seen = False
        return []

    def on_block(self, block: Block, ctx: Context) -> list[SSEOut]:
        a = self.a
        if a.id == "keep" and a.retry == "keep":
            return [block]
        raw = block.raw
        bom = BOM if block.offset == 0 and raw.startswith(BOM) else b""
        entries, rest = lines(raw[len(bom) :])
        kept: list[tuple[bytes, bytes]] = []
        changes: list[str] = []
        for line, eol in entries:
            name = field_name(line)
            if name == b"id" and a.id != "keep":
                changes.append("id line removed" if a.id == "strip" or block.event is None else "")
                continue
            if name == b"retry" and a.retry != "keep":
                if a.retry == "strip":
                    changes.append("retry line removed")
                    continue
                line = b"retry: %d" % a.retry
                changes.append(f"retry set to {a.retry}")
                self.retry_seen = True
            kept.append((line, eol))
        event = block.event
        if event is not None and kept and not rest:
            eol = kept[-1][1]  # the blank line that ends the block
            added: list[bytes] = []
            if a.id not in ("keep", "strip"):
                new_id = a.id.format(id=event.id, index=ctx.event_index)
                added.append(b"id: " + new_id.encode())
                changes.append(f"id {event.id or '-'} -> {new_id}")
            if isinstance(a.retry, int) and not self.retry_seen:
                added.append(b"retry: %d" % a.retry)
                changes.append(f"retry {a.retry} added")
                self.retry_seen = True
            kept[-1:-1] = [(line, eol) for line in added]
        changes = [c for c in changes if c]
        if not changes:
            return [block]
        where = f"event {ctx.event_index + 1}" if event is not None else "a block without an event"
        ctx.fired(f"{where}: " + ", ".join(changes))
        new = bom + b"".join(line + eol for line, eol in kept) + rest
        return [Block(new, event, block.offset)]
