"""``faultproxy explore``: search fault schedules for the smallest one that breaks a client.

Runs :class:`~faultproxy.explore.search.Search`, printing each trial as it ends. When a schedule
breaks the property it writes, under ``OUT/<run-id>/``:

- ``scenario.yaml`` -- the smallest schedule as a ready scenario for this client, with the
  property as its expectation and the command that reproduces it;
- ``report/`` -- that scenario run three times through ``faultproxy run``'s own runner and
  report (``index.html``, ``report.json``, ``junit.xml``, ``summary.md``), which is the proof
  that the file reproduces the failure;
- ``explore.json`` and ``explore.md`` -- every trial: its schedule, verdict, outcomes and time.

Exit status: 0 when nothing broke the property within the budget, 1 when a failure was found
(its scenario reproduces in ``faultproxy run``), 2 for bad input.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import click
import yaml

from faultproxy.cli import BadInput

REPRODUCE_RUNS = 3


@click.command("explore")
@click.option("--client", required=True, help="The client to explore (a registered name).")
@click.option("--property", "prop_name", required=True,
              type=click.Choice(["no_silent_loss", "all_events_in_order", "no_hang", "resumed"]),
              help="What must hold (see docs/explore.md).")
@click.option("--budget", type=click.IntRange(1, 10_000), default=60, show_default=True,
              help="At most this many schedules are run (shrinking included).")
@click.option("--time", "time_s", type=click.FloatRange(1, 86_400), default=600.0, show_default=True,
              help="No schedule starts after this many seconds (shrinking included; the one running finishes).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the search and of the faults.")
@click.option("--faults", "fault_list", metavar="A,B,…", help="Draw only these fault types (default: every one).")
@click.option("--max-faults", type=click.IntRange(1, 5), default=3, show_default=True,
              help="Faults combined in one schedule, at most.")
@click.option("--confirm", type=click.IntRange(0, 10), default=2, show_default=True,
              help="A failing schedule is re-run this many more times and must fail every time.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("reports/explore"),
              show_default=True, help="Results go to OUT/<run-id>/.")
def explore(client: str, prop_name: str, budget: int, time_s: float, seed: int, fault_list: str | None,
            max_faults: int, confirm: int, out: Path) -> None:
    """Find the smallest fault schedule that breaks a client's PROPERTY, and write it as a scenario."""
    from faultproxy.clients import registry
    from faultproxy.explore.properties import PROPERTIES
    from faultproxy.explore.search import Search, Trial
    from faultproxy.explore.space import Unsupported, searchable

    registry.load_all()
    try:
        info = registry.get(client)
    except KeyError as error:
        raise click.BadParameter(error.args[0], param_hint="--client") from None
    available = info.available()
    if not available.ok:
        raise BadInput(f"client {client} is not available: {available.reason}; install: {available.install}")
    prop = PROPERTIES[prop_name]
    try:
        types = searchable([f.strip() for f in fault_list.split(",") if f.strip()] if fault_list
                           else (list(prop.fault_types) if prop.fault_types else None))
    except (KeyError, Unsupported) as error:
        raise click.BadParameter(str(error.args[0]), param_hint="--faults") from None

    started = dt.datetime.now().astimezone()
    run_dir = out / started.strftime("%Y%m%d-%H%M%S")
    click.echo(f"faultproxy explore: {client}, property {prop_name} ({prop.meaning}); {len(types)} fault types, "
               f"up to {max_faults} at once; budget {budget} schedules / {time_s:g} s; seed {seed}", err=True)

    def shown(trial: Trial) -> None:
        outcomes = ", ".join(f"{r['outcome']} {r['duration_s']:.1f}s" for r in trial.runs)
        click.echo(f"  #{trial.number:<3} {trial.phase:<6} {trial.verdict:<5} [{outcomes}] {_schedule_text(trial.schedule)}",
                   err=True)

    search = Search(client, prop, types, budget=budget, time_s=time_s, seed=seed, max_faults=max_faults,
                    confirm=confirm, on_trial=shown)
    found = search.run()
    elapsed = time.monotonic() - search.started
    summary = _summary(search, client, prop_name, seed, budget, time_s, elapsed, found)
    run_dir.mkdir(parents=True, exist_ok=True)
    if found is not None:
        scenario_path = run_dir / "scenario.yaml"
        scenario_path.write_text(_scenario_file(search, found, client, prop_name, seed, scenario_path), encoding="utf-8")
        summary["scenario"] = str(scenario_path)
        summary["reproduced"] = _reproduce(scenario_path, client, seed, run_dir / "report")
    (run_dir / "explore.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (run_dir / "explore.md").write_text(_markdown(summary), encoding="utf-8")
    click.echo(_headline(summary))
    click.echo(f"results: {run_dir}")
    if found is not None:
        raise SystemExit(1)


def _schedule_text(schedule: list[dict[str, Any]]) -> str:
    parts = []
    for fault in schedule:
        attributes = ",".join(f"{k}={v}" for k, v in sorted(fault["attributes"].items()))
        parts.append(f"{fault['type']}:{attributes}" if attributes else fault["type"])
    return " + ".join(parts)


def _summary(search: Any, client: str, prop: str, seed: int, budget: int, time_s: float, elapsed: float,
             found: Any) -> dict[str, Any]:
    runs = [r for t in search.trials for r in t.runs if r.get("outcome")]
    durations = [r["duration_s"] for r in runs]
    return {
        "schema": "faultproxy-explore/1", "client": client, "property": prop, "seed": seed,
        "budget": {"schedules": budget, "seconds": time_s},
        "schedules_tried": sum(1 for t in search.trials if t.verdict != "invalid"),
        "runs": len(runs), "elapsed_s": round(elapsed, 3),
        "run_seconds": {"min": min(durations, default=0), "max": max(durations, default=0),
                        "mean": round(sum(durations) / len(durations), 3) if durations else 0},
        "flaky": sum(1 for t in search.trials if t.verdict == "flaky"),
        "found": None if found is None else {
            "schedule": found.schedule, "faults": len(found.schedule), "trial": found.number,
            "why": found.runs[-1]["broken"], "text": _schedule_text(found.schedule)},
        "first_failure": next(({"trial": t.number, "schedule": t.schedule} for t in search.trials
                               if t.verdict == "fail"), None),
        "trials": [t.to_dict() for t in search.trials],
    }


def _scenario_file(search: Any, found: Any, client: str, prop: str, seed: int, path: Path) -> str:
    from faultproxy.explore.search import scenario_dict

    name = f"explore-{client}-{prop}".replace("_", "-")
    description = (f"found by faultproxy explore (seed {seed}): the smallest schedule that breaks {prop} "
                   f"for {client}")
    scenario = scenario_dict(name, client, search.prop, found.schedule, description)
    scenario["seed"] = seed
    header = (f"# {description}.\n# Why: {found.runs[-1]['broken']}\n"
              f"# Reproduce: faultproxy run {path} --clients {client}\n")
    return header + yaml.safe_dump({"scenarios": [scenario]}, sort_keys=False, allow_unicode=True, width=110)


def _reproduce(path: Path, client: str, seed: int, report_dir: Path) -> dict[str, Any]:
    """The written scenario, loaded from its file and run like ``faultproxy run`` does, a few times."""
    from faultproxy.aio import run as run_loop
    from faultproxy.provenance import environment
    from faultproxy.report import write_reports
    from faultproxy.scenarios import load_paths
    from faultproxy.scenarios.runner import build_report, plan, run_cells

    scenarios = [s.model_copy(update={"repetitions": REPRODUCE_RUNS}) for s in load_paths([str(path)])]
    cells, availability = plan(scenarios, [client])
    t0 = time.monotonic()
    started = dt.datetime.now().astimezone()
    results = run_loop(run_cells(cells, seed, report_dir, 1))
    report = build_report(report_dir.parent.name, started, time.monotonic() - t0, seed, scenarios, availability,
                          results, environment(jobs=1))
    write_reports(report, report_dir, latest=False)
    failed = sum(1 for r in results if not r.passed)
    return {"runs": len(results), "failed": failed, "outcomes": [r.outcome for r in results],
            "report": str(report_dir / "index.html")}


def _headline(summary: dict[str, Any]) -> str:
    tried = (f"{summary['schedules_tried']} schedules ({summary['runs']} runs, "
             f"{summary['run_seconds']['mean']:.1f} s each on average) in {summary['elapsed_s']:.0f} s")
    found = summary["found"]
    if found is None:
        return f"no schedule broke {summary['property']} for {summary['client']}: {tried}"
    again = summary.get("reproduced") or {}
    return (f"{summary['client']} breaks {summary['property']} under {found['text']} "
            f"({found['faults']} fault{'s' if found['faults'] != 1 else ''}); {tried}; "
            f"faultproxy run reproduced it in {again.get('failed', 0)} of {again.get('runs', 0)} runs")


def _markdown(summary: dict[str, Any]) -> str:
    lines = [f"# faultproxy explore: {summary['client']} / {summary['property']}", "", _headline(summary) + ".", ""]
    if summary["found"]:
        lines += [f"Why: {summary['found']['why']}", "", f"Scenario: `{summary.get('scenario')}`", ""]
    lines += ["| # | phase | verdict | runs (outcome, s) | schedule |", "|---|---|---|---|---|"]
    for t in summary["trials"]:
        runs = ", ".join(f"{r['outcome']} {r['duration_s']:.1f}" for r in t["runs"] if r.get("outcome"))
        lines.append(f"| {t['number']} | {t['phase']} | {t['verdict']} | {runs} | "
                     f"`{_schedule_text(t['schedule'])}` |")
    return "\n".join(lines) + "\n"
