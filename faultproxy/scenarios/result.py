"""One cell's result, typed: what :func:`~faultproxy.scenarios.verdict.classify` returns and the
runner, the CLI and ``build_report`` pass on.

The report's ``results[]`` object (``faultproxy/report/schema.json``) is :meth:`CellResult.to_dict`:
the same names, end to end. A fault's evidence keeps the names the fault engine gives it
(:class:`faultproxy.faults.base.Evidence`: ``fault``, ``fault_type``, ``conn``, ``exchange``,
``event_index``, ``offset``, ``detail``, ``t``), in the proxy's capture as in the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class ExpectationResult:
    """One expectation, met or not, with the figure or difference that decided it."""

    name: str
    met: bool
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "met": self.met, "detail": self.detail}


@dataclass(frozen=True)
class ClientError:
    """What the client reported when it failed: its error's type (``package.Class``) and message."""

    type: str
    message: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message}


@dataclass
class CellEvidence:
    """Why the cell has its outcome: counts and labels of the three comparisons
    (``docs/outcomes.md``), the client's error, the faults that fired, the connection attempts."""

    summary: str
    received: int = 0
    missing: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    reordered: list[str] = field(default_factory=list)
    garbled: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    oracle_vs_sent: str = ""
    received_vs_oracle: str = ""
    error: ClientError | None = None
    faults_fired: list[dict[str, Any]] = field(default_factory=list)  # each a fault's Evidence.as_dict()
    attempts: list[dict[str, Any]] = field(default_factory=list)
    end: str = ""
    matched_by: str = "content"
    # present only when known (None: left out of the report)
    sent: int | None = None
    delivered: int | None = None
    exchanges: list[dict[str, Any]] | None = None
    known_recorded: str | None = None
    projection: str | None = None
    message: dict[str, Any] | None = None  # LLM clients: the message received beside the truth (llm_message)

    OPTIONAL = ("sent", "delivered", "exchanges", "known_recorded", "projection", "message")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in self.OPTIONAL and value is None:
                continue
            out[f.name] = value.to_dict() if isinstance(value, ClientError) else value
        return out


@dataclass
class CellResult:
    """One scenario × client × repetition, judged (``docs/outcomes.md``)."""

    scenario: str
    client: str
    repetition: int
    outcome: str
    passed: bool
    expectations: list[ExpectationResult]
    evidence: CellEvidence
    client_version: str | None = None
    attribution: str | None = None  # "wire" | "client" | None (ok, resumed, or bytes unknown)
    known: str | None = None  # the recorded known behaviour this cell matched
    known_changed: bool = False
    duration_s: float = 0.0
    timeline: dict[str, Any] | None = None
    capture_excerpt: str | None = None
    transcript: dict[str, Any] | None = None
    path: str | None = None  # what stood between client and server, when a real intermediary did

    @property
    def unmet(self) -> list[ExpectationResult]:
        return [e for e in self.expectations if not e.met]

    def to_dict(self) -> dict[str, Any]:
        """The report's ``result`` object."""
        out: dict[str, Any] = {
            "scenario": self.scenario,
            "client": self.client,
            "client_version": self.client_version,
            "repetition": self.repetition,
            "outcome": self.outcome,
            "attribution": self.attribution,
            "passed": self.passed,
            "known": self.known,
            "known_changed": self.known_changed,
            "duration_s": self.duration_s,
            "expectations": [e.to_dict() for e in self.expectations],
            "evidence": self.evidence.to_dict(),
        }
        if self.timeline is not None:
            out["timeline"] = self.timeline
        out["capture_excerpt"] = self.capture_excerpt
        out["transcript"] = self.transcript
        if self.path is not None:
            out["path"] = self.path
        return out
