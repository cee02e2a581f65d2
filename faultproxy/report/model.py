"""What every report format shares: outcomes, the scenario × client matrix, totals, safe text.

A *result* is one dict of ``report["results"]`` (one scenario × client × repetition). A
*cell* is one scenario × client: all its repetitions together, shown as one square of the
matrix. The formats (HTML, JUnit, Markdown) only lay out what :func:`build_matrix` computes,
so they always agree about what passed.

A cell run more than once (a scenario's ``repetitions``, ``faultproxy run --repeat N``) whose
outcome -- or verdict -- varies between its runs is **flaky**: it is reported with its rate
(:attr:`Cell.rate`: how many runs passed, and each outcome's count), never as a pass or a fail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

SCHEMA_ID = "faultproxy-report/1"


class Outcome(NamedTuple):
    name: str
    label: str  # what a person reads
    abbr: str  # what fits in a matrix cell
    emoji: str  # Markdown (GitHub renders emoji; the HTML page does not rely on emoji fonts)
    meaning: str


# Worst first: the order of totals, legends, and which repetition speaks for a mixed cell.
OUTCOMES: tuple[Outcome, ...] = (
    Outcome(
        "silent_loss",
        "silent loss",
        "LOSS",
        "🚨",
        "the client finished without an error, but events are missing, truncated or garbled",
    ),
    Outcome("hung", "hung", "HUNG", "⏳", "the client neither finished nor failed before the deadline"),
    Outcome("duplicated", "duplicated", "DUP", "👯", "the application saw some events more than once"),
    Outcome("reordered", "reordered", "ORDER", "🔀", "the application saw events out of order"),
    Outcome("error", "error", "ERR", "🟧", "the client reported an error to the application"),
    Outcome(
        "resumed",
        "resumed",
        "RESUME",
        "🔁",
        "the stream broke and the client resumed it: every event exactly once, in order",
    ),
    Outcome("ok", "ok", "OK", "✅", "every event exactly once, in order, and a clean end"),
)
BY_NAME: dict[str, Outcome] = {o.name: o for o in OUTCOMES}
SEVERITY: dict[str, int] = {o.name: len(OUTCOMES) - i for i, o in enumerate(OUTCOMES)}  # higher: worse

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def outcome(name: str) -> Outcome:
    """The outcome called ``name``; an unknown name (a newer runner) gets a neutral stand-in."""
    return BY_NAME.get(name) or Outcome(name, name.replace("_", " "), name[:6].upper(), "❔", "")


def clean(value: Any) -> str:
    """``value`` as text that is safe to put in any file: control characters made visible.

    The data comes from the wire: it may hold NUL, ESC, lone surrogates (a client that
    decoded bytes with ``surrogateescape``). XML 1.0 cannot hold them at all and they are
    invisible in HTML and Markdown, so they become ``\\xNN`` (and lone surrogates U+FFFD).
    Newlines and tabs are kept.
    """
    text = value if isinstance(value, str) else str(value)
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def one_line(value: Any, limit: int = 300) -> str:
    """:func:`clean` text on one line, shortened to ``limit`` characters."""
    text = " ".join(clean(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Cell:
    """One scenario × client: its repetitions, and what the matrix shows for them."""

    scenario: str
    client: str
    results: list[dict[str, Any]] = field(default_factory=list)
    unavailable: str | None = None  # the reason, when the client could not run here

    @property
    def key(self) -> str:
        return cell_key(self.scenario, self.client)

    @property
    def ran(self) -> bool:
        return bool(self.results)

    @property
    def worst(self) -> dict[str, Any] | None:
        """The repetition that speaks for the cell: a failing one first, then the worst outcome."""
        if not self.results:
            return None
        return max(
            self.results,
            key=lambda r: (
                not r.get("passed", False),
                bool(r.get("known_changed")),
                SEVERITY.get(r.get("outcome", ""), 0),
            ),
        )

    @property
    def outcome(self) -> str | None:
        worst = self.worst
        return None if worst is None else worst["outcome"]

    @property
    def passed(self) -> bool:
        """Every run passed (a flaky cell never passed: some run did not)."""
        return all(r.get("passed", False) for r in self.results)

    @property
    def flaky(self) -> bool:
        """Run more than once, and its outcome or verdict varies between the runs."""
        return self.mixed

    @property
    def failed(self) -> bool:
        """Failed every way it was run (a flaky cell is neither passed nor failed)."""
        return bool(self.results) and not self.passed and not self.flaky

    @property
    def runs_passed(self) -> int:
        return sum(1 for r in self.results if r.get("passed"))

    @property
    def rate(self) -> str:
        """``passed 7 of 10 (ok 7, silent loss 3)``: what a flaky cell is reported with."""
        counts = self.outcome_counts
        parts = ", ".join(
            f"{outcome(name).label} {counts[name]}"
            for name in sorted(counts, key=lambda n: (-counts[n], -SEVERITY.get(n, 0)))
        )
        return f"passed {self.runs_passed} of {len(self.results)} ({parts})"

    def flaky_record(self) -> dict[str, Any]:
        """The report's ``flaky[]`` entry for this cell."""
        return {
            "scenario": self.scenario,
            "client": self.client,
            "runs": len(self.results),
            "passed": self.runs_passed,
            "outcomes": dict(self.outcome_counts),
            "rate": self.rate,
        }

    @property
    def known(self) -> bool:
        """Passed only because of a recorded known behaviour (an expected failure)."""
        return any(r.get("known") and r.get("passed") for r in self.results)

    @property
    def known_changed(self) -> bool:
        return any(r.get("known_changed") for r in self.results)

    @property
    def mixed(self) -> bool:
        """Repetitions disagree (a flaky cell)."""
        return (
            len({r.get("outcome") for r in self.results}) > 1
            or len({bool(r.get("passed")) for r in self.results}) > 1
        )

    @property
    def outcome_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.results:
            counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
        return counts

    @property
    def summary(self) -> str:
        worst = self.worst
        if worst is None:
            return f"not run: {self.unavailable}" if self.unavailable else "not run"
        return one_line((worst.get("evidence") or {}).get("summary", ""))


@dataclass
class Matrix:
    scenarios: list[dict[str, Any]]  # the report's scenario dicts (a stand-in for one only results name)
    clients: list[dict[str, Any]]  # likewise
    cells: dict[tuple[str, str], Cell]

    def cell(self, scenario: str, client: str) -> Cell:
        return self.cells[(scenario, client)]

    def rows(self) -> list[tuple[dict[str, Any], list[Cell]]]:
        return [(s, [self.cells[(s["name"], c["name"])] for c in self.clients]) for s in self.scenarios]

    def ran_cells(self) -> list[Cell]:
        return [cell for _, cells in self.rows() for cell in cells if cell.ran]


def cell_key(scenario: str, client: str) -> str:
    """The cell's id and deep link (``#scenario/client``); whitespace would make it no id."""
    return re.sub(r"\s", "_", f"{scenario}/{client}")


def build_matrix(report: dict[str, Any]) -> Matrix:
    """Scenarios (rows) × clients (columns) in the report's order, then any only results name."""
    scenarios = list(report.get("scenarios", []))
    clients = list(report.get("clients", []))
    seen_s = {s["name"] for s in scenarios}
    seen_c = {c["name"] for c in clients}
    for r in report.get("results", []):
        if r["scenario"] not in seen_s:
            seen_s.add(r["scenario"])
            scenarios.append(
                {"name": r["scenario"], "file": "", "description": "", "faults": [], "expectations": []}
            )
        if r["client"] not in seen_c:
            seen_c.add(r["client"])
            clients.append({"name": r["client"], "version": r.get("client_version"), "available": True})
    cells: dict[tuple[str, str], Cell] = {}
    for s in scenarios:
        for c in clients:
            reason = None if c.get("available", True) else (c.get("reason") or "client not available")
            cells[(s["name"], c["name"])] = Cell(s["name"], c["name"], unavailable=reason)
    for r in report.get("results", []):
        cells[(r["scenario"], r["client"])].results.append(r)
    for cell in cells.values():
        cell.results.sort(key=lambda r: r.get("repetition", 0))
    return Matrix(scenarios, clients, cells)


@dataclass
class Totals:
    results: int
    passed: int  # runs that passed, outside flaky cells
    failed: int  # runs that did not pass, outside flaky cells
    known: int  # passed thanks to a recorded known behaviour
    known_changed: int
    by_outcome: dict[str, int]  # every outcome of OUTCOMES, worst first, zeros included
    cells: int
    cells_failed: int  # failed every time they ran (flaky cells are counted apart)
    skipped: int  # scenario × unavailable client
    # outcome -> {"wire": n, "client": n}: who is to blame for the cells that are not ok (docs/outcomes.md)
    by_attribution: dict[str, dict[str, int]] = field(default_factory=dict)
    cells_flaky: int = 0  # outcome or verdict varied between runs: neither passed nor failed
    flaky_runs: int = 0  # the runs of those cells

    @property
    def ok(self) -> bool:
        """Every cell passed: none failed, none was flaky."""
        return self.cells_failed == 0 and self.cells_flaky == 0

    @property
    def verdict(self) -> str:
        """``passed``, ``failed`` (a cell failed every time), or ``flaky`` (none failed, some varied)."""
        if self.cells_failed:
            return "failed"
        return "flaky" if self.cells_flaky else "passed"

    def blame_line(self) -> str:
        """``silent_loss 54 (wire 40, client 14) · error 111 (...)``: each not-ok outcome split by blame."""
        parts = []
        for name, split in self.by_attribution.items():
            if sum(split.values()):
                parts.append(
                    f"{name} {sum(split.values())} (wire {split.get('wire', 0)}, client {split.get('client', 0)})"
                )
        return " · ".join(parts)


def totals(report: dict[str, Any], matrix: Matrix | None = None) -> Totals:
    matrix = matrix or build_matrix(report)
    results = report.get("results", [])
    by_outcome = {o.name: 0 for o in OUTCOMES}
    for r in results:
        by_outcome[r["outcome"]] = by_outcome.get(r["outcome"], 0) + 1
    ran = matrix.ran_cells()
    blame: dict[str, dict[str, int]] = {}
    for r in results:
        if r.get("attribution"):
            split = blame.setdefault(r["outcome"], {"wire": 0, "client": 0})
            split[r["attribution"]] = split.get(r["attribution"], 0) + 1
    steady = [r for c in ran if not c.flaky for r in c.results]  # the runs of flaky cells count apart
    return Totals(
        results=len(results),
        passed=sum(1 for r in steady if r.get("passed")),
        failed=sum(1 for r in steady if not r.get("passed")),
        flaky_runs=len(results) - len(steady),
        known=sum(1 for r in results if r.get("passed") and r.get("known")),
        known_changed=sum(1 for r in results if r.get("known_changed")),
        by_outcome=by_outcome,
        cells=len(ran),
        cells_failed=sum(1 for c in ran if c.failed),
        cells_flaky=sum(1 for c in ran if c.flaky),
        skipped=sum(1 for c in matrix.cells.values() if not c.ran and c.unavailable),
        by_attribution=blame,
    )


def why_failed(result: dict[str, Any]) -> list[str]:
    """Why a result did not pass: each unmet expectation with its figure ("max_time_to_first_event:
    time to first event 1,011 ms > limit 300 ms"), and a recorded known behaviour that changed."""
    reasons = [
        f"{x['name']}: {x['detail']}" if x.get("detail") else str(x.get("name"))
        for x in result.get("expectations") or []
        if not x.get("met")
    ]
    if result.get("known_changed"):
        recorded = (result.get("evidence") or {}).get("known_recorded") or "?"
        reasons.insert(0, f"known behaviour changed: recorded {recorded}; now {result.get('outcome')}")
    return reasons


def interrupted_note(report: dict[str, Any]) -> str | None:
    """One sentence for a run stopped by Ctrl-C (``report["interrupted"]``), else None."""
    stop = report.get("interrupted")
    if not stop:
        return None
    missing = len(stop.get("not_run") or [])
    return (
        f"Interrupted (Ctrl-C) after {stop.get('cells_done')} of {stop.get('cells_planned')} cells: "
        f"the {missing} not run are not in this report."
    )


def repetition_label(result: dict[str, Any], cell: Cell) -> str:
    """``" #2"`` when the cell has several repetitions (1-based for people), else ``""``."""
    return f" #{result.get('repetition', 0) + 1}" if len(cell.results) > 1 else ""


CELL_CLOCK = "since cell start"  # the zero of every time in a result: the timeline's


def excerpt_heading(origin: str = CELL_CLOCK) -> str:
    """The first line of a capture excerpt. Its stamps look like ``capture show --raw``'s, whose
    clock starts with the proxy; the heading says which zero these count from."""
    return f"t in ms {origin}; #n is the proxy's connection n"


def format_seconds(t: float | None) -> str:
    if t is None:
        return "—"
    if t < 1:
        return f"{t * 1000:.0f} ms"
    if t < 60:
        return f"{t:.2f} s"
    minutes, seconds = divmod(t, 60)
    return f"{int(minutes)} min {seconds:.0f} s"
