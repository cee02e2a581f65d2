"""``faultproxy report merge DIR…``: one report (all four files) from the reports of a sharded run."""

from __future__ import annotations

from pathlib import Path

import click

from faultproxy.cli import BadInput


@click.group("report")
def report() -> None:
    """Work with written reports: merge the shards of a run."""


@report.command("merge")
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="The merged report goes to OUT/<run-id>/, and OUT/latest points at it.",
)
@click.option(
    "--run-id", help="The merged run's id (default: the shards' common id, else the earliest + '-merged')."
)
@click.option(
    "--partial", is_flag=True, help="Merge even when some shards are missing (the report says which came)."
)
def merge(sources: tuple[Path, ...], out: Path, run_id: str | None, partial: bool) -> None:
    """Join the reports of a run's shards (`faultproxy run --shard K/N`) into one: report.json,
    index.html, junit.xml and summary.md, as one unsharded run writes them.

    SOURCES are the shards' run folders (or their report.json). Exit 1 if a cell failed, 3 if none
    failed but some were flaky (--repeat), 2 if the reports are not the parts of one run (another
    seed or suite, a shard missing or twice)."""
    from faultproxy.report import write_reports
    from faultproxy.report.merge import load_report, merge_reports
    from faultproxy.scenarios.cli import finish

    parts = {str(path): load_report(path) for path in sources}
    merged = merge_reports(parts, run_id=run_id, partial=partial)
    run_dir = out / merged["run_id"]
    if any(Path(s).resolve() == run_dir.resolve() for s in sources):
        raise BadInput(f"{run_dir} is one of the reports being merged; give another --out or --run-id")
    try:
        paths = write_reports(merged, run_dir)
    except OSError as error:
        raise BadInput(f"cannot write the report into {run_dir}: {error.strerror or error}") from None
    click.echo(f"merged {len(parts)} report(s), {len(merged['results'])} results", err=True)
    finish(merged, paths, out)
