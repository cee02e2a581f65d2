"""Scenarios and verdicts: what to run (YAML scenario files) and how each cell is judged.

- :mod:`.model` / :mod:`.loader` -- scenario files, validated (pydantic) with ``FILE:LINE`` errors
  that say what is allowed;
- :mod:`.oracle` -- from a proxy capture: the events a spec-exact client must have seen in the
  delivered bytes, and how each body ended (noticeably or not);
- :mod:`.events` -- sent / delivered / received as one kind of item (ground truth from the
  servers, transcripts from the clients, projections into the SDK clients' vocabulary);
- :mod:`.match` -- matching event sequences (by id, else by content);
- :mod:`.truth` -- ground truth a server log lacks: a ``url:`` server's (what the proxy read from
  it) and a stand-in for a stream a fault answered for;
- :mod:`.verdict` -- :func:`classify`: one cell's :class:`~.result.CellResult` (its ``to_dict()`` is
  the report's ``result`` object, ``faultproxy/report/schema.json``), with the outcome precedence
  documented in its module docstring.

Every outcome, the three views (sent / delivered / received) and attribution are defined in
``docs/outcomes.md``.

Scenario files (``scenarios/*.yaml``) -- the format, every field, expectation and outcome, with
examples -- are documented in ``docs/scenarios.md``; ``faultproxy scenarios schema`` gives their
JSON Schema (:mod:`.schema`) and ``faultproxy scenarios check`` validates them.

Call sequence for a runner (one cell = scenario × client × repetition)::

    from faultproxy.scenarios import load_paths, classify
    from faultproxy.proxy.server import Proxy
    from faultproxy.clients import arun_client

    for scenario in load_paths(["scenarios/"]):                    # ScenarioError on bad files
        for client in scenario.client_names():
            for rep in range(scenario.repetitions):
                t0 = time.monotonic()
                async with scenario.server.build() as server:          # (a url: server is not built)
                    upstream = f"http://127.0.0.1:{server.port}"
                    async with Proxy(upstream, faults=list(scenario.faults),
                                     seed=scenario.seed if scenario.seed is not None else run_seed,
                                     capture=cell_dir / "capture.jsonl") as proxy:
                        request = scenario.client_request(client, proxy.url)
                        transcript = await arun_client(client, request)
                        fired = list(proxy.evidence)
                result = classify(server, cell_dir / "capture.jsonl", transcript, fired,
                                  scenario.expectations, scenario.known_for(client),
                                  scenario=scenario.name, client=client, repetition=rep, t0=t0)
        report["scenarios"].append(scenario.as_report_dict())

``classify`` takes the server object itself (its ``.sent`` / ``.log`` and the stream it meant to
send; None for a ``url:`` server), the capture path (or an :class:`Oracle`, or None), the
transcript, ``proxy.evidence``; the proxy is closed first so the capture is complete. The lab
client's transcript converts with :func:`transcript_from_lab`.
"""

from faultproxy.scenarios.events import (
    GroundTruth,
    Item,
    ground_truth,
    project,
    received_items,
    sent_items,
    transcript_from_lab,
)
from faultproxy.scenarios.loader import ScenarioError, load_file, load_paths, load_text, parse_scenario
from faultproxy.scenarios.match import Match, match
from faultproxy.scenarios.model import EXPECTATIONS, OUTCOMES, Expectation, Known, Scenario, ServerSpec
from faultproxy.scenarios.oracle import DeliveredExchange, Oracle, oracle_from_capture, oracle_from_records
from faultproxy.scenarios.result import CellEvidence, CellResult, ClientError, ExpectationResult
from faultproxy.scenarios.verdict import capture_excerpt, classify

__all__ = [
    "EXPECTATIONS",
    "OUTCOMES",
    "CellEvidence",
    "CellResult",
    "ClientError",
    "DeliveredExchange",
    "Expectation",
    "ExpectationResult",
    "GroundTruth",
    "Item",
    "Known",
    "Match",
    "Oracle",
    "Scenario",
    "ScenarioError",
    "ServerSpec",
    "capture_excerpt",
    "classify",
    "ground_truth",
    "load_file",
    "load_paths",
    "load_text",
    "match",
    "oracle_from_capture",
    "oracle_from_records",
    "parse_scenario",
    "project",
    "received_items",
    "sent_items",
    "transcript_from_lab",
]
