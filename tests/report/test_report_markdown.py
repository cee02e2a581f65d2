"""summary.md: the matrix as a table, totals, and the failing cells for a pull request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faultproxy.report import render_markdown, validate_report
from faultproxy.report.markdown import md_code, md_text


def _table(text: str) -> list[list[str]]:
    rows = [line for line in text.splitlines() if line.startswith("|")]
    split = [[c.strip() for c in line.strip("|").replace("\\|", "\0").split("|")] for line in rows]
    return [[c.replace("\0", "\\|") for c in row] for row in split]


def test_one_row_per_scenario_and_a_column_per_client(
    written: dict[str, Path], sample: dict[str, Any]
) -> None:
    table = _table(written["markdown"].read_text(encoding="utf-8"))
    header, rule, *rows = table
    assert header[0] == "scenario"
    assert [h.split(" ")[0] for h in header[1:]] == [f"`{c['name']}`" for c in sample["clients"]]
    assert len(rule) == len(header)
    assert [r[0] for r in rows] == [f"`{s['name']}`" for s in sample["scenarios"]]
    assert all(len(r) == len(header) for r in rows)
    by = {r[0].strip("`"): dict(zip([h.split(" ")[0].strip("`") for h in header], r)) for r in rows}
    assert by["clean-end-after-8"]["httpx-sse"] == "❌ **LOSS**"
    assert by["clean-end-after-8"]["sseclient-py"] == "🚨 **LOSS** (known)"
    assert by["stall-after-3"]["requests-sse"] == "❌ ERR ❗changed"
    assert by["rst-after-5"]["requests-sse"] == "🎲 **flaky** 1/2 passed"  # never a pass or a fail
    # a failing cell never shows ✅, whatever its outcome
    flaky = {("rst-after-5", "requests-sse")}
    failing = {(r["scenario"], r["client"]) for r in sample["results"] if not r["passed"]} - flaky
    for scenario, client in failing:
        assert "✅" not in by[scenario][client] and by[scenario][client].startswith("❌")
    assert by["clean-stream"]["node-eventsource"] == "⏭️ n/a"


def test_failing_cells_are_listed_with_their_evidence(
    written: dict[str, Path], sample: dict[str, Any]
) -> None:
    text = written["markdown"].read_text(encoding="utf-8")
    flaky = {(f["scenario"], f["client"]) for f in sample["flaky"]}
    failing = [r for r in sample["results"] if not r["passed"] and (r["scenario"], r["client"]) not in flaky]
    assert (
        "### Flaky (1)\n\n- 🎲 `rst-after-5` × `requests-sse` — passed 1 of 2 (duplicated 1, resumed 1)"
        in text
    )
    assert f"### Failing ({len(failing)})" in text
    section = text.split("### Failing", 1)[1].split("\n\n", 2)[1]
    assert len([line for line in section.splitlines() if line.startswith("- ")]) == len(failing)
    line = next(x for x in section.splitlines() if "`clean-end-after-8` × `httpx-sse`" in x)
    unmet = next(
        x
        for x in sample["results"]
        if x["scenario"] == "clean-end-after-8" and x["client"] == "httpx-sse" and not x["passed"]
    )["expectations"]
    reason = next(x for x in unmet if not x["met"])
    assert line.startswith("- ❌ `clean-end-after-8` × `httpx-sse` — **silent loss**, failed because ")
    assert md_text(reason["detail"])[:40] in line and "The body ended cleanly after event 8" in line
    assert f"❌ **Failed**: {len(failing)} of {len(sample['results'])} results" in text


def test_wire_text_cannot_inject_markdown_or_html(sample: dict[str, Any]) -> None:
    text = render_markdown(validate_report(sample))
    assert "<script" not in text and "<img" not in text
    assert md_text("a | b <i>*x*</i>\nc") == "a \\| b &lt;i&gt;\\*x\\*&lt;/i&gt; c"
    assert md_code("x`y|z") == "``x`y\\|z``"
