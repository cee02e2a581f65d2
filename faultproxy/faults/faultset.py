"""The proxy's live list of faults, shared by every connection's pipelines, with the evidence.

A proxy holds one :class:`FaultSet`; each direction of each connection builds its fault
instances from it (:mod:`faultproxy.faults.instances`) and picks up changes on its next read,
or at once when the proxy passes a change on to its connections.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from collections.abc import Callable

from faultproxy.faults.base import Evidence
from faultproxy.faults.spec import FaultSpec

EVIDENCE_KEPT = 10_000  # firings a FaultSet keeps in memory (the latest); see FaultSet.fired for all
NOTES_KEPT = 100  # passed-over notes a FaultSet keeps (the latest): one per response at most


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
