"""``faultproxy conformance``: every client against the SSE conformance cases, as a grid.

Runs cases × chunkings × clients (see :mod:`faultproxy.conformance.runner`), shows progress,
prints the grid, writes ``report.json``, ``index.html`` and ``summary.md`` under
``OUT/<run-id>/`` and, with ``--docs``, rewrites the generated grid of ``docs/conformance.md``.
Exit status 1 when faultproxy's own rows (``wire``, ``raw``) fail a case: those are promised to
pass every one; other clients' failures are findings, not errors.
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

from faultproxy.aio import run as run_loop
from faultproxy.cli import BadInput
from faultproxy.clients.cli import load_own_clients, own_client_options

OWN = ("wire", "raw")
QUICK_CLIENTS = ("wire", "raw", "httpx-sse", "node-eventsource")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "conformance.md"


def _names(text: str | None) -> list[str] | None:
    return [n.strip() for n in text.split(",") if n.strip()] if text else None


@click.command("conformance")
@click.option(
    "--clients",
    "client_list",
    metavar="A,B,…",
    help="Only these clients (default: every registered one, plus 'wire': faultproxy's parser in memory).",
)
@click.option("--cases", "case_list", metavar="A,B,…", help="Only these cases (default: all).")
@click.option(
    "--quick",
    is_flag=True,
    help="The CI subset: a few cases covering every area, clients wire, raw, httpx-sse, node-eventsource "
    "unless --clients says otherwise.",
)
@click.option(
    "--chunkings",
    "chunking_list",
    metavar="A,B,…",
    default="whole,bytes,eol",
    show_default=True,
    help="How bodies are cut: whole, bytes (one byte per read), eol (a cut after every CR and LF).",
)
@click.option(
    "-j", "--jobs", type=click.IntRange(1, 64), default=None, help="Cells at once (default: 2 × CPU cores)."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports/conformance"),
    show_default=True,
    help="The report goes to OUT/<run-id>/.",
)
@click.option(
    "--docs",
    "docs",
    is_flag=True,
    help=f"Also rewrite the grid in {DOCS.relative_to(DOCS.parents[1])} (the full default run only).",
)
@own_client_options(
    "it runs against every case (repeatable), and only such clients run unless --clients names more."
)
def conformance(
    client_list: str | None,
    case_list: str | None,
    quick: bool,
    chunking_list: str,
    jobs: int | None,
    out: Path,
    docs: bool,
    client_cmds: tuple[str, ...],
    client_protocol: str,
    config_file: Path | None,
) -> None:
    """Run every client against the SSE conformance cases (WPT eventsource/, LaunchDarkly sse-contract-tests)."""
    from faultproxy import __version__
    from faultproxy.clients import registry
    from faultproxy.conformance import cases as case_module
    from faultproxy.conformance import report as rendering
    from faultproxy.conformance.chunking import CHUNKINGS, KNOWN
    from faultproxy.conformance.runner import clients_for, plan, run_cells
    from faultproxy.provenance import environment

    console = Console(stderr=True)
    chunkings = tuple(_names(chunking_list) or CHUNKINGS)
    narrowed = [
        flag
        for flag, given in (
            ("--clients", client_list),
            ("--cases", case_list),
            ("--quick", quick),
            ("--chunkings", chunkings != CHUNKINGS),
            ("--client-cmd", client_cmds),
        )
        if given
    ]
    if docs and narrowed:
        raise BadInput(
            f"--docs rewrites the whole grid of {DOCS.name}: run it without {', '.join(narrowed)} "
            "(a narrower run would replace the grid with a part of it)"
        )
    bad = [c for c in chunkings if c not in KNOWN]
    if bad:
        raise click.BadParameter(
            f"unknown chunking(s) {', '.join(bad)}; known: {', '.join(KNOWN)}", param_hint="--chunkings"
        )
    try:
        cases = case_module.select(_names(case_list), quick=quick)
        own = load_own_clients(config_file, client_cmds, client_protocol)
        wanted = [*own, *(_names(client_list) or [])] or (list(QUICK_CLIENTS) if quick else None)
        names, availability = clients_for(wanted, builtin_only=docs)
    except KeyError as error:
        raise click.BadParameter(error.args[0], param_hint="--cases/--clients") from None
    for name, avail in availability.items():
        if not avail.ok:
            console.print(f"[yellow]client {name} unavailable:[/] {avail.reason} — install: {avail.install}")
    names = [n for n in names if n not in availability or availability[n].ok]
    cells = plan(cases, names, chunkings)
    started = dt.datetime.now().astimezone()
    run_id = started.strftime("%Y%m%d-%H%M%S")
    jobs = jobs or 2 * (os.cpu_count() or 1)
    console.print(
        f"faultproxy conformance {run_id}: {cells_line(cases, names, chunkings, len(cells))}, "
        f"{jobs} at a time",
        soft_wrap=True,
        highlight=False,
    )
    t0 = time.monotonic()
    if console.is_terminal:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[last]}"),
            console=console,
        ) as progress:
            task = progress.add_task("cells", total=len(cells), last="")

            def done(cell: Any, result: dict[str, Any]) -> None:
                progress.update(task, advance=1, last=f"{cell.key}: {result['status']}")

            results = run_loop(run_cells(cells, jobs, done))
    else:  # a CI log: a line every tenth of the run
        results = run_loop(run_cells(cells, jobs, _logged(console, len(cells), t0)))
    versions = {r["client"]: r.get("version") for r in results if r.get("version")}
    report = {
        "schema": rendering.SCHEMA,
        "run_id": run_id,
        "started": started.isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - t0, 3),
        "environment": environment(jobs=jobs),
        "chunkings": list(dict.fromkeys(cell.chunking for cell in cells)),  # a case's own (halves) too
        "clients": [
            {
                "name": n,
                "version": versions.get(n) or (__version__ if n == "wire" else registry.get(n).version()),
            }
            for n in names
        ],
        "unavailable": [
            {"name": n, "reason": a.reason, "install": a.install} for n, a in availability.items() if not a.ok
        ],
        "cases": [_case_dict(c) for c in cases],
        "results": results,
    }
    paths = rendering.write(report, out / run_id)
    if docs:
        rendering.update_docs(DOCS, report)
    click.echo(rendering.markdown_grid(report).split("\n\n<details>")[0])
    click.echo(
        f"report: {paths['html']} (also {paths['json'].name}, {paths['markdown'].name})"
        + (f"; grid written to {DOCS}" if docs else "")
    )
    own_failures = [r for r in results if r["client"] in OWN and r["status"] == "fail"]
    for r in own_failures:
        click.echo(f"✗ {r['client']} failed {r['case']} ({r['chunking']}): {'; '.join(r['problems'])}")
    if own_failures:
        raise SystemExit(1)


def _logged(console: Console, total: int, t0: float) -> Any:
    count = {"done": 0, "failed": 0}
    step = max(1, total // 10)

    def done(cell: Any, result: dict[str, Any]) -> None:
        count["done"] += 1
        count["failed"] += result["status"] == "fail"
        if count["done"] % step == 0 or count["done"] == total:
            console.print(
                f"{count['done']}/{total} cells done, {count['failed']} failed "
                f"({time.monotonic() - t0:.0f} s)",
                highlight=False,
                markup=False,
            )

    return done


def cells_line(cases: list[Any], names: list[str], chunkings: tuple[str, ...], cells: int) -> str:
    """How the cells add up: a case runs under each chunking it takes (the status and Content-Type
    cases, whose body must not be parsed, whole only)."""
    from faultproxy.conformance.runner import chunkings_for

    cuts = sum(len(chunkings_for(case, chunkings)) for case in cases)
    return (
        f"{len(cases)} cases under {', '.join(chunkings)} = {cuts} case cuts × {len(names)} clients "
        f"= {cells} cells"
    )


def _case_dict(case: Any) -> dict[str, Any]:
    body = case.responses[0].body
    shown = repr(body[:160])[2:-1] + ("…" if len(body) > 160 else "")
    return {
        "name": case.name,
        "suite": case.suite,
        "upstream": case.upstream,
        "rule": case.rule,
        "kind": case.kind,
        "bytes": shown,
    }
