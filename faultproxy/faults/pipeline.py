"""One direction of one connection: bytes in → wire events → faults → bytes and actions out.

The connection core hands every read to :meth:`Pipeline.feed` and carries out what comes
back: ``bytes`` to write, and :class:`Wait` / :class:`Until` / :class:`Close` / :class:`Hold`
actions. With no fault active the bytes come back exactly as read (the reader still runs, so
exchanges and event indexes stay known and a fault added mid-stream knows where it is); for
responses no fault looks at, :meth:`Pipeline.consume_untouched` does that bookkeeping alone.

Faults run top-down: the ``sse`` layer (:mod:`faultproxy.faults.sse_layer`) sees the events
of ``text/event-stream`` bodies, then the ``http`` layer sees the wire events, then the
``bytes`` layer sees the bytes.

An ``http`` fault on responses may answer a request itself (:meth:`Fault.on_request`, e.g.
``http_status``): the core tells the response pipeline of each request (:meth:`expect`), the
request pipeline then forwards nothing from that request on, and the answer goes to the client
once the responses to earlier requests are complete.

docs/creating-a-fault.md shows a fault through a pipeline in memory; docs/connection-core.md
how the core carries out what a pipeline returns.
"""

from __future__ import annotations

from collections.abc import Callable

from faultproxy.faults.base import (
    ACTIONS,
    Action,
    BytesOut,
    Close,
    Direction,
    Hold,
    HTTPOut,
    RawBytes,
    SSEOut,
    Until,
    Wait,
    ends_stream,
)
from faultproxy.faults.faultset import FaultSet
from faultproxy.faults.instances import FaultInstances
from faultproxy.faults.sse_layer import SSELayer
from faultproxy.wire.chunked import ChunkData
from faultproxy.wire.http import BodyData, HTTPEvent, HTTPReader, Request, Response
from faultproxy.wire.limits import DEFAULT_LIMITS, HeadLimits

Output = bytes | Action  # what a pipeline hands the core: bytes to write, actions to carry out

__all__ = ["Close", "Hold", "Output", "Pipeline", "Until", "Wait"]


def _unwrap(items: list[BytesOut] | list[SSEOut]) -> list[Output]:
    return [i.raw if isinstance(i, RawBytes) else i for i in items]  # type: ignore[misc]


def _serialize(items: list[HTTPOut] | list[BytesOut]) -> list[Output]:
    """Wire events and raw bytes as bytes (one piece per run between actions), actions kept."""
    out: list[Output] = []
    pending = bytearray()
    for item in items:
        if isinstance(item, ACTIONS):
            if pending:
                out.append(bytes(pending))
                pending.clear()
            out.append(item)
        else:
            pending += item.raw
    if pending:
        out.append(bytes(pending))
    return out


class Pipeline:
    """The faults on one direction: ``response`` (upstream → client) or ``request`` (client → upstream)."""

    # one connection holds two of these: slots keep thousands of streams small
    __slots__ = (
        "_answer",
        "_answered",
        "_fed",
        "_finals",
        "_requested",
        "_requests",
        "direction",
        "exchange",
        "finished",
        "holding",
        "instances",
        "offset",
        "over",
        "on_request",
        "reader",
        "request",
        "response",
        "sse",
    )

    def __init__(
        self,
        faults: FaultSet,
        conn: int,
        direction: Direction,
        *,
        raw: bool = False,
        strict: bool = False,
        limits: HeadLimits = DEFAULT_LIMITS,
        on_request: Callable[[Request], bool] | None = None,
    ):
        """``raw``: not HTTP, only byte faults apply. ``strict``: malformed input raises
        :class:`~faultproxy.wire.errors.WireError` (the core answers with its status: 400, 414,
        431, 505) instead of being passed on. ``limits``: how large a head may be.
        ``on_request`` is told of each request head (the core uses it to tell the
        response pipeline which request each response answers); when it returns True a fault
        answers that request itself, and it and everything after it stay here."""
        self.direction = direction
        self.reader = None if raw else HTTPReader(direction, strict=strict, limits=limits)
        self.on_request = on_request
        self.exchange = 0  # where this direction is (its Position): the current exchange, …
        self.offset = 0  # … the bytes written out so far, …
        self.request: Request | None = None  # … the request of the current exchange, …
        self.response: Response | None = None  # … and (responses) the head of the response in flight
        self.instances = FaultInstances(faults, conn, direction, self)
        self.sse = SSELayer(self.instances)
        self._requests: list[Request] = []  # responses: requests awaiting their response (rarely > 1)
        self._finals = 0  # responses: final (non-1xx) responses seen
        self._requested = 0  # responses: requests announced with expect()
        self._answer: list[Output] | None = None  # responses: a fault's answer, waiting for earlier responses
        self._answered = False  # requests: the request just read is answered by a fault
        self._fed = 0  # bytes fed to the reader so far
        self.finished = False  # a Close was emitted: nothing more goes out
        self.holding = False  # a Hold was emitted: everything from now on is dropped
        self.over = False  # a wait that never ends was emitted: nothing after it reaches the client

    # -- what the core asks -------------------------------------------------------------------

    def as_raw(self) -> None:
        """Before any byte has passed: this direction is plain TCP after all (the core found
        out from the first bytes), so only byte faults apply."""
        assert self._fed == 0, "a direction turns raw before its first byte only"
        self.reader = None

    @property
    def next_alarm(self) -> float | None:
        """When :meth:`alarm` should next be called (``None``: no alarm is set)."""
        return None if self.finished or self.over else self.instances.next_alarm

    @property
    def open_request(self) -> Request | None:
        """Requests: the request whose head has been read and whose body has not ended yet."""
        reader, request = self.reader, self.request
        if reader is None or request is None or reader.between_messages or reader.head is not request:
            return None
        return request

    def expect(self, request: Request, now: float = 0.0) -> list[Output] | None:
        """Responses: the next response answers this request (for ``match`` and HEAD framing).

        Unless an ``http`` fault answers it (:meth:`Fault.on_request`): then no response to it
        is expected, and what comes back is the answer to send to the client (empty while
        responses to earlier requests are still due; :meth:`feed` sends it after them).
        ``None``: the request goes to the upstream. The faults are those of the last
        :meth:`sync` (or read): the core syncs first, so that new faults start properly."""
        self._requested += 1
        if not self.finished and self.reader is not None:
            for instance in self.instances.active("http", request):
                ctx = self.instances.prepare(instance, now)
                ctx.exchange, ctx.request = self._requested, request
                answer = instance.fault.on_request(request, ctx)
                self.instances.collect(instance)
                if answer is not None:
                    self._answer = _serialize(answer)
                    return self._release(now)
        self._requests.append(request)
        if self.reader is not None:
            self.reader.expect_response_to(request.method)
        return None

    def awaits(self, request: Request) -> bool:
        """Responses: ``request`` was announced with :meth:`expect` and its response has not begun."""
        return any(r is request for r in self._requests)

    def responses_due_before(self, request: Request | None = None) -> bool:
        """Responses: a response to a request before ``request`` (to any request, for None) is
        still to come or to end. ``request``, when given, is one that :meth:`awaits`."""
        others = len(self._requests) - (1 if request is not None and self.awaits(request) else 0)
        return others > 0 or (self.reader is not None and not self.reader.idle)

    def sync(self, now: float) -> list[Output]:
        """Pick up changes to the fault set now, not at the next read (the core calls this when
        the connection is set up and whenever the fault set changes). Returns what faults that
        start now output (usually nothing: they set alarms)."""
        started: list[Output] = []
        for instance in self.instances.refresh():
            started += _unwrap(self.instances.call(instance, now, "on_start"))
        return self._finish(started) if started and not self.finished else []

    def alarm(self, now: float) -> list[Output]:
        """Call ``on_alarm`` of the faults whose alarms are due; returns what they output.

        A fault with ``match`` hears its alarm only if the current exchange's request matches
        (otherwise the alarm is dropped)."""
        started = self.sync(now)
        out: list[Output] = []
        instances = self.instances
        while not self.finished and not self.over and (instance := instances.pop_due(now)) is not None:
            items = instances.call(instance, now, "on_alarm")
            if instance.fault.layer == "sse":
                # Body data of the SSE response it rang in: framed as that body is, then through
                # the http and bytes faults like any other body data. Stale once the body is over.
                out += self._bytes_faults(self._http_layer(self.sse.alarm(items), now), now)
            else:
                out += _unwrap(self.sse.with_head(items))
        return started + self._finish(out) if out and not self.finished else started

    # -- the data path ----------------------------------------------------------------------

    def consume_untouched(self, data: bytes) -> bool:
        """The fast path for responses: when no fault, alarm or pending answer is here, account
        for ``data`` (framing, exchanges, where events end) and return True: the caller writes
        it out as it is. False (``data`` not consumed) when anything here might act on it:
        then call :meth:`feed`.

        What :meth:`feed` does in that case, without the fault machinery around it: at 20,000
        events/s each read's overhead shows up in the latency every event sees."""
        reader, instances = self.reader, self.instances
        if (  # attributes, not properties: this runs for every read of a healthy stream
            reader is None
            or self.direction != "response"
            or instances.by_name
            or instances.alarms
            or instances.seen_version != instances.faults.version
            or self.finished
            or self.holding
            or self._answer is not None
        ):
            return False
        reader.skim = True
        self._fed += len(data)
        for event in reader.feed(data):
            if isinstance(event, (Request, Response)):
                self._start_exchange(event)
        self.sse.tail = reader.body_tail  # the body's, since its head (read here too, maybe)
        self.offset += len(data)
        return True

    def feed(self, data: bytes, now: float) -> list[Output]:
        if self.over:  # queued behind a wait that never ends: no fault may act on it (ends_stream)
            self._fed += len(data)
            return [data]
        if self.consume_untouched(data):
            return [data]
        started = self.sync(now)
        if self.finished:
            return started
        reader = self.reader
        if reader is None:
            return started + self._finish(self._bytes_faults([data], now))
        start, self._fed = self._fed, self._fed + len(data)
        # With no fault here, a response body needs no events: skimming it is what keeps an
        # untouched stream of small chunks fast. (Requests keep their events: a fault that
        # answers a request needs to know where in this read its head began.)
        untouched = not self.instances.by_name
        reader.skim = untouched and self.direction == "response"
        events = reader.feed(data)
        if untouched:
            out = self._observe(events, data, start)
            if reader.skim:
                self.sse.tail = reader.body_tail
        else:
            out = started + self._run(events, now)
        return out + self._release(now) if self._answer is not None else out

    def eof(self, now: float) -> list[Output]:
        """The source sent FIN: flush what the reader still holds, then let byte faults delay the FIN."""
        started = self.sync(now)
        if self.finished or self.over:
            return started
        events = self.reader.close() if self.reader is not None else []
        if self.instances.by_name:
            out = started + self._run(events, now)
        else:
            self._observe(events, b"", self._fed)
            out = []
        for instance in self.instances.active("bytes"):
            out += _unwrap(self.instances.call(instance, now, "on_eof"))
        return out

    # -- internals ------------------------------------------------------------------------

    def _release(self, now: float) -> list[Output]:
        """A fault's answer to a request, once the responses before it have gone out whole."""
        reader = self.reader
        if self._answer is None or self._requests or reader is None or not reader.idle or self.finished:
            return []
        answer, self._answer = self._answer, None
        return self._finish(self._bytes_faults(answer, now))

    def _observe(self, events: list[HTTPEvent], data: bytes, start: int) -> list[Output]:
        """No fault here: keep count of exchanges and event boundaries; ``data`` goes out as it
        came — up to a request a fault answers (only the bytes before its head go)."""
        for i, event in enumerate(events):
            if isinstance(event, (Request, Response)):
                self._start_exchange(event)
                if self._answered:
                    assert self.reader is not None
                    head_at = self.reader.offset - sum(len(e.raw) for e in events[i:])
                    self.finished = True
                    return self._count([data[: max(0, head_at - start)]])
            elif isinstance(event, (ChunkData, BodyData)):
                self.sse.note_body(event.data)
        return self._count([data]) if data and not self.holding else []

    def _start_exchange(self, head: Request | Response) -> None:
        if isinstance(head, Request):
            self.exchange += 1
            self.request, self.response = head, None
            if self.on_request is not None and self.on_request(head):
                self._answered = True
        else:
            # A 1xx interim response belongs to the same exchange as the final one after it.
            self.exchange = self._finals + 1
            self.request = self._requests[0] if self._requests else None
            self.response = head
            if head.status >= 200:
                self._finals += 1
                if self._requests:
                    del self._requests[0]
        self.sse.reset(head)

    def _count(self, out: list[Output]) -> list[Output]:
        for item in out:
            if isinstance(item, bytes):
                self.offset += len(item)
        return out

    def _run(self, events: list[HTTPEvent], now: float) -> list[Output]:
        # Faults that time the source (read_timeout) see the read as it came, before the sse
        # layer may hold or drop it: nginx's proxy_read_timeout counts upstream reads.
        for instance in self.instances.watching_reads:
            self.instances.call(instance, now, "on_read", events)
        http_items: list[HTTPOut] = []
        for event in events:
            if isinstance(event, (Request, Response)):
                self._start_exchange(event)
                items = self.sse.head(event, now) if isinstance(event, Response) else [event]
            else:
                items = self.sse.event(event, now)
            if self._answered:  # a fault answered this request: it and all after it stay here
                out = self._finish(self._bytes_faults(self._http_layer(http_items, now), now))
                self.finished = True
                return out
            http_items += items
            if ends_stream(items):
                break  # nothing after it reaches the client: no fault acts on the rest of this read
        return self._finish(self._bytes_faults(self._http_layer(http_items, now), now))

    def _http_layer(self, wire: list[HTTPOut], now: float) -> list[Output]:
        """Wire events through the http faults, then serialized: bytes and actions."""
        instances = self.instances
        for instance in instances.active("http"):
            ctx = instances.prepare(instance, now)
            step: list[HTTPOut] = []
            at = self.offset  # where the output for the next event starts, as this fault sees it
            for item in wire:
                if isinstance(item, (RawBytes, *ACTIONS)):
                    added: list[HTTPOut] = [item]
                else:
                    ctx.offset = at
                    added = instance.fault.on_event(item, ctx)
                at += sum(len(i.raw) for i in added if not isinstance(i, ACTIONS))
                step += added
                if ends_stream(added):
                    break  # what follows never reaches the client: later faults must not act on it
            instances.collect(instance)
            wire = step
        return _serialize(self.sse.with_head(wire))

    def _bytes_faults(self, out: list[Output], now: float) -> list[Output]:
        instances = self.instances
        for instance in instances.active("bytes"):
            ctx = instances.prepare(instance, now)
            step: list[Output] = []
            for item in out:
                added = _unwrap(instance.fault.on_bytes(item, ctx)) if isinstance(item, bytes) else [item]
                step += added
                if ends_stream(added):
                    break  # what follows never reaches the client: later faults must not act on it
            instances.collect(instance)
            out = step
        return out

    def _finish(self, out: list[Output]) -> list[Output]:
        """Apply Close/Hold: nothing after a Close goes out; after a Hold, bytes are dropped."""
        final: list[Output] = []
        for item in out:
            if self.holding and isinstance(item, bytes):
                continue
            final.append(item)
            if isinstance(item, Hold):
                self.holding = True
            elif isinstance(item, Close):
                self.finished = True
                break
            elif ends_stream([item]):
                self.over = True
        return self._count(final)
