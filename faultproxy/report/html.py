"""``index.html``: one self-contained page (inline CSS, JS and SVG; no network, no web fonts).

The page shows the run (id, time, seed, versions, totals by outcome), then the matrix of
scenarios × clients coloured by outcome, and for each cell a details panel: expectations,
verdict, evidence, the event timeline, the wire capture, the error and the transcript.

It works without JavaScript: each cell is a link to ``#scenario/client`` and CSS ``:target``
shows that panel, so deep links work too. The script only adds comfort: arrow keys move
between cells, Escape closes the panel, the selected cell is highlighted, a filter hides
passing rows, and the embedded report can be saved as JSON.

Everything that comes from the report goes through :func:`html.escape` (after
:func:`~faultproxy.report.model.clean`): event data comes from the wire and is hostile by
assumption. As a second line of defence a Content-Security-Policy allows only the page's own
script (by hash), no network, and no inline event handlers.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from faultproxy.report.model import (
    CELL_CLOCK,
    OUTCOMES,
    Cell,
    Matrix,
    build_matrix,
    clean,
    format_seconds,
    interrupted_note,
    one_line,
    outcome,
    repetition_label,
    totals,
    why_failed,
)
from faultproxy.report.timeline import timeline_legend, timeline_svg

MAX_TRANSCRIPT_EVENTS = 500
MAX_PRE = 200_000  # characters of one capture excerpt / JSON block


def _e(value: Any) -> str:
    return html.escape(clean(value), quote=True)


def _href(key: str) -> str:
    return "#" + quote(key, safe="/:@!$&'()*+,;=-._~")


def _pre(text: Any, cls: str) -> str:
    text = clean(text)
    if len(text) > MAX_PRE:
        text = text[:MAX_PRE] + f"\n… ({len(text) - MAX_PRE} more characters in report.json)"
    return f'<pre class="{cls}">{html.escape(text)}</pre>'


def embed_json(data: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">``: no ``<``, ``>``, ``&`` at all."""
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# ---------------------------------------------------------------------------------------- header


def _header(report: dict[str, Any], matrix: Matrix) -> str:
    tot = totals(report, matrix)
    if tot.ok:
        verdict = (
            f'<p class="verdict pass"><span class="big">PASSED</span> all {tot.results} results '
            f"({tot.cells} cells) met their expectations"
            + (f", {tot.known} as recorded known behaviours" if tot.known else "")
            + "</p>"
        )
    elif tot.verdict == "flaky":
        verdict = (
            f'<p class="verdict flaky"><span class="big">FLAKY</span> no cell failed, but {tot.cells_flaky} of '
            f"{tot.cells} cells passed in some runs and not in others (each with its rate below)</p>"
        )
    else:
        verdict = (
            f'<p class="verdict fail"><span class="big">FAILED</span> {tot.failed} of {tot.results} results '
            f"({tot.cells_failed} of {tot.cells} cells) did not pass"
            + (
                f"; {tot.known_changed} known behaviour{'s' * (tot.known_changed != 1)} changed"
                if tot.known_changed
                else ""
            )
            + "</p>"
            + _failing_list(matrix)
        )
    note = interrupted_note(report)
    if note:
        verdict = (
            f'<p class="verdict interrupted"><span class="big">INTERRUPTED</span> {_e(note)}</p>' + verdict
        )
    env = report.get("environment") or {}
    meta = [
        ("started", report.get("started")),
        ("duration", format_seconds(report.get("duration_s"))),
        ("seed", report.get("seed")),
        ("faultproxy", report.get("faultproxy_version")),
    ]
    meta += [(k, v) for k, v in env.items() if isinstance(v, (str, int, float))]
    chips = []
    for o in OUTCOMES:
        n = tot.by_outcome.get(o.name, 0)
        chips.append(
            f'<li class="chip o-{o.name}{" zero" if not n else ""}" title="{_e(o.meaning)}">'
            f'<span class="abbr">{_e(o.abbr)}</span><span class="lbl">{_e(o.label)}</span>'
            f'<b class="n">{n}</b></li>'
        )
    extra = []
    if tot.known:
        extra.append(
            f'<li class="chip plain"><span class="lbl">passed as known</span><b class="n">{tot.known}</b></li>'
        )
    if tot.known_changed:
        extra.append(
            f'<li class="chip plain changed"><span class="lbl">known changed</span>'
            f'<b class="n">{tot.known_changed}</b></li>'
        )
    if tot.skipped:
        extra.append(
            f'<li class="chip plain"><span class="lbl">skipped</span><b class="n">{tot.skipped}</b></li>'
        )
    return f"""<header class="top">
<div class="titlebar"><h1>faultproxy report</h1><code class="run-id">{_e(report.get("run_id"))}</code>
<nav class="files"><a href="report.json">report.json</a><a href="junit.xml">junit.xml</a><a href="summary.md">summary.md</a>
<button type="button" id="save-json" hidden>save embedded JSON</button></nav></div>
{verdict}
<dl class="meta">{"".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in meta if v is not None)}</dl>
<ul class="totals" aria-label="results by outcome">{"".join(chips)}{"".join(extra)}</ul>
</header>"""


MAX_HEADLINE = 10  # failing cells named, with their reasons, under the verdict


def _failing_list(matrix: Matrix) -> str:
    """The failing cells under the verdict, each with why it failed, linked to its panel."""
    failing = [
        (cell, r)
        for cell in matrix.ran_cells()
        if not cell.flaky
        for r in cell.results
        if not r.get("passed")
    ]
    items = []
    for cell, r in failing[:MAX_HEADLINE]:
        why = "; ".join(why_failed(r)) or "failed"
        items.append(
            f'<li><a href="{_e(_href(cell.key))}">{_e(cell.scenario)} × {_e(cell.client)}'
            f'{_e(repetition_label(r, cell))}</a> <span class="o">{_e(outcome(r["outcome"]).label)}</span> '
            f"— {_e(one_line(why, 400))}</li>"
        )
    more = (
        f'<li class="more">… and {len(failing) - MAX_HEADLINE} more (the cells marked ✗ below)</li>'
        if len(failing) > MAX_HEADLINE
        else ""
    )
    return f'<ul class="failing" aria-label="failing cells and why">{"".join(items)}{more}</ul>'


# ---------------------------------------------------------------------------------------- matrix


def _legend() -> str:
    items = "".join(
        f'<li><span class="swatch o-{o.name}">{_e(o.abbr)}</span> <b>{_e(o.label)}</b>: {_e(o.meaning)}</li>'
        for o in OUTCOMES
    )
    marks = (
        '<li><span class="swatch o-ok pass-mark">✓</span> passed: met every expectation</li>'
        '<li><span class="swatch o-error fail-mark">✗</span> failed</li>'
        '<li><span class="swatch o-silent_loss is-known">known</span> passed only as a recorded known behaviour'
        " (an expected failure)</li>"
        '<li><span class="swatch o-error is-changed">changed</span> a recorded known behaviour changed: fails'
        " the run until the record is updated</li>"
        '<li><span class="swatch o-error flaky-mark">≈</span> flaky: the outcome varied between runs'
        " (neither passed nor failed; the cell says how many runs passed)</li>"
        '<li><span class="swatch na">n/a</span> client not available</li>'
    )
    return (
        f'<details class="legend-box" open><summary>Legend: outcomes and marks</summary><ul class="legend-list">{items}{marks}</ul>'
        "</details>"
    )


def _cell_html(cell: Cell) -> str:
    if not cell.ran:
        if cell.unavailable:
            return (
                f'<td class="cell na" title="{_e(cell.unavailable)}"><span class="inner">'
                f'<span class="abbr">n/a</span><span class="sub">skipped</span></span></td>'
            )
        return '<td class="cell none" title="not run"><span class="inner"><span class="abbr">—</span></span></td>'
    o = outcome(cell.outcome or "")
    classes = ["cell", f"o-{o.name}", "pass" if cell.passed else "fail"]
    subs = []
    if cell.known_changed:
        classes.append("is-changed")
        subs.append("changed")
    elif cell.known:
        classes.append("is-known")
        subs.append("known")
    if len(cell.results) > 1:
        counts = cell.outcome_counts
        subs.append(f"{counts.get(o.name, 0)}/{len(cell.results)}" if cell.mixed else f"×{len(cell.results)}")
        if cell.mixed:
            classes.append("mixed")
    if cell.flaky:  # neither passed nor failed: the rate says how often each
        classes[2] = "flaky"
        subs.append(f"flaky: {cell.runs_passed}/{len(cell.results)} passed")
    verdict = "flaky, " + cell.rate if cell.flaky else ("passed" if cell.passed else "failed")
    label = (
        f"{cell.scenario} × {cell.client}: {o.label}, {verdict}"
        + (", known behaviour" if "is-known" in classes else "")
        + (", known behaviour changed" if "is-changed" in classes else "")
        + (f", {len(cell.results)} repetitions" if len(cell.results) > 1 else "")
    )
    mark = "≈" if cell.flaky else ("✓" if cell.passed else "✗")
    sub = f'<span class="sub">{_e(" · ".join(subs))}</span>' if subs else ""
    title = cell.summary
    if not cell.passed and not cell.flaky and cell.worst is not None:
        title = "failed: " + "; ".join(why_failed(cell.worst)) + " — " + title
    return (
        f'<td class="{" ".join(classes)}" data-outcome="{_e(o.name)}" data-key="{_e(cell.key)}">'
        f'<a class="inner" href="{_e(_href(cell.key))}" aria-label="{_e(label)}" title="{_e(one_line(title, 600))}">'
        f'<span class="abbr">{_e(o.abbr)}</span><span class="mark" aria-hidden="true">{mark}</span>{sub}</a></td>'
    )


def _matrix(matrix: Matrix) -> str:
    head = ['<th class="corner" scope="col">scenario <span aria-hidden="true">╲</span> client</th>']
    for c in matrix.clients:
        version = c.get("version") or ("not installed" if not c.get("available", True) else "")
        cls = ' class="unavailable"' if not c.get("available", True) else ""
        head.append(
            f'<th scope="col"{cls} title="{_e(c.get("reason") or "")}"><span class="cname">{_e(c["name"])}'
            f'</span><span class="cver">{_e(version)}</span></th>'
        )
    rows = []
    for s, cells in matrix.rows():
        failing = any(c.ran and not c.passed for c in cells)
        faults = " ".join(
            f'<span class="ftag">{_e(f.get("type", "?"))}</span>' for f in s.get("faults") or []
        )
        rows.append(
            f'<tr class="{"has-fail" if failing else "all-pass"}"><th scope="row" title="{_e(s.get("description"))}">'
            f'<span class="sname">{_e(s["name"])}</span><span class="sfaults">{faults or "no faults"}</span></th>'
            + "".join(_cell_html(c) for c in cells)
            + "</tr>"
        )
    none = (
        ""
        if any("has-fail" in row for row in rows)
        else '<p class="none-failing" id="none-failing" hidden>No scenario has a failure: every cell passed.</p>'
    )
    return (
        f'<div class="matrix-scroll"><table class="matrix" id="matrix"><thead><tr>{"".join(head)}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{none}</div>"
    )


# ---------------------------------------------------------------------------------------- details


def _is_time(column: str) -> bool:
    return column == "t" or column.startswith("t_")


def _heading(column: str) -> str:
    """A column's heading; a time column names its zero, which the wire excerpt and the timeline share
    (the runner puts every time of a result on the cell's clock)."""
    return f"{column} ({CELL_CLOCK})" if _is_time(column) else column


def _table(rows: list[dict[str, Any]], first: tuple[str, ...] = ()) -> str:
    if not rows:
        return '<p class="muted">none</p>'
    cols = [k for k in first if any(k in r for r in rows)]
    for r in rows:
        cols += [k for k in r if k not in cols]
    head = "".join(f"<th>{_e(_heading(c))}</th>" for c in cols)
    body = []
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c)
            if _is_time(c):
                v = format_seconds(v) if isinstance(v, (int, float)) else v
            elif isinstance(v, (dict, list)):
                v = json.dumps(v, ensure_ascii=False)
            short = isinstance(v, (int, float)) or _is_time(c) or len(str(v)) <= 12
            cells.append(f"<td{' class=nw' if short else ''}>{'' if v is None else _e(v)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f'<div class="tscroll"><table class="data"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _idlist(label: str, ids: list[Any], cls: str = "") -> str:
    if not ids:
        return ""
    shown = "".join(f"<code>{_e(one_line(i, 80))}</code>" for i in ids[:60])
    more = f' <span class="muted">… and {len(ids) - 60} more</span>' if len(ids) > 60 else ""
    return f'<div class="idlist {cls}"><dt>{_e(label)} ({len(ids)})</dt><dd>{shown}{more}</dd></div>'


def _evidence(ev: dict[str, Any]) -> str:
    nums = [(k, ev.get(k)) for k in ("sent", "delivered", "received") if ev.get(k) is not None]
    parts = [
        '<dl class="counts">'
        + "".join(f"<div><dt>{k}</dt><dd>{_e(v)}</dd></div>" for k, v in nums)
        + (f"<div><dt>end</dt><dd>{_e(ev['end'])}</dd></div>" if ev.get("end") else "")
        + "</dl>"
    ]
    lists = (
        _idlist("missing", ev.get("missing") or [], "bad")
        + _idlist("duplicated", ev.get("duplicated") or [])
        + _idlist("reordered", ev.get("reordered") or [])
        + _idlist("garbled", ev.get("garbled") or [], "bad")
        + _idlist("extra (never sent)", ev.get("extra") or [], "bad")
    )
    if lists:
        parts.append(f'<dl class="ids">{lists}</dl>')
    for key, label in (
        ("oracle_vs_sent", "what the fault changed"),
        ("received_vs_oracle", "where the client parsed the wire differently"),
    ):
        if ev.get(key):
            parts.append(f'<p class="note"><b>{label}:</b> {_e(ev[key])}</p>')
    if ev.get("message"):
        parts.append(_message(ev["message"]))
    if ev.get("matched_by"):
        parts.append(
            f'<p class="note muted">events matched by {_e(ev["matched_by"])}'
            + (f"; compared as {_e(ev['projection'])}" if ev.get("projection") else "")
            + "</p>"
        )
    return "".join(parts)


def _message(m: dict[str, Any]) -> str:
    """An LLM client's message beside the truth (faultproxy.scenarios.llm_message)."""
    got, sent = m.get("received") or {}, m.get("truth") or {}

    def calls(message: dict[str, Any]) -> str:
        return (
            "<br>".join(
                f"{_e(c.get('name'))}({_e(c.get('arguments'))})" for c in message.get("tool_calls") or []
            )
            or "–"
        )

    rows = [
        ("text", _e(got.get("text") or ""), _e(sent.get("text") or "")),
        ("tool calls", calls(got), calls(sent)),
        ("finish reason", _e(got.get("finish_reason")), _e(sent.get("finish_reason"))),
        ("usage", _e(got.get("usage")), _e(sent.get("usage"))),
    ]
    if got.get("blocks") is not None:
        rows.append(("content blocks", _e(", ".join(got["blocks"])), _e(", ".join(sent.get("blocks") or []))))
    if sent.get("error"):
        error = sent["error"]
        rows.append(
            (
                "server's error",
                "–",
                _e(f"{error.get('type')}: {error.get('message')} (after {error.get('after')} deltas)"),
            )
        )
    body = "".join(f"<tr><th>{label}</th><td>{a}</td><td>{b}</td></tr>" for label, a, b in rows)
    diffs = "".join(f"<li>{_e(d)}</li>" for d in m.get("differences") or [])
    return (
        f'<table class="message"><caption>the message the application got, beside what was sent</caption>'
        f"<tr><th></th><th>received</th><th>sent</th></tr>{body}</table>"
        + (f'<ul class="differences">{diffs}</ul>' if diffs else "")
    )


def _expectations(result: dict[str, Any]) -> str:
    items = []
    for x in result.get("expectations") or []:
        met = bool(x.get("met"))
        detail = f' <span class="detail">— {_e(x["detail"])}</span>' if x.get("detail") else ""
        items.append(
            f'<li class="{"met" if met else "unmet"}"><span class="tick" aria-hidden="true">'
            f'{"✓" if met else "✗"}</span><span class="sr">{"met" if met else "unmet"}:</span> '
            f"{_e(x.get('name'))}{detail}</li>"
        )
    return f'<ul class="expectations">{"".join(items) or "<li class=muted>none</li>"}</ul>'


def _known(result: dict[str, Any]) -> str:
    if result.get("known_changed"):
        recorded = (result.get("evidence") or {}).get("known_recorded")
        was = f" Recorded: <b>{_e(recorded)}</b>." if recorded else ""
        return (
            f'<p class="known-box changed"><b>Known behaviour changed.</b>{was} Now: '
            f"<b>{_e(outcome(result['outcome']).label)}</b>. This fails the run until the record is updated.</p>"
        )
    if result.get("known"):
        how = "passes" if result.get("passed") else "does not pass"
        return (
            f'<p class="known-box"><b>Recorded known behaviour</b> — this cell {how} because it matches: '
            f"{_e(result['known'])}</p>"
        )
    return ""


def _transcript_head(tr: dict[str, Any]) -> str:
    events = tr.get("events") or []
    return (
        f"Transcript: {len(events)} event{'s' * (len(events) != 1)}, "
        f"{len(tr.get('attempts') or [])} connection attempt(s), end <b>{_e(tr.get('end'))}</b>"
        f"{', exit code ' + _e(tr['exit_code']) if tr.get('exit_code') not in (None, 0) else ''}"
    )


def _transcript_lazy(tr: dict[str, Any] | None, index: int) -> str:
    """A collapsed transcript the page's script fills from the embedded report when it is opened.

    Transcripts are most of a report's bytes; rendering each one twice (as HTML and in the
    embedded JSON) would double the page.
    """
    if not tr:
        return ""
    return (
        f'<details class="transcript" data-result="{index}"><summary>{_transcript_head(tr)}</summary>'
        '<div class="tr-body"><p class="muted nojs">The transcript is in report.json (this page shows it '
        "with JavaScript enabled).</p></div></details>"
    )


def _transcript(tr: dict[str, Any] | None) -> str:
    if not tr:
        return ""
    events = tr.get("events") or []
    rows = [
        {
            "#": i + 1,
            "t": e.get("t"),
            "conn": e.get("connection"),
            "type": e.get("type"),
            "id": e.get("id"),
            "data": e.get("data"),
        }
        for i, e in enumerate(events[:MAX_TRANSCRIPT_EVENTS])
    ]
    more = (
        f'<p class="muted">… {len(events) - MAX_TRANSCRIPT_EVENTS} more events in report.json</p>'
        if len(events) > MAX_TRANSCRIPT_EVENTS
        else ""
    )
    notes = "".join(f"<li>{_e(n)}</li>" for n in tr.get("notes") or [])
    stderr = f"<h5>stderr (tail)</h5>{_pre(tr['stderr_tail'], 'stderr')}" if tr.get("stderr_tail") else ""
    raw = json.dumps(tr, ensure_ascii=False, indent=1)
    return (
        f'<details class="transcript"><summary>{_transcript_head(tr)}</summary>'
        + (f'<ul class="notes">{notes}</ul>' if notes else "")
        + f"<h5>events the application saw</h5>{_table(rows)}{more}"
        + f"<h5>connection attempts</h5>{_table(tr.get('attempts') or [], ('number', 't', 'last_event_id'))}"
        + stderr
        + f'<details class="raw"><summary>raw transcript JSON</summary>{_pre(raw, "json")}</details></details>'
    )


def _result(result: dict[str, Any], cell: Cell, scenario: dict[str, Any], index: int, lazy: bool) -> str:
    o = outcome(result["outcome"])
    ev = result.get("evidence") or {}
    passed = bool(result.get("passed"))
    badges = [
        f'<span class="badge o-{o.name}">{_e(o.label)}</span>',
        f'<span class="badge {"pass" if passed else "fail"}">{"✓ passed" if passed else "✗ failed"}</span>',
    ]
    if result.get("known") and passed:
        badges.append('<span class="badge known">known behaviour</span>')
    if result.get("known_changed"):
        badges.append('<span class="badge changed">known behaviour changed</span>')
    if result.get("duration_s") is not None:
        badges.append(f'<span class="muted">{_e(format_seconds(result["duration_s"]))}</span>')
    rep = repetition_label(result, cell)
    error = ev.get("error") or {}
    err_html = ""
    if error:
        err_html = (
            '<section class="error-box"><h4>Client error</h4>'
            + _pre(f"{error.get('type') or 'error'}: {error.get('message') or ''}", "error")
            + "</section>"
        )
    capture = result.get("capture_excerpt")
    capture_html = f"<section><h4>Wire capture (excerpt)</h4>{_capture(capture)}</section>" if capture else ""
    svg_id = f"tl-{index}"  # index: the result's place in report["results"]
    return f"""<article class="result" data-outcome="{_e(o.name)}">
<h3>{"Repetition " + _e(rep.strip(" #")) + " · " if rep else ""}{"".join(badges)}</h3>
{_why(result)}<p class="summary">{_e(ev.get("summary", ""))}</p>
{f'<p class="path">path: {_e(result["path"])}</p>' if result.get("path") else ""}
{_known(result)}
<div class="two">
<section><h4>Expectations</h4>{_expectations(result)}</section>
<section><h4>Evidence</h4>{_evidence(ev)}</section>
</div>
{err_html}
<section class="tl-box"><h4>Event timeline <span class="muted">(time {CELL_CLOCK})</span></h4>{timeline_svg(result, svg_id=svg_id)}{timeline_legend(result)}</section>
<section><h4>Faults fired</h4>{_table(ev.get("faults_fired") or [], ("t", "fault", "fault_type", "conn", "detail"))}</section>
<section><h4>Connection attempts</h4>{_table(ev.get("attempts") or [], ("number", "t", "last_event_id", "status"))}</section>
{_exchanges(ev.get("exchanges"))}
{capture_html}
{_transcript_lazy(result.get("transcript"), index) if lazy else _transcript(result.get("transcript"))}
</article>"""


def _why(result: dict[str, Any]) -> str:
    """For a failing result, the line that says why, above its summary."""
    if result.get("passed"):
        return ""
    reasons = "".join(f"<li>{_e(r)}</li>" for r in why_failed(result)) or "<li>failed</li>"
    return f'<div class="why"><b>Failed because</b><ul>{reasons}</ul></div>'


def _exchanges(exchanges: Any) -> str:
    if not exchanges or not isinstance(exchanges, list):
        return ""
    rows = [x for x in exchanges if isinstance(x, dict)]
    return (
        f"<section><h4>Exchanges the proxy delivered</h4>"
        f"{_table(rows, ('conn', 'exchange', 'method', 'target', 'status', 'events', 'end', 'trouble'))}</section>"
    )


def _capture(text: str) -> str:
    """The capture with direction and fault lines marked (for colour), every line escaped."""
    text = clean(text)
    if len(text) > MAX_PRE:
        text = text[:MAX_PRE] + f"\n… ({len(text) - MAX_PRE} more characters in report.json)"
    lines = []
    for line in text.split("\n"):
        cls = (
            "cap-fault"
            if " · fault" in line
            else "cap-note"
            if " · " in line
            else "cap-req"
            if " → " in line
            else "cap-resp"
            if " ← " in line
            else ""
        )
        lines.append(f'<span class="{cls}">{html.escape(line)}</span>' if cls else html.escape(line))
    return f'<pre class="capture">{chr(10).join(lines)}</pre>'


def _panel(
    cell: Cell, scenario: dict[str, Any], client: dict[str, Any], indexes: dict[int, int], lazy: bool
) -> str:
    faults = "".join(
        f"<li><code>{_e(f.get('name') or f.get('type'))}</code> <span class='muted'>{_e(f.get('type'))}</span> "
        f"<code class='attrs'>{_e(json.dumps(f.get('attributes') or {}, ensure_ascii=False))}</code></li>"
        for f in scenario.get("faults") or []
    )
    where = scenario.get("file") or ""
    if where and scenario.get("line"):
        where += f":{scenario['line']}"
    version = client.get("version") or ""
    articles = "".join(_result(r, cell, scenario, indexes[id(r)], lazy) for r in cell.results)
    return f"""<section class="detail" id="{_e(cell.key)}" tabindex="-1" aria-labelledby="h-{_e(cell.key)}">
<div class="detail-head"><h2 id="h-{_e(cell.key)}"><span class="sname">{_e(cell.scenario)}</span> <span class="x">×</span>
<span class="cname">{_e(cell.client)}</span> <span class="cver">{_e(version)}</span></h2>
<a class="close" href="#matrix" aria-label="close details, back to the matrix">✕ close</a></div>
<p class="scenario-desc">{_e(scenario.get("description"))}</p>
<p class="scenario-file muted">{_e(where)}</p>
{f'<ul class="fault-specs">{faults}</ul>' if faults else ""}
{articles}
</section>"""


# ---------------------------------------------------------------------------------------- page


LAZY_CELLS = 60  # above this many cells, the panels and the embedded report are packed (see render_html)


def _packed(text: str) -> str:
    """gzip (deterministic: no timestamp) and base64: what the page's script inflates."""
    return base64.b64encode(gzip.compress(text.encode("utf-8"), 9, mtime=0)).decode("ascii")


def render_html(report: dict[str, Any], *, embed: bool = True) -> str:
    """The whole page for a (validated) report.

    ``embed``: include the report as JSON (to save it from the page); transcripts are then
    rendered from it when opened. Without it, transcripts are rendered into the page.

    A report of more than :data:`LAZY_CELLS` cells loads its cells lazily: each cell's panel is
    rendered as usual but kept gzip'd in the page, and inflated (``DecompressionStream``) the first
    time it is opened; the embedded report is packed the same way. 488 cells of the default suite
    made a 10.7 MB page whose every panel the browser parsed up front; packed, the page is a
    fifth of that and opens at once. A small report keeps its panels in the page, where they work
    without JavaScript too (deep links by CSS ``:target``).
    """
    matrix = build_matrix(report)
    indexes = {id(r): i for i, r in enumerate(report.get("results", []))}
    panels = {}
    for s, cells in matrix.rows():
        for c, cell in zip(matrix.clients, cells):
            if cell.ran:
                panels[cell.key] = _panel(cell, s, c, indexes, lazy=embed)
    lazy = embed and len(panels) > LAZY_CELLS
    data = ""
    if lazy:
        packed = {key: _packed(panel) for key, panel in panels.items()}
        data = (
            f'<script type="application/json" id="panel-data">{embed_json(packed)}</script>'
            f'<script type="application/json" id="report-data" data-packed="gzip">'
            f"{embed_json(_packed(json.dumps(report, ensure_ascii=True, separators=(',', ':'))))}</script>"
        )
        details = (
            '<noscript><p class="hint">This report has many cells: each one\'s details open with JavaScript. '
            "Without it, report.json beside this page holds them.</p></noscript>"
        )
    else:
        if embed:
            data = f'<script type="application/json" id="report-data">{embed_json(report)}</script>'
        details = "".join(panels.values())
    script_hash = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    csp = (
        f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{script_hash}'; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )
    title = f"faultproxy report {clean(report.get('run_id', ''))}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{_e(csp)}">
<meta name="generator" content="faultproxy {_e(report.get("faultproxy_version", ""))}">
<title>{html.escape(title)}</title>
<style>{CSS}</style>
</head>
<body>
<a class="skip" href="#matrix">skip to the matrix</a>
{_header(report, matrix)}
<main>
<section class="matrix-box" aria-labelledby="matrix-h">
<div class="matrix-bar"><h2 id="matrix-h">Scenarios × clients</h2>
<label class="filter"><input type="checkbox" id="only-failing"> only scenarios with failures</label></div>
<p class="hint">Click a cell (or focus it and press Enter; arrow keys move) for its evidence, timeline and wire capture.</p>
{_matrix(matrix)}
{_legend()}
</section>
<div id="details">{details}</div>
</main>
<footer>faultproxy {_e(report.get("faultproxy_version", ""))} · {_e(report.get("schema", ""))} ·
run {_e(report.get("run_id", ""))} · this page is self-contained and works offline</footer>
{data}
<script>{SCRIPT}</script>
</body>
</html>
"""


_ASSETS = Path(__file__).resolve().parent
SCRIPT = (
    (_ASSETS / "page.js")
    .read_text(encoding="utf-8")
    .replace("__MAX_EVENTS__", str(MAX_TRANSCRIPT_EVENTS))
    .replace("__MAX_PRE__", str(MAX_PRE))
    .replace("__CELL_CLOCK__", CELL_CLOCK)
)
CSS = (_ASSETS / "page.css").read_text(encoding="utf-8")
