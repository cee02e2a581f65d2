"""``summary.md``: the run for a pull-request comment or a CI job summary (GitHub Markdown).

A verdict line, totals, the matrix as a table (one row per scenario, one column per client,
an emoji and a short label per cell), then the failing cells with their one-line evidence,
and the cells that passed only as recorded known behaviours.
"""

from __future__ import annotations

import re
from typing import Any

from faultproxy.report.model import (
    OUTCOMES,
    Cell,
    build_matrix,
    interrupted_note,
    one_line,
    outcome,
    totals,
    why_failed,
)

MAX_LISTED = 100  # failing cells listed in full (a PR comment holds 65536 characters)


def md_text(value: Any, limit: int = 300) -> str:
    """One line of inert Markdown: no table breaks, no HTML, no links or emphasis from the data."""
    text = one_line(value, limit)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_\[\]|~])", r"\\\1", text)


def md_code(value: Any, limit: int = 120) -> str:
    """``value`` as inline code; pipes escaped (GitHub splits table cells on them even in code)."""
    text = one_line(value, limit).replace("|", "\\|")
    fence = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def cell_label(cell: Cell) -> str:
    """The cell's emoji and outcome; a failing cell always shows ❌ (never the outcome's ✅)."""
    if not cell.ran:
        return "⏭️ n/a" if cell.unavailable else "—"
    o = outcome(cell.outcome or "")
    if cell.flaky:  # neither passed nor failed
        return f"🎲 **flaky** {cell.runs_passed}/{len(cell.results)} passed"
    emoji = o.emoji if cell.passed else "❌"
    label = f"{emoji} **{o.abbr}**" if o.name == "silent_loss" else f"{emoji} {o.abbr}"
    if len(cell.results) > 1:
        label += (
            f" {cell.outcome_counts.get(o.name, 0)}/{len(cell.results)}"
            if cell.mixed
            else f" ×{len(cell.results)}"
        )
    if cell.known_changed:
        label += " ❗changed"
    elif cell.known:
        label += " (known)"
    return label


def render_markdown(report: dict[str, Any]) -> str:
    matrix = build_matrix(report)
    tot = totals(report, matrix)
    out: list[str] = [f"## faultproxy run {md_code(report.get('run_id'))}", ""]
    note = interrupted_note(report)
    if note:
        out += [f"⏹️ **{md_text(note)}**", ""]
    if tot.ok:
        out.append(
            f"✅ **Passed**: all {tot.results} results ({tot.cells} cells) met their expectations"
            + (f", {tot.known} as recorded known behaviours." if tot.known else ".")
        )
    elif tot.verdict == "flaky":
        out.append(
            f"🎲 **Flaky**: no cell failed, but {tot.cells_flaky} of {tot.cells} cells passed in some runs "
            "and not in others (listed below with their rates)."
        )
    else:
        out.append(
            f"❌ **Failed**: {tot.failed} of {tot.results} results ({tot.cells_failed} of {tot.cells} cells) "
            "did not pass"
            + (f"; {tot.known_changed} known behaviour(s) changed." if tot.known_changed else ".")
        )
    out.append("")
    out.append(
        f"Started {md_text(report.get('started'))} · seed {md_code(report.get('seed'))} · "
        f"faultproxy {md_text(report.get('faultproxy_version'))} · {float(report.get('duration_s') or 0):.1f} s"
    )
    env = report.get("environment") or {}
    if env:
        out.append("")
        out.append(
            "Environment: "
            + " · ".join(f"{md_text(k)} {md_code(v)}" for k, v in env.items() if v is not None)
        )
    out.append("")
    counts = [
        f"{o.emoji} {o.label}: **{tot.by_outcome[o.name]}**" for o in OUTCOMES if tot.by_outcome.get(o.name)
    ]
    extra = [
        f"{name}: **{n}**"
        for name, n in (
            ("passed as known", tot.known),
            ("known changed", tot.known_changed),
            ("skipped", tot.skipped),
        )
        if n
    ]
    out.append(" · ".join(counts + extra))
    if tot.blame_line():
        out.append("")
        out.append(
            f"Who is to blame (wire: a fault or the server; client: its own doing): {tot.blame_line()}"
        )
    out.append("")

    clients = matrix.clients
    head = ["scenario"] + [
        md_code(c["name"]) + (" *(n/a)*" if not c.get("available", True) else "") for c in clients
    ]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" + "".join(":---:|" for _ in clients))
    for s, cells in matrix.rows():
        out.append("| " + " | ".join([md_code(s["name"])] + [cell_label(c) for c in cells]) + " |")
    out.append("")
    out.append(
        "Legend: "
        + " · ".join(f"{o.emoji} {o.abbr} = {o.label}" for o in OUTCOMES)
        + " · ❌ = failed (with its outcome) · (known) = passed as a recorded known behaviour"
        " · ❗changed = known behaviour changed · 🎲 flaky = the outcome varied between runs"
    )
    out.append("")

    failing = [
        (cell, r)
        for cell in matrix.ran_cells()
        if not cell.flaky
        for r in cell.results
        if not r.get("passed")
    ]
    flaky = [cell for cell in matrix.ran_cells() if cell.flaky]
    if flaky:
        out.append(f"### Flaky ({len(flaky)})")
        out.append("")
        for cell in flaky:
            out.append(f"- 🎲 {md_code(cell.scenario)} × {md_code(cell.client)} — {md_text(cell.rate)}")
        out.append("")
    if failing:
        out.append(f"### Failing ({len(failing)})")
        out.append("")
        for cell, r in failing[:MAX_LISTED]:
            rep = f" #{r.get('repetition', 0) + 1}" if len(cell.results) > 1 else ""
            o = outcome(r["outcome"])
            why = md_text("; ".join(why_failed(r)) or "failed", 600)
            summary = md_text((r.get("evidence") or {}).get("summary", ""))
            out.append(
                f"- ❌ {md_code(cell.scenario)} × {md_code(cell.client)}{rep} — **{o.label}**, "
                f"failed because {why}. {summary}"
            )
        if len(failing) > MAX_LISTED:
            out.append(f"- … and {len(failing) - MAX_LISTED} more (see report.json)")
        out.append("")
    known = [
        (cell, r) for cell in matrix.ran_cells() for r in cell.results if r.get("passed") and r.get("known")
    ]
    if known:
        out.append(f"<details><summary>Passed as recorded known behaviours ({len(known)})</summary>")
        out.append("")
        for cell, r in known[:MAX_LISTED]:
            out.append(
                f"- {md_code(cell.scenario)} × {md_code(cell.client)} — {outcome(r['outcome']).label}: "
                f"{md_text(r['known'])}"
            )
        out.append("")
        out.append("</details>")
        out.append("")
    unavailable = [c for c in clients if not c.get("available", True)]
    if unavailable:
        out.append(
            "Not available: "
            + "; ".join(
                f"{md_code(c['name'])} ({md_text(c.get('reason') or 'unavailable')})" for c in unavailable
            )
        )
        out.append("")
    return "\n".join(out)
