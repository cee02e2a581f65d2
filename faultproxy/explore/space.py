"""The space ``faultproxy explore`` searches: fault schedules drawn from the registered faults.

A *schedule* is a list of one to a few faults, each ``{"type": ..., "attributes": {...}}`` exactly
as a scenario file writes it. The strategies are built from each fault's own attribute model
(:mod:`faultproxy.faults`), so a new fault joins the search by being registered:

- a ``Literal`` is one of its values (the default first, so shrinking goes back to it);
- a number is drawn within the attribute's own bounds, and within what the client's stream makes
  sense of (:class:`Stream`, measured from a healthy run before the search: 10 short events, ~450
  bytes, for an SSE client; the LLM mocks' answers are larger): event counts and indexes up to the
  stream's events, byte counts up to its bytes, times up to :data:`MAX_MS` (jitter up to
  :data:`MAX_JITTER_MS`), fractions in tenths; a slow reader's rate and pauses, and the gap
  between re-chunked pieces, from :data:`OVERRIDES`;
- an optional attribute may stay unset; text and header values keep their defaults, and a fault
  that *needs* one (``set_header``, ``remove_header``) is left out of the search.

Waits that add up per piece or per event are what could slow a stream past any deadline while
bytes keep coming (so that no read timeout fires): :func:`added_delay_s` estimates what a
schedule adds to the measured stream, and a schedule that would add more than the margin (half
the trial's deadline, less the healthy run's own time) is not run -- a client still waiting at
the deadline must be stuck, not slow. (A first version bounded the waits for the ~450-byte SSE
stream only; against the ~6 KB LLM streams a one-byte re-chunking 4 ms apart took longer than the
deadline, and openai was reported hung while its bytes were still arriving.) Silences -- a stall,
a held-open connection -- add nothing: waiting through them is what a read timeout is for.

Hypothesis shrinks what it draws toward fewer faults, earlier types, lower numbers and default
values, which is what makes the schedule it reports the smallest that still breaks the property.
Shrinking leaves a time at the smallest value that failed every confirmation -- the edge where the
failure flips -- so :func:`away_from_edge` offers the same schedule with its times doubled, which
the final reproduction prefers when it fails more reliably.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from faultproxy.faults import REGISTRY

MAX_MS = 200  # the longest wait a drawn attribute can ask for
MAX_JITTER_MS = 50
_TIME = ("_ms", "latency", "jitter", "delay", "timeout", "pause")
_EVENTS = ("event", "every", "after", "chunk")
_BYTES = ("bytes", "size", "delta", "pause_every", "rate")


@dataclass(frozen=True)
class Stream:
    """What one healthy run of the reference server gives the explored client: its events and
    bytes on the wire, and how long the run took."""

    events: int = 10
    bytes: int = 512
    seconds: float = 0.0


SSE_STREAM = Stream()  # the reference SSE server's trial stream: 10 short events, ~450 bytes


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
    ("slow_reader", "pause_every"): st.integers(64, 512),
    ("sse_split", "gap_ms"): st.integers(0, 10).map(float),
}


def is_time(name: str) -> bool:
    """An attribute that is a wait (ms, or µs for slicer's ``delay``)."""
    return "jitter" in name or any(part in name for part in _TIME)


def _cap(name: str, stream: Stream) -> int:
    if "jitter" in name:
        return MAX_JITTER_MS
    if is_time(name):
        return MAX_MS
    if name == "copies":
        return 3
    if any(part in name for part in _EVENTS) and "bytes" not in name:
        return stream.events
    return stream.bytes


def number_range(name: str, field: Any, stream: Stream) -> tuple[int, int]:
    """The values drawn for a numeric attribute: within its own bounds and the stream's caps."""
    lo, hi = _bounds(field)
    cap = _cap(name, stream)
    low = int(lo) if lo is not None else -64
    # a time is capped where it ends (MAX_MS, however high its lower bound: llm_stall's ping_ms
    # starts at 10); a count or a size where it starts from
    top = max(low, cap) if is_time(name) else low + cap
    high = int(min(hi, top)) if hi is not None else top
    return low, max(low, high)


def _number(name: str, field: Any, kind: type, stream: Stream) -> st.SearchStrategy:
    if name == "fraction":
        return st.integers(0, 10).map(lambda tenths: tenths / 10)
    numbers = st.integers(*number_range(name, field, stream))
    return numbers.map(float) if kind is float else numbers


def _inner(annotation: Any) -> tuple[Any, bool]:
    """The annotation without ``None``, and whether ``None`` was allowed."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        return (args[0] if len(args) == 1 else typing.Union[tuple(args)]), optional  # noqa: UP007 (a union built at run time)
    return annotation, False


def _field(fault_type: str, name: str, field: Any, stream: Stream) -> st.SearchStrategy | None:
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
        strategy = _number(name, field, kind, stream)
    elif field.is_required():
        raise Unsupported(f"attribute {name!r} ({kind}) cannot be drawn")
    else:
        return None
    return st.one_of(st.none(), strategy) if optional and not field.is_required() else strategy


def attributes(fault_type: str, stream: Stream = SSE_STREAM) -> st.SearchStrategy[dict[str, Any]]:
    """The attributes of ``fault_type``; unset optional ones are left out (their defaults apply)."""
    model = REGISTRY[fault_type].Attributes
    fields = {}
    for name, field in model.model_fields.items():
        strategy = _field(fault_type, name, field, stream)
        if strategy is not None:
            fields[name] = strategy
    return st.fixed_dictionaries(fields).map(lambda d: {k: v for k, v in d.items() if v is not None})


def searchable(names: list[str] | None = None, *, llm: bool = True) -> list[str]:
    """The fault types the search can draw (all that can be, by default), in registry order;
    ``llm=False`` leaves out the LLM faults by default (they act on an LLM API's stream only)."""
    chosen = names or [n for n in sorted(REGISTRY) if llm or not n.startswith("llm_")]
    unknown = [n for n in chosen if n not in REGISTRY]
    if unknown:
        raise KeyError(f"unknown fault type(s) {', '.join(unknown)}; known: {', '.join(sorted(REGISTRY))}")
    out = []
    for name in chosen:
        try:
            attributes(name)
        except Unsupported:
            if names:
                raise
            continue
        out.append(name)
    return out


def schedules(
    fault_types: list[str], stream: Stream, max_faults: int, connections: list[int] | None = None
) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Lists of 1..``max_faults`` faults; ``connections`` limits each to those connection numbers."""

    def one(fault_type: str) -> st.SearchStrategy[dict[str, Any]]:
        extra = {"connections": connections} if connections else {}
        return attributes(fault_type, stream).map(lambda a: {"type": fault_type, "attributes": a, **extra})

    fault = st.sampled_from(fault_types).flatmap(one)
    return st.lists(fault, min_size=1, max_size=max_faults)


def added_delay_s(schedule: list[dict[str, Any]], stream: Stream) -> float:
    """Seconds the schedule's waits add to ``stream`` at most, while bytes keep flowing: per piece
    (re-chunking gaps, slices), per event (event delays, buffer flushes), per byte (a slow reader,
    a bandwidth limit), once (latency, a late close, an LLM stall that keeps pinging)."""
    return sum(_added(fault["type"], fault.get("attributes") or {}, stream) for fault in schedule)


def _added(kind: str, a: dict[str, Any], stream: Stream) -> float:
    size, events = stream.bytes, stream.events
    if kind == "sse_split":
        piece = {"byte": 1, "random": a.get("min_size", 1)}.get(a.get("mode", "fixed"), a.get("size", 8))
        return math.ceil(size / max(1, piece)) * a.get("gap_ms", 0) / 1000
    if kind == "sse_delay":
        return events * (a.get("delay_ms", 0) + a.get("jitter_ms", 0)) / 1000
    if kind == "slow_reader":
        rate, every = a.get("rate", 0), max(1, a.get("pause_every", 16384))
        return (size / rate if rate else 0.0) + size // every * a.get("pause", 0) / 1000
    if kind == "bandwidth":
        return size / (a["rate"] * 1000) if a.get("rate") else 0.0
    if kind == "slicer":
        return math.ceil(size / max(1, a.get("average_size", 1))) * a.get("delay", 0) / 1e6
    if kind == "buffer":  # a batch waits flush_ms at most; size_bytes 0 holds it to the end, adding nothing
        return events * a.get("flush_ms", 0) / 1000 if a.get("size_bytes", 4096) else 0.0
    if kind == "latency":
        return (a.get("latency", 0) + a.get("jitter", 0)) / 1000
    if kind == "slow_close":
        return a.get("delay", 0) / 1000
    if kind == "llm_stall":
        return a.get("duration_ms", 0) / 1000
    return 0.0


def away_from_edge(schedule: list[dict[str, Any]], stream: Stream) -> list[dict[str, Any]]:
    """``schedule`` with every time above 0 doubled (within its bounds and caps): away from the value
    where the failure flips, so that it reproduces on a busier machine too. (Also a time at its
    lowest value: ``read_timeout:timeout_ms=1.0`` cut a stream between events only sometimes.)"""
    out = []
    for fault in schedule:
        model = REGISTRY[fault["type"]].Attributes.model_fields
        attributes = dict(fault["attributes"])
        for name, value in fault["attributes"].items():
            if (
                name not in model
                or not is_time(name)
                or isinstance(value, bool)
                or not isinstance(value, (int, float))
            ):
                continue
            if value > 0:  # 0 is "off" or "at once" for every time: not an edge
                attributes[name] = type(value)(min(number_range(name, model[name], stream)[1], value * 2))
        out.append({**fault, "attributes": attributes})
    return out
