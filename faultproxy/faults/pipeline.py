"""One direction of one connection: bytes in → wire events → faults → bytes and actions out.

The relay hands every read to :meth:`Pipeline.feed` and carries out what comes back:
``bytes`` to write, and :class:`Wait` / :class:`Until` / :class:`Close` / :class:`Hold`
actions. With no fault active the bytes come back exactly as read (the reader still runs, so
exchanges and event indexes stay known and a fault added mid-stream knows where it is).

Faults run top-down: the ``sse`` layer sees the events of ``text/event-stream`` bodies,
then the ``http`` layer sees the wire events, then the ``bytes`` layer sees the bytes. When
an SSE fault is active on a response its body is re-framed: each piece of event bytes that
comes out becomes one chunk (or plain bytes for a close-delimited body), and a
Content-Length response is switched to chunked so that dropped or injected events keep the
framing valid — breaking the framing is the ``http`` layer's job, on purpose. An SSE fault
can also end such a body early and cleanly (:class:`~faultproxy.faults.base.EndBody`).

A downstream ``http`` fault may answer a request itself (:meth:`Fault.on_request`, e.g.
``http_status``): the relay tells the downstream pipeline of each request (:meth:`expect`),
the upstream pipeline then forwards nothing from that request on, and the answer goes to the
client once the responses to earlier requests are complete.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import Counter, deque
import random
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from faultproxy.faults.base import Close, Context, EndBody, Evidence, Fault, Hold, RawBytes, Until, Wait
from faultproxy.faults.spec import FaultSpec
from faultproxy.wire.chunked import ChunkData, ChunkedEnd, ChunkEnd, ChunkHeader, Malformed
from faultproxy.wire.http import (
    BodyData,
    EndOfMessage,
    HTTPReader,
    Request,
    Response,
    encode_head,
)
from faultproxy.wire.sse import Block, SSEParser

Output = bytes | Wait | Until | Close | Hold
EVIDENCE_KEPT = 10_000  # firings a FaultSet keeps in memory (the latest); see FaultSet.fired for all
NOTES_KEPT = 100  # passed-over notes a FaultSet keeps (the latest): one per response at most
ACTIONS = (Wait, Until, Close, Hold)


def _ends(items: list[Any]) -> bool:
    """Whether ``items`` end what the client gets: a Close, or a wait that never ends (an endless
    stall). Nothing after it reaches the client, so no fault may act on what follows, nor record
    evidence of it: the first fault to end the stream wins, and a fault after it never fires."""
    return any(isinstance(i, Close) or (isinstance(i, Wait) and math.isinf(i.seconds)) for i in items)


class FaultSet:
    """The proxy's ordered, live list of faults; pipelines pick up changes on their next read.

    Changes may come from another thread (a test, the control API) while the relay's loop
    reads the list: every change builds a new mapping and swaps it in whole, so a reader
    always sees one consistent set, and a lock keeps two writers from losing an update.
    """

    def __init__(self, specs: list[FaultSpec] | None = None, seed: int = 0):
        self.seed = seed
        self.version = 0
        self._specs: dict[str, FaultSpec] = {}
        self._lock = threading.Lock()
        # the latest firings, for reports and tests; a proxy that runs for days keeps counting
        # (fired) but holds only this many records. Appended on the relay's loop, read from any
        # thread (a test polling what fired): the lock keeps a reader's copy from a half-append.
        self._evidence: deque[Evidence] = deque(maxlen=EVIDENCE_KEPT)
        self._evidence_lock = threading.Lock()
        self.fired: Counter[tuple[str, str]] = Counter()  # (fault name, type) → times it fired, ever
        self._notes: deque[Evidence] = deque(maxlen=NOTES_KEPT)  # where a fault passed over, and why
        self.listeners: list[Callable[[Evidence], None]] = []
        self.on_change: list[Callable[[], None]] = []  # told after every change (the proxy wakes its relays)
        for spec in specs or ():
            self.add(spec)

    @property
    def specs(self) -> list[FaultSpec]:
        return list(self._specs.values())

    def _update(self, change: Callable[[dict[str, FaultSpec]], FaultSpec | None]) -> FaultSpec | None:
        with self._lock:
            specs = dict(self._specs)
            result = change(specs)
            self._specs = specs
        self._changed()
        return result

    def add(self, spec: FaultSpec) -> FaultSpec:
        def change(specs: dict[str, FaultSpec]) -> FaultSpec:
            if spec.name in specs:
                raise ValueError(f"a fault named {spec.name!r} exists already")
            specs[spec.name] = spec
            return spec

        self._update(change)
        return spec

    def replace(self, spec: FaultSpec) -> FaultSpec:
        self._update(lambda specs: specs.__setitem__(spec.name, spec))
        return spec

    def remove(self, name: str) -> FaultSpec:
        removed = self._update(lambda specs: specs.pop(name))
        assert removed is not None
        return removed

    def clear(self) -> None:
        self._update(lambda specs: specs.clear())

    def _changed(self) -> None:
        self.version += 1
        for listener in self.on_change:
            listener()

    def get(self, name: str) -> FaultSpec | None:
        return self._specs.get(name)

    @property
    def evidence(self) -> list[Evidence]:
        """The latest firings (:data:`EVIDENCE_KEPT` at most), oldest first: a copy, safe to
        read while faults keep firing on another thread."""
        with self._evidence_lock:
            return list(self._evidence)

    @property
    def notes(self) -> list[Evidence]:
        """Where a fault passed over traffic it cannot act on, and why (:meth:`Context.passed_over`):
        the latest :data:`NOTES_KEPT`, oldest first. Not firings: ``evidence`` and ``fired`` leave them out."""
        with self._evidence_lock:
            return list(self._notes)

    def note(self, note: Evidence) -> None:
        with self._evidence_lock:
            self._notes.append(note)

    def record(self, evidence: Evidence) -> None:
        with self._evidence_lock:
            self._evidence.append(evidence)
            self.fired[evidence.fault, evidence.fault_type] += 1
        for listener in self.listeners:
            listener(evidence)

    def draw(self, spec: FaultSpec, conn: int) -> bool:
        """Whether ``spec`` is on for connection ``conn``: its toxicity, drawn from the seed.

        Drawn from (seed, fault name, connection) alone, so the same seed and the same traffic
        give the same decisions whatever else is configured or in which order things happen.
        """
        if spec.toxicity >= 1.0:
            return True
        return random.Random(f"{self.seed}/{spec.name}/{conn}/toxicity").random() < spec.toxicity


@dataclass
class _Active:
    """A fault instance living on one connection's direction, with its context."""

    spec: FaultSpec
    fault: Fault
    ctx: Context
    version: int = field(default=-1)  # the spec object it was built from


class Pipeline:
    """Faults on one direction (``downstream``: server→client, ``upstream``: client→server)."""

    # one relay holds several of these per connection: slots keep thousands of streams small
    __slots__ = (
        "_alarm_order", "_alarms", "_answer", "_answered", "_ended", "_event_index", "_fed",
        "_finals", "_head_waits", "_held_head", "_instances", "_joined", "_live_sse", "_over", "_reframe",
        "_requested", "_requests",
        "_seen_version", "_sse", "_tail", "conn", "direction", "exchange", "faults", "finished",
        "holding", "offset", "on_request", "reader", "request", "response", "role",
    )

    def __init__(
        self,
        faults: FaultSet,
        conn: int,
        direction: str,
        *,
        raw: bool = False,
        strict: bool = False,
        on_request: Callable[[Request], bool | None] | None = None,
    ):
        """``raw``: not HTTP, only byte faults apply. ``strict``: malformed input raises
        :class:`~faultproxy.wire.errors.WireError` (the relay answers 400) instead of being
        passed on. ``on_request`` is told of each request head (the relay uses it to tell the
        downstream pipeline which request each response answers); when it returns True a
        fault answers that request itself, and it and everything after it stay here."""
        self.faults = faults
        self.conn = conn
        self.direction = direction
        self.role = "response" if direction == "downstream" else "request"
        self.reader = None if raw else HTTPReader(self.role, strict=strict)
        self.on_request = on_request
        self._seen_version = -1
        self._instances: dict[str, _Active] = {}
        self._requests: list[Request] = []  # downstream: requests awaiting their response (rarely > 1)
        self.request: Request | None = None  # the request of the current exchange
        self.response: Response | None = None  # downstream: the head of the response in flight
        self.exchange = 0
        self._finals = 0
        self._requested = 0  # downstream: requests announced with expect()
        self._answer: list[Any] | None = None  # downstream: a fault's answer, waiting for earlier responses
        self._answered = False  # upstream: the request just read is answered by a fault
        self._fed = 0  # bytes fed to the reader so far
        self.offset = 0  # bytes written out on this direction so far
        self.finished = False  # a Close was emitted: nothing more goes out
        self.holding = False  # a Hold was emitted: everything from now on is dropped
        self._over = False  # a wait that never ends was emitted: nothing after it reaches the client
        self._alarms: list[tuple[float, int, _Active]] = []  # (when, order, fault instance), a heap
        self._alarm_order = itertools.count()
        # per-response SSE state
        self._sse: SSEParser | None = None
        self._reframe: str | None = None  # "chunked" or "plain" while an SSE fault rewrites the body
        self._event_index = 0
        self._tail = b""  # the last body bytes passed on untouched: where is the next event boundary
        self._joined: list[Any] = []
        self._live_sse: str | None = None
        self._ended = False  # an SSE fault ended this body (EndBody): the rest of it is dropped
        self._head_waits = False  # a holds_head fault is on this response: hold its head (below)
        self._held_head: Response | None = None  # the head held until the first body bytes go out

    # -- configuration ----------------------------------------------------------------------

    def as_raw(self) -> None:
        """Before any byte has passed: this direction is plain TCP after all (the relay found
        out from the first bytes), so only byte faults apply."""
        assert self._fed == 0, "a direction turns raw before its first byte only"
        self.reader = None

    def expect(self, request: Request, now: float = 0.0) -> list[Output] | None:
        """Downstream: the next response answers this request (for ``match`` and HEAD framing).

        Unless an ``http`` fault answers it (:meth:`Fault.on_request`): then no response to it
        is expected, and what comes back is the answer to send to the client (empty while
        responses to earlier requests are still due; :meth:`feed` sends it after them).
        ``None``: the request goes to the upstream."""
        self._requested += 1
        if not self.finished and self.reader is not None:
            for active in self._active("http", request):
                self._prepare(active, now)
                active.ctx.exchange = self._requested
                active.ctx.request = request
                answer = active.fault.on_request(request, active.ctx)
                self._collect(active)
                if answer is not None:
                    self._answer = self._serialize(answer)
                    return self._release(now)
        self._requests.append(request)
        self.reader.expect_response_to(request.method)
        return None

    def awaits(self, request: Request) -> bool:
        """Downstream: ``request`` was announced with :meth:`expect` and its response has not begun."""
        return any(r is request for r in self._requests)

    def responses_due_before(self, request: Request | None = None) -> bool:
        """Downstream: a response to a request before ``request`` (to any request, for None) is
        still to come or to end. ``request``, when given, is one that :meth:`awaits`."""
        others = len(self._requests) - (1 if request is not None and self.awaits(request) else 0)
        return others > 0 or (self.reader is not None and not self.reader.idle)

    def _release(self, now: float) -> list[Output]:
        """A fault's answer to a request, once the responses before it have gone out whole."""
        if self._answer is None or self._requests or not self.reader.idle or self.finished:
            return []
        answer, self._answer = self._answer, None
        return self._bytes_layer(answer, now)

    def _refresh(self, now: float) -> list[Output]:
        """Bring the fault instances up to date with the fault set; what new ones output on start."""
        if self._seen_version == self.faults.version:
            return []
        self._seen_version = self.faults.version
        current: dict[str, _Active] = {}
        for spec in self.faults.specs:
            if spec.stream != self.direction or not spec.applies_to_connection(self.conn):
                continue
            if not self.faults.draw(spec, self.conn):
                continue
            kept = self._instances.get(spec.name)
            if kept is not None and kept.spec is spec:
                current[spec.name] = kept
                continue
            rng = random.Random(f"{self.faults.seed}/{spec.name}/{self.conn}/{self.direction}")
            ctx = Context(spec.name, spec.type, self.conn, self.direction, rng)
            current[spec.name] = _Active(spec, spec.instantiate(), ctx)
        started = [a for name, a in current.items() if self._instances.get(name) is not a]
        self._instances = current
        out: list[Output] = []
        for active in started:
            self._prepare(active, now)
            out.extend(self._unwrap(active.fault.on_start(active.ctx)))
            self._collect(active)
        return out

    def sync(self, now: float) -> list[Output]:
        """Pick up changes to the fault set now, not at the next read (the relay calls this when
        the connection is set up and whenever the fault set changes). Returns what faults that
        start now output (usually nothing: they set alarms)."""
        started = self._refresh(now)
        return self._finish(started) if started and not self.finished else []

    @property
    def quiet(self) -> bool:
        """No fault and no alarm here: what comes out is exactly what went in, at once."""
        return not self._instances and not self._alarms

    @property
    def queue_limit(self) -> int | None:
        """The smallest :attr:`Fault.queue_limit` of the faults that apply now (``None``: default)."""
        if not self._instances:
            return None
        limits = [
            limit for layer in ("sse", "http", "bytes") for active in self._active(layer)
            if (limit := active.fault.queue_limit) is not None
        ]
        return min(limits) if limits else None

    @property
    def next_alarm(self) -> float | None:
        """When :meth:`alarm` should next be called (``None``: no alarm is set)."""
        alarms = self._alarms
        while alarms and self._instances.get(alarms[0][2].spec.name) is not alarms[0][2]:
            heapq.heappop(alarms)  # its fault was removed or replaced meanwhile
        return alarms[0][0] if alarms and not self.finished and not self._over else None

    def alarm(self, now: float) -> list[Output]:
        """Call ``on_alarm`` of the faults whose alarms are due; returns what they output.

        A fault with ``match`` hears its alarm only if the current exchange's request matches
        (otherwise the alarm is dropped)."""
        out = self._refresh(now)
        alarms = self._alarms
        while alarms and alarms[0][0] <= now and not self.finished and not self._over:
            _, _, active = heapq.heappop(alarms)
            current = self._instances.get(active.spec.name) is active
            if not current or active not in self._active(active.fault.layer):
                continue  # removed or replaced meanwhile, or its match does not accept this request
            self._prepare(active, now)
            items = active.fault.on_alarm(active.ctx)
            self._collect(active)
            if active.fault.layer == "sse":
                # Body data of the SSE response it rang in: framed as that body is, then through
                # the http and bytes faults like any other body data. Stale once the body is over.
                if self._sse is not None:
                    out.extend(self._bytes_faults(self._http_layer(self._reframed(items), now), now))
            else:
                out.extend(self._unwrap(self._with_head(items)))
        return self._finish(out) if out and not self.finished else []

    def _active(self, layer: str, request: Request | None = None) -> list[_Active]:
        request = request or self.request
        out = []
        for active in self._instances.values():
            if active.fault.layer != layer:
                continue
            match = active.spec.match
            if match is not None and (request is None or not match.accepts(request.method, request.target, request.headers)):
                continue
            out.append(active)
        return out

    # -- the data path ----------------------------------------------------------------------

    def passes(self, data: bytes) -> bool:
        """The relay's fast path for responses: with no fault, no alarm and nothing pending here,
        account for ``data`` (framing, exchanges, where events end) and return True: the caller
        writes it out as it is. False when anything here might act on it: call :meth:`feed`.

        What :meth:`feed` does in that case, without the fault machinery around it: at 20,000
        events/s each read's overhead shows up in the latency every event sees."""
        if (
            self.role != "response" or self._instances or self._alarms or self.finished
            or self.holding or self._answer is not None or self.reader is None
            or self._seen_version != self.faults.version
        ):
            return False
        reader = self.reader
        reader.skim = True
        self._fed += len(data)
        events = reader.feed(data)
        self._tail = reader.body_tail
        for event in events:
            self._observe(event)
        self.offset += len(data)
        return True

    def feed(self, data: bytes, now: float) -> list[Output]:
        if self._over:  # queued behind a wait that never ends: no fault may act on it (see _ends)
            self._fed += len(data)
            return [data]
        if self.passes(data):
            return [data]
        started = self.sync(now)
        if self.finished:
            return started
        if self.reader is None:
            return started + self._bytes_layer([data], now)
        start, self._fed = self._fed, self._fed + len(data)
        reader = self.reader
        # With no fault here, a response body needs no events: skimming it is what keeps an
        # untouched stream of small chunks fast. (Requests keep their events: a fault that
        # answers a request needs to know where in this read its head began.)
        reader.skim = not self._instances and self.role == "response"
        events = reader.feed(data)
        if reader.skim:
            self._tail = reader.body_tail
        if not self._instances:
            # Nothing to do but keep count: the bytes go out exactly as they came in.
            for i, event in enumerate(events):
                self._observe(event)
                if self._answered:  # a fault answered this request: only the bytes before it go
                    head_at = self.reader.offset - sum(len(e.raw) for e in events[i:])
                    self.finished = True
                    return self._count([data[: max(0, head_at - start)]])
            out = self._count([data]) if not self.holding else []
        else:
            out = started + self._run(events, now)
        return out + self._release(now) if self._answer is not None else out

    def eof(self, now: float) -> list[Output]:
        """The source sent FIN: flush what the reader still holds, then let byte faults delay the FIN."""
        started = self.sync(now)
        if self.finished or self._over:
            return started
        events = self.reader.close() if self.reader is not None else []
        if self._instances:
            out = started + self._run(events, now)
        else:
            for event in events:
                self._observe(event)
            out = []
        for active in self._active("bytes"):
            self._prepare(active, now)
            out.extend(self._unwrap(active.fault.on_eof(active.ctx)))
            self._collect(active)
        return out

    def _observe(self, event: Any) -> None:
        """Track exchanges, and where event boundaries are, when no fault looks (cheap)."""
        if isinstance(event, (Request, Response)):
            self._start_exchange(event)
        elif isinstance(event, (ChunkData, BodyData)):
            self._tail = (self._tail + event.data)[-4:]

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
        self._sse = None
        self._reframe = None
        self._event_index = 0
        self._ended = False
        self._head_waits = False
        self._tail = b""
        self._joined: list[Any] = []  # what SSE faults said when they joined a live body
        # Whether an SSE fault added while this body flows can still take it over (see _join_live).
        self._live_sse = None
        if isinstance(head, Response) and head.status == 200:
            content_type = (head.headers.get("content-type") or b"").split(b";")[0].strip().lower()
            if content_type == b"text/event-stream":
                te = (head.headers.get("transfer-encoding") or b"").lower()
                self._live_sse = "chunked" if te.endswith(b"chunked") else (
                    None if b"content-length" in head.headers else "plain")

    def _count(self, out: list[Output]) -> list[Output]:
        for item in out:
            if isinstance(item, bytes):
                self.offset += len(item)
        return out

    def _prepare(self, active: _Active, now: float) -> None:
        ctx = active.ctx
        ctx.now = now
        ctx.exchange = self.exchange
        ctx.offset = self.offset
        ctx.event_index = None
        ctx.request = self.request
        ctx.response = self.response

    def _collect(self, active: _Active) -> None:
        if active.ctx.evidence:
            for evidence in active.ctx.evidence:
                self.faults.record(evidence)
            active.ctx.evidence.clear()
        if active.ctx.notes:
            for note in active.ctx.notes:
                self.faults.note(note)
            active.ctx.notes.clear()
        if active.ctx.alarms:
            for at in active.ctx.alarms:
                heapq.heappush(self._alarms, (at, next(self._alarm_order), active))
            active.ctx.alarms.clear()

    def _unwrap(self, items: list[Any]) -> list[Output]:
        return [i.raw if isinstance(i, RawBytes) else i for i in items]

    def _run(self, events: list[Any], now: float) -> list[Output]:
        # Faults that time the source (read_timeout) see the read as it came, before the sse
        # layer may hold or drop it: nginx's proxy_read_timeout counts upstream reads.
        for active in self._instances.values():
            if active.fault.watches_reads:
                self._prepare(active, now)
                active.fault.on_read(events, active.ctx)
                self._collect(active)
        http_items: list[Any] = []
        for event in events:
            items = self._sse_layer(event, now)
            if self._answered:  # a fault answered this request: it and all after it stay here
                out = self._bytes_layer(self._http_layer(http_items, now), now)
                self.finished = True
                return out
            http_items.extend(items)
            if _ends(items):
                break  # nothing after it reaches the client: no fault acts on the rest of this read
        return self._bytes_layer(self._http_layer(http_items, now), now)

    def _http_layer(self, wire: list[Any], now: float) -> list[Output]:
        """Wire events through the http faults, then serialized: bytes and actions."""
        for active in self._active("http"):
            self._prepare(active, now)
            step: list[Any] = []
            at = self.offset  # where the output for the next event starts, as this fault sees it
            for item in wire:
                if isinstance(item, (RawBytes, *ACTIONS)):
                    added = [item]
                else:
                    active.ctx.offset = at
                    added = active.fault.on_event(item, active.ctx)
                at += sum(len(i.raw) for i in added if not isinstance(i, ACTIONS))
                step.extend(added)
                if _ends(added):
                    break  # what follows never reaches the client: later faults must not act on it
            self._collect(active)
            wire = step
        return self._serialize(self._with_head(wire))

    def _with_head(self, items: list[Any]) -> list[Any]:
        """Hold the response head while a ``holds_head`` fault (``buffer``) is on the response,
        and put it back before the first thing that goes out after it -- body bytes, the body's
        end, a Close -- as nginx sends its head with its first batch. Only waiting actions
        (Wait, Until, Hold) pass a held head. The head has been through the http faults."""
        if not self._head_waits and self._held_head is None:
            return items
        out: list[Any] = []
        for item in items:
            if self._head_waits and isinstance(item, Response):
                self._head_waits, self._held_head = False, item
                continue
            if self._held_head is not None and not isinstance(item, (Wait, Until, Hold)):
                out.append(RawBytes(self._held_head.raw))
                self._held_head = None
            out.append(item)
        return out

    def _bytes_layer(self, out: list[Output], now: float) -> list[Output]:
        return self._finish(self._bytes_faults(out, now))

    def _bytes_faults(self, out: list[Output], now: float) -> list[Output]:
        for active in self._active("bytes"):
            self._prepare(active, now)
            step: list[Output] = []
            for item in out:
                is_data = isinstance(item, bytes)
                added = self._unwrap(active.fault.on_bytes(item, active.ctx)) if is_data else [item]
                step.extend(added)
                if _ends(added):
                    break  # what follows never reaches the client: later faults must not act on it
            self._collect(active)
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
            elif _ends([item]):
                self._over = True
        return self._count(final)

    @staticmethod
    def _serialize(items: list[Any]) -> list[Output]:
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

    # -- the SSE layer ----------------------------------------------------------------------

    def _sse_layer(self, event: Any, now: float) -> list[Any]:
        """Turn one wire event into the wire events (and actions) after the SSE faults."""
        if isinstance(event, (Request, Response)):
            self._start_exchange(event)
            if isinstance(event, Response):
                return self._response_head(event, now)
            return [event]
        if self._sse is None:
            if not self._join_live(event, now):
                if isinstance(event, (ChunkData, BodyData)):
                    self._tail = (self._tail + event.data)[-4:]
                return [event]
            joined, self._joined = self._joined, []
            return joined + self._sse_layer(event, now)
        if self._ended:  # an SSE fault ended this body early: the rest of it is dropped
            if isinstance(event, (EndOfMessage, Malformed)):
                self._sse = None
            return []
        if isinstance(event, ChunkEnd) or (isinstance(event, ChunkHeader) and event.size):
            return []  # the body is re-framed below; the last chunk (size 0) stays
        if isinstance(event, (ChunkData, BodyData)):
            return self._blocks(self._sse.feed_blocks(event.data), now)
        if isinstance(event, ChunkHeader):  # the last chunk: the events before it come first
            return self._body_end(now) + [event]
        if isinstance(event, EndOfMessage):
            out: list[Any] = []
            if self._reframe in ("plain", "to_chunked", "to_close"):
                out = self._body_end(now)
            if self._reframe == "to_chunked":
                out += [ChunkHeader(0, b"", b"0\r\n"), ChunkedEnd((), b"\r\n")]
            out.append(event)
            if self._reframe == "to_close":
                out.append(Close("fin"))  # the client reads this body until the connection closes
            self._sse = None
            return out
        if isinstance(event, Malformed):
            # The body broke off (or its framing broke): what is complete, and what SSE faults
            # hold, goes out first; from here on the bytes pass as they came -- unless a fault
            # ended the body cleanly instead (EndBody), and then the rest of it is dropped.
            out = self._body_end(now, broke=True)
            if self._ended:
                return out
            self._sse = None
            return out + [event]
        return [event]

    def _join_live(self, event: Any, now: float) -> bool:
        """An SSE fault appeared while this event stream flows: take the body over, if we can.

        Only at an event boundary (the body so far ends with a blank line) and only where the
        framing allows re-framing from here on (chunked, or close-delimited): the bytes before
        went out as they came, the events from here on go through the faults. A Content-Length
        body cannot change its length midway, so there the fault waits for the next response.
        Event indexes of a fault that joined midway count from where it joined.
        """
        if self._live_sse is None or not isinstance(event, (ChunkHeader, BodyData)) or not self._active("sse"):
            return False
        if isinstance(event, ChunkHeader) and not event.size:
            return False  # the last chunk: nothing left to take over
        tail = self._tail
        if tail and not (tail.endswith((b"\n\n", b"\r\r", b"\r\n\r\n", b"\n\r\n"))):
            return False
        self._sse = SSEParser()
        self._reframe = self._live_sse
        for active in self._active("sse"):
            self._prepare(active, now)
            self._joined.extend(self._reframed(active.fault.on_response(active.ctx)))
            self._collect(active)
        return True

    def _response_head(self, head: Response, now: float) -> list[Any]:
        sse_faults = self._active("sse")
        content_type = (head.headers.get("content-type") or b"").split(b";")[0].strip().lower()
        if not sse_faults or content_type != b"text/event-stream" or head.status != 200:
            return [head]
        self._sse = SSEParser()
        chunked = (head.headers.get("transfer-encoding") or b"").lower().endswith(b"chunked")
        if chunked:
            self._reframe = "chunked"
        elif b"content-length" in head.headers:
            # Dropping or adding events changes the length: carry the body chunked instead
            # (or, for an HTTP/1.0 client, delimited by closing the connection).
            to_chunked = head.version == b"HTTP/1.1"
            headers = head.headers.replaced("content-length", None)
            if to_chunked:
                headers = headers.replaced("transfer-encoding", "chunked")
            head = _with_headers(head, headers)
            self._reframe = "to_chunked" if to_chunked else "to_close"
        else:
            self._reframe = "plain"
        out: list[Any] = [head]
        self._head_waits = any(active.fault.holds_head for active in sse_faults)
        for active in sse_faults:
            self._prepare(active, now)
            out.extend(self._reframed(active.fault.on_response(active.ctx)))
            self._collect(active)
        return out

    def _blocks(self, blocks: list[Block], now: float) -> list[Any]:
        out: list[Any] = []
        for block in blocks:
            if self._ended:
                break
            items: list[Any] = [block]
            index = self._event_index if block.event is not None else None
            # a fault that breaks blocks into pieces (sse_split) goes last: the sse faults after it
            # would otherwise see no event to act on and silently do nothing (a stable sort)
            for active in sorted(self._active("sse"), key=lambda a: a.fault.breaks_blocks):
                self._prepare(active, now)
                active.ctx.event_index = index
                step: list[Any] = []
                for item in items:
                    step.extend(active.fault.on_block(item, active.ctx) if isinstance(item, Block) else [item])
                self._collect(active)
                items = step
            if block.event is not None:
                self._event_index += 1
            out.extend(self._reframed(items))
            if _ends(items):
                break  # nothing after it reaches the client: no fault acts on the rest
        return out

    def _body_end(self, now: float, broke: bool = False) -> list[Any]:
        assert self._sse is not None
        if self._ended:
            return []
        out = self._blocks(self._sse.close_blocks(), now)
        ends: list[Any] = []  # a fault that ends the body here: after what every fault still holds
        for active in self._active("sse"):
            self._prepare(active, now)
            fault = active.fault
            items = fault.on_body_break(active.ctx) if broke else fault.on_body_end(active.ctx)
            ends += [item for item in items if isinstance(item, EndBody)]
            out.extend(self._reframed([item for item in items if not isinstance(item, EndBody)]))
            self._collect(active)
        return out + self._reframed(ends[:1])

    def _reframed(self, items: list[Any]) -> list[Any]:
        """Body bytes from the SSE layer as wire events of the response's (new) framing."""
        out: list[Any] = []
        for item in items:
            if isinstance(item, ACTIONS):
                out.append(item)
                continue
            if self._ended:
                continue  # body data after the body's end
            if isinstance(item, EndBody):
                self._ended = True
                if self._reframe in ("chunked", "to_chunked"):
                    out += [ChunkHeader(0, b"", b"0\r\n"), ChunkedEnd((), b"\r\n"), EndOfMessage()]
                else:  # close-delimited: the end of the connection is the end of the body
                    out += [EndOfMessage(), Close("fin")]
                continue
            data = item.raw
            if not data:
                continue
            if self._reframe in ("chunked", "to_chunked"):
                out += [ChunkHeader(len(data), b"", b"%x\r\n" % len(data)), ChunkData(data), ChunkEnd(b"\r\n")]
            else:
                out.append(BodyData(data))
        return out


def _with_headers(head: Response, headers: Any) -> Response:
    """The same response head with other header fields, serialized anew."""
    draft = Response(head.version, head.status, head.reason, headers, b"")
    return Response(head.version, head.status, head.reason, headers, encode_head(draft))
