"""The search's own logic -- confirm, shrink, leave faults out, stay in budget -- with cells judged by a rule.

Real cells are in test_explore.py; here each run is decided by a rule on the schedule (and a
scripted flake), so that what the search does with the verdicts is checked exactly and fast.
"""

from __future__ import annotations

import time
from typing import Any

from faultproxy.explore import results
from faultproxy.explore.properties import PROPERTIES
from faultproxy.explore.search import AS_SHRUNK, AWAY, Reproduction, Search, reproduce_best
from faultproxy.explore.space import SSE_STREAM, Stream, added_delay_s, away_from_edge

TYPES = ["latency", "sse_delay", "sse_disconnect", "slow_close"]


class RuleSearch(Search):
    """A search whose runs break the property when ``rule(schedule)`` says so."""

    def __init__(self, rule: Any, **options: Any):
        options.setdefault("stream", SSE_STREAM)
        super().__init__("raw", PROPERTIES["no_silent_loss"], TYPES, **options)
        self.rule = rule
        self.runs = 0

    def _run(self, scenario: Any, attempt: int, *, measure: bool = False) -> Any:
        self.runs += 1
        schedule = [
            {"type": f.type, "attributes": f.attributes.model_dump(exclude_unset=True)}
            for f in scenario.faults
        ]
        broken = self.rule(schedule, attempt)
        run = {
            "outcome": "silent_loss" if broken else "ok",
            "broken": "rule" if broken else None,
            "duration_s": 0.001,
        }
        return (run, Stream(events=17, bytes=6000, seconds=0.5)) if measure else run


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
    search = RuleSearch(
        lambda schedule, attempt: disconnects(schedule, attempt) and attempt == 0, budget=40, seed=5
    )
    assert search.run() is None
    assert any(t.verdict == "flaky" for t in search.trials)


def test_the_budget_bounds_the_schedules_run() -> None:
    search = RuleSearch(lambda schedule, attempt: False, budget=7, seed=1)
    assert search.run() is None
    assert len([t for t in search.trials if t.verdict != "invalid"]) == 7
    assert search.runs == 7


def test_leaving_a_fault_out_is_tried_even_when_hypothesis_stops_shrinking() -> None:
    search = RuleSearch(disconnects, budget=50, seed=5)
    two = [
        {"type": "latency", "attributes": {"latency": 5}},
        {"type": "sse_disconnect", "attributes": {"after_events": 2}},
    ]
    search.started = time.monotonic()
    assert search._judged(two).verdict == "fail"  # as if hypothesis had stopped here
    search._drop_faults()
    assert search.smallest.schedule == [{"type": "sse_disconnect", "attributes": {"after_events": 2}}]


def test_the_space_is_measured_from_a_healthy_run_and_a_schedule_that_only_slows_it_is_never_run() -> None:
    """Review2 #3: one-byte pieces 4 ms apart fit the 450-byte SSE stream (1.8 s) but not a 6 KB LLM
    answer (24 s, past the 20 s deadline): openai was reported hung while its bytes still came."""
    split = [{"type": "sse_split", "attributes": {"mode": "byte", "gap_ms": 4.0}}]
    assert added_delay_s(split, SSE_STREAM) < 2.5
    search = RuleSearch(lambda schedule, attempt: True, stream=None, budget=5, seed=1)
    search.started = time.monotonic()
    search.stream = search._measure()  # the healthy run (the rule breaks it: confirmed, it is the answer)
    assert search.stream == Stream(events=17, bytes=6000, seconds=0.5)
    assert (
        search.smallest is not None and search.smallest.schedule == [] and search.smallest.phase == "baseline"
    )
    assert search.margin_s == 9.5
    runs = search.runs
    trial = search._judged(split)
    assert trial.verdict == "invalid" and "would add ~24.0 s" in trial.runs[0]["invalid"]
    assert search.runs == runs  # never run


def test_a_client_broken_without_any_fault_is_the_answer() -> None:
    found = RuleSearch(lambda schedule, attempt: True, stream=None, budget=10, seed=1).run()
    assert found is not None and found.schedule == [] and found.verdict == "fail"


def test_times_move_away_from_the_edge_shrinking_left_them_at() -> None:
    """Review2 #4: reset_peer:timeout=17 was kept where 9 was flaky; doubled, within bounds and caps."""
    schedule = [
        {"type": "reset_peer", "attributes": {"timeout": 17}},
        {"type": "sse_disconnect", "attributes": {"after_events": 2}},
        {"type": "latency", "attributes": {"latency": 150, "jitter": 0}},
    ]
    moved = away_from_edge(schedule, SSE_STREAM)
    assert moved[0]["attributes"] == {"timeout": 34}
    assert moved[1] == schedule[1]  # not a time
    assert moved[2]["attributes"] == {"latency": 200, "jitter": 0}  # capped at the space's 200 ms; 0 stays
    assert away_from_edge(moved[1:2], SSE_STREAM) == moved[1:2]
    lowest = [{"type": "read_timeout", "attributes": {"timeout_ms": 1.0}}]  # its lowest value, still an edge
    assert away_from_edge(lowest, SSE_STREAM)[0]["attributes"] == {"timeout_ms": 2.0}


def test_the_reproduction_prefers_the_schedule_that_fails_every_run() -> None:
    schedule = [{"type": "reset_peer", "attributes": {"timeout": 17}}]
    rates = {AWAY: 10, AS_SHRUNK: 8}
    tried_labels: list[str] = []

    def fake(candidate: list[dict[str, Any]], label: str) -> Reproduction:
        tried_labels.append(label)
        return Reproduction(candidate, label, 10, rates[label], [])

    best, tried = reproduce_best(schedule, SSE_STREAM, fake)
    assert best.label == AWAY and best.schedule[0]["attributes"] == {"timeout": 34} and tried_labels == [AWAY]
    rates[AWAY] = 6
    best, tried = reproduce_best(schedule, SSE_STREAM, fake)
    assert best.label == AS_SHRUNK and [r.failed for r in tried] == [6, 8]


def test_the_exit_status_says_whether_the_failure_reproduces_every_time() -> None:
    def status(found: bool, failed: int) -> int:
        return results.exit_status(
            {"found": {} if found else None, "reproduced": {"runs": 10, "failed": failed} if found else None}
        )

    assert status(True, 10) == 1
    assert status(True, 7) == 3 and status(True, 0) == 3  # intermittent, or not reproduced at all
    assert status(False, 0) == 0
