"""What a fault is: typed attributes, a layer, hooks that transform wire events, a registry.

A fault never does I/O and never reads a clock. The relay feeds it wire events (from
``faultproxy.wire``) together with the current time, and it returns what should happen
instead: wire events or raw bytes to send, and :class:`Wait`, :class:`Close` or
:class:`Hold` actions that the relay carries out. That is what lets one fault work in the
proxy, behind the control API and inside exploration, and what makes it testable alone.

Two things let a fault act on time and on the reading side without doing I/O either: an alarm
(:meth:`Context.set_alarm`, typically from :meth:`Fault.on_start`) has the relay call
:meth:`Fault.on_alarm` at a given time even if no data flows (``timeout``, ``reset_peer``);
and :attr:`Fault.queue_limit` tells the relay how much it may hold waiting before it stops
reading from the source (``slow_reader`` sets 0, so the sender's writes block).

Layers, from the top of the stack to the bottom:

- ``sse``: sees the events of ``text/event-stream`` bodies as :class:`~faultproxy.wire.sse.Block`
  objects (decoded event plus its exact bytes) and returns blocks, raw body bytes or actions;
- ``http``: sees HTTP/1.1 wire events — heads, chunk-size lines, chunk data, CRLFs, the last
  chunk, body bytes — and returns wire events, raw bytes or actions;
- ``bytes``: sees the bytes about to be written to the socket (Toxiproxy's level).

Each fault gets its own instance per connection and direction, so state such as "events seen
so far" is per stream, as in Toxiproxy. Directions are named for what they carry: ``response``
(upstream → client, Toxiproxy's ``stream: downstream``) and ``request`` (client → upstream,
``stream: upstream``); the two sockets of a connection are the ``client`` and the ``upstream``.

``docs/creating-a-fault.md`` walks through adding a fault, its in-memory test and its docs.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from faultproxy.wire.http import HTTPEvent, Request, Response
from faultproxy.wire.sse import Block

Layer = Literal["sse", "http", "bytes"]
Direction = Literal["request", "response"]  # client → upstream, upstream → client


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


@dataclass(frozen=True, slots=True)
class EndBody:
    """``sse`` layer: end the response body here, cleanly, as its framing ends a body.

    The pipeline writes the last chunk (``0\r\n\r\n``) for a chunked or re-chunked body, or
    closes the connection (FIN) for a close-delimited one, and drops whatever the upstream
    still sends of that body. Body data returned after it is dropped; actions are kept.
    """


Action = Wait | Until | Close | Hold
ACTIONS = (Wait, Until, Close, Hold)  # for isinstance()


def ends_stream(items: list[Any]) -> bool:
    """Whether ``items`` end what the client gets: a Close, or a wait that never ends (an endless
    stall). Nothing after it reaches the client, so no fault may act on what follows, nor record
    evidence of it: the first fault to end the stream wins, and a fault after it never fires."""
    return any(isinstance(i, Close) or (isinstance(i, Wait) and math.isinf(i.seconds)) for i in items)


# What hooks return, per layer (each layer's outputs include those of the layers below it):
BytesOut = RawBytes | Action  # the bytes layer; on_start, on_alarm, on_eof and on_request of any layer
HTTPOut = HTTPEvent | RawBytes | Action  # the http layer
SSEOut = Block | RawBytes | EndBody | Action  # the sse layer (an sse fault's on_alarm too)

# What a fault can take over on the traffic it acts on (Fault.takes_over), and why two faults that
# take over the same thing cannot apply together: the second acts on what the first replaced.
TAKES = {
    "framing": "decides how the body is framed on the wire, or breaks that framing",
    "end": "decides where or when the response or the connection ends (or that it never does)",
    "writes": "decides the writes the body goes out in (holding it, or cutting it into pieces)",
    "response": "replaces or drops the whole response, so no fault that acts on it before could show",
}


class Attributes(BaseModel):
    """Base of every fault's attribute model: typed, validated, unknown names refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


@dataclass
class Evidence:
    """Where and when a fault fired: what a report shows to prove the fault happened."""

    fault: str
    fault_type: str  # the same name in the capture's fault records and in a cell's result
    conn: int
    direction: Direction
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
    direction: Direction
    rng: random.Random
    now: float = 0.0
    exchange: int = 0
    offset: int = 0  # bytes of this direction written before this piece (http: before this event's output)
    event_index: int | None = None  # index of the SSE event being handled, per response
    request: Request | None = None  # the request of this exchange (responses: the one this one answers)
    response: Response | None = None  # responses: the head of the response in flight (None before it)
    evidence: list[Evidence] = field(default_factory=list)
    notes: list[Evidence] = field(default_factory=list)  # passed_over: where it chose not to act, and why
    alarms: list[float] = field(default_factory=list)  # asked for with set_alarm, taken by the pipeline

    def set_alarm(self, at: float) -> None:
        """Have :meth:`Fault.on_alarm` called at monotonic time ``at``, whether or not data flows.

        For faults that act on the clock rather than on data (close after a timeout, reset
        after N ms). The alarm is dropped if the fault is removed or replaced before then.
        """
        self.alarms.append(at)

    def fired(self, detail: str = "", **where: Any) -> None:
        """Record that the fault acted here."""
        self.evidence.append(
            Evidence(
                fault=self.fault_name,
                fault_type=self.fault_type,
                conn=self.conn,
                direction=self.direction,
                t=self.now,
                exchange=where.get("exchange", self.exchange or None),
                event_index=where.get("event_index", self.event_index),
                offset=where.get("offset", self.offset),
                detail=detail,
            )
        )

    def passed_over(self, detail: str) -> None:
        """Record that the fault saw something it could act on in other traffic and left it
        alone, and why (an ``llm_*`` fault on a plain event stream): not a firing -- a cell
        whose fault only passed over says the fault never fired, with this reason."""
        self.notes.append(
            Evidence(
                self.fault_name,
                self.fault_type,
                self.conn,
                self.direction,
                self.now,
                exchange=self.exchange or None,
                detail=detail,
            )
        )


class Fault:
    """A fault type. Subclasses set ``name``, ``layer``, an ``Attributes`` model, and hooks.

    Hooks return lists of *outputs*, typed per layer: :data:`SSEOut` (blocks, :class:`RawBytes`,
    :class:`EndBody`, actions), :data:`HTTPOut` (wire events, :class:`RawBytes`, actions) and
    :data:`BytesOut` (:class:`RawBytes`, actions). Returning the input unchanged (the default)
    passes it on.
    """

    name: ClassVar[str]
    layer: ClassVar[Layer]
    summary: ClassVar[str] = ""
    directions: ClassVar[tuple[Direction, ...]] = ("response", "request")
    # an ``sse`` fault that turns event blocks into raw pieces (``sse_split``): the ``sse`` faults
    # after it would see no event left to act on, so it runs last whatever the order given
    breaks_blocks: ClassVar[bool] = False
    # a fault that times the source's reads (``read_timeout``): :meth:`on_read` sees every read
    # before any fault acts on it, whatever buffering or dropping the faults do afterwards
    watches_reads: ClassVar[bool] = False
    # an ``sse`` fault that makes the response head wait for the first body bytes that go out (or
    # the connection's close), as nginx sends its head with its first batch while it buffers
    holds_head: ClassVar[bool] = False
    # What the fault takes over on the traffic it acts on (see TAKES); two faults that take over
    # the same thing on the same traffic are refused (spec.check_unique): the second would act on
    # what the first already replaced, and record evidence of something no client ever sees.
    takes_over: ClassVar[frozenset[str]] = frozenset()
    Attributes: ClassVar[type[Attributes]] = Attributes

    def __init__(self, attributes: Attributes):
        self.a = attributes

    @classmethod
    def takes(cls, attributes: Attributes) -> frozenset[str]:
        """What this fault takes over with these attributes (:data:`TAKES`); by default
        :attr:`takes_over`. A fault whose attributes decide it (``gzip`` holds the body only
        without flushes) says so here."""
        return cls.takes_over

    @property
    def queue_limit(self) -> int | None:
        """How many bytes the relay may hold on this direction, waiting, before it stops reading
        from the source; ``None`` keeps the relay's default (``outbox.QUEUE_LIMIT``, 1 MiB).

        ``0`` means "stop reading whenever anything waits": a fault that paces its output
        (``slow_reader``) then paces the reads from the source too, so the sender feels the
        slowness as a real slow reader makes it feel it — its writes block — instead of the
        proxy soaking up its data. The smallest limit among the active faults applies.
        """
        return None

    # every layer
    def on_start(self, ctx: Context) -> list[BytesOut]:
        """The fault starts on this connection's direction: when the connection is set up, or,
        for a fault added to a live connection, when the relay learns of it. Returns bytes-layer
        outputs (:class:`RawBytes` and actions); usually it only sets an alarm."""
        return []

    def on_alarm(self, ctx: Context) -> list[SSEOut]:
        """An alarm set with :meth:`Context.set_alarm` is due. Returns bytes-layer outputs; an
        ``sse`` fault may also return SSE outputs, sent as body of the event stream it rang in."""
        return []

    def on_read(self, events: list[Any], ctx: Context) -> None:
        """``watches_reads`` faults: one read from the source (its FIN included), as the reader
        decoded it -- wire events, none for a read that ended inside a line -- before any fault
        has acted on it. Observation only: outputs come from the other hooks and alarms."""

    # sse layer
    def on_response(self, ctx: Context) -> list[SSEOut]:
        """A new text/event-stream response body starts (event indexes restart at 0)."""
        return []

    def on_block(self, block: Block, ctx: Context) -> list[SSEOut]:
        return [block]

    def on_body_end(self, ctx: Context) -> list[SSEOut]:
        """The SSE body ended (before the terminating framing is written): the last chance to
        send what the fault holds."""
        return []

    def on_body_break(self, ctx: Context) -> list[SSEOut]:
        """The SSE body broke off -- the upstream closed before its framing said the body was
        complete, or the framing broke -- before that is passed on. By default the same as
        :meth:`on_body_end`. Returning :class:`EndBody` ends the client's body cleanly instead of
        passing the break on (what an HTTP/1.0 hop does: there the close *is* the body's end)."""
        return self.on_body_end(ctx)

    # http layer
    def on_event(self, event: HTTPEvent, ctx: Context) -> list[HTTPOut]:
        return [event]

    def on_request(self, request: Request, ctx: Context) -> list[BytesOut] | None:
        """``http`` faults on responses: a request whose response this direction will carry has
        arrived (``match`` is checked against it). ``None`` lets it through. A list answers it
        here instead: the request never reaches the upstream, nor does anything the client
        sends after it on this connection, and the outputs (:class:`RawBytes` and actions) go
        to the client once the responses to earlier requests are complete. Since nothing more
        is forwarded, an answer should end with :class:`Close`."""
        return None

    # bytes layer
    def on_bytes(self, data: bytes, ctx: Context) -> list[BytesOut]:
        return [RawBytes(data)]

    def on_eof(self, ctx: Context) -> list[BytesOut]:
        """The source side finished sending (FIN). Return actions to run before the FIN is passed on."""
        return []


REGISTRY: dict[str, type[Fault]] = {}


def register(cls: type[Fault]) -> type[Fault]:
    """Class decorator: make a fault available by its name in YAML, the CLI and the REST API."""
    if cls.name in REGISTRY:
        raise ValueError(f"fault type {cls.name!r} registered twice")
    REGISTRY[cls.name] = cls
    return cls
