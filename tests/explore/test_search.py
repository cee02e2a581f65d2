"""The search's own logic -- confirm, shrink, leave faults out, stay in budget -- with cells judged by a rule.

Real cells are in test_explore.py; here each run is decided by a rule on the schedule (and a
scripted flake), so that what the search does with the verdicts is checked exactly and fast.
"""

from __future__ import annotations

import time
from typing import Any

from faultproxy.explore.properties import PROPERTIES
from faultproxy.explore.search import Search

TYPES = ["latency", "sse_delay", "sse_disconnect", "slow_close"]


class RuleSearch(Search):
    """A search whose runs break the property when ``rule(schedule)`` says so."""

    def __init__(self, rule: Any, **options: Any):
        super().__init__("raw", PROPERTIES["no_silent_loss"], TYPES, **options)
        self.rule = rule
        self.runs = 0

    def _run(self, scenario: Any, attempt: int) -> dict[str, Any]:
        self.runs += 1
        schedule = [{"type": f.type, "attributes": f.attributes.model_dump(exclude_unset=True)}
                    for f in scenario.faults]
        broken = self.rule(schedule, attempt)
        return {"outcome": "silent_loss" if broken else "ok", "broken": "rule" if broken else None,
                "duration_s": 0.001}


def disconnects(schedule: list[dict[str, Any]], attempt: int) -> bool:
    return any(f["type"] == "sse_disconnect" for f in schedule)


def test_finds_and_shrinks_to_the_one_fault_that_matters_and_confirms_it() -> None:
    search = RuleSearch(disconnects, budget=80, seed=5, max_faults=3)
    found = search.run()
    assert found is not None and len(found.schedule) == 1 and found.schedule[0]["type"] == "sse_disconnect"
    assert found.schedule[0]["attributes"]["after_events"] == 0  # shrunk to the simplest value too
    assert [r["broken"] for r in found.runs] == ["rule"] * 3  # 1 run + 2 confirmations
    keys = [str(t.schedule) for t in search.trials]
    assert len(keys) == len(set(keys))  # a schedule is never run twice


def test_a_failure_that_does_not_repeat_is_a_flake_and_never_kept() -> None:
    search = RuleSearch(lambda schedule, attempt: disconnects(schedule, attempt) and attempt == 0, budget=40, seed=5)
    assert search.run() is None
    assert any(t.verdict == "flaky" for t in search.trials)


def test_the_budget_bounds_the_schedules_run() -> None:
    search = RuleSearch(lambda schedule, attempt: False, budget=7, seed=1)
    assert search.run() is None
    assert len([t for t in search.trials if t.verdict != "invalid"]) == 7
    assert search.runs == 7


def test_leaving_a_fault_out_is_tried_even_when_hypothesis_stops_shrinking() -> None:
    search = RuleSearch(disconnects, budget=50, seed=5)
    two = [{"type": "latency", "attributes": {"latency": 5}},
           {"type": "sse_disconnect", "attributes": {"after_events": 2}}]
    search.started = time.monotonic()
    assert search._judged(two).verdict == "fail"  # as if hypothesis had stopped here
    search._drop_faults()
    assert search.smallest.schedule == [{"type": "sse_disconnect", "attributes": {"after_events": 2}}]
