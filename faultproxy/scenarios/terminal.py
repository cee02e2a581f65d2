"""What ``faultproxy run`` prints: the outcome matrix and a line per failure, for a terminal or a CI log.

The matrix is a table (scenarios down, numbered clients across) only where it fits whole: a
terminal wide enough for its longest scenario name and every column. Anywhere else -- a CI log
(not a terminal), a narrow window -- it is a list, one block per scenario with its clients grouped
by outcome, wrapped at the width but never cut. Every failing cell then gets a line that names each
unmet expectation with its figure ("max_time_to_first_event: time to first event 1,011 ms > limit
300 ms"), and the cell's evidence summary under it.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from faultproxy.report.model import why_failed

STYLE = {
    "ok": "green",
    "resumed": "cyan",
    "error": "yellow",
    "hung": "magenta",
    "duplicated": "blue",
    "reordered": "blue",
    "silent_loss": "bold white on red",
}
SHORT = {
    "ok": "ok",
    "resumed": "res",
    "error": "err",
    "hung": "HUNG",
    "duplicated": "dup",
    "reordered": "ord",
    "silent_loss": "LOSS",
}
LEGEND = "✓ passed  ✗ unmet expectation  ~ passed as a recorded known behaviour  ≈ flaky (runs passed)"
CELL_WIDTH = 8  # "LOSS≈3/5" and the table's padding and rule


def mark(cell: Any) -> str:
    """A cell's mark: ≈ with the runs that passed when its outcome varied, else ✗, ~ or ✓."""
    if cell.flaky:
        return f"≈{cell.runs_passed}/{len(cell.results)}"
    if not cell.passed:
        return "✗"
    return "~" if cell.known else "✓"


def print_outcomes(report: dict[str, Any], console: Console) -> None:
    """The matrix of a report: a table where it fits whole, else a list."""
    from faultproxy.report.model import build_matrix

    matrix = build_matrix(report)
    rows = [(s["name"], [c for c in cells if c.ran]) for s, cells in matrix.rows()]
    rows = [(name, cells) for name, cells in rows if cells]
    if not rows:
        console.print("no cell ran (a shard can be empty when the run is small)")
        return
    clients = [
        c["name"]
        for c in matrix.clients
        if any(cell.client == c["name"] for _, cells in rows for cell in cells)
    ]
    width = max(len(name) for name, _ in rows) + 4 + CELL_WIDTH * len(clients)
    if console.is_terminal and width <= console.width:
        _table(rows, clients, console)
    else:
        _listed(rows, console)


def _table(rows: list[tuple[str, list[Any]]], clients: list[str], console: Console) -> None:
    table = Table(title=f"outcomes: {LEGEND}", show_lines=False)
    table.add_column("scenario", no_wrap=True)
    for number, _ in enumerate(clients, start=1):
        table.add_column(str(number), justify="center", no_wrap=True)
    for scenario, cells in rows:
        by_client = {cell.client: cell for cell in cells}
        row = []
        for client in clients:
            cell = by_client.get(client)
            if cell is None:
                row.append("")
                continue
            name = cell.outcome or ""
            row.append(f"[{STYLE.get(name, '')}]{SHORT.get(name, name)}[/]{mark(cell)}")
        table.add_row(scenario, *row)
    console.print(table)
    console.print(Text("  ".join(f"{n}={c}" for n, c in enumerate(clients, start=1))), soft_wrap=False)


def _listed(rows: list[tuple[str, list[Any]]], console: Console) -> None:
    width = max(40, console.width)
    console.print(Text(f"outcomes: {LEGEND}"))
    for scenario, cells in rows:
        console.print(Text(scenario, style="bold"))
        groups: dict[tuple[str, str], list[str]] = {}
        for cell in cells:
            sign = mark(cell)
            label = f"{cell.client} {sign[1:]}" if cell.flaky else cell.client
            groups.setdefault((sign[0], cell.outcome or ""), []).append(label)
        for (sign, outcome), names in sorted(groups.items(), key=lambda g: "✗≈~✓".index(g[0][0])):
            label = f"{SHORT.get(outcome, outcome):<4}"
            indent = 4 + len(label) + 1
            lines = textwrap.wrap(
                ", ".join(names), width - indent, break_on_hyphens=False, break_long_words=False
            ) or [""]
            console.print(
                Text(f"  {sign} ") + Text(label, style=STYLE.get(outcome, "")) + Text(" " + lines[0]),
                soft_wrap=True,
            )
            for line in lines[1:]:
                console.print(Text(" " * indent + line), soft_wrap=True)


def failure_lines(results: Iterable[dict[str, Any]]) -> list[str]:
    """For each failing result: ``✗ scenario / client: outcome — why`` and its evidence summary."""
    out = []
    for r in results:
        if r["passed"]:
            continue
        rep = f" #{r['repetition'] + 1}" if r.get("repetition") else ""
        why = "; ".join(why_failed(r)) or "failed"
        out.append(f"✗ {r['scenario']} / {r['client']}{rep}: {r['outcome']} — {why}")
        summary = (r.get("evidence") or {}).get("summary")
        if summary:
            out.append(f"    {summary}")
    return out
