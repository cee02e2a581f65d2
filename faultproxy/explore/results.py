"""What ``faultproxy explore`` writes: the scenario file, its reproduction, ``explore.json`` / ``.md``.

The scenario is re-confirmed through ``faultproxy run``'s own runner and report, at least
:data:`MIN_REPRODUCE` times (:func:`faultproxy.explore.search.reproduce_best` also tries it with
its times moved away from the flip edge), and the rate is what the headline and the exit status
report: a failure that reproduces in every run, in some, or in none.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from faultproxy.clients import registry

MIN_REPRODUCE = 10
_PLAIN = re.compile(r"[\w@%+=:,./{}-]+")  # a command word that needs no quoting (placeholders included)
RELIABLE, INTERMITTENT, NONE_FOUND = 1, 3, 0  # explore's exit statuses (docs/cli.md)


def schedule_text(schedule: list[dict[str, Any]]) -> str:
    parts = []
    for fault in schedule:
        attributes = ",".join(f"{k}={v}" for k, v in sorted(fault["attributes"].items()))
        parts.append(f"{fault['type']}:{attributes}" if attributes else fault["type"])
    return " + ".join(parts) or "no fault at all"


def summary(
    search: Any, client: str, prop: str, seed: int, budget: int, time_s: float, elapsed: float, found: Any
) -> dict[str, Any]:
    runs = [r for t in search.trials for r in t.runs if r.get("outcome")]
    durations = [r["duration_s"] for r in runs]
    stream = search.stream
    return {
        "schema": "faultproxy-explore/2",
        "client": client,
        "property": prop,
        "seed": seed,
        "budget": {"schedules": budget, "seconds": time_s},
        "stream": None
        if stream is None
        else {
            "events": stream.events,
            "bytes": stream.bytes,
            "seconds": stream.seconds,
            "margin_s": round(search.margin_s, 3),
        },
        "schedules_tried": sum(1 for t in search.trials if t.verdict != "invalid"),
        "vetoed": sum(1 for t in search.trials if t.verdict == "invalid"),
        "runs": len(runs),
        "elapsed_s": round(elapsed, 3),
        "run_seconds": {
            "min": min(durations, default=0),
            "max": max(durations, default=0),
            "mean": round(sum(durations) / len(durations), 3) if durations else 0,
        },
        "flaky": sum(1 for t in search.trials if t.verdict == "flaky"),
        "found": None
        if found is None
        else {
            "schedule": found.schedule,
            "faults": len(found.schedule),
            "trial": found.number,
            "why": found.runs[-1]["broken"],
            "text": schedule_text(found.schedule),
        },
        "first_failure": next(
            ({"trial": t.number, "schedule": t.schedule} for t in search.trials if t.verdict == "fail"), None
        ),
        "trials": [t.to_dict() for t in search.trials],
    }


def reproduce_command(path: Path, client: str) -> str:
    """The ``faultproxy run`` command that reproduces the scenario, with what defines the client."""
    info = registry.get(client)
    if info.builtin:
        return f"faultproxy run {path} --clients {client}"
    if info.origin.startswith("--client-cmd"):
        command = " ".join(part if _PLAIN.fullmatch(part) else shlex.quote(part) for part in info.command)
        return (
            f"cd {shlex.quote(str(info.here))} && faultproxy run {path} --client-cmd "
            f"{shlex.quote(f'{client}={command}')} --client-protocol {info.output}"
        )
    return f"faultproxy run {path} --config {shlex.quote(info.file)} --clients {client}"


def scenario_file(
    prop: Any, schedule: list[dict[str, Any]], why: str, client: str, seed: int, path: Path
) -> str:
    from faultproxy.explore.search import scenario_dict

    name = f"explore-{client}-{prop.name}".replace("_", "-")
    description = (
        f"found by faultproxy explore (seed {seed}): the smallest schedule that breaks {prop.name} "
        f"for {client}"
    )
    scenario = scenario_dict(name, client, prop, schedule, description)
    scenario["seed"] = seed
    header = f"# {description}.\n# Why: {why}\n# Reproduce: {reproduce_command(path, client)}\n"
    return header + yaml.safe_dump({"scenarios": [scenario]}, sort_keys=False, allow_unicode=True, width=110)


def reproduce(
    path: Path, client: str, seed: int, runs: int, report_dir: Path, run_id: str, prop: Any
) -> dict[str, Any]:
    """The scenario file, loaded and run ``runs`` times as ``faultproxy run`` runs it, with its report.
    A run reproduces the failure when the property's expectation is unmet, the verdict blames the
    client and the cell tested what it says (every fault fired)."""
    from faultproxy.aio import run as run_loop
    from faultproxy.provenance import environment
    from faultproxy.report import write_reports
    from faultproxy.scenarios import load_paths
    from faultproxy.scenarios.runner import build_report, plan, run_cells

    scenarios = [s.model_copy(update={"repetitions": runs}) for s in load_paths([str(path)])]
    cells, availability = plan(scenarios, [client])
    t0 = time.monotonic()
    started = dt.datetime.now().astimezone()
    results = run_loop(run_cells(cells, seed, report_dir, 1))
    report = build_report(
        run_id, started, time.monotonic() - t0, seed, scenarios, availability, results, environment(jobs=1)
    )
    write_reports(report, report_dir, latest=False)
    failed = sum(1 for r in results if _reproduced(r.to_dict(), prop))
    return {
        "runs": len(results),
        "failed": failed,
        "outcomes": [r.outcome for r in results],
        "report": str(report_dir / "index.html"),
    }


def _reproduced(result: dict[str, Any], prop: Any) -> bool:
    from faultproxy.explore.properties import SETUP

    expectations = result["expectations"]
    unmet = any(not e["met"] for e in expectations if e["name"] == prop.expectation_name)
    tested = all(e["met"] for e in expectations if e["name"] in SETUP)
    return unmet and tested and result.get("attribution") == "client"


def write_found(search: Any, found: Any, client: str, seed: int, runs: int, run_dir: Path) -> dict[str, Any]:
    """Write the scenario and re-confirm it (:func:`~faultproxy.explore.search.reproduce_best`):
    ``scenario.yaml`` and ``report/`` are the winner's; the ``reproduced`` part of the summary."""
    from faultproxy.explore.search import Reproduction, reproduce_best

    why = found.runs[-1]["broken"]
    final = run_dir / "scenario.yaml"

    def attempt(schedule: list[dict[str, Any]], label: str) -> Reproduction:
        folder = run_dir / ("moved" if label != "as shrunk" else "shrunk")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "scenario.yaml"
        path.write_text(scenario_file(search.prop, schedule, why, client, seed, final), encoding="utf-8")
        done = reproduce(path, client, seed, runs, folder / "report", run_dir.name, search.prop)
        return Reproduction(schedule, label, done["runs"], done["failed"], done["outcomes"], done["report"])

    best, tried = reproduce_best(found.schedule, search.stream, attempt)
    chosen = run_dir / ("moved" if best.label != "as shrunk" else "shrunk")
    shutil.move(str(chosen / "scenario.yaml"), final)
    shutil.move(str(chosen / "report"), run_dir / "report")
    for folder in ("moved", "shrunk"):  # the other reproduction's files: its rate stays in explore.json
        shutil.rmtree(run_dir / folder, ignore_errors=True)
    return {
        **best.to_dict(),
        "report": str(run_dir / "report" / "index.html"),
        "text": schedule_text(best.schedule),
        "tried": [r.to_dict() | {"report": None} for r in tried],
    }


def exit_status(summary: dict[str, Any]) -> int:
    again = summary.get("reproduced")
    if summary["found"] is None or again is None:
        return NONE_FOUND
    return RELIABLE if again["runs"] and again["failed"] == again["runs"] else INTERMITTENT


def headline(summary: dict[str, Any]) -> str:
    tried = (
        f"{summary['schedules_tried']} schedules ({summary['runs']} runs, "
        f"{summary['run_seconds']['mean']:.1f} s each on average) in {summary['elapsed_s']:.0f} s"
    )
    found = summary["found"]
    if found is None:
        return f"no schedule broke {summary['property']} for {summary['client']}: {tried}"
    again = summary["reproduced"]
    moved = (
        f" (its times moved away from the flip edge: {again['text']})"
        if again["label"] != "as shrunk"
        else ""
    )
    rate = f"faultproxy run reproduced it in {again['failed']} of {again['runs']} runs"
    if exit_status(summary) == INTERMITTENT:
        rate += " -- intermittent: timing decides it, so it is not a reliable reproduction"
    return (
        f"{summary['client']} breaks {summary['property']} under {found['text']} "
        f"({found['faults']} fault{'s' if found['faults'] != 1 else ''}){moved}; {tried}; {rate}"
    )


def markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"# faultproxy explore: {summary['client']} / {summary['property']}",
        "",
        headline(summary) + ".",
        "",
    ]
    if summary["found"]:
        lines += [f"Why: {summary['found']['why']}", "", f"Scenario: `{summary.get('scenario')}`", ""]
        lines += [
            f"- {r['label']}: `{schedule_text(r['schedule'])}` failed {r['rate']} runs"
            for r in summary["reproduced"]["tried"]
        ] + [""]
    lines += ["| # | phase | verdict | runs (outcome, s) | schedule |", "|---|---|---|---|---|"]
    for t in summary["trials"]:
        runs = ", ".join(f"{r['outcome']} {r['duration_s']:.1f}" for r in t["runs"] if r.get("outcome"))
        why = next((r["invalid"] for r in t["runs"] if r.get("invalid")), "")
        lines.append(
            f"| {t['number']} | {t['phase']} | {t['verdict']} | {runs or why} | "
            f"`{schedule_text(t['schedule'])}` |"
        )
    return "\n".join(lines) + "\n"
