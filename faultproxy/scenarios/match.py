"""Matching one event sequence against another: which arrived, which are missing, twice, out of
order, altered, or never sent.

Two ways to say which event is which (:func:`match`):

- **by id**, when every expected event has an id of its own (the reference servers give ids
  ``1..N``): a received event is the expected event with its id. A received event without an id
  (many clients do not report ids) falls back to its content.
Whatever the matching, every field is judged: a received event with another type, data or id
than the event it is, is that event *garbled*; so is one with another ``retry`` when the caller
asks for it (``judge_retry``: the client reports each event's retry field, and the expected events
are the delivered ones, which know theirs). Ids are judged unless the caller says the received side
reports none (``judge_ids=False``: a client that declares it hands over no ids) -- decided by what
the side declares, never by whether any id arrived: a fault that strips every id is a change.

- **by content** (type, data), otherwise: the two sequences are aligned (:func:`align`: anchored on
  events that occur once on each side, then longest matching blocks, so a dropped event does not
  shift every later one), then the leftovers are explained: a
  received event equal to an unmatched expected one arrived out of order; equal to a matched one
  it is a duplicate; in the place of an unmatched expected one it is that event garbled; anything
  else is extra.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from faultproxy.scenarios.events import UNSENT, Item


@dataclass
class Match:
    """The result: indexes into ``expected`` (``e``) and ``received`` (``r``)."""

    expected: list[Item]
    received: list[Item]
    by_id: bool
    pairs: dict[int, int] = field(default_factory=dict)  # e -> r of its first arrival
    missing: list[int] = field(default_factory=list)  # e never received
    duplicated: list[tuple[int, int]] = field(default_factory=list)  # (e, r): r is a repeat of e
    reordered: list[tuple[int, int]] = field(default_factory=list)  # (e, r): r arrived out of order
    garbled: list[tuple[int, int]] = field(default_factory=list)  # (e, r): r is e with other type/data
    extra: list[int] = field(default_factory=list)  # r that is none of the expected events
    _by_r: dict[int, int] | None = field(default=None, repr=False)

    # -- questions --------------------------------------------------------------------------

    @property
    def complete(self) -> bool:
        """Every expected event arrived, unaltered (extra events, repeats and order aside)."""
        return not self.missing and not self.garbled

    @property
    def exact(self) -> bool:
        """Exactly the expected events, each once, in order, unaltered, and nothing else."""
        return self.complete and not self.extra and not self.duplicated and not self.reordered

    def label(self, e: int) -> str:
        """How an expected event is named in reports: its id, else ``#n``, counting from 1 (the
        convention of every text faultproxy writes: ``docs/cli.md``)."""
        item = self.expected[e]
        if item.type == UNSENT:
            return item.data
        return item.id if self.by_id and item.id else f"#{e + 1}"

    def received_label(self, r: int, what: str = "received") -> str:
        return f"{what} #{r + 1} {_preview(self.received[r])}"

    def missing_labels(self) -> list[str]:
        return [self.label(e) for e in self.missing]

    @property
    def events(self) -> int:
        """How many expected events there are, without the stand-ins for what was owed but never
        sent (:data:`~faultproxy.scenarios.events.UNSENT`: an unknown number of events each)."""
        return sum(1 for item in self.expected if item.type != UNSENT)

    def missing_events(self) -> list[int]:
        """The missing expected events, without the stand-ins."""
        return [e for e in self.missing if self.expected[e].type != UNSENT]

    def missing_owed(self) -> list[str]:
        """What the missing stand-ins stand for (each a phrase: "the rest of the stream ...")."""
        return [self.expected[e].data for e in self.missing if self.expected[e].type == UNSENT]

    def duplicated_labels(self) -> list[str]:
        return [self.label(e) for e, _ in self.duplicated]

    def reordered_labels(self) -> list[str]:
        return [self.label(e) for e, _ in self.reordered]

    def garbled_labels(self) -> list[str]:
        return [self.label(e) for e, _ in self.garbled]

    def extra_labels(self, what: str = "received") -> list[str]:
        return [self.received_label(r, what) for r in self.extra]

    def matched_expected(self, r: int) -> int | None:
        """The expected event that received event ``r`` is (None for an extra one)."""
        if self._by_r is None:
            found = [*self.pairs.items(), *self.duplicated, *self.reordered, *self.garbled]
            self._by_r = {rr: e for e, rr in found}
        return self._by_r.get(r)

    def describe(self, what_e: str = "sent", what_r: str = "received", limit: int = 8) -> list[str]:
        """The differences, one phrase each (empty when exact)."""
        out = []
        lost = self.missing_events()
        if lost:
            out.append(
                f"{len(lost)} {what_e} but not {what_r}: {labels_shown([self.label(e) for e in lost], limit)}"
            )
        out += [f"never {what_r}: {owed}" for owed in self.missing_owed()]
        if self.garbled:
            parts = [
                f"{self.label(e)} {_altered(self.expected[e], self.received[r])}"
                for e, r in self.garbled[:limit]
            ]
            more = f" … (+{len(self.garbled) - limit} more)" if len(self.garbled) > limit else ""
            out.append(f"{len(self.garbled)} altered: " + "; ".join(parts) + more)
        if self.extra:
            out.append(
                f"{len(self.extra)} {what_r} that were never {what_e}: "
                f"{labels_shown(self.extra_labels(what_r.split()[0]), limit)}"
            )
        if self.duplicated:
            out.append(
                f"{len(self.duplicated)} {what_r} twice: {labels_shown(self.duplicated_labels(), limit)}"
            )
        if self.reordered:
            out.append(f"{len(self.reordered)} out of order: {labels_shown(self.reordered_labels(), limit)}")
        return out


def _altered(want: Item, got: Item) -> str:
    """What differs between an event and the received one that is it (data first, then id, retry)."""
    if want.content != got.content:
        return f"{_preview(want)} → {_preview(got)}"
    if want.id != got.id:
        return f"id {want.id!r} → id {got.id!r}"
    return f"retry {want.retry!r} → retry {got.retry!r}"


def _preview(item: Item, width: int = 40) -> str:
    data = item.data if len(item.data) <= width else item.data[: width - 1] + "…"
    kind = "" if item.type == "message" else f"{item.type} "
    return f"{kind}{data!r}"


def labels_shown(labels: list[str], limit: int) -> str:
    """``1, 2, 3 … (+5 more)``: a list cut to ``limit`` always says so."""
    shown = ", ".join(labels[:limit])
    return shown + (f" … (+{len(labels) - limit} more)" if len(labels) > limit else "")


def match(
    expected: list[Item],
    received: list[Item],
    *,
    by_id: bool | None = None,
    judge_ids: bool = True,
    judge_retry: bool = False,
) -> Match:
    """Match ``received`` against ``expected``. ``by_id`` None: by id when every expected event
    has a distinct id of its own. ``judge_ids``: an event received with another id than the
    expected one's is garbled (False: the received side reports no ids). ``judge_retry``: so is
    one with another ``retry``."""
    if by_id is None:
        ids = [i.id for i in expected]
        by_id = bool(expected) and all(ids) and len(set(ids)) == len(ids)
    result = Match(expected, received, by_id)
    if by_id:
        _match_by_id(result)
    else:
        _match_by_content(result)
    if judge_ids:
        _judge_ids(result)
    if judge_retry:
        _judge_retry(result)
    result.missing.sort()
    return result


def _judge_retry(m: Match) -> None:
    """An event handed over with another retry field than its block's valid one (a value the spec
    ignores, such as ``-1``, read as a number) is garbled: the application would reconnect at a
    pace the server never asked for."""
    for e, r in sorted(m.pairs.items()):
        if m.expected[e].retry != m.received[r].retry:
            del m.pairs[e]
            m.garbled.append((e, r))
    m.garbled.sort(key=lambda pair: pair[1])


def _judge_ids(m: Match) -> None:
    """An event whose id the client altered or lost is garbled, like one with altered data: the
    application resumes from that id. A missing id counts only where the event had an id field
    of its own (its id differs from the one before it), not where the last event ID merely
    carried over."""
    for e, r in sorted(m.pairs.items()):
        want, got = m.expected[e].id, m.received[r].id
        own = want is not None and (e == 0 or m.expected[e - 1].id != want)
        if (got is not None and got != want) or (got is None and own):
            del m.pairs[e]
            m.garbled.append((e, r))
    m.garbled.sort(key=lambda pair: pair[1])


def _match_by_id(m: Match) -> None:
    index = {item.id: e for e, item in enumerate(m.expected)}
    claimed: dict[int, int] = {}  # e -> r
    altered: set[int] = set()
    no_id: list[int] = []
    for r, item in enumerate(m.received):
        e = index.get(item.id) if item.id else None
        if e is None:
            no_id.append(r)  # no usable id (many clients report none): matched by content below
        elif e in claimed:
            if m.expected[e].content == item.content:
                m.duplicated.append((e, r))
            else:
                m.extra.append(r)  # another event carrying an id already received
        else:
            claimed[e] = r
            if m.expected[e].content != item.content:
                altered.add(e)
    if no_id:
        # the events without ids, aligned by content with the expected events not yet claimed, so
        # that an event the client altered still lines up with the one it was meant to be
        rest = [e for e in range(len(m.expected)) if e not in claimed]
        sub = Match([m.expected[e] for e in rest], [m.received[r] for r in no_id], False)
        _match_by_content(sub)
        for se, sr in [*sub.pairs.items(), *sub.reordered, *sub.garbled]:
            claimed[rest[se]] = no_id[sr]
        altered.update(rest[se] for se, _ in sub.garbled)
        for se, sr in sub.duplicated:
            m.duplicated.append((rest[se], no_id[sr]))
        for sr in sub.extra:
            item = m.received[no_id[sr]]
            again = next((e for e in claimed if m.expected[e].content == item.content), None)
            if again is not None:
                m.duplicated.append((again, no_id[sr]))
            else:
                m.extra.append(no_id[sr])
    highest = -1
    for e, r in sorted(claimed.items(), key=lambda pair: pair[1]):
        if e in altered:
            m.garbled.append((e, r))
        elif e < highest:
            m.reordered.append((e, r))
        else:
            m.pairs[e] = r
        highest = max(highest, e)
    m.missing = [e for e in range(len(m.expected)) if e not in claimed]
    m.duplicated.sort(key=lambda pair: pair[1])
    m.extra.sort()


def _match_by_content(m: Match) -> None:
    a = [i.content for i in m.expected]
    b = [i.content for i in m.received]
    lone_e: dict[int, None] = {}  # insertion-ordered sets
    lone_r: dict[int, None] = {}
    replaced: list[tuple[range, range]] = []
    for tag, i1, i2, j1, j2 in align(a, b):
        if tag == "equal":
            for k in range(i2 - i1):
                m.pairs[i1 + k] = j1 + k
            continue
        lone_e.update(dict.fromkeys(range(i1, i2)))
        lone_r.update(dict.fromkeys(range(j1, j2)))
        if tag == "replace":
            replaced.append((range(i1, i2), range(j1, j2)))
    # a received event equal to an expected one that found no place: it came out of order
    unplaced: dict[tuple[str, str], deque[int]] = defaultdict(deque)
    for e in lone_e:
        unplaced[a[e]].append(e)
    for r in list(lone_r):
        waiting = unplaced.get(b[r])
        if waiting:
            e = waiting.popleft()
            m.reordered.append((e, r))
            del lone_e[e], lone_r[r]
    # equal to one already received: a repeat
    first: dict[tuple[str, str], int] = {}
    for e in sorted([*m.pairs, *(e for e, _ in m.reordered)]):
        first.setdefault(a[e], e)
    for r in list(lone_r):
        if b[r] in first:
            m.duplicated.append((first[b[r]], r))
            del lone_r[r]
    # in the place of an expected event that did not arrive: that event, altered
    for es, rs in replaced:
        for e, r in zip([k for k in es if k in lone_e], [k for k in rs if k in lone_r]):
            m.garbled.append((e, r))
            del lone_e[e], lone_r[r]
    m.missing = sorted(lone_e)
    m.extra = sorted(lone_r)


Opcode = tuple[str, int, int, int, int]  # as difflib's get_opcodes() gives them
GAP_LIMIT = 4000  # a gap longer than this (both sides) between anchors is not aligned finely


def align(a: list[Any], b: list[Any]) -> list[Opcode]:
    """Opcodes (as :meth:`difflib.SequenceMatcher.get_opcodes`) turning ``a`` into ``b``.

    Patience alignment: items that occur exactly once in each sequence and keep their order (the
    longest increasing run of them) anchor the alignment, and only the gaps between anchors are
    aligned by :class:`~difflib.SequenceMatcher`. That keeps long streams with many losses fast
    (SequenceMatcher alone is quadratic in the number of differences) and aligns the same way on
    the streams that matter here (distinct events, with a few lost, repeated or altered).
    """
    count_a: dict[Any, int] = defaultdict(int)
    count_b: dict[Any, int] = defaultdict(int)
    for x in a:
        count_a[x] += 1
    for x in b:
        count_b[x] += 1
    where_b = {x: j for j, x in enumerate(b) if count_b[x] == 1}
    pairs = [(i, where_b[x]) for i, x in enumerate(a) if count_a[x] == 1 and x in where_b]
    anchors = _increasing(pairs)
    out: list[Opcode] = []
    i0 = j0 = 0
    for i, j in [*anchors, (len(a), len(b))]:
        out.extend(_gap(a, b, i0, i, j0, j))
        if i < len(a):
            out.append(("equal", i, i + 1, j, j + 1))
        i0, j0 = i + 1, j + 1
    return _merge(out)


def _increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest run of pairs increasing in both coordinates (pairs come sorted by the first)."""
    import bisect

    tails: list[int] = []  # tails[k]: smallest j ending an increasing run of length k+1
    tail_at: list[int] = []  # index into pairs of that tail
    back: list[int] = [-1] * len(pairs)
    for n, (_, j) in enumerate(pairs):
        k = bisect.bisect_left(tails, j)
        if k == len(tails):
            tails.append(j)
            tail_at.append(n)
        else:
            tails[k] = j
            tail_at[k] = n
        back[n] = tail_at[k - 1] if k > 0 else -1
    run: list[tuple[int, int]] = []
    n = tail_at[-1] if tail_at else -1
    while n >= 0:
        run.append(pairs[n])
        n = back[n]
    return run[::-1]


def _gap(a: list[Any], b: list[Any], i1: int, i2: int, j1: int, j2: int) -> list[Opcode]:
    if i1 == i2 and j1 == j2:
        return []
    if i1 == i2:
        return [("insert", i1, i2, j1, j2)]
    if j1 == j2:
        return [("delete", i1, i2, j1, j2)]
    if i2 - i1 > GAP_LIMIT and j2 - j1 > GAP_LIMIT:
        return [("replace", i1, i2, j1, j2)]  # too long to align finely: the leftovers explain it
    matcher = SequenceMatcher(None, a[i1:i2], b[j1:j2], autojunk=False)
    return [(tag, x1 + i1, x2 + i1, y1 + j1, y2 + j1) for tag, x1, x2, y1, y2 in matcher.get_opcodes()]


def _merge(ops: list[Opcode]) -> list[Opcode]:
    out: list[Opcode] = []
    for op in ops:
        if out and out[-1][0] == op[0] == "equal":
            last = out[-1]
            out[-1] = ("equal", last[1], op[2], last[3], op[4])
        else:
            out.append(op)
    return out
