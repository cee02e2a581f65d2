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
import re
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from faultproxy.aio import run as run_loop
from faultproxy.cli import BadInput
from faultproxy.clients.cli import load_own_clients, own_client_options
from faultproxy.private import make_dirs
from faultproxy.scenarios.result import CellResult

FLAKY_EXIT = 3  # no cell failed, but some cell's outcome varied between its runs (run --repeat)


@click.command("run")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--clients", "client_list", metavar="A,B,…", help="Only these clients (default: every available one)."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Reports go to OUT/<run-id>/, and OUT/latest points at the newest.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 64),
    default=None,
    help="Cells run at once (default: 2 × CPU cores).",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed for fault randomness (a scenario's own seed wins).",
)
@click.option("-k", "select", metavar="TEXT", help="Only scenarios whose name contains TEXT.")
@click.option(
    "--repeat",
    type=click.IntRange(1, 1000),
    default=1,
    show_default=True,
    metavar="N",
    help="Run every cell N times; a cell whose outcome varies is reported flaky, with its rate.",
)
@own_client_options(
    "repeatable; it runs in every scenario it can read, and only such clients run unless "
    "--clients names more."
)
@click.option(
    "--shard",
    metavar="K/N",
    help="Run only shard K of N, a deterministic slice of the cells; "
    "`faultproxy report merge` joins the shards' reports.",
)
@click.option(
    "--run-id", help="The run's id and folder name (default: the start time); give every shard the same."
)
def run(
    paths: tuple[Path, ...],
    client_list: str | None,
    out: Path,
    jobs: int | None,
    seed: int,
    select: str | None,
    repeat: int,
    client_cmds: tuple[str, ...],
    client_protocol: str,
    config_file: Path | None,
    shard: str | None,
    run_id: str | None,
) -> None:
    """Run scenario files (default: the built-in suite) and write the report."""
    from faultproxy.clients import registry
    from faultproxy.provenance import environment
    from faultproxy.report import write_reports
    from faultproxy.report.merge import in_shard, parse_shard
    from faultproxy.scenarios import load_paths
    from faultproxy.scenarios.runner import DEFAULT_SUITE, build_report, plan

    console = Console(stderr=True)
    own = load_own_clients(config_file, client_cmds, client_protocol)
    scenarios = load_paths([str(p) for p in (paths or (DEFAULT_SUITE,))])
    if select:
        scenarios = [s for s in scenarios if select in s.name]
    if not scenarios:
        raise click.UsageError("no scenarios to run")
    wanted = list(own) if own else None
    if client_list:
        wanted = (wanted or []) + [c.strip() for c in client_list.split(",") if c.strip()]
        unknown = sorted(set(wanted) - set(registry.names()))
        if unknown:
            raise click.BadParameter(
                f"unknown client(s) {', '.join(unknown)}; known: {', '.join(registry.names())}",
                param_hint="--clients",
            )
    cells, availability = plan(scenarios, wanted, repeat, own)
    for name, avail in availability.items():
        if not avail.ok:
            console.print(f"[yellow]client {name} unavailable:[/] {avail.reason} — install: {avail.install}")
    if not cells:
        raise BadInput("no cell to run: no available client fits these scenarios")
    part = parse_shard(shard) if shard else None
    if part is not None:
        everything = len(cells)
        cells = [c for c in cells if in_shard(c.key, part)]
        console.print(f"shard {part[0]}/{part[1]}: {len(cells)} of {everything} cells")

    started = dt.datetime.now().astimezone()
    run_id = run_id or started.strftime("%Y%m%d-%H%M%S")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", run_id):
        raise click.BadParameter(
            f"{run_id!r}: letters, digits, _ . - only (it names a folder)", param_hint="--run-id"
        )
    run_dir = out / (run_id if part is None else f"{run_id}-shard-{part[0]}-of-{part[1]}")
    try:  # before any cell runs: a report that cannot be written is said now, not after the run
        make_dirs(run_dir)
    except OSError as error:
        raise BadInput(f"cannot write the report into {run_dir}: {error.strerror or error}") from None
    jobs = jobs or 2 * (os.cpu_count() or 1)
    console.print(
        f"faultproxy run {run_id}: {len(scenarios)} scenarios, {len(availability)} clients, "
        f"{len(cells)} cells, {jobs} at a time"
    )
    t0 = time.monotonic()
    results, interrupted = _run_with_progress(cells, seed, run_dir, jobs, console)
    if interrupted:
        finished = {(r.scenario, r.client, r.repetition) for r in results}
        interrupted = {
            "cells_planned": len(cells),
            "cells_done": len(results),
            "not_run": [c.key for c in cells if (c.scenario.name, c.client, c.repetition) not in finished],
        }
    report = build_report(
        run_id,
        started,
        time.monotonic() - t0,
        seed,
        scenarios,
        availability,
        results,
        environment(jobs=jobs),
        repeat=repeat,
        interrupted=interrupted or None,
    )
    if part is not None:
        report["shard"] = {"index": part[0], "count": part[1]}
    try:
        paths: dict[str, Path] | None = write_reports(report, run_dir)
    except OSError as error:  # a full disk, a folder gone: the results are still printed below
        paths = None
        click.echo(f"error: cannot write the report to {run_dir}: {error.strerror or error}", err=True)
    finish(report, paths, out)


def _run_with_progress(
    cells: list[Any], seed: int, run_dir: Path, jobs: int, console: Console
) -> tuple[list[CellResult], bool]:
    """Run the cells, showing progress (:func:`progress_reporter`).

    Ctrl-C stops the cells still running — their clients, proxies and servers are stopped by the
    cancellation — and returns the results of those that finished, with ``True``."""
    from faultproxy.scenarios.runner import run_cells

    finished: dict[int, CellResult] = {}
    order = {id(cell): i for i, cell in enumerate(cells)}
    report_progress = progress_reporter(console, len(cells))

    def done(cell: Any, result: CellResult) -> None:
        finished[order[id(cell)]] = result
        report_progress(cell, result)

    try:
        return run_loop(run_cells(cells, seed, run_dir, jobs, done)), False
    except KeyboardInterrupt:
        console.print(
            "interrupted: the cells still running were stopped; writing the report of those that finished",
            highlight=False,
            markup=False,
        )
        return [finished[i] for i in sorted(finished)], True


def progress_reporter(console: Console, total: int) -> Any:
    """A progress bar in a terminal; in a CI log, a line per run that did not pass (its cell may yet
    turn out flaky) and one per tenth done."""
    if console.is_terminal:
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[last]}"),
            console=console,
            transient=True,
        )
        task = progress.add_task("cells", total=total, last="")
        progress.start()

        def done(cell: Any, result: CellResult) -> None:
            flag = "" if result.passed else " ✗"
            progress.update(task, advance=1, last=f"{cell.key}: {result.outcome}{flag}")
            if progress.finished:
                progress.stop()

        return done
    count = {"done": 0, "failed": 0}
    step = max(1, total // 10)

    def logged(cell: Any, result: CellResult) -> None:
        count["done"] += 1
        if not result.passed:
            count["failed"] += 1
            console.print(Text(f"{cell.key}: {result.outcome}, did not pass"), soft_wrap=True)
        if count["done"] % step == 0 or count["done"] == total:
            console.print(
                Text(f"{count['done']}/{total} cells done, {count['failed']} failed"), soft_wrap=True
            )

    return logged


def finish(report: dict[str, Any], paths: dict[str, Path] | None, out: Path) -> None:
    """The outcomes, who is to blame, each failure with its reason, the flaky cells with their rates,
    where the report is; exit 1 if a cell failed (or no report could be written), 3 if none failed
    but some were flaky, 130 if the run was interrupted (as a shell reports a command ended by Ctrl-C)."""
    from faultproxy.report.model import interrupted_note, totals
    from faultproxy.scenarios.terminal import failure_lines, print_outcomes

    results = report["results"]  # as written: secrets masked (see build_report)
    print_outcomes(report, Console())
    blame = totals(report).blame_line()
    if blame:
        click.echo(
            f"not ok, by who is to blame (wire: a fault or the server; client: its own doing): {blame}"
        )
    flaky = {(f["scenario"], f["client"]): f for f in report.get("flaky", [])}
    failed = [r for r in results if not r["passed"] and (r["scenario"], r["client"]) not in flaky]
    for line in failure_lines(failed):
        click.echo(line)
    for (scenario, client), f in flaky.items():
        click.echo(f"≈ {scenario} / {client}: flaky — {f['rate']}")
    steady = len(results) - sum(f["runs"] for f in flaky.values())
    click.echo(
        f"{steady - len(failed)} of {steady} runs passed"
        + (f", {len(flaky)} cell(s) flaky (neither passed nor failed)" if flaky else "")
        + (
            f"; report: {paths['html']}  (also {paths['json'].name}, {paths['junit'].name}, "
            f"{paths['markdown'].name}; {out / 'latest'})"
            if paths is not None
            else "; no report written"
        )
    )
    if report.get("interrupted"):
        click.echo(interrupted_note(report), err=True)
        raise SystemExit(130)  # as a shell reports a command ended by Ctrl-C
    if failed or paths is None:
        raise SystemExit(1)
    if flaky:
        raise SystemExit(FLAKY_EXIT)


@click.group("scenarios")
def scenarios() -> None:
    """Scenario files: check them without running, or get their JSON Schema for an editor."""


@scenarios.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The project config (default: ./faultproxy.toml, else [tool.faultproxy] in ./pyproject.toml).",
)
def check(paths: tuple[Path, ...], config_file: Path | None) -> None:
    """Validate scenario files (and directories of them) without running anything.

    Prints each scenario with its cells; exit 2 at the first problem, which names FILE:LINE."""
    from faultproxy.config import load_project_config
    from faultproxy.scenarios import load_paths
    from faultproxy.scenarios.runner import plan

    load_project_config(config_file)
    loaded = load_paths([str(p) for p in paths])
    cells, availability = plan(loaded, None)
    for scenario in loaded:
        names = scenario.client_names()
        click.echo(
            f"{scenario.file}:{scenario.line}: {scenario.name}: {len(names)} client(s), "
            f"{len(scenario.faults)} fault(s), {len(scenario.expectations)} expectation(s)"
        )
    missing = sorted(n for n, a in availability.items() if not a.ok)
    note = f"; not available here: {', '.join(missing)}" if missing else ""
    click.echo(f"{len(loaded)} scenario(s) OK, {len(cells)} cell(s){note}")


@scenarios.command("schema")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write it to this file (default: standard output).",
)
def schema(output: Path | None) -> None:
    """Print the JSON Schema of scenario files, for an editor's completion and checks.

    \b
    VS Code (the YAML extension), in .vscode/settings.json:
        "yaml.schemas": {"./scenario.schema.json": "scenarios/*.yaml"}
    """
    import json

    from faultproxy.scenarios.schema import scenario_schema

    text = json.dumps(scenario_schema(), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
