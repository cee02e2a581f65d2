"""``faultproxy run``: the main job — scenarios × clients through faults, then the report.

With no paths it runs the default suite (``scenarios/`` in the repository) with every
available client. It shows progress while cells run, prints the outcome matrix, writes
``reports/<run-id>/`` (``index.html``, ``report.json``, ``junit.xml``, ``summary.md``) and
``reports/latest``, and exits 1 when an expectation is unmet — a client's recorded known
behaviour counts as met while it holds; a change in it fails the run.

``--repeat N`` runs every cell N times over. A cell whose outcome (or verdict) varies between
its runs is *flaky*: it is listed with its rate ("passed 7 of 10 (ok 7, silent loss 3)"), never
as a pass or a fail. Exit status: 0 every cell passed, 1 some cell failed every time it ran,
3 no cell failed but some were flaky.

Ctrl-C stops the cells still running (their clients, proxies and servers with them), writes the
report of the cells that finished, marked as interrupted, and exits 130. An ``--out`` that cannot
be written is an error before any cell runs; a report that cannot be written at the end (a full
disk) is said so, with the results still printed, and exits 1.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from faultproxy.aio import run as run_loop
from faultproxy.private import make_dirs
from faultproxy.scenarios.result import CellResult

STYLE = {"ok": "green", "resumed": "cyan", "error": "yellow", "hung": "magenta",
         "duplicated": "blue", "reordered": "blue", "silent_loss": "bold white on red"}
SHORT = {"ok": "ok", "resumed": "res", "error": "err", "hung": "HUNG", "duplicated": "dup",
         "reordered": "ord", "silent_loss": "LOSS"}


FLAKY_EXIT = 3  # no cell failed, but some cell's outcome varied between its runs


def _matrix(report: dict[str, Any], console: Console) -> None:
    """Scenarios down, clients across (numbered, with a legend, so 13 clients fit a terminal); a
    flaky cell shows how many of its runs passed."""
    from faultproxy.report.model import build_matrix

    matrix = build_matrix(report)
    clients = [c["name"] for c in matrix.clients if any(matrix.cell(s["name"], c["name"]).ran for s in matrix.scenarios)]
    table = Table(title="outcomes: ✓ passed  ✗ unmet expectation  ~ known behaviour  ≈ flaky (runs passed)",
                  show_lines=False)
    table.add_column("scenario", no_wrap=True, max_width=40)
    for number, _ in enumerate(clients, start=1):
        table.add_column(str(number), justify="center", no_wrap=True)
    for scenario, _ in matrix.rows():
        row = []
        for client in clients:
            cell = matrix.cell(scenario["name"], client)
            if not cell.ran:
                row.append("")
                continue
            name = cell.outcome or ""
            if cell.flaky:
                mark = f"≈{cell.runs_passed}/{len(cell.results)}"
            else:
                mark = "~" if cell.known else ("✓" if cell.passed else "✗")
            row.append(f"[{STYLE.get(name, '')}]{SHORT.get(name, name)}[/]{mark}")
        if any(row):
            table.add_row(scenario["name"], *row)
    console.print(table)
    console.print("  ".join(f"{n}={c}" for n, c in enumerate(clients, start=1)))


@click.command("run")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--clients", "client_list", metavar="A,B,…", help="Only these clients (default: every available one).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"), show_default=True,
              help="Reports go to OUT/<run-id>/, and OUT/latest points at the newest.")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=None,
              help="Cells run at once (default: 2 × CPU cores).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for fault randomness (a scenario's own seed wins).")
@click.option("-k", "select", metavar="TEXT", help="Only scenarios whose name contains TEXT.")
@click.option("--repeat", type=click.IntRange(1, 1000), default=1, show_default=True, metavar="N",
              help="Run every cell N times; a cell whose outcome varies is reported flaky, with its rate.")
def run(paths: tuple[Path, ...], client_list: str | None, out: Path, jobs: int | None, seed: int,
        select: str | None, repeat: int) -> None:
    """Run scenario files (default: the built-in suite) and write the report."""
    from faultproxy.clients import registry
    from faultproxy.provenance import environment
    from faultproxy.report import write_reports
    from faultproxy.report.model import interrupted_note, totals
    from faultproxy.scenarios import ScenarioError, load_paths
    from faultproxy.scenarios.runner import DEFAULT_SUITE, build_report, plan

    console = Console(stderr=True)
    registry.load_all()
    try:
        scenarios = load_paths([str(p) for p in (paths or (DEFAULT_SUITE,))])
    except ScenarioError as error:
        raise click.ClickException(str(error)) from None
    if select:
        scenarios = [s for s in scenarios if select in s.name]
    if not scenarios:
        raise click.UsageError("no scenarios to run")
    wanted = None
    if client_list:
        wanted = [c.strip() for c in client_list.split(",") if c.strip()]
        unknown = sorted(set(wanted) - set(registry.names()))
        if unknown:
            raise click.BadParameter(f"unknown client(s) {', '.join(unknown)}; known: {', '.join(registry.names())}",
                                     param_hint="--clients")
    cells, availability = plan(scenarios, wanted, repeat)
    for name, avail in availability.items():
        if not avail.ok:
            console.print(f"[yellow]client {name} unavailable:[/] {avail.reason} — install: {avail.install}")
    if not cells:
        raise click.ClickException("no cell to run: no available client fits these scenarios")

    started = dt.datetime.now().astimezone()
    run_id = started.strftime("%Y%m%d-%H%M%S")
    run_dir = out / run_id
    try:  # before any cell runs: a report that cannot be written is said now, not after the run
        make_dirs(run_dir)
    except OSError as error:
        raise click.ClickException(f"cannot write the report to {run_dir}: {error.strerror or error}") from None
    jobs = jobs or 2 * (os.cpu_count() or 1)
    console.print(f"faultproxy run {run_id}: {len(scenarios)} scenarios, {len(availability)} clients, "
                  f"{len(cells)} cells, {jobs} at a time")
    t0 = time.monotonic()
    results, interrupted = _run_with_progress(cells, seed, run_dir, jobs, console)
    if interrupted:
        finished = {(r.scenario, r.client, r.repetition) for r in results}
        interrupted = {"cells_planned": len(cells), "cells_done": len(results),
                       "not_run": [c.key for c in cells
                                   if (c.scenario.name, c.client, c.repetition) not in finished]}
    report = build_report(run_id, started, time.monotonic() - t0, seed, scenarios, availability, results,
                          environment(jobs=jobs), repeat=repeat, interrupted=interrupted or None)
    try:
        paths = write_reports(report, run_dir)
    except OSError as error:  # a full disk, a folder gone: the results are still printed below
        paths = None
        click.echo(f"error: cannot write the report to {run_dir}: {error.strerror or error}", err=True)
    _matrix(report, Console())
    blame = totals(report).blame_line()
    if blame:
        click.echo(f"not ok, by who is to blame (wire: a fault or the server; client: its own doing): {blame}")
    flaky = {(f["scenario"], f["client"]): f for f in report["flaky"]}
    failed = [r for r in results if not r.passed and (r.scenario, r.client) not in flaky]
    summaries = {(r["scenario"], r["client"], r["repetition"]): r["evidence"]["summary"]
                 for r in report["results"]}  # as written: secrets masked (see build_report)
    for r in failed:
        click.echo(f"✗ {r.scenario} / {r.client}: {r.outcome} — {summaries[(r.scenario, r.client, r.repetition)]}")
    for (scenario, client), f in flaky.items():
        click.echo(f"≈ {scenario} / {client}: flaky — {f['rate']}")
    steady = len(results) - sum(f["runs"] for f in flaky.values())
    click.echo(f"{steady - len(failed)} of {steady} runs passed"
               + (f", {len(flaky)} cell(s) flaky (neither passed nor failed)" if flaky else "")
               + (f"; report: {paths['html']}  (also {paths['json'].name}, {paths['junit'].name}, "
                  f"{paths['markdown'].name}; {out / 'latest'})" if paths is not None else "; no report written"))
    if interrupted:
        click.echo(interrupted_note(report), err=True)
        raise SystemExit(130)  # as a shell reports a command ended by Ctrl-C
    if failed or paths is None:
        raise SystemExit(1)
    if flaky:
        raise SystemExit(FLAKY_EXIT)


def _run_with_progress(cells: list[Any], seed: int, run_dir: Path, jobs: int,
                       console: Console) -> tuple[list[CellResult], bool]:
    """Run the cells with a progress bar (on a terminal) or a line per finished cell (in a CI log).

    Ctrl-C stops the cells still running — their clients, proxies and servers are stopped by the
    cancellation — and returns the results of those that finished, with ``True``."""
    from faultproxy.scenarios.runner import run_cells

    finished: dict[int, CellResult] = {}
    order = {id(cell): i for i, cell in enumerate(cells)}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[last]}"), console=console, transient=False,
                  disable=not console.is_terminal) as progress:
        task = progress.add_task("cells", total=len(cells), last="")

        def done(cell: Any, result: CellResult) -> None:
            finished[order[id(cell)]] = result
            line = f"{cell.key}: {result.outcome}{'' if result.passed else ' ✗'}"
            progress.update(task, advance=1, last=line)
            if not console.is_terminal:
                console.print(f"[{len(finished)}/{len(cells)}] {line}", highlight=False, markup=False)

        try:
            return run_loop(run_cells(cells, seed, run_dir, jobs, done)), False
        except KeyboardInterrupt:
            console.print("interrupted: the cells still running were stopped; writing the report of those that "
                          "finished", highlight=False, markup=False)
            return [finished[i] for i in sorted(finished)], True
