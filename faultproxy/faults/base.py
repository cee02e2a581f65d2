"""What a fault is: typed attributes, a layer, hooks that transform wire events, a registry.

A fault never does I/O and never reads a clock. The relay feeds it wire events (from
``faultproxy.wire``) together with the current time, and it returns what should happen
instead: wire events or raw bytes to send, and :class:`Wait`, :class:`Close` or
:class:`Hold` actions that the relay carries out. That is what lets one fault work in the
proxy, behind the control API and inside exploration, and what makes it testable alone.

Layers, from the top of the stack to the bottom:

- ``sse``: sees the events of ``text/event-stream`` bodies as :class:`~faultproxy.wire.sse.Block`
  objects (decoded event plus its exact bytes) and returns blocks, raw body bytes or actions;
- ``http``: sees HTTP/1.1 wire events — heads, chunk-size lines, chunk data, CRLFs, the last
  chunk, body bytes — and returns wire events, raw bytes or actions;
- ``bytes``: sees the bytes about to be written to the socket (Toxiproxy's level).

Each fault gets its own instance per connection and direction, so state such as "events seen
so far" is per stream, as in Toxiproxy.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

Layer = Literal["sse", "http", "bytes"]


@dataclass(frozen=True, slots=True)
class RawBytes:
    """Bytes a fault wants on the wire as they are (broken framing, injected garbage)."""

    raw: bytes


@dataclass(frozen=True, slots=True)
class Wait:
    """Deliver nothing more on this direction for ``seconds`` (reading pauses meanwhile)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Until:
    """Deliver nothing more before monotonic time ``at`` (pipelined delays such as latency)."""

    at: float


@dataclass(frozen=True, slots=True)
class Close:
    """End this connection: ``fin`` (orderly), ``rst`` (reset), after what came before is sent."""

    how: Literal["fin", "rst"] = "fin"


@dataclass(frozen=True, slots=True)
class Hold:
    """Deliver nothing more, ever, and keep the connection open (a black hole)."""


Action = Wait | Until | Close | Hold


class Attributes(BaseModel):
    """Base of every fault's attribute model: typed, validated, unknown names refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


@dataclass
class Evidence:
    """Where and when a fault fired: what a report shows to prove the fault happened."""

    fault: str
    type: str
    conn: int
    direction: str
    t: float
    exchange: int | None = None
    event_index: int | None = None
    offset: int | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None and v != ""}


@dataclass
class Context:
    """What a fault may know about where it is; filled in by the pipeline before each hook."""

    fault_name: str
    fault_type: str
    conn: int
    direction: str
    rng: random.Random
    now: float = 0.0
    exchange: int = 0
    offset: int = 0  # bytes of this direction written so far (before this piece)
    event_index: int | None = None  # index of the SSE event being handled, per response
    evidence: list[Evidence] = field(default_factory=list)

    def fired(self, detail: str = "", **where: Any) -> None:
        """Record that the fault acted here."""
        self.evidence.append(
            Evidence(
                fault=self.fault_name,
                type=self.fault_type,
                conn=self.conn,
                direction=self.direction,
                t=self.now,
                exchange=where.get("exchange", self.exchange or None),
                event_index=where.get("event_index", self.event_index),
                offset=where.get("offset", self.offset),
                detail=detail,
            )
        )


class Fault:
    """A fault type. Subclasses set ``name``, ``layer``, an ``Attributes`` model, and hooks.

    Hooks return lists of *outputs*: for the ``sse`` layer, blocks, :class:`RawBytes` and
    actions; for ``http``, wire events, :class:`RawBytes` and actions; for ``bytes``,
    :class:`RawBytes` and actions. Returning the input unchanged (the default) passes it on.
    """

    name: ClassVar[str]
    layer: ClassVar[Layer]
    summary: ClassVar[str] = ""
    directions: ClassVar[tuple[str, ...]] = ("downstream", "upstream")
    Attributes: ClassVar[type[Attributes]] = Attributes

    def __init__(self, attributes: Attributes):
        self.a = attributes

    # sse layer
    def on_response(self, ctx: Context) -> list[Any]:
        """A new text/event-stream response body starts (event indexes restart at 0)."""
        return []

    def on_block(self, block: Any, ctx: Context) -> list[Any]:
        return [block]

    def on_body_end(self, ctx: Context) -> list[Any]:
        """The SSE body ended cleanly (before the terminating framing is written)."""
        return []

    # http layer
    def on_event(self, event: Any, ctx: Context) -> list[Any]:
        return [event]

    # bytes layer
    def on_bytes(self, data: bytes, ctx: Context) -> list[Any]:
        return [RawBytes(data)]

    def on_eof(self, ctx: Context) -> list[Any]:
        """The source side finished sending (FIN). Return actions to run before the FIN is passed on."""
        return []


REGISTRY: dict[str, type[Fault]] = {}


def register(cls: type[Fault]) -> type[Fault]:
    """Class decorator: make a fault available by its name in YAML, the CLI and the REST API."""
    if cls.name in REGISTRY:
        raise ValueError(f"fault type {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls
    return cls
