"""The search: hypothesis draws fault schedules, each one a ``faultproxy run`` cell, and shrinks a failure.

Every trial is a real cell (:func:`faultproxy.scenarios.runner.run_cell`): the reference server,
the proxy with the schedule's faults, the client in its own process, the verdict. Hypothesis
drives it -- drawing schedules from :mod:`~faultproxy.explore.space` under a fixed seed, and once
a schedule breaks the property, shrinking it (fewer faults, simpler attributes) for as long as
the smaller one still breaks it.

What keeps the result honest and the run bounded:

- **confirmation**: a schedule counts as breaking the property only if it breaks it in every one
  of ``1 + confirm`` runs (default 3 of 3). One that breaks it sometimes is reported as a *flake*
  and not kept, so timing noise cannot steer the shrinking; a real failure that is itself
  intermittent is missed rather than misreported;
- **memo**: a schedule already judged is never run again (hypothesis replays its final example);
- **budget**: at most ``budget`` schedules are run and no schedule starts after ``time_s`` seconds,
  shrinking included; past either, remaining candidates are not run, and the smallest confirmed
  failure so far is the answer;
- **one fault less**: after hypothesis's shrinking (which gives up after a few minutes, soon
  reached when each trial of a hang costs the deadline three times), each fault of the smallest
  failure is left out in turn while that still breaks the property;
- **a measured stream**: before the search, one run with no fault measures what the client's
  server sends (events, bytes, seconds: :class:`~faultproxy.explore.space.Stream`); the space is
  bounded by it, and a schedule whose waits would add more than :attr:`Search.margin_s` to that
  stream is not run (``invalid``, with the estimate) -- so a hang is a hang, not a slow stream.
  If that healthy run already breaks the property, that (no fault at all) is the answer;
- **determinism**: the same seed draws the same schedules, and faults are seeded too.

The written scenario is then re-confirmed by :func:`reproduce_best` (``faultproxy explore`` runs
it at least ten times through ``faultproxy run``'s runner), also with its times moved away from
the edge shrinking left them at (:func:`~faultproxy.explore.space.away_from_edge`).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, assume, given, seed, settings
from hypothesis.errors import HypothesisException

from faultproxy.aio import run as run_loop
from faultproxy.clients import registry
from faultproxy.explore.properties import Property
from faultproxy.explore.space import Stream, added_delay_s, away_from_edge, schedules
from faultproxy.scenarios.loader import ScenarioError, parse_scenario
from faultproxy.scenarios.model import Expectation
from faultproxy.scenarios.oracle import oracle_from_capture
from faultproxy.scenarios.runner import Cell, run_cell

EVENTS = 10
DEADLINE_MS = 20000  # half of it is the margin for a schedule's added waits (faultproxy.explore.space)
MATCHES_ORACLE = Expectation(name="matches_oracle")


class _Broken(Exception):
    """Raised inside the hypothesis test: this schedule breaks the property (confirmed)."""


@dataclass
class Trial:
    number: int
    schedule: list[dict[str, Any]]
    verdict: str  # "pass", "fail" (confirmed), "flaky", "invalid", "skipped" (over budget)
    runs: list[dict[str, Any]] = field(default_factory=list)  # outcome, broken (why or None), duration_s
    phase: str = "search"

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "phase": self.phase,
            "verdict": self.verdict,
            "schedule": self.schedule,
            "runs": self.runs,
            "duration_s": round(sum(r["duration_s"] for r in self.runs), 3),
        }


def server_for(client: str) -> dict[str, Any]:
    """The reference server a client is explored against: the SSE server, or the mock of its vendor."""
    protocol = registry.get(client).protocol
    if protocol in (registry.OPENAI_CHAT, registry.OPENAI_RESPONSES):
        return {"kind": "openai"}
    if protocol == registry.ANTHROPIC:
        return {"kind": "anthropic"}
    return {"kind": "sse", "events": EVENTS, "interval_ms": 5}


def scenario_dict(
    name: str, client: str, prop: Property, schedule: list[dict[str, Any]], description: str = ""
) -> dict[str, Any]:
    """The scenario of one schedule, as a scenario file writes it."""
    timeouts: dict[str, Any] = {"deadline_ms": DEADLINE_MS}
    if prop.read_ms is not None:
        timeouts["read_ms"] = prop.read_ms
    out: dict[str, Any] = {
        "name": name,
        "description": description or f"{prop.name} under {len(schedule)} fault(s)",
        "tags": ["explore"],
        "server": server_for(client),
        "faults": schedule,
        "clients": [client],
        "expectations": prop.expectation,
        "timeouts": timeouts,
    }
    if prop.reconnect:
        out["reconnect"] = {"max": 3, "delay_ms": 50}
    return out


class Search:
    """One exploration: ``Search(client, prop, ...).run()`` returns the smallest confirmed failure or None."""

    def __init__(
        self,
        client: str,
        prop: Property,
        fault_types: list[str],
        *,
        budget: int = 60,
        time_s: float = 600.0,
        seed: int = 0,
        max_faults: int = 3,
        confirm: int = 2,
        on_trial: Callable[[Trial], None] | None = None,
        stream: Stream | None = None,
    ):
        self.client, self.prop, self.fault_types = client, prop, fault_types
        self.stream = stream  # None: measured by a healthy run first
        self.budget, self.time_s, self.seed = budget, time_s, seed
        self.max_faults, self.confirm = max_faults, confirm
        self.on_trial = on_trial
        self.trials: list[Trial] = []
        self.smallest: Trial | None = None
        self.started = 0.0
        self._memo: dict[str, Trial] = {}

    @property
    def exhausted(self) -> bool:
        runs = sum(1 for t in self.trials if t.verdict != "invalid")
        return runs >= self.budget or time.monotonic() - self.started >= self.time_s

    @property
    def margin_s(self) -> float:
        """The most a schedule's waits may add to the stream: half the deadline, less the healthy
        run's own time (at least a second)."""
        seconds = self.stream.seconds if self.stream is not None else 0.0
        return max(1.0, DEADLINE_MS / 2000 - seconds)

    def run(self) -> Trial | None:
        self.started = time.monotonic()
        if self.stream is None:
            self.stream = self._measure()
            if self.smallest is not None:  # broken with no fault at all
                return self.smallest
        connections = [1] if self.prop.reconnect else None
        strategy = schedules(self.fault_types, self.stream, self.max_faults, connections)

        @settings(
            max_examples=self.budget,
            database=None,
            deadline=None,
            phases=(Phase.generate, Phase.shrink),
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
            print_blob=False,
        )
        @seed(self.seed)
        @given(strategy)
        def check(schedule: list[dict[str, Any]]) -> None:
            self._check(schedule)

        try:
            check()
        except (_Broken, HypothesisException):
            pass  # the failure is in self.smallest; a flaky replay or an unsatisfiable space ends the search too
        self._drop_faults()
        return self.smallest

    def _drop_faults(self) -> None:
        """Try the smallest failure with each of its faults left out, until none can be.

        Hypothesis gives up shrinking after a few minutes, which slow trials (a hang costs the
        deadline, three times over) reach after a handful of candidates; leaving a fault out is the
        step that matters most, so it is always tried, within the same budget.
        """
        improved = True
        while (
            improved and self.smallest is not None and len(self.smallest.schedule) > 1 and not self.exhausted
        ):
            improved = False
            schedule = self.smallest.schedule
            for index in range(len(schedule)):
                if self._judged(schedule[:index] + schedule[index + 1 :]).verdict == "fail":
                    improved = True
                    break

    def _judged(self, schedule: list[dict[str, Any]]) -> Trial:
        """The trial of ``schedule``: from the memo, or run now."""
        key = json.dumps(schedule, sort_keys=True)
        trial = self._memo.get(key)
        if trial is None:
            trial = self._trial(schedule)
            if trial.verdict != "skipped":
                self._memo[key] = trial
        return trial

    def _check(self, schedule: list[dict[str, Any]]) -> None:
        trial = self._judged(schedule)
        assume(trial.verdict != "invalid")
        if trial.verdict == "fail":
            raise _Broken(trial.runs[-1]["broken"])

    def _measure(self) -> Stream:
        """One healthy run (no fault): the stream the space is bounded by. Should it already break
        the property, it is confirmed like any trial and becomes the answer."""
        trial = Trial(len(self.trials) + 1, [], "pass", phase="baseline")
        scenario = parse_scenario(scenario_dict("explore-baseline", self.client, self.prop, []))
        run, stream = self._run(scenario, 0, measure=True)
        trial.runs.append(run)
        self.trials.append(trial)
        if run["broken"] is not None:
            for attempt in range(1, 1 + self.confirm):
                again = self._run(scenario, attempt)
                trial.runs.append(again)
                if again["broken"] is None:
                    trial.verdict = "flaky"
                    break
            else:
                trial.verdict = "fail"
                self.smallest = trial
        self._memo[json.dumps([], sort_keys=True)] = trial
        if self.on_trial is not None:
            self.on_trial(trial)
        return stream

    def _trial(self, schedule: list[dict[str, Any]]) -> Trial:
        trial = Trial(len(self.trials) + 1, schedule, "pass", phase="shrink" if self.smallest else "search")
        try:
            scenario = parse_scenario(
                scenario_dict(f"explore-{trial.number}", self.client, self.prop, schedule)
            )
        except ScenarioError as error:
            trial.verdict = "invalid"
            trial.runs.append({"outcome": None, "broken": None, "duration_s": 0.0, "invalid": str(error)})
            self.trials.append(trial)
            return trial
        added = added_delay_s(schedule, self.stream or Stream())
        if added > self.margin_s:
            trial.verdict = "invalid"
            trial.runs.append(
                {
                    "outcome": None,
                    "broken": None,
                    "duration_s": 0.0,
                    "invalid": f"its waits would add ~{added:.1f} s to this client's stream, over the "
                    f"{self.margin_s:.1f} s margin: a client still reading at the deadline "
                    "would be slow, not stuck",
                }
            )
            self.trials.append(trial)
            if self.on_trial is not None:
                self.on_trial(trial)
            return trial
        if self.exhausted:
            trial.verdict = "skipped"
            return trial
        self.trials.append(trial)
        for attempt in range(1 + self.confirm):
            run = self._run(scenario, attempt)
            trial.runs.append(run)
            if run["broken"] is None:
                trial.verdict = "flaky" if attempt else "pass"
                break
        else:
            trial.verdict = "fail"
            self.smallest = trial  # hypothesis, and _drop_faults, only try what is smaller than the last one
        if self.on_trial is not None:
            self.on_trial(trial)
        return trial

    def _run(self, scenario: Any, attempt: int, *, measure: bool = False) -> Any:
        """One cell of ``scenario``: its run record (and, with ``measure``, the stream it carried)."""
        # the trial also asks whether the client parsed right: the property's blame rests on it
        scenario = scenario.model_copy(update={"expectations": (*scenario.expectations, MATCHES_ORACLE)})
        t0 = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="faultproxy-explore-") as folder:
            result = run_loop(
                run_cell(Cell(scenario, self.client, attempt), self.seed, Path(folder))
            ).to_dict()
            oracle = oracle_from_capture(Path(folder) / "capture.jsonl") if measure else None
        run = {
            "outcome": result["outcome"],
            "broken": self.prop.broken(result),
            "duration_s": round(time.monotonic() - t0, 3),
        }
        if oracle is None:
            return run
        stream = Stream(
            events=max(1, sum(len(x.events) for x in oracle.exchanges)),
            bytes=max(1, sum(x.body_bytes for x in oracle.exchanges)),
            seconds=run["duration_s"],
        )
        return run, stream


@dataclass
class Reproduction:
    """A schedule written as a scenario and run ``runs`` times through ``faultproxy run``'s runner."""

    schedule: list[dict[str, Any]]
    label: str  # "as shrunk", or "times moved away from the flip edge"
    runs: int
    failed: int
    outcomes: list[str]
    report: str = ""

    @property
    def reliable(self) -> bool:
        return self.runs > 0 and self.failed == self.runs

    def to_dict(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule,
            "label": self.label,
            "runs": self.runs,
            "failed": self.failed,
            "rate": f"{self.failed}/{self.runs}",
            "outcomes": self.outcomes,
            "report": self.report,
        }


AWAY = "times moved away from the flip edge"
AS_SHRUNK = "as shrunk"


def reproduce_best(
    schedule: list[dict[str, Any]],
    stream: Stream,
    reproduce: Callable[[list[dict[str, Any]], str], Reproduction],
) -> tuple[Reproduction, list[Reproduction]]:
    """Re-confirm the shrunk ``schedule``: first with its times moved away from the flip edge
    (when it has any), then -- unless that failed every run -- as shrunk; the one that failed more
    often wins (the moved one on a tie). Returns the winner and every reproduction tried."""
    candidates = [(AS_SHRUNK, schedule)]
    moved = away_from_edge(schedule, stream)
    if moved != schedule:
        candidates.insert(0, (AWAY, moved))
    tried: list[Reproduction] = []
    for label, candidate in candidates:
        tried.append(reproduce(candidate, label))
        if tried[-1].reliable:
            break
    return max(tried, key=lambda r: r.failed / max(1, r.runs)), tried
