"""The space ``faultproxy explore`` searches: fault schedules drawn from the registered faults.

A *schedule* is a list of one to a few faults, each ``{"type": ..., "attributes": {...}}`` exactly
as a scenario file writes it. The strategies are built from each fault's own attribute model
(:mod:`faultproxy.faults`), so a new fault joins the search by being registered:

- a ``Literal`` is one of its values (the default first, so shrinking goes back to it);
- a number is drawn within the attribute's own bounds, and within what one short test stream
  makes sense of: event counts and indexes up to the stream's length, byte counts up to the
  stream's size, times up to :data:`MAX_MS` (jitter up to :data:`MAX_JITTER_MS`), fractions in
  tenths; a slow reader's rate and pauses, and the gap between re-chunked pieces, from
  :data:`OVERRIDES`. Waits that add up per piece or per event are what could slow a stream past
  any deadline; bounded so, the faults of a schedule add at most about 10 s (sse_split's gaps
  4.5 s, two sse_delays 5 s, a stall 0.2 s; latency is pipelined, not added up), half the 20 s
  deadline, so a client still waiting at the deadline is stuck, not slow;
- an optional attribute may stay unset; text and header values keep their defaults, and a fault
  that *needs* one (``set_header``, ``remove_header``) is left out of the search.

Hypothesis shrinks what it draws toward fewer faults, earlier types, lower numbers and default
values, which is what makes the schedule it reports the smallest that still breaks the property.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from hypothesis import strategies as st

from faultproxy.faults import REGISTRY

MAX_MS = 200  # the longest wait a drawn attribute can ask for
MAX_JITTER_MS = 50
MAX_BYTES = 512  # a trial stream (10 short events) is about 450 bytes on the wire
_TIME = ("_ms", "latency", "jitter", "delay", "timeout", "pause")
_EVENTS = ("event", "every", "after", "chunk")
_BYTES = ("bytes", "size", "delta", "pause_every", "rate")


class Unsupported(ValueError):
    """A fault whose attributes cannot be drawn (it needs a text value)."""


def _bounds(field: Any) -> tuple[float | None, float | None]:
    lo = hi = None
    for item in field.metadata:
        lo = getattr(item, "ge", lo)
        hi = getattr(item, "le", hi)
        if getattr(item, "gt", None) is not None:
            lo = item.gt + 1
        if getattr(item, "lt", None) is not None:
            hi = item.lt - 1
    return lo, hi


# Attributes whose meaning would let a schedule slow a stream past any deadline without anything
# being wrong (a 1 byte/s reader, a pause after every byte): drawn from values that keep a trial's
# added delay to a few seconds, so that a client still waiting at the deadline is stuck, not slow.
# The waits that add up per piece are the dangerous ones: sse_split can cut the stream into ~450
# one-byte pieces, so its gap stays at 10 ms or less (4.5 s at most).
OVERRIDES: dict[tuple[str, str], st.SearchStrategy] = {
    ("slow_reader", "rate"): st.sampled_from([0, 1000, 4000]),
    ("slow_reader", "pause_every"): st.integers(64, MAX_BYTES),
    ("sse_split", "gap_ms"): st.integers(0, 10).map(float),
}


def _cap(name: str, n_events: int) -> int:
    if "jitter" in name:
        return MAX_JITTER_MS
    if any(part in name for part in _TIME):
        return MAX_MS
    if name == "copies":
        return 3
    if any(part in name for part in _EVENTS) and "bytes" not in name:
        return n_events
    return MAX_BYTES


def _number(name: str, field: Any, kind: type, n_events: int) -> st.SearchStrategy:
    if name == "fraction":
        return st.integers(0, 10).map(lambda tenths: tenths / 10)
    lo, hi = _bounds(field)
    cap = _cap(name, n_events)
    low = int(lo) if lo is not None else -64
    # a time is capped where it ends (MAX_MS, however high its lower bound: llm_stall's ping_ms
    # starts at 10); a count or a size where it starts from
    timed = "jitter" in name or any(part in name for part in _TIME)
    top = max(low, cap) if timed else low + cap
    high = int(min(hi, top)) if hi is not None else top
    numbers = st.integers(low, max(low, high))
    return numbers.map(float) if kind is float else numbers


def _inner(annotation: Any) -> tuple[Any, bool]:
    """The annotation without ``None``, and whether ``None`` was allowed."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        return (args[0] if len(args) == 1 else typing.Union[tuple(args)]), optional
    return annotation, False


def _field(fault_type: str, name: str, field: Any, n_events: int) -> st.SearchStrategy | None:
    """A strategy for one attribute, or None to keep its default."""
    kind, optional = _inner(field.annotation)
    if (fault_type, name) in OVERRIDES:
        strategy = OVERRIDES[fault_type, name]
    elif typing.get_origin(kind) is typing.Literal:
        values = list(typing.get_args(kind))
        if field.default in values:
            values.remove(field.default)
            values.insert(0, field.default)
        strategy = st.sampled_from(values)
    elif kind is bool:
        strategy = st.booleans()
    elif kind in (int, float):
        strategy = _number(name, field, kind, n_events)
    elif field.is_required():
        raise Unsupported(f"attribute {name!r} ({kind}) cannot be drawn")
    else:
        return None
    return st.one_of(st.none(), strategy) if optional and not field.is_required() else strategy


def attributes(fault_type: str, n_events: int) -> st.SearchStrategy[dict[str, Any]]:
    """The attributes of ``fault_type``; unset optional ones are left out (their defaults apply)."""
    model = REGISTRY[fault_type].Attributes
    fields = {}
    for name, field in model.model_fields.items():
        strategy = _field(fault_type, name, field, n_events)
        if strategy is not None:
            fields[name] = strategy
    return st.fixed_dictionaries(fields).map(lambda d: {k: v for k, v in d.items() if v is not None})


def searchable(names: list[str] | None = None) -> list[str]:
    """The fault types the search can draw (all that can be, by default), in registry order."""
    chosen = names or sorted(REGISTRY)
    unknown = [n for n in chosen if n not in REGISTRY]
    if unknown:
        raise KeyError(f"unknown fault type(s) {', '.join(unknown)}; known: {', '.join(sorted(REGISTRY))}")
    out = []
    for name in chosen:
        try:
            attributes(name, 1)
        except Unsupported:
            if names:
                raise
            continue
        out.append(name)
    return out


def schedules(fault_types: list[str], n_events: int, max_faults: int,
              connections: list[int] | None = None) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Lists of 1..``max_faults`` faults; ``connections`` limits each to those connection numbers."""
    def one(fault_type: str) -> st.SearchStrategy[dict[str, Any]]:
        extra = {"connections": connections} if connections else {}
        return attributes(fault_type, n_events).map(lambda a: {"type": fault_type, "attributes": a, **extra})

    fault = st.sampled_from(fault_types).flatmap(one)
    return st.lists(fault, min_size=1, max_size=max_faults)
