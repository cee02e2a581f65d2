"""The conformance grid as a person reads it: ``report.json``, ``index.html``, ``summary.md``.

Rows are cases, columns are clients; a square sums up the case's chunkings for that client:

- ``pass`` -- every chunking passed;
- ``split`` -- some chunkings passed and some failed: the client is *split-sensitive* (it reads
  the same bytes differently depending on how they arrive), which the square names;
- ``fail`` -- every chunking failed;
- ``n/a`` -- the client cannot take part (it does not reconnect; its SDK cannot carry the case).

Everything from the wire goes through :func:`faultproxy.report.model.clean` and HTML escaping;
the page has no script at all, and its Content-Security-Policy allows none.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from pathlib import Path
from typing import Any

from faultproxy.conformance.judge import FAIL, NA, PASS
from faultproxy.private import make_dirs, write_atomic
from faultproxy.report import report_json
from faultproxy.report.model import clean

SCHEMA = "faultproxy-conformance/1"
SPLIT = "split"
MARK = {PASS: "✓", SPLIT: "◐", FAIL: "✗", NA: "–"}
FILES = {"json": "report.json", "html": "index.html", "markdown": "summary.md"}


def squares(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """(case, client) -> {"status", "failed": [chunkings], "results": [...]}: the grid's squares."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for result in report["results"]:
        grouped.setdefault((result["case"], result["client"]), []).append(result)
    out = {}
    for key, results in grouped.items():
        statuses = {r["status"] for r in results}
        failed = [r["chunking"] for r in results if r["status"] == FAIL]
        if statuses == {NA}:
            status = NA
        elif not failed:
            status = PASS
        elif len(failed) == len([r for r in results if r["status"] != NA]):
            status = FAIL
        else:
            status = SPLIT
        out[key] = {"status": status, "failed": failed, "results": results}
    return out


def scores(report: dict[str, Any]) -> dict[str, Counter]:
    """Per client: how many squares of each status."""
    out: dict[str, Counter] = {c["name"]: Counter() for c in report["clients"]}
    for (_, client), square in squares(report).items():
        out.setdefault(client, Counter())[square["status"]] += 1
    return out


def _label(square: dict[str, Any]) -> str:
    if square["status"] == SPLIT:
        return f"{MARK[SPLIT]} {','.join(square['failed'])}"
    return MARK[square["status"]]


def _score(counter: Counter) -> str:
    judged = counter[PASS] + counter[SPLIT] + counter[FAIL]
    return f"{counter[PASS]}/{judged}" if judged else "–"


def _md(text: Any) -> str:
    return clean(text).replace("|", "\\|").replace("\n", "\\n")


def markdown_grid(report: dict[str, Any]) -> str:
    """The grid and the list of failures, in Markdown (also the generated part of docs/conformance.md)."""
    clients = [c["name"] for c in report["clients"]]
    grid = squares(report)
    score = scores(report)
    lines = ["| case | " + " | ".join(f"`{c}`" for c in clients) + " |", "|---|" + "---|" * len(clients)]
    for case in report["cases"]:
        row = [_label(grid[(case["name"], c)]) if (case["name"], c) in grid else "" for c in clients]
        lines.append(f"| `{case['name']}` | " + " | ".join(row) + " |")
    lines.append("| **passed** | " + " | ".join(f"**{_score(score[c])}**" for c in clients) + " |")
    lines += [
        "",
        f"{MARK[PASS]} every chunking passed · {MARK[SPLIT]} failed only when cut as named "
        f"(split-sensitive) · {MARK[FAIL]} failed however cut · {MARK[NA]} cannot take part",
        "",
    ]
    versions = ", ".join(f"`{c['name']}` {c.get('version') or '?'}" for c in report["clients"])
    lines += [f"Versions: {versions}.", ""]
    failures = [(key, sq) for key, sq in grid.items() if sq["status"] in (FAIL, SPLIT)]
    if failures:
        lines += [
            "<details><summary>Why each failing square failed</summary>",
            "",
            "| case | client | cut | what went wrong |",
            "|---|---|---|---|",
        ]
        for (case, client), square in failures:
            for r in square["results"]:
                if r["status"] == FAIL:
                    lines.append(
                        f"| `{case}` | `{client}` | {r['chunking']} | {_md('; '.join(r['problems']))[:400]} |"
                    )
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def render_markdown(report: dict[str, Any]) -> str:
    head = [
        f"# SSE conformance: {report['run_id']}",
        "",
        f"{len(report['cases'])} cases × {len(report['clients'])} clients × chunkings "
        f"{', '.join(report['chunkings'])}; {len(report['results'])} cells in {report['duration_s']:.0f} s.",
        "",
    ]
    return "\n".join(head) + markdown_grid(report)


CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:2px 6px;text-align:center}
th.case,td.case{text-align:left;font-family:monospace;white-space:nowrap}
td.pass{background:#d7f5d7}td.split{background:#ffe7a8}td.fail{background:#f7b5b5}td.na{background:#eee;color:#888}
.problems td{text-align:left}code,pre{font-family:monospace}
caption{text-align:left;font-weight:bold;margin:.5em 0}
"""


def _e(value: Any) -> str:
    return html.escape(clean(value), quote=True)


def render_html(report: dict[str, Any]) -> str:
    """One self-contained page: the grid (each square links to its failures) and the failure list."""
    clients = [c["name"] for c in report["clients"]]
    grid = squares(report)
    score = scores(report)
    head = "".join(f'<th scope="col">{_e(c)}</th>' for c in clients)
    rows = []
    for case in report["cases"]:
        cells = []
        for client in clients:
            square = grid.get((case["name"], client))
            if square is None:
                cells.append("<td></td>")
                continue
            css = {NA: "na"}.get(square["status"], square["status"])
            text = _e(_label(square))
            if square["status"] in (FAIL, SPLIT):
                text = f'<a href="#{_e(case["name"])}--{_e(client)}">{text}</a>'
            title = _e(
                " | ".join(
                    f"{r['chunking']}: {'; '.join(r['problems']) or r['status']}" for r in square["results"]
                )
            )
            cells.append(f'<td class="{css}" title="{title}">{text}</td>')
        rows.append(
            f'<tr><th class="case" scope="row" title="{_e(case["upstream"])}">{_e(case["name"])}</th>'
            + "".join(cells)
            + "</tr>"
        )
    totals = "".join(f"<td><b>{_e(_score(score[c]))}</b></td>" for c in clients)
    problems = []
    for (case, client), square in grid.items():
        if square["status"] not in (FAIL, SPLIT):
            continue
        failed = [r for r in square["results"] if r["status"] == FAIL]
        for number, r in enumerate(failed):
            anchor = f' id="{_e(case)}--{_e(client)}"' if number == 0 else ""  # the square's link lands here
            received = json.dumps(r.get("received", []), ensure_ascii=False)[:600]
            problems.append(
                f'<tr{anchor}><td class="case">{_e(case)}</td><td>{_e(client)}</td>'
                f"<td>{_e(r['chunking'])}</td><td>{_e('; '.join(r['problems']))}</td>"
                f"<td><code>{_e(received)}</code></td></tr>"
            )
    cases = "".join(
        f'<tr><td class="case">{_e(c["name"])}</td><td class="case">{_e(c["upstream"])}</td>'
        f'<td class="case">{_e(c["rule"])}</td><td><code>{_e(c["bytes"])}</code></td></tr>'
        for c in report["cases"]
    )
    versions = ", ".join(f"{c['name']} {c.get('version') or '?'}" for c in report["clients"])
    csp = "default-src 'none'; style-src 'unsafe-inline'"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<title>SSE conformance {_e(report["run_id"])}</title><style>{CSS}</style></head>
<body>
<h1>SSE conformance {_e(report["run_id"])}</h1>
<p>{len(report["cases"])} cases × {len(clients)} clients × chunkings {_e(", ".join(report["chunkings"]))};
{len(report["results"])} cells in {report["duration_s"]:.0f} s. Versions: {_e(versions)}.</p>
<table id="grid"><caption>cases × clients: ✓ every chunking passed · ◐ failed only when cut as named ·
✗ failed however cut · – cannot take part</caption>
<thead><tr><th class="case" scope="col">case</th>{head}</tr></thead>
<tbody>{"".join(rows)}<tr><th class="case" scope="row">passed</th>{totals}</tr></tbody></table>
<h2 id="failures">Failures ({len(problems)})</h2>
<table class="problems"><thead><tr><th>case</th><th>client</th><th>cut</th><th>what went wrong</th>
<th>received</th></tr></thead><tbody>{"".join(problems)}</tbody></table>
<h2 id="cases">Cases</h2>
<table class="problems"><thead><tr><th>case</th><th>upstream test</th><th>rule</th><th>first response body</th>
</tr></thead><tbody>{cases}</tbody></table>
</body></html>
"""


def write(report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write the three files into ``out_dir``; returns their paths by kind."""
    make_dirs(out_dir)
    blobs = {
        "json": report_json(report),
        "html": render_html(report).encode("utf-8", "replace"),
        "markdown": render_markdown(report).encode("utf-8", "replace"),
    }
    paths = {}
    for kind, blob in blobs.items():
        paths[kind] = out_dir / FILES[kind]
        write_atomic(paths[kind], blob)
    return paths


GRID_START, GRID_END = (
    "<!-- conformance grid: generated by `faultproxy conformance --docs` -->",
    "<!-- end of grid -->",
)


def update_docs(page: Path, report: dict[str, Any]) -> None:
    """Replace the generated part of ``page`` (between the markers) with today's grid."""
    text = page.read_text(encoding="utf-8")
    start, end = text.find(GRID_START), text.find(GRID_END)
    if start < 0 or end < start:
        raise ValueError(
            f"{page}: the markers of the generated grid are missing ({GRID_START!r} … {GRID_END!r})"
        )
    stamp = (
        f"Measured {report['started'][:10]} at commit {report.get('environment', {}).get('faultproxy_revision') or '?'} "
        f"({len(report['results'])} cells, {report['duration_s']:.0f} s).\n\n"
    )
    text = text[: start + len(GRID_START)] + "\n" + stamp + markdown_grid(report) + text[end:]
    write_atomic(page, text.encode("utf-8"))
