"""The schedules explore draws: valid, bounded, reproducible from a seed."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings

from faultproxy.explore.properties import PROPERTIES
from faultproxy.explore.search import scenario_dict
from faultproxy.explore.space import MAX_JITTER_MS, MAX_MS, SSE_STREAM, Unsupported, schedules, searchable
from faultproxy.faults import REGISTRY
from faultproxy.scenarios.loader import ScenarioError, parse_scenario

TYPES = searchable()


def test_every_fault_that_needs_no_text_value_is_searchable() -> None:
    assert set(REGISTRY) - set(TYPES) == {"remove_header", "set_header"}
    with pytest.raises(Unsupported, match="cannot be drawn"):
        searchable(["set_header"])
    with pytest.raises(KeyError, match="unknown fault type"):
        searchable(["no_such_fault"])


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(schedules(TYPES, SSE_STREAM, 3))
def test_a_drawn_schedule_is_a_scenario_or_a_clear_error(schedule: list[dict[str, Any]]) -> None:
    assert 1 <= len(schedule) <= 3
    for fault in schedule:
        for name, value in fault["attributes"].items():
            if "jitter" in name:
                assert value <= MAX_JITTER_MS
            elif name.endswith("_ms") or name in ("latency", "pause", "delay", "timeout"):
                assert value <= MAX_MS, (fault["type"], name, value)
        if fault["type"] == "sse_split":
            assert fault["attributes"]["gap_ms"] <= 10  # ~450 one-byte pieces: 4.5 s at most
        if fault["type"] == "slow_reader":
            assert fault["attributes"]["rate"] in (0, 1000, 4000) and fault["attributes"]["pause_every"] >= 64
    try:
        scenario = parse_scenario(scenario_dict("t", "raw", PROPERTIES["no_hang"], schedule))
    except ScenarioError as error:  # e.g. sse_corrupt with none of event_index / every / fraction
        assert "faults" in str(error)
    else:
        assert [f.type for f in scenario.faults] == [f["type"] for f in schedule]


def test_the_same_seed_draws_the_same_schedules() -> None:
    def draw(value: int) -> list[Any]:
        out: list[Any] = []

        @settings(max_examples=20, database=None, deadline=None, suppress_health_check=list(HealthCheck))
        @seed(value)
        @given(schedules(TYPES, SSE_STREAM, 3))
        def collect(schedule: list[dict[str, Any]]) -> None:
            out.append(schedule)

        collect()
        return out

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)


def test_resumed_puts_faults_on_the_first_connection_only() -> None:
    prop = PROPERTIES["resumed"]
    scenario = scenario_dict(
        "t", "raw", prop, [{"type": "sse_disconnect", "attributes": {"after_events": 2}, "connections": [1]}]
    )
    parsed = parse_scenario(scenario)
    assert parsed.reconnect is not None and parsed.faults[0].connections == (1,)
