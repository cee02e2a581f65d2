"""The faults living on one direction of one connection: built from the fault set, kept current,
called with their context filled in, and woken by their alarms.

Each fault gets its own instance per connection and direction (so "events seen so far" is per
stream, as in Toxiproxy). The instances follow the proxy's :class:`~faultproxy.faults.faultset.FaultSet`:
:meth:`FaultInstances.refresh` builds instances for new or replaced specs and drops removed ones;
an alarm of a removed or replaced instance is dropped when it comes up.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass
from typing import Any, Protocol

from faultproxy.faults.base import Context, Direction, Fault, Layer
from faultproxy.faults.faultset import FaultSet
from faultproxy.faults.spec import FaultSpec
from faultproxy.wire.http import Request, Response


class Position(Protocol):
    """Where a direction is, as every hook's :class:`~faultproxy.faults.base.Context` reports it
    (the direction's :class:`~faultproxy.faults.pipeline.Pipeline` keeps it)."""

    exchange: int  # 1-based number of the current exchange (0: none yet)
    offset: int  # bytes written out on this direction so far
    request: Request | None  # the request of the current exchange (responses: the one answered)
    response: Response | None  # responses: the head of the response in flight (None before it)


@dataclass(slots=True)
class FaultInstance:
    """One fault, instantiated for one direction of one connection, with its context."""

    spec: FaultSpec
    fault: Fault
    ctx: Context


class FaultInstances:
    """The instances of one direction, in the fault set's order."""

    __slots__ = (
        "_alarm_order",
        "_cache",
        "_cached_for",
        "alarms",
        "by_name",
        "conn",
        "direction",
        "faults",
        "position",
        "seen_version",
    )

    def __init__(self, faults: FaultSet, conn: int, direction: Direction, position: Position):
        self.faults = faults
        self.conn = conn
        self.direction = direction
        self.position = position
        self.by_name: dict[str, FaultInstance] = {}
        self.seen_version = -1
        self.alarms: list[tuple[float, int, FaultInstance]] = []  # (when, order, instance): a heap
        self._alarm_order = itertools.count()
        # active() per layer, and the queue limit, for the instances and request they were worked
        # out for: asked several times per read, they change only with either
        self._cache: dict[str, Any] = {}
        self._cached_for: tuple[object, object] = (None, None)

    @property
    def stale(self) -> bool:
        """The fault set changed since the last :meth:`refresh`."""
        return self.seen_version != self.faults.version

    @property
    def quiet(self) -> bool:
        """No fault and no alarm here: what comes out is exactly what went in, at once."""
        return not self.by_name and not self.alarms

    def refresh(self) -> list[FaultInstance]:
        """Bring the instances up to date with the fault set; returns the new ones (to start)."""
        if not self.stale:
            return []
        self.seen_version = self.faults.version
        current: dict[str, FaultInstance] = {}
        for spec in self.faults.specs:
            if spec.direction != self.direction or not spec.applies_to_connection(self.conn):
                continue
            if not self.faults.draw(spec, self.conn):
                continue
            kept = self.by_name.get(spec.name)
            if kept is not None and kept.spec is spec:
                current[spec.name] = kept
                continue
            # seeded with the stream's Toxiproxy name, as always: the same seed draws the same
            rng = random.Random(f"{self.faults.seed}/{spec.name}/{self.conn}/{spec.stream}")
            ctx = Context(spec.name, spec.type, self.conn, self.direction, rng)
            current[spec.name] = FaultInstance(spec, spec.instantiate(), ctx)
        started = [i for name, i in current.items() if self.by_name.get(name) is not i]
        self.by_name = current
        return started

    def active(self, layer: Layer, request: Request | None = None) -> list[FaultInstance]:
        """The instances of ``layer`` whose ``match`` accepts ``request`` (default: the current
        one). The list is shared: do not change it."""
        if request is not None:
            return self._matching(layer, request)
        cache = self._current()
        found = cache.get(layer)
        if found is None:
            found = cache[layer] = self._matching(layer, self.position.request)
        return found  # type: ignore[no-any-return]

    def _current(self) -> dict[str, Any]:
        """The cache, emptied if the instances or the current request changed since it was filled."""
        key = self._cached_for
        if key[0] is not self.by_name or key[1] is not self.position.request:
            self._cache = {}
            self._cached_for = (self.by_name, self.position.request)
        return self._cache

    def _matching(self, layer: Layer, request: Request | None) -> list[FaultInstance]:
        out = []
        for instance in self.by_name.values():
            if instance.fault.layer != layer:
                continue
            match = instance.spec.match
            if match is not None and (
                request is None or not match.accepts(request.method, request.target, request.headers)
            ):
                continue
            out.append(instance)
        return out

    def prepare(self, instance: FaultInstance, now: float) -> Context:
        """Fill in the instance's context for a hook call (see :meth:`collect` after it)."""
        ctx, position = instance.ctx, self.position
        ctx.now = now
        ctx.exchange = position.exchange
        ctx.offset = position.offset
        ctx.event_index = None
        ctx.request = position.request
        ctx.response = position.response
        return ctx

    def collect(self, instance: FaultInstance) -> None:
        """After a hook: record what the fault said it did, and queue the alarms it set."""
        ctx = instance.ctx
        if ctx.evidence:
            for evidence in ctx.evidence:
                self.faults.record(evidence)
            ctx.evidence.clear()
        if ctx.notes:
            for note in ctx.notes:
                self.faults.note(note)
            ctx.notes.clear()
        if ctx.alarms:
            for at in ctx.alarms:
                heapq.heappush(self.alarms, (at, next(self._alarm_order), instance))
            ctx.alarms.clear()

    def call(self, instance: FaultInstance, now: float, hook: str, *args: object) -> list[Any]:
        """The fault's hook ``hook`` (``"on_start"``, …) with ``*args`` and the context, prepared
        and collected around it."""
        ctx = self.prepare(instance, now)
        try:
            return getattr(instance.fault, hook)(*args, ctx)  # type: ignore[no-any-return]
        finally:
            self.collect(instance)

    @property
    def watching_reads(self) -> list[FaultInstance]:
        """The instances that see every read as it came (:attr:`Fault.watches_reads`)."""
        cache = self._current()
        found = cache.get("reads")
        if found is None:
            found = cache["reads"] = [i for i in self.by_name.values() if i.fault.watches_reads]
        return found  # type: ignore[no-any-return]

    @property
    def queue_limit(self) -> int | None:
        """The smallest :attr:`Fault.queue_limit` of the faults that apply now (``None``: default)."""
        if not self.by_name:
            return None
        cache = self._current()
        if "limit" not in cache:
            limits = [
                limit
                for layer in ("sse", "http", "bytes")
                for instance in self.active(layer)  # type: ignore[arg-type]
                if (limit := instance.fault.queue_limit) is not None
            ]
            cache["limit"] = min(limits) if limits else None
        return cache["limit"]  # type: ignore[no-any-return]

    @property
    def next_alarm(self) -> float | None:
        """When the next alarm is due (``None``: none is set)."""
        alarms = self.alarms
        while alarms and self.by_name.get(alarms[0][2].spec.name) is not alarms[0][2]:
            heapq.heappop(alarms)  # its fault was removed or replaced meanwhile
        return alarms[0][0] if alarms else None

    def pop_due(self, now: float) -> FaultInstance | None:
        """The next instance whose alarm is due by ``now`` and that may hear it (still current, and
        its ``match`` accepts the current request: otherwise the alarm is dropped), or None."""
        alarms = self.alarms
        while alarms and alarms[0][0] <= now:
            _, _, instance = heapq.heappop(alarms)
            current = self.by_name.get(instance.spec.name) is instance
            if current and instance in self.active(instance.fault.layer):
                return instance
        return None
