"""When a cell breaks a property through the client's fault, and when the fault alone is to blame."""

from __future__ import annotations

from typing import Any

from faultproxy.explore.properties import PROPERTIES


def cell(
    outcome: str,
    *,
    end: str = "completed",
    wire: str = "clean",
    parsed_right: bool = True,
    met: bool = False,
    delivered: int = 10,
    missing: int = 1,
    attribution: str = "client",
    fired: bool = True,
) -> dict[str, Any]:
    return {
        "outcome": outcome,
        "attribution": attribution,
        "expectations": [
            {"name": name, "met": met, "detail": ""}
            for name in ("no_silent_loss", "all_events_in_order", "outcome")
        ]
        + [
            {"name": "every fault fired", "met": fired},
            {"name": "matches_oracle", "met": parsed_right, "detail": ""},
        ],
        "evidence": {
            "end": end,
            "summary": "s",
            "received_vs_oracle": "r",
            "sent": 10,
            "delivered": delivered,
            "missing": [str(n) for n in range(missing)],
            "exchanges": [{"status": 200, "end": wire}],
        },
    }


def test_silent_loss_is_the_clients_fault_only_if_the_wire_showed_it_or_its_parser_lost_events() -> None:
    prop = PROPERTIES["no_silent_loss"]
    # e.g. sse_drop: the bytes lack the event, the stream ends cleanly; no client could notice
    assert prop.broken(cell("silent_loss", wire="clean", delivered=9)) is None
    # an event that is not one on the wire (a field typo) and the client parsed the rest differently
    assert prop.broken(cell("silent_loss", wire="clean", delivered=9, parsed_right=False)) is None
    assert "the wire showed it" in prop.broken(cell("silent_loss", wire="no_terminator", delivered=9))
    assert "events the client lost" in prop.broken(cell("silent_loss", delivered=10, parsed_right=False))
    assert prop.broken(cell("error", wire="rst")) is None


def test_order_is_the_clients_fault_when_it_completed_with_other_events_than_the_bytes_hold() -> None:
    prop = PROPERTIES["all_events_in_order"]
    assert prop.broken(cell("reordered")) is None  # an sse_reorder fault, rightly passed on
    assert prop.broken(cell("silent_loss", parsed_right=False)) is not None
    assert prop.broken(cell("error", end="error", parsed_right=False)) is None  # it said so
    # the client's ids differ from the bytes', but the scenario's expectation holds: run would pass it
    assert prop.broken(cell("ok", parsed_right=False, met=True)) is None


def test_hang_and_resume() -> None:
    assert PROPERTIES["no_hang"].broken(cell("hung", end="hung", wire="open")) is not None
    assert PROPERTIES["no_hang"].broken(cell("error", end="timeout", wire="open")) is None
    assert PROPERTIES["resumed"].broken(cell("resumed")) is None
    assert PROPERTIES["resumed"].broken(cell("silent_loss")) is not None


def test_a_property_breaks_only_where_the_cells_verdict_blames_the_client() -> None:
    """explore's claim and the written scenario's report must name the same party (review2 #20)."""
    assert PROPERTIES["resumed"].broken(cell("silent_loss", attribution="wire")) is None
    assert PROPERTIES["no_hang"].broken(cell("hung", end="hung", wire="open", attribution="wire")) is None
    assert (
        PROPERTIES["no_silent_loss"].broken(
            cell("silent_loss", wire="no_terminator", delivered=9, attribution="wire")
        )
        is None
    )


def test_a_cell_where_a_fault_never_fired_breaks_nothing() -> None:
    """bandwidth:rate=0 (a no-op) beside the fault that mattered: the cell failed 'every fault fired', so
    the scenario it would write does not test what it says (and a capture artefact blamed the client)."""
    prop = PROPERTIES["no_silent_loss"]
    assert prop.broken(cell("silent_loss", wire="no_terminator", delivered=9)) is not None
    assert prop.broken(cell("silent_loss", wire="no_terminator", delivered=9, fired=False)) is None
