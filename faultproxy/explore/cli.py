"""``faultproxy explore``: search fault schedules for the smallest one that breaks a client.

Runs :class:`~faultproxy.explore.search.Search`, printing each trial as it ends. When a schedule
breaks the property it writes, under ``OUT/<run-id>/``:

- ``scenario.yaml`` -- the smallest schedule as a ready scenario for this client, with the
  property as its expectation and the command that reproduces it;
- ``report/`` -- that scenario run three times through ``faultproxy run``'s own runner and
  report (``index.html``, ``report.json``, ``junit.xml``, ``summary.md``), which is the proof
  that the file reproduces the failure;
- ``explore.json`` and ``explore.md`` -- every trial: its schedule, verdict, outcomes and time.

The scenario is re-confirmed at least ten times (``--reproduce``) through ``faultproxy run``'s
runner -- also with its times moved away from the edge where shrinking left them -- and the rate
is reported. Exit status: 0 when nothing broke the property within the budget, 1 when a failure was
found and its scenario reproduced in every run, 3 when it reproduced in only some (or none) of them
(timing decides it), 2 for bad input. The client is a registered name (a built-in, or one of the
project config's), or a user's own command (``--client-cmd``).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import click

from faultproxy.cli import BadInput
from faultproxy.clients.cli import load_own_clients, own_client_options
from faultproxy.explore import results


@click.command("explore")
@click.option(
    "--client", help="The client to explore: a registered name (built-in, or from the config file)."
)
@click.option(
    "--property",
    "prop_name",
    required=True,
    type=click.Choice(["no_silent_loss", "all_events_in_order", "no_hang", "resumed"]),
    help="What must hold (see docs/explore.md).",
)
@click.option(
    "--budget",
    type=click.IntRange(1, 10_000),
    default=60,
    show_default=True,
    help="At most this many schedules are run (shrinking included).",
)
@click.option(
    "--time",
    "time_s",
    type=click.FloatRange(1, 86_400),
    default=600.0,
    show_default=True,
    help="No schedule starts after this many seconds (shrinking included; the one running finishes).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the search and of the faults.")
@click.option(
    "--faults", "fault_list", metavar="A,B,…", help="Draw only these fault types (default: every one)."
)
@click.option(
    "--max-faults",
    type=click.IntRange(1, 5),
    default=3,
    show_default=True,
    help="Faults combined in one schedule, at most.",
)
@click.option(
    "--confirm",
    type=click.IntRange(0, 10),
    default=2,
    show_default=True,
    help="A failing schedule is re-run this many more times and must fail every time.",
)
@click.option(
    "--reproduce",
    "reproduce_runs",
    type=click.IntRange(results.MIN_REPRODUCE, 1000),
    default=results.MIN_REPRODUCE,
    show_default=True,
    help="The written scenario is run this many times through faultproxy run's runner; the rate decides "
    "the exit status.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports/explore"),
    show_default=True,
    help="Results go to OUT/<run-id>/.",
)
@own_client_options("the client to explore, instead of --client.")
def explore(
    client: str | None,
    prop_name: str,
    budget: int,
    time_s: float,
    seed: int,
    fault_list: str | None,
    max_faults: int,
    confirm: int,
    reproduce_runs: int,
    out: Path,
    client_cmds: tuple[str, ...],
    client_protocol: str,
    config_file: Path | None,
) -> None:
    """Find the smallest fault schedule that breaks a client's PROPERTY, and write it as a scenario."""
    from faultproxy.clients import registry
    from faultproxy.explore.properties import PROPERTIES
    from faultproxy.explore.search import Search, Trial
    from faultproxy.explore.space import Unsupported, searchable

    own = load_own_clients(config_file, client_cmds, client_protocol)
    if len(own) + (client is not None) != 1:
        raise click.UsageError("name one client to explore: --client NAME or one --client-cmd COMMAND")
    client = client or own[0]
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
        types = searchable(
            [f.strip() for f in fault_list.split(",") if f.strip()]
            if fault_list
            else (list(prop.fault_types) if prop.fault_types else None),
            llm=info.protocol != registry.SSE,
        )
    except (KeyError, Unsupported) as error:
        raise click.BadParameter(str(error.args[0]), param_hint="--faults") from None

    started = dt.datetime.now().astimezone()
    run_dir = out / started.strftime("%Y%m%d-%H%M%S")
    click.echo(
        f"faultproxy explore: {client}, property {prop_name} ({prop.meaning}); {len(types)} fault types, "
        f"up to {max_faults} at once; budget {budget} schedules / {time_s:g} s; seed {seed}",
        err=True,
    )

    def shown(trial: Trial) -> None:
        outcomes = ", ".join(
            f"{r['outcome']} {r['duration_s']:.1f}s" if r["outcome"] else r.get("invalid", "")
            for r in trial.runs
        )
        click.echo(
            f"  #{trial.number:<3} {trial.phase:<8} {trial.verdict:<5} [{outcomes}] "
            f"{results.schedule_text(trial.schedule)}",
            err=True,
        )

    search = Search(
        client,
        prop,
        types,
        budget=budget,
        time_s=time_s,
        seed=seed,
        max_faults=max_faults,
        confirm=confirm,
        on_trial=shown,
    )
    found = search.run()
    elapsed = time.monotonic() - search.started
    summary = results.summary(search, client, prop_name, seed, budget, time_s, elapsed, found)
    run_dir.mkdir(parents=True, exist_ok=True)
    if found is not None:
        click.echo(
            f"re-confirming {results.schedule_text(found.schedule)}: {reproduce_runs} runs through "
            "faultproxy run's runner",
            err=True,
        )
        summary["scenario"] = str(run_dir / "scenario.yaml")
        summary["reproduced"] = results.write_found(search, found, client, seed, reproduce_runs, run_dir)
    (run_dir / "explore.json").write_text(
        json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (run_dir / "explore.md").write_text(results.markdown(summary), encoding="utf-8")
    click.echo(results.headline(summary))
    click.echo(f"results: {run_dir}")
    raise SystemExit(results.exit_status(summary))
