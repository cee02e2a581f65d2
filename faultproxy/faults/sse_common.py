"""What the ``sse`` faults share: choosing events, and taking event blocks apart and moving them.

Not a fault. Two details of :class:`~faultproxy.wire.sse.Block` matter whenever a fault moves,
copies or rewrites a block instead of passing it on where it was:

- the block at stream offset 0 may start with the UTF-8 BOM, which a parser strips only there;
  anywhere else it would hide the block's first line;
- when a CR ended the previous block at the end of a read, the LF of that CRLF starts this
  block. Right after the CR the parser skips it; after anything else it is a blank line.

:func:`portable` drops both, so a block can go anywhere in the stream and still mean the same.
"""

from __future__ import annotations

import re

from pydantic import Field

from faultproxy.faults.base import Attributes, Context
from faultproxy.wire.sse import BOM, Block

_EOL = re.compile(rb"(\r\n|\r|\n)")


class EventSelection(Attributes):
    """Which events a fault acts on. With none of the three given: every event."""

    event_index: int | None = Field(
        None, ge=0, description="only the event with this index (0-based, per response)"
    )
    every: int | None = Field(None, ge=1, description="every Nth event (the Nth, 2Nth, …)")
    fraction: float | None = Field(
        None, ge=0.0, le=1.0, description="each event with this probability (seeded: same seed, same events)"
    )


def selected(a: EventSelection, ctx: Context) -> bool:
    """Whether the event being handled (``ctx.event_index``) is one ``a`` picks.

    The random draw for ``fraction`` is made for every event, picked or not, so which events
    are picked depends only on the seed and the event indexes, never on how the bytes arrived.
    """
    index = ctx.event_index or 0
    draw = ctx.rng.random() if a.fraction is not None else None
    if a.event_index is None and a.every is None and draw is None:
        return True
    return (
        (a.event_index is not None and index == a.event_index)
        or (a.every is not None and (index + 1) % a.every == 0)
        or (draw is not None and draw < a.fraction)  # type: ignore[operator]
    )


def prefix_len(block: Block) -> int:
    """Length of what :func:`portable` drops: a BOM at offset 0, or an LF left over from a CRLF."""
    raw = block.raw
    if block.offset == 0 and raw.startswith(BOM):
        return len(BOM)
    if raw.startswith(b"\n") and block.event is not None:
        # An event block cannot start with a real blank line (that would have ended a block),
        # so a leading LF is always the second half of a CRLF split across reads.
        return 1
    return 0


def portable(block: Block) -> bytes:
    """The block's bytes, fit to be sent anywhere in the stream (see the module docstring)."""
    return block.raw[prefix_len(block) :]


def moved(block: Block) -> Block:
    """The same block, as :func:`portable` bytes (for a copy or a block sent out of place)."""
    cut = prefix_len(block)
    return Block(block.raw[cut:], block.event, block.offset + cut) if cut else block


def lines(raw: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """``raw`` as ``[(line, line ending), …]`` plus an unterminated rest (``b""`` for a whole block)."""
    parts = _EOL.split(raw)
    return list(zip(parts[0:-1:2], parts[1::2])), parts[-1]


def field_name(line: bytes) -> bytes:
    """The field name of a line (``b""`` for a comment); a line without a colon is all name."""
    return line.partition(b":")[0]


def line_ending(block: Block) -> str:
    """The first line ending the block uses (LF if it has none)."""
    match = _EOL.search(portable(block))
    return match.group(1).decode() if match else "\n"
