"""What ``faultproxy explore`` checks: four properties, each judged on a ``faultproxy run`` cell.

A property fails only when the *client* is to blame, never the fault alone. A fault can destroy
data in a way no client can notice (``sse_drop`` loses an event from a stream that then ends
cleanly) -- that is a silent loss for every client alike and says nothing about this one. So each
trial's cell also carries ``matches_oracle`` (did the client hand over exactly what a spec-exact
parser finds in the bytes it was given?) and the oracle's verdict on every exchange (did the bytes
on the wire show that something went wrong?):

- ``no_silent_loss``: the client finished without an error while events were lost, *and* either
  the wire showed trouble (a cut body, a reset, broken framing, a refused status) or more events
  are missing than the delivered bytes lacked (the client lost events it was given);
- ``all_events_in_order``: the client completed, yet handed the application something other
  than exactly the events in the delivered bytes, in order (it dropped, merged, split, repeated
  or made up events);
- ``no_hang``: the client neither finished nor failed before the deadline, although it was given
  a read timeout;
- ``resumed``: with faults only on the first connection (the second is clean) and reconnects
  allowed, the client did not end up with every event exactly once (``ok`` or ``resumed``).

Each property also names the expectation a scenario file states, and a cell breaks the property
only when that expectation is unmet *and* the cell's verdict attributes the failure to the client
(``attribution``, docs/outcomes.md), so the scenario ``explore`` writes fails in ``faultproxy run``
for the same reason and its report blames the same party.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faultproxy.scenarios.model import OUTCOMES
from faultproxy.scenarios.oracle import NOTICEABLE


@dataclass(frozen=True)
class Property:
    name: str
    meaning: str
    expectation: Any  # as a scenario file writes it
    read_ms: float | None = None  # the client's read timeout in the trial
    reconnect: bool = False  # reconnects allowed, faults on connection 1 only
    fault_types: tuple[str, ...] | None = None  # the default search space (None: every searchable fault)

    @property
    def expectation_name(self) -> str:
        first = self.expectation[0]
        return first if isinstance(first, str) else next(iter(first))

    def broken(self, result: dict[str, Any]) -> str | None:
        """Why ``result`` (a cell) breaks this property through the client's fault; None if it does not."""
        stated = [e for e in result["expectations"] if e["name"] == self.expectation_name]
        if all(e["met"] for e in stated):
            return None  # the scenario file's own expectation holds: faultproxy run would pass it
        if result.get("attribution") != "client":
            return None  # the cell's own verdict blames the wire: the scenario would say so too
        if any(not e["met"] for e in result["expectations"] if e["name"] in SETUP):
            return None  # the cell did not test what its schedule says (a fault that never fired)
        evidence = result.get("evidence") or {}
        outcome, end = result["outcome"], evidence.get("end")
        parsed_right = next((e["met"] for e in result["expectations"] if e["name"] == "matches_oracle"), True)
        trouble = [x for x in evidence.get("exchanges", []) if _noticeable(x)]
        if self.name == "no_silent_loss":
            if outcome == "silent_loss" and (trouble or _lost_by_client(evidence)):
                why = "the wire showed it" if trouble else "the delivered bytes held events the client lost"
                return f"silent loss ({why}): {evidence.get('summary', '')}"
        elif self.name == "all_events_in_order":
            if end == "completed" and not parsed_right:
                return f"{outcome}: {evidence.get('received_vs_oracle', '')}"
        elif self.name == "no_hang":
            if outcome == "hung":
                return evidence.get("summary") or "hung"
        elif self.name == "resumed":
            if outcome not in ("ok", "resumed"):
                return f"{outcome}: {evidence.get('summary', '')}"
        return None


def _lost_by_client(evidence: dict[str, Any]) -> bool:
    """More events are missing from what the application got than from what the bytes held."""
    sent, delivered = evidence.get("sent"), evidence.get("delivered")
    if sent is None or delivered is None:
        return False
    return len(evidence.get("missing", [])) > max(0, sent - delivered)


def _noticeable(exchange: dict[str, Any]) -> bool:
    status = exchange.get("status")
    return NOTICEABLE.get(exchange.get("end", "open"), True) or status not in (None, 200, 204)


# the verdict's checks of the scenario itself (faultproxy.scenarios.verdict): a cell that fails one did not
# test what its schedule says -- a fault that never fired (bandwidth:rate=0, a no-op, next to the fault
# that mattered), a server that only refused -- so it says nothing about the client
SETUP = ("every fault fired", "the server streamed")

CUTS = (
    "drop_terminal_chunk",
    "early_end",
    "limit_data",
    "malformed_chunk",
    "random_data_then_close",
    "reset_peer",
    "sse_disconnect",
    "sse_stall",
    "truncate_chunk",
)

PROPERTIES = {
    p.name: p
    for p in (
        Property(
            "no_silent_loss",
            "every event arrives, or the client says something went wrong",
            ["no_silent_loss"],
        ),
        Property(
            "all_events_in_order",
            "the client hands over exactly the events in the bytes, in order",
            ["all_events_in_order"],
        ),
        Property(
            "no_hang",
            "the client finishes or fails before the deadline (it has a 2 s read timeout)",
            [{"outcome": [o for o in OUTCOMES if o != "hung"]}],
            read_ms=2000,
        ),
        Property(
            "resumed",
            "after a break on the first connection, the client resumes: every event exactly once",
            [{"outcome": ["ok", "resumed"]}],
            read_ms=2000,
            reconnect=True,
            fault_types=CUTS,
        ),
    )
}
