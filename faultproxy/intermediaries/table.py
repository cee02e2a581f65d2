"""The comparison table of ``faultproxy repro nginx``: each case, real nginx beside faultproxy."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

SHAPE_STYLE = {"streams": "green", "held to the end": "bold red", "no events": "magenta"}
END_STYLE = {
    "clean": "green",
    "closed": "yellow",
    "cut": "bold red",
    "reset": "bold red",
    "error": "bold red",
}


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def _gaps(row: dict[str, Any]) -> str:
    if row["gap_p50_ms"] is None:
        return "—"
    return f"{row['gap_p50_ms']:,.0f} / {row['gap_max_ms']:,.0f}"


def _shape(row: dict[str, Any]) -> str:
    shape = row["shape"]
    style = SHAPE_STYLE.get(shape, "yellow" if shape.startswith("batches") else "")
    return f"[{style}]{shape}[/]" if style else shape


def _end(row: dict[str, Any]) -> str:
    style = END_STYLE.get(row["end"], "")
    text = row["end"] + (
        f" @ {row['ended_after_ms']:,.0f} ms"
        if row["end"] == "cut"
        else f": {row['end_detail']}"
        if row["end"] == "error"
        else ""
    )
    return f"[{style}]{text}[/]" if style else text


def _wire(row: dict[str, Any]) -> str:
    return "+".join(x for x in (row["framing"], row["encoding"]) if x) or "—"


def _path(row: dict[str, Any]) -> str:
    return row["path"] if row["kind"] == "nginx" else "≈ " + row["path"].removeprefix("faultproxy: ")


def render(report: dict[str, Any], console: Console) -> None:
    """The table: per case, one row per path (nginx, then the emulations), and the legend."""
    table = Table(
        title="SSE through real nginx (and ≈ through faultproxy's emulation); times from the request",
        pad_edge=False,
        box=box.SIMPLE_HEAD,
    )
    for column, justify in (
        ("case", "left"),
        ("path", "left"),
        ("headers", "right"),
        ("1st event", "right"),
        ("gap p50/max", "right"),
        ("ev/read", "right"),
        ("arrival", "left"),
        ("end", "left"),
        ("wire", "left"),
        ("match", "left"),
    ):
        # the emulation's faults may take two lines; every other cell stays on one
        table.add_column(
            column, justify=justify, no_wrap=column != "path", max_width=34 if column == "path" else None
        )
    differences = []
    for case in report["cases"]:
        verdicts = {m["emulation"]: m for m in case["emulation_matches"]}
        emulated = any(r["kind"] == "emulation" for r in case["rows"])
        for i, row in enumerate(case["rows"]):
            match = verdicts.get(row["path"])
            if match is not None:
                verdict = "[green]same[/]" if match["same"] else "[red]differs[/]"
                if not match["same"]:
                    differences.append(f"{case['case']}: {row['path']}: {match['detail']}")
            else:
                verdict = "" if emulated or row["kind"] != "nginx" else "[dim]n/a[/]"
            table.add_row(
                f"[bold]{case['case']}[/]" if i == 0 else "",
                _path(row),
                _ms(row["time_to_headers_ms"]),
                _ms(row["time_to_first_event_ms"]),
                _gaps(row),
                "—" if row["events_per_read_max"] is None else str(row["events_per_read_max"]),
                _shape(row),
                _end(row),
                _wire(row),
                verdict,
            )
        table.add_section()
    console.print(table)
    for case in report["cases"]:
        up = case["upstream"]
        console.print(
            f"  [bold]{case['case']}[/]: {case['what']} (route {case['route']}; "
            f"{up['events']} events, one every {up['interval'] * 1000:g} ms)"
        )
    console.print(
        "  ≈: faultproxy with these faults in front of the same upstream (n/a: no fault emulates it)"
    )
    console.print(
        "  match: every event let out by the same send as through nginx, give or take one; the same end;"
        " the head and the end within half a send interval"
    )
    for n in report["nginx"]:
        console.print(
            f"nginx {n['version']} ({n.get('binary') or n.get('url', '')}): "
            f"upstream hop {n['upstream_hop']} by default"
        )
        if n.get("label_problem"):
            console.print(f"[bold red]nginx {n['version']}: {n['label_problem']}[/]")
    matches = [m for case in report["cases"] for m in case["emulation_matches"]]
    if matches:
        same = sum(1 for m in matches if m["same"])
        console.print(f"the emulation arrives like real nginx in {same} of {len(matches)} comparisons")
    for line in differences:
        console.print(f"[red]differs[/] {line}")
