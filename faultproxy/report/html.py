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
import hashlib
import html
import json
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
        verdict = (f'<p class="verdict pass"><span class="big">PASSED</span> all {tot.results} results '
                   f'({tot.cells} cells) met their expectations'
                   + (f", {tot.known} as recorded known behaviours" if tot.known else "") + "</p>")
    elif tot.verdict == "flaky":
        verdict = (f'<p class="verdict flaky"><span class="big">FLAKY</span> no cell failed, but {tot.cells_flaky} of '
                   f'{tot.cells} cells passed in some runs and not in others (each with its rate below)</p>')
    else:
        verdict = (f'<p class="verdict fail"><span class="big">FAILED</span> {tot.failed} of {tot.results} results '
                   f'({tot.cells_failed} of {tot.cells} cells) did not pass'
                   + (f"; {tot.known_changed} known behaviour{'s' * (tot.known_changed != 1)} changed"
                      if tot.known_changed else "") + "</p>")
    note = interrupted_note(report)
    if note:
        verdict = f'<p class="verdict interrupted"><span class="big">INTERRUPTED</span> {_e(note)}</p>' + verdict
    env = report.get("environment") or {}
    meta = [("started", report.get("started")), ("duration", format_seconds(report.get("duration_s"))),
            ("seed", report.get("seed")), ("faultproxy", report.get("faultproxy_version"))]
    meta += [(k, v) for k, v in env.items() if isinstance(v, (str, int, float))]
    chips = []
    for o in OUTCOMES:
        n = tot.by_outcome.get(o.name, 0)
        chips.append(f'<li class="chip o-{o.name}{" zero" if not n else ""}" title="{_e(o.meaning)}">'
                     f'<span class="abbr">{_e(o.abbr)}</span><span class="lbl">{_e(o.label)}</span>'
                     f'<b class="n">{n}</b></li>')
    extra = []
    if tot.known:
        extra.append(f'<li class="chip plain"><span class="lbl">passed as known</span><b class="n">{tot.known}</b></li>')
    if tot.known_changed:
        extra.append(f'<li class="chip plain changed"><span class="lbl">known changed</span>'
                     f'<b class="n">{tot.known_changed}</b></li>')
    if tot.skipped:
        extra.append(f'<li class="chip plain"><span class="lbl">skipped</span><b class="n">{tot.skipped}</b></li>')
    return f"""<header class="top">
<div class="titlebar"><h1>faultproxy report</h1><code class="run-id">{_e(report.get("run_id"))}</code>
<nav class="files"><a href="report.json">report.json</a><a href="junit.xml">junit.xml</a><a href="summary.md">summary.md</a>
<button type="button" id="save-json" hidden>save embedded JSON</button></nav></div>
{verdict}
<dl class="meta">{"".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in meta if v is not None)}</dl>
<ul class="totals" aria-label="results by outcome">{"".join(chips)}{"".join(extra)}</ul>
</header>"""


# ---------------------------------------------------------------------------------------- matrix


def _legend() -> str:
    items = "".join(f'<li><span class="swatch o-{o.name}">{_e(o.abbr)}</span> <b>{_e(o.label)}</b>: '
                    f'{_e(o.meaning)}</li>' for o in OUTCOMES)
    marks = ('<li><span class="swatch o-ok pass-mark">✓</span> passed: met every expectation</li>'
             '<li><span class="swatch o-error fail-mark">✗</span> failed</li>'
             '<li><span class="swatch o-silent_loss is-known">known</span> passed only as a recorded known behaviour'
             ' (an expected failure)</li>'
             '<li><span class="swatch o-error is-changed">changed</span> a recorded known behaviour changed: fails'
             ' the run until the record is updated</li>'
             '<li><span class="swatch o-error flaky-mark">≈</span> flaky: the outcome varied between runs'
             ' (neither passed nor failed; the cell says how many runs passed)</li>'
             '<li><span class="swatch na">n/a</span> client not available</li>')
    return (f'<details class="legend-box" open><summary>Legend: outcomes and marks</summary><ul class="legend-list">{items}{marks}</ul>'
            "</details>")


def _cell_html(cell: Cell) -> str:
    if not cell.ran:
        if cell.unavailable:
            return (f'<td class="cell na" title="{_e(cell.unavailable)}"><span class="inner">'
                    f'<span class="abbr">n/a</span><span class="sub">skipped</span></span></td>')
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
    label = (f"{cell.scenario} × {cell.client}: {o.label}, {verdict}"
             + (", known behaviour" if "is-known" in classes else "")
             + (", known behaviour changed" if "is-changed" in classes else "")
             + (f", {len(cell.results)} repetitions" if len(cell.results) > 1 else ""))
    mark = "≈" if cell.flaky else ("✓" if cell.passed else "✗")
    sub = f'<span class="sub">{_e(" · ".join(subs))}</span>' if subs else ""
    return (f'<td class="{" ".join(classes)}" data-outcome="{_e(o.name)}" data-key="{_e(cell.key)}">'
            f'<a class="inner" href="{_e(_href(cell.key))}" aria-label="{_e(label)}" title="{_e(cell.summary)}">'
            f'<span class="abbr">{_e(o.abbr)}</span><span class="mark" aria-hidden="true">{mark}</span>{sub}</a></td>')


def _matrix(matrix: Matrix) -> str:
    head = ['<th class="corner" scope="col">scenario <span aria-hidden="true">╲</span> client</th>']
    for c in matrix.clients:
        version = c.get("version") or ("not installed" if not c.get("available", True) else "")
        cls = ' class="unavailable"' if not c.get("available", True) else ""
        head.append(f'<th scope="col"{cls} title="{_e(c.get("reason") or "")}"><span class="cname">{_e(c["name"])}'
                    f'</span><span class="cver">{_e(version)}</span></th>')
    rows = []
    for s, cells in matrix.rows():
        failing = any(c.ran and not c.passed for c in cells)
        faults = " ".join(f'<span class="ftag">{_e(f.get("type", "?"))}</span>' for f in s.get("faults") or [])
        rows.append(f'<tr class="{"has-fail" if failing else "all-pass"}"><th scope="row" title="{_e(s.get("description"))}">'
                    f'<span class="sname">{_e(s["name"])}</span><span class="sfaults">{faults or "no faults"}</span></th>'
                    + "".join(_cell_html(c) for c in cells) + "</tr>")
    return (f'<div class="matrix-scroll"><table class="matrix" id="matrix"><thead><tr>{"".join(head)}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


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
    parts = ['<dl class="counts">' + "".join(f"<div><dt>{k}</dt><dd>{_e(v)}</dd></div>" for k, v in nums)
             + (f'<div><dt>end</dt><dd>{_e(ev["end"])}</dd></div>' if ev.get("end") else "") + "</dl>"]
    lists = (_idlist("missing", ev.get("missing") or [], "bad") + _idlist("duplicated", ev.get("duplicated") or [])
             + _idlist("reordered", ev.get("reordered") or []) + _idlist("garbled", ev.get("garbled") or [], "bad")
             + _idlist("extra (never sent)", ev.get("extra") or [], "bad"))
    if lists:
        parts.append(f'<dl class="ids">{lists}</dl>')
    for key, label in (("oracle_vs_sent", "what the fault changed"),
                       ("received_vs_oracle", "where the client parsed the wire differently")):
        if ev.get(key):
            parts.append(f'<p class="note"><b>{label}:</b> {_e(ev[key])}</p>')
    if ev.get("message"):
        parts.append(_message(ev["message"]))
    if ev.get("matched_by"):
        parts.append(f'<p class="note muted">events matched by {_e(ev["matched_by"])}'
                     + (f"; compared as {_e(ev['projection'])}" if ev.get("projection") else "") + "</p>")
    return "".join(parts)


def _message(m: dict[str, Any]) -> str:
    """An LLM client's message beside the truth (faultproxy.scenarios.llm_message)."""
    got, sent = m.get("received") or {}, m.get("truth") or {}

    def calls(message: dict[str, Any]) -> str:
        return "<br>".join(f"{_e(c.get('name'))}({_e(c.get('arguments'))})" for c in message.get("tool_calls") or []) or "–"

    rows = [("text", _e(got.get("text") or ""), _e(sent.get("text") or "")),
            ("tool calls", calls(got), calls(sent)),
            ("finish reason", _e(got.get("finish_reason")), _e(sent.get("finish_reason"))),
            ("usage", _e(got.get("usage")), _e(sent.get("usage")))]
    body = "".join(f"<tr><th>{label}</th><td>{a}</td><td>{b}</td></tr>" for label, a, b in rows)
    diffs = "".join(f"<li>{_e(d)}</li>" for d in m.get("differences") or [])
    return (f'<table class="message"><caption>the message the application got, beside what was sent</caption>'
            f'<tr><th></th><th>received</th><th>sent</th></tr>{body}</table>'
            + (f'<ul class="differences">{diffs}</ul>' if diffs else ""))


def _expectations(result: dict[str, Any]) -> str:
    items = []
    for x in result.get("expectations") or []:
        met = bool(x.get("met"))
        detail = f' <span class="detail">— {_e(x["detail"])}</span>' if x.get("detail") else ""
        items.append(f'<li class="{"met" if met else "unmet"}"><span class="tick" aria-hidden="true">'
                     f'{"✓" if met else "✗"}</span><span class="sr">{"met" if met else "unmet"}:</span> '
                     f'{_e(x.get("name"))}{detail}</li>')
    return f'<ul class="expectations">{"".join(items) or "<li class=muted>none</li>"}</ul>'


def _known(result: dict[str, Any]) -> str:
    if result.get("known_changed"):
        recorded = (result.get("evidence") or {}).get("known_recorded")
        was = f" Recorded: <b>{_e(recorded)}</b>." if recorded else ""
        return (f'<p class="known-box changed"><b>Known behaviour changed.</b>{was} Now: '
                f'<b>{_e(outcome(result["outcome"]).label)}</b>. This fails the run until the record is updated.</p>')
    if result.get("known"):
        how = "passes" if result.get("passed") else "does not pass"
        return (f'<p class="known-box"><b>Recorded known behaviour</b> — this cell {how} because it matches: '
                f'{_e(result["known"])}</p>')
    return ""


def _transcript_head(tr: dict[str, Any]) -> str:
    events = tr.get("events") or []
    return (f'Transcript: {len(events)} event{"s" * (len(events) != 1)}, '
            f'{len(tr.get("attempts") or [])} connection attempt(s), end <b>{_e(tr.get("end"))}</b>'
            f'{", exit code " + _e(tr["exit_code"]) if tr.get("exit_code") not in (None, 0) else ""}')


def _transcript_lazy(tr: dict[str, Any] | None, index: int) -> str:
    """A collapsed transcript the page's script fills from the embedded report when it is opened.

    Transcripts are most of a report's bytes; rendering each one twice (as HTML and in the
    embedded JSON) would double the page.
    """
    if not tr:
        return ""
    return (f'<details class="transcript" data-result="{index}"><summary>{_transcript_head(tr)}</summary>'
            '<div class="tr-body"><p class="muted nojs">The transcript is in report.json (this page shows it '
            "with JavaScript enabled).</p></div></details>")


def _transcript(tr: dict[str, Any] | None) -> str:
    if not tr:
        return ""
    events = tr.get("events") or []
    rows = [{"#": i + 1, "t": e.get("t"), "conn": e.get("connection"), "type": e.get("type"), "id": e.get("id"),
             "data": e.get("data")} for i, e in enumerate(events[:MAX_TRANSCRIPT_EVENTS])]
    more = (f'<p class="muted">… {len(events) - MAX_TRANSCRIPT_EVENTS} more events in report.json</p>'
            if len(events) > MAX_TRANSCRIPT_EVENTS else "")
    notes = "".join(f"<li>{_e(n)}</li>" for n in tr.get("notes") or [])
    stderr = (f'<h5>stderr (tail)</h5>{_pre(tr["stderr_tail"], "stderr")}' if tr.get("stderr_tail") else "")
    raw = json.dumps(tr, ensure_ascii=False, indent=1)
    return (f'<details class="transcript"><summary>{_transcript_head(tr)}</summary>'
            + (f'<ul class="notes">{notes}</ul>' if notes else "")
            + f'<h5>events the application saw</h5>{_table(rows)}{more}'
            + f'<h5>connection attempts</h5>{_table(tr.get("attempts") or [], ("number", "t", "last_event_id"))}'
            + stderr
            + f'<details class="raw"><summary>raw transcript JSON</summary>{_pre(raw, "json")}</details></details>')


def _result(result: dict[str, Any], cell: Cell, scenario: dict[str, Any], index: int, lazy: bool) -> str:
    o = outcome(result["outcome"])
    ev = result.get("evidence") or {}
    passed = bool(result.get("passed"))
    badges = [f'<span class="badge o-{o.name}">{_e(o.label)}</span>',
              f'<span class="badge {"pass" if passed else "fail"}">{"✓ passed" if passed else "✗ failed"}</span>']
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
        err_html = ('<section class="error-box"><h4>Client error</h4>'
                    + _pre(f"{error.get('type') or 'error'}: {error.get('message') or ''}", "error") + "</section>")
    capture = result.get("capture_excerpt")
    capture_html = (f'<section><h4>Wire capture (excerpt)</h4>{_capture(capture)}</section>' if capture else "")
    svg_id = f"tl-{index}"  # index: the result's place in report["results"]
    return f"""<article class="result" data-outcome="{_e(o.name)}">
<h3>{"Repetition " + _e(rep.strip(" #")) + " · " if rep else ""}{"".join(badges)}</h3>
<p class="summary">{_e(ev.get("summary", ""))}</p>
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


def _exchanges(exchanges: Any) -> str:
    if not exchanges or not isinstance(exchanges, list):
        return ""
    rows = [x for x in exchanges if isinstance(x, dict)]
    return (f"<section><h4>Exchanges the proxy delivered</h4>"
            f'{_table(rows, ("conn", "exchange", "method", "target", "status", "events", "end", "trouble"))}</section>')


def _capture(text: str) -> str:
    """The capture with direction and fault lines marked (for colour), every line escaped."""
    text = clean(text)
    if len(text) > MAX_PRE:
        text = text[:MAX_PRE] + f"\n… ({len(text) - MAX_PRE} more characters in report.json)"
    lines = []
    for line in text.split("\n"):
        cls = ("cap-fault" if " · fault" in line else "cap-note" if " · " in line else
               "cap-req" if " → " in line else "cap-resp" if " ← " in line else "")
        lines.append(f'<span class="{cls}">{html.escape(line)}</span>' if cls else html.escape(line))
    return f'<pre class="capture">{chr(10).join(lines)}</pre>'


def _panel(cell: Cell, scenario: dict[str, Any], client: dict[str, Any], indexes: dict[int, int],
           lazy: bool) -> str:
    faults = "".join(
        f"<li><code>{_e(f.get('name') or f.get('type'))}</code> <span class='muted'>{_e(f.get('type'))}</span> "
        f"<code class='attrs'>{_e(json.dumps(f.get('attributes') or {}, ensure_ascii=False))}</code></li>"
        for f in scenario.get("faults") or [])
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


def render_html(report: dict[str, Any], *, embed: bool = True) -> str:
    """The whole page for a (validated) report.

    ``embed``: include the report as JSON (to save it from the page); transcripts are then
    rendered from it when opened. Without it, transcripts are rendered into the page.
    """
    matrix = build_matrix(report)
    indexes = {id(r): i for i, r in enumerate(report.get("results", []))}
    panels = []
    for s, cells in matrix.rows():
        for c, cell in zip(matrix.clients, cells):
            if cell.ran:
                panels.append(_panel(cell, s, c, indexes, lazy=embed))
    data = f'<script type="application/json" id="report-data">{embed_json(report)}</script>' if embed else ""
    script_hash = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    csp = (f"default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{script_hash}'; img-src data:; "
           "base-uri 'none'; form-action 'none'")
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
<div id="details">{"".join(panels)}</div>
</main>
<footer>faultproxy {_e(report.get("faultproxy_version", ""))} · {_e(report.get("schema", ""))} ·
run {_e(report.get("run_id", ""))} · this page is self-contained and works offline</footer>
{data}
<script>{SCRIPT}</script>
</body>
</html>
"""


_SCRIPT = r"""
(function () {
  "use strict";
  var matrix = document.getElementById("matrix");
  var links = Array.prototype.slice.call(matrix.querySelectorAll("td.cell a.inner"));
  var current = null;

  function target() {
    var raw = location.hash.slice(1);
    if (!raw) return null;
    var key;
    try { key = decodeURIComponent(raw); } catch (e) { key = raw; }
    var el = document.getElementById(key);
    return el && el.classList.contains("detail") ? el : null;
  }
  function cellFor(panel) {
    if (!panel) return null;
    for (var i = 0; i < links.length; i++) {
      if (links[i].parentNode.getAttribute("data-key") === panel.id) return links[i];
    }
    return null;
  }
  function sync(focus) {
    var panel = target();
    document.querySelectorAll(".detail.open").forEach(function (p) { if (p !== panel) p.classList.remove("open"); });
    if (current) { current.parentNode.classList.remove("selected"); current.removeAttribute("aria-current"); }
    current = cellFor(panel);
    if (current) { current.parentNode.classList.add("selected"); current.setAttribute("aria-current", "true"); }
    if (panel) {
      panel.classList.add("open");
      if (focus) panel.focus({ preventScroll: true });
      panel.scrollIntoView({ block: "start" });
    }
  }
  function close() {
    var back = current;
    history.pushState(null, "", location.pathname + location.search);
    sync(false);
    if (back) back.focus();
  }
  window.addEventListener("hashchange", function () { sync(true); });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && target()) { ev.preventDefault(); close(); }
  });
  document.querySelectorAll(".detail a.close").forEach(function (a) {
    a.addEventListener("click", function (ev) { ev.preventDefault(); close(); });
  });
  matrix.addEventListener("keydown", function (ev) {
    var a = ev.target.closest && ev.target.closest("a.inner");
    if (!a) return;
    var td = a.parentNode, tr = td.parentNode;
    var col = Array.prototype.indexOf.call(tr.children, td);
    var rows = Array.prototype.filter.call(matrix.tBodies[0].rows, function (r) { return r.offsetParent !== null; });
    var row = rows.indexOf(tr);
    var step = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] }[ev.key];
    if (!step) return;
    ev.preventDefault();
    for (var r = row + step[0], c = col + step[1]; r >= 0 && r < rows.length && c > 0 && c < tr.children.length;
         r += step[0], c += step[1]) {
      var next = rows[r].children[c].querySelector("a.inner");
      if (next) { next.focus(); return; }
    }
  });
  // transcripts: built from the embedded report when first opened (DOM text only, never markup)
  var report = null;
  var CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g;
  function clean(v) {
    return String(v).replace(CONTROL, function (c) { return "\\x" + ("0" + c.charCodeAt(0).toString(16)).slice(-2); });
  }
  function secs(t) {
    if (typeof t !== "number") return t == null ? "" : String(t);
    if (t < 1) return Math.round(t * 1000) + " ms";
    if (t < 60) return t.toFixed(2) + " s";
    return Math.floor(t / 60) + " min " + Math.round(t % 60) + " s";
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = clean(text);
    return e;
  }
  function table(rows, first) {
    if (!rows.length) return el("p", "muted", "none");
    var cols = first.filter(function (k) { return rows.some(function (r) { return k in r; }); });
    rows.forEach(function (r) { Object.keys(r).forEach(function (k) { if (cols.indexOf(k) < 0) cols.push(k); }); });
    var wrap = el("div", "tscroll"), t = el("table", "data"), head = el("tr"), body = el("tbody");
    function isTime(c) { return c === "t" || c.indexOf("t_") === 0; }
    cols.forEach(function (c) { head.appendChild(el("th", null, isTime(c) ? c + " (__CELL_CLOCK__)" : c)); });
    t.appendChild(el("thead")).appendChild(head);
    rows.forEach(function (r) {
      var tr = el("tr");
      cols.forEach(function (c) {
        var v = r[c];
        if (isTime(c)) v = secs(v);
        else if (v !== null && typeof v === "object") v = JSON.stringify(v);
        var s = v == null ? "" : String(v);
        tr.appendChild(el("td", s.length <= 12 ? "nw" : null, s));
      });
      body.appendChild(tr);
    });
    t.appendChild(body);
    wrap.appendChild(t);
    return wrap;
  }
  function fillTranscript(details) {
    if (details.getAttribute("data-done")) return;
    var node = document.getElementById("report-data");
    if (!node) return;
    if (!report) report = JSON.parse(node.textContent);
    var result = report.results[Number(details.getAttribute("data-result"))];
    var tr = result && result.transcript;
    if (!tr) return;
    var body = details.querySelector(".tr-body");
    body.textContent = "";
    if (tr.notes && tr.notes.length) {
      var ul = body.appendChild(el("ul", "notes"));
      tr.notes.forEach(function (n) { ul.appendChild(el("li", null, n)); });
    }
    var events = tr.events || [], max = __MAX_EVENTS__;
    body.appendChild(el("h5", null, "events the application saw"));
    body.appendChild(table(events.slice(0, max).map(function (e, i) {
      return { "#": i + 1, t: e.t, conn: e.connection, type: e.type, id: e.id, data: e.data };
    }), []));
    if (events.length > max) body.appendChild(el("p", "muted", "… " + (events.length - max) + " more events in report.json"));
    body.appendChild(el("h5", null, "connection attempts"));
    body.appendChild(table(tr.attempts || [], ["number", "t", "last_event_id"]));
    if (tr.stderr_tail) {
      body.appendChild(el("h5", null, "stderr (tail)"));
      body.appendChild(el("pre", "stderr", tr.stderr_tail));
    }
    var raw = body.appendChild(el("details", "raw"));
    raw.appendChild(el("summary", null, "raw transcript JSON"));
    var text = JSON.stringify(tr, null, 1);
    if (text.length > __MAX_PRE__) text = text.slice(0, __MAX_PRE__) + "\n… (the rest is in report.json)";
    raw.appendChild(el("pre", "json", text));
    details.setAttribute("data-done", "1");
  }
  document.addEventListener("toggle", function (ev) {
    var d = ev.target;
    if (d.open && d.matches && d.matches("details.transcript[data-result]")) fillTranscript(d);
  }, true);

  var filter = document.getElementById("only-failing");
  filter.addEventListener("change", function () { matrix.classList.toggle("only-failing", filter.checked); });
  var data = document.getElementById("report-data");
  var save = document.getElementById("save-json");
  if (data && save && window.Blob && URL.createObjectURL) {
    save.hidden = false;
    save.addEventListener("click", function () {
      var text = JSON.stringify(JSON.parse(data.textContent), null, 2);
      var a = document.createElement("a");
      a.href = URL.createObjectURL(new Blob([text + "\n"], { type: "application/json" }));
      a.download = "report.json";
      document.body.appendChild(a); a.click(); a.remove();
    });
  }
  document.documentElement.classList.add("js");
  sync(false);
})();
"""

SCRIPT = (_SCRIPT.replace("__MAX_EVENTS__", str(MAX_TRANSCRIPT_EVENTS)).replace("__MAX_PRE__", str(MAX_PRE))
          .replace("__CELL_CLOCK__", CELL_CLOCK))

CSS = r"""
:root {
  --fg: #1d2127; --muted: #5d6673; --bg: #f6f7f9; --card: #ffffff; --line: #d9dde3; --accent: #0072B2;
  --ok-bg: #cdebdf; --ok-fg: #064d38; --ok-bd: #7cc7aa;
  --resumed-bg: #d3e8f6; --resumed-fg: #074470; --resumed-bd: #86bde3;
  --error-bg: #fbe0a8; --error-fg: #6b4300; --error-bd: #e0ac3d;
  --reordered-bg: #e9cfe0; --reordered-fg: #5e1d45; --reordered-bd: #cc8fb5;
  --duplicated-bg: #f4ec8e; --duplicated-fg: #4a4300; --duplicated-bd: #cfc24a;
  --hung-bg: #50555c; --hung-fg: #ffffff; --hung-bd: #2d3136;
  --silent_loss-bg: #D55E00; --silent_loss-fg: #ffffff; --silent_loss-bd: #7a2e00;
  --fail: #b3261e; --pass: #0a6b4c;
  font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", Arial, sans-serif;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font-size: 14px; line-height: 1.45; }
code, pre, .run-id { font-family: ui-monospace, "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace; }
a { color: var(--accent); }
:focus-visible { outline: 3px solid #1d2127; outline-offset: 2px; }
.skip { position: absolute; left: -9999px; }
.skip:focus { left: 8px; top: 8px; background: #fff; padding: 4px 8px; z-index: 9; }
.muted { color: var(--muted); }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }

header.top { background: #1f2933; color: #f2f4f7; padding: 18px 28px 16px; }
.titlebar { display: flex; align-items: baseline; gap: 14px; flex-wrap: wrap; }
.titlebar h1 { margin: 0; font-size: 22px; font-weight: 700; letter-spacing: .2px; }
.run-id { font-size: 15px; background: #334150; padding: 2px 8px; border-radius: 4px; }
.files { margin-left: auto; display: flex; gap: 12px; align-items: baseline; }
.files a { color: #b9dcf5; }
.files button { font: inherit; background: #334150; color: #f2f4f7; border: 1px solid #52657a; border-radius: 4px;
  padding: 2px 8px; cursor: pointer; }
.verdict { margin: 12px 0 10px; font-size: 15px; }
.verdict .big { display: inline-block; font-weight: 800; letter-spacing: .6px; padding: 2px 10px; border-radius: 4px;
  margin-right: 8px; }
.verdict.pass .big { background: #009E73; color: #fff; }
.verdict.fail .big { background: #D55E00; color: #fff; }
.verdict.interrupted .big { background: #E69F00; color: #000; }
.meta { display: flex; flex-wrap: wrap; gap: 4px 22px; margin: 0 0 12px; }
.meta div { display: flex; gap: 6px; }
.meta dt { color: #a9b4c0; }
.meta dd { margin: 0; font-weight: 600; }
.totals { list-style: none; display: flex; flex-wrap: wrap; gap: 8px; margin: 0; padding: 0; }
.chip { display: flex; align-items: center; gap: 7px; padding: 3px 10px 3px 4px; border-radius: 14px;
  background: var(--c-bg); color: var(--c-fg); border: 1px solid var(--c-bd); }
.chip .abbr { font-weight: 800; font-size: 11px; background: rgba(255,255,255,.55); color: inherit; border-radius: 10px;
  padding: 1px 7px; }
.chip.o-silent_loss .abbr, .chip.o-hung .abbr { background: rgba(0,0,0,.25); }
.chip .n { font-size: 15px; }
.chip.zero { opacity: .45; }
.chip.plain { background: #334150; color: #f2f4f7; border-color: #52657a; padding-left: 10px; }
.chip.plain.changed { background: #7a2e00; }

main { padding: 18px 28px 28px; }
.matrix-box, .detail { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 16px 18px; }
.matrix-bar { display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; }
.matrix-bar h2 { margin: 0; font-size: 18px; }
.filter { margin-left: auto; color: var(--muted); }
.hint { color: var(--muted); margin: 4px 0 12px; }
.matrix-scroll { overflow: auto; max-height: 82vh; }
table.matrix { border-collapse: separate; border-spacing: 4px; }
table.matrix th { font-weight: 600; text-align: left; vertical-align: bottom; padding: 4px 6px; }
table.matrix thead th { text-align: center; min-width: 84px; max-width: 120px; position: sticky; top: 0;
  background: var(--card); z-index: 2; font-size: 12.5px; }
table.matrix thead th.corner { text-align: left; color: var(--muted); font-weight: 400; left: 0; z-index: 3; }
.cname { display: block; overflow-wrap: normal; }
.cver { display: block; color: var(--muted); font-weight: 400; font-size: 12px; }
th.unavailable .cname { color: var(--muted); text-decoration: line-through; }
tbody th { position: sticky; left: 0; background: var(--card); z-index: 1; min-width: 180px; vertical-align: middle; }
.sname { display: block; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; }
.sfaults { display: block; color: var(--muted); font-weight: 400; font-size: 11.5px; }
.ftag { display: inline-block; margin-right: 4px; }
.matrix.only-failing tr.all-pass { display: none; }

td.cell { padding: 0; height: 42px; min-width: 84px; border-radius: 6px; position: relative;
  background: var(--c-bg); color: var(--c-fg); border: 1px solid var(--c-bd); }
td.cell .inner { display: flex; flex-direction: column; align-items: center; justify-content: center; height: 100%;
  min-height: 40px; padding: 3px 6px; color: inherit; text-decoration: none; border-radius: 6px; }
td.cell .abbr { font-weight: 800; font-size: 13px; letter-spacing: .5px; }
td.cell .sub { font-size: 10.5px; font-weight: 600; line-height: 1.25; }
td.cell .mark { position: absolute; top: 2px; right: 5px; font-size: 12px; font-weight: 800; }
td.cell.fail .mark { color: var(--fail); }
td.cell.fail.o-silent_loss .mark, td.cell.fail.o-hung .mark { color: #fff; }
td.cell.pass .mark { opacity: .75; }
td.cell.fail { box-shadow: inset 0 0 0 2px var(--c-bd); }
td.cell a.inner:hover { box-shadow: inset 0 0 0 2px rgba(0,0,0,.35); }
td.cell.selected { outline: 3px solid #1d2127; outline-offset: 1px; }
td.cell.o-silent_loss { box-shadow: inset 0 0 0 3px var(--c-bd), 0 0 0 2px #ffd6bd; }
td.cell.o-silent_loss .abbr { font-size: 14px; }
td.cell.o-silent_loss .abbr::before { content: "⚠ "; }
td.cell.is-known, .swatch.is-known { background-image: repeating-linear-gradient(135deg, transparent 0 6px,
  rgba(255,255,255,.5) 6px 10px); }
td.cell.is-known .abbr { text-shadow: 0 0 3px var(--c-bg), 0 0 2px var(--c-bg); }
td.cell.is-known .sub { background: rgba(255,255,255,.9); color: #1d2127; border-radius: 3px; padding: 0 4px; }
td.cell.is-changed, .swatch.is-changed { outline: 3px dashed var(--fail); outline-offset: -3px; }
td.cell.is-changed .sub { background: var(--fail); color: #fff; border-radius: 3px; padding: 0 4px; }
td.cell.mixed .sub { text-decoration: underline dotted; }
td.cell.flaky { outline: 2px dashed #6a5acd; outline-offset: -3px; }
.verdict.flaky .big { background: #6a5acd; color: #fff; }
td.na { background: repeating-linear-gradient(135deg, #eef0f3 0 6px, #e2e5ea 6px 10px); color: var(--muted);
  border: 1px dashed #c3c8d0; text-align: center; }
td.none { background: #f1f2f4; color: #9aa2ad; border: 1px dashed #d5d9df; text-align: center; }
td.na .inner, td.none .inner { display: flex; flex-direction: column; align-items: center; justify-content: center;
  min-height: 40px; }

.o-ok { --c-bg: var(--ok-bg); --c-fg: var(--ok-fg); --c-bd: var(--ok-bd); }
.o-resumed { --c-bg: var(--resumed-bg); --c-fg: var(--resumed-fg); --c-bd: var(--resumed-bd); }
.o-error { --c-bg: var(--error-bg); --c-fg: var(--error-fg); --c-bd: var(--error-bd); }
.o-reordered { --c-bg: var(--reordered-bg); --c-fg: var(--reordered-fg); --c-bd: var(--reordered-bd); }
.o-duplicated { --c-bg: var(--duplicated-bg); --c-fg: var(--duplicated-fg); --c-bd: var(--duplicated-bd); }
.o-hung { --c-bg: var(--hung-bg); --c-fg: var(--hung-fg); --c-bd: var(--hung-bd); }
.o-silent_loss { --c-bg: var(--silent_loss-bg); --c-fg: var(--silent_loss-fg); --c-bd: var(--silent_loss-bd); }

.legend-box { margin-top: 12px; }
.legend-box summary { cursor: pointer; color: var(--muted); }
.legend-list { list-style: none; padding: 0; margin: 8px 0 0; columns: 2 420px; }
.legend-list li { margin: 0 0 6px; break-inside: avoid; }
.swatch { display: inline-block; min-width: 58px; text-align: center; font-weight: 800; font-size: 11px; padding: 2px 6px;
  border-radius: 4px; background: var(--c-bg); color: var(--c-fg); border: 1px solid var(--c-bd); }
.swatch.na { background: repeating-linear-gradient(135deg, #eef0f3 0 6px, #e2e5ea 6px 10px); color: var(--muted);
  border: 1px dashed #c3c8d0; }
.swatch.fail-mark { color: var(--fail); }

#details { margin-top: 18px; }
.detail { display: none; scroll-margin-top: 12px; }
html:not(.js) .detail:target, .detail.open { display: block; }  /* without JS, :target alone */
.detail:focus { outline: none; }
.detail-head { display: flex; align-items: baseline; gap: 12px; }
.detail-head h2 { margin: 0; font-size: 19px; }
.detail-head .x { color: var(--muted); }
.detail-head .sname, .detail-head .cname { display: inline; font-size: 19px; }
.scenario-file { margin: 0 0 6px; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
table.data td.nw { white-space: nowrap; }
.detail-head .cver { display: inline; }
.close { margin-left: auto; text-decoration: none; border: 1px solid var(--line); border-radius: 4px; padding: 2px 10px;
  color: var(--fg); }
.scenario-desc { margin: 6px 0; }
.fault-specs { margin: 0 0 6px; padding-left: 18px; }
.fault-specs .attrs { color: var(--muted); font-size: 12px; }
.result { border-top: 1px solid var(--line); margin-top: 14px; padding-top: 12px; }
.result h3 { margin: 0 0 6px; display: flex; align-items: center; gap: 8px; flex-wrap: wrap; font-size: 15px; }
.badge { font-size: 12px; font-weight: 700; padding: 2px 9px; border-radius: 10px; border: 1px solid var(--c-bd, #ccc);
  background: var(--c-bg, #eee); color: var(--c-fg, #222); }
.badge.pass { --c-bg: #e4f4ed; --c-fg: var(--pass); --c-bd: #98d3bb; }
.badge.fail { --c-bg: #fbe6e4; --c-fg: var(--fail); --c-bd: #e9a29c; }
.badge.known { --c-bg: #eef0f3; --c-fg: #333; --c-bd: #b8bec7;
  background-image: repeating-linear-gradient(135deg, transparent 0 5px, rgba(0,0,0,.07) 5px 8px); }
.badge.changed { --c-bg: var(--fail); --c-fg: #fff; --c-bd: var(--fail); }
.summary { font-size: 16px; font-weight: 600; margin: 6px 0 10px; overflow-wrap: anywhere; }
.path { margin: -4px 0 10px; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; }
.result[data-outcome="silent_loss"] .summary { border-left: 5px solid #D55E00; padding-left: 10px; }
.known-box { background: #f1f3f5; border: 1px solid #cfd4da; border-radius: 6px; padding: 8px 12px;
  background-image: repeating-linear-gradient(135deg, transparent 0 6px, rgba(0,0,0,.035) 6px 10px); }
.known-box.changed { background: #fbe6e4; border-color: #e9a29c; }
.two { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 4px 28px; }
h4 { margin: 12px 0 6px; font-size: 13px; text-transform: uppercase; letter-spacing: .6px; color: var(--muted); }
h5 { margin: 10px 0 4px; font-size: 13px; }
.expectations { list-style: none; padding: 0; margin: 0; }
.expectations li { margin: 2px 0; overflow-wrap: anywhere; }
.expectations .tick { display: inline-block; width: 1.3em; font-weight: 800; }
.expectations li.met .tick { color: var(--pass); }
.expectations li.unmet { color: var(--fail); }
.expectations .detail { color: var(--muted); }
dl.counts { display: flex; gap: 18px; margin: 0 0 6px; flex-wrap: wrap; }
dl.counts div { display: flex; flex-direction: column; }
dl.counts dt { color: var(--muted); font-size: 12px; }
dl.counts dd { margin: 0; font-size: 18px; font-weight: 700; }
dl.ids { margin: 0; }
.idlist { display: flex; gap: 8px; align-items: baseline; flex-wrap: wrap; margin: 2px 0; }
.idlist dt { color: var(--muted); min-width: 96px; }
.idlist dd { margin: 0; display: flex; flex-wrap: wrap; gap: 4px; }
.idlist code { background: #eef0f3; border-radius: 3px; padding: 0 5px; overflow-wrap: anywhere; }
.idlist.bad code { background: #fde3d3; color: #8a3300; }
.note { margin: 4px 0; overflow-wrap: anywhere; }
.error-box pre.error { background: #fbe6e4; border: 1px solid #e9a29c; color: #6f1812; }
pre { margin: 0; padding: 10px 12px; background: #f3f4f6; border: 1px solid var(--line); border-radius: 6px;
  font-size: 12.5px; overflow: auto; max-height: 420px; white-space: pre-wrap; overflow-wrap: anywhere; }
pre.capture { background: #15191e; color: #d7dde4; border-color: #15191e; white-space: pre; }
pre.capture .cap-req { color: #8fc7f0; }
pre.capture .cap-resp { color: #d7dde4; }
pre.capture .cap-note { color: #9aa5b1; }
pre.capture .cap-fault { color: #15191e; background: #ff9e5e; font-weight: 700; }
.tscroll { overflow-x: auto; max-height: 360px; overflow-y: auto; }
table.data { border-collapse: collapse; font-size: 12.5px; width: 100%; }
table.data th, table.data td { border-bottom: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
table.data td { overflow-wrap: anywhere; white-space: pre-wrap; font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
table.data th { background: #f3f4f6; position: sticky; top: 0; }
details.transcript { margin-top: 14px; border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; }
details.transcript > summary { cursor: pointer; font-weight: 600; }
details.raw { margin-top: 8px; }
.notes { margin: 6px 0; }
html.js .nojs { display: none; }

svg.timeline { display: block; max-width: 1100px; height: auto; font-size: 11px;
  font-family: system-ui, "DejaVu Sans", sans-serif; }
svg.timeline .lane { fill: #f4f6f8; }
svg.timeline .lane-label { fill: #5d6673; font-size: 11.5px; }
svg.timeline .grid { stroke: #e3e6ea; }
svg.timeline .axis { stroke: #8b949e; }
svg.timeline .tick { fill: #5d6673; font-size: 10.5px; }
svg.timeline .tl-sent { stroke: #59616b; stroke-width: 2; }
svg.timeline .tl-sent.tl-lost { stroke: #D55E00; stroke-width: 3; }
svg.timeline .tl-missing { stroke: #D55E00; stroke-width: 2.2; fill: none; }
svg.timeline .tl-recv { stroke-width: 3; }
svg.timeline .tl-flag { fill: #fff; stroke: #1d2127; stroke-width: 1.6; }
svg.timeline .tl-fault line { stroke: #D55E00; stroke-width: 1.6; stroke-dasharray: 4 3; }
svg.timeline .tl-fault text { fill: #a84a00; font-weight: 700; }
svg.timeline .tl-end line { stroke: #1d2127; stroke-width: 2; }
svg.timeline .tl-end text { fill: #1d2127; font-weight: 700; }
svg.timeline .tl-missing-more { fill: #a84a00; font-weight: 700; }
svg.timeline .attempt-label { fill: #39424c; font-size: 10.5px; }
.legend.tl-legend { display: flex; flex-wrap: wrap; gap: 4px 16px; color: var(--muted); font-size: 12px; margin-top: 4px; }
.legend .key { display: inline-flex; align-items: center; gap: 5px; }
.sw { display: inline-block; width: 12px; height: 12px; border-radius: 2px; }
.sw.sent { background: #59616b; }
.sw.lost { background: #D55E00; }
.sw.flag { background: #fff; border: 1.6px solid #1d2127; border-radius: 50%; }
.sw.fault { background: repeating-linear-gradient(180deg, #D55E00 0 4px, transparent 4px 7px); width: 3px; }
.sw.end { background: #1d2127; width: 3px; }
footer { color: var(--muted); padding: 0 28px 24px; font-size: 12px; }
@media print { .detail { display: block; break-before: page; } .filter, .close, .files button { display: none; } }
"""
