"""``junit.xml``: one ``<testcase>`` per scenario × client (× repetition), for CI test tabs.

``classname`` is the scenario, ``name`` the client (``client #2`` for the second of several
repetitions). A result that did not pass gets a ``<failure>`` whose message says why (each unmet
expectation with its figure), then the evidence summary (type: the outcome, or ``known_changed``),
and whose text lists the unmet expectations, missing events and the client's error. A result that passed only as a
recorded known behaviour passes, with a ``<system-out>`` note saying so. A scenario × an
unavailable client is a ``<skipped>`` testcase with the reason, and so is each cell an
interrupted run (Ctrl-C) did not get to. Every run of a flaky cell (its outcome varied between
runs) is ``<skipped>`` with the cell's rate: neither a pass nor a failure.

Text from the wire is made XML-safe first (XML 1.0 cannot hold most control characters at
all, escaped or not).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from faultproxy.report.model import (
    build_matrix,
    clean,
    one_line,
    outcome,
    repetition_label,
    totals,
    why_failed,
)


def _t(value: Any) -> str:
    return clean("" if value is None else value)


def _failure_text(result: dict[str, Any]) -> str:
    ev = result.get("evidence") or {}
    lines = [f"outcome: {result['outcome']}"]
    if result.get("known_changed"):
        recorded = ev.get("known_recorded")
        lines.append("known behaviour changed" + (f" (recorded: {recorded})" if recorded else ""))
    for x in result.get("expectations") or []:
        if not x.get("met"):
            lines.append(f"unmet: {x.get('name')}" + (f" — {x['detail']}" if x.get("detail") else ""))
    for key in ("missing", "duplicated", "reordered", "garbled"):
        if ev.get(key):
            ids = [one_line(i, 60) for i in ev[key]]
            lines.append(f"{key} ({len(ids)}): {', '.join(ids[:50])}" + (" …" if len(ids) > 50 else ""))
    for key in ("sent", "delivered", "received", "end"):
        if ev.get(key) is not None:
            lines.append(f"{key}: {ev[key]}")
    if ev.get("error"):
        lines.append(
            f"client error: {ev['error'].get('type') or 'error'}: {ev['error'].get('message') or ''}"
        )
    for f in ev.get("faults_fired") or []:
        lines.append(
            f"fault fired: {f.get('fault')} ({f.get('fault_type')}) at {f.get('t')} s: {f.get('detail', '')}"
        )
    if result.get("capture_excerpt"):
        lines += ["", "wire capture (excerpt):", result["capture_excerpt"]]
    return "\n".join(_t(line) for line in lines)


def render_junit(report: dict[str, Any]) -> bytes:
    """The JUnit XML document (UTF-8, with declaration) for a (validated) report."""
    matrix = build_matrix(report)
    tot = totals(report, matrix)
    not_run = (report.get("interrupted") or {}).get("not_run") or []
    skipped = tot.skipped + tot.flaky_runs + len(not_run)
    suites = ET.Element(
        "testsuites",
        name=f"faultproxy {_t(report.get('run_id'))}",
        tests=str(tot.results + tot.skipped + len(not_run)),
        failures=str(tot.failed),
        errors="0",
        skipped=str(skipped),
        time=f"{float(report.get('duration_s') or 0):.3f}",
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name="faultproxy",
        tests=str(tot.results + tot.skipped + len(not_run)),
        failures=str(tot.failed),
        errors="0",
        skipped=str(skipped),
        time=f"{float(report.get('duration_s') or 0):.3f}",
        timestamp=_t(report.get("started")),
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("run_id", report.get("run_id")),
        ("seed", report.get("seed")),
        ("faultproxy_version", report.get("faultproxy_version")),
        ("schema", report.get("schema")),
    ):
        ET.SubElement(props, "property", name=name, value=_t(value))
    for c in matrix.clients:
        ET.SubElement(
            props,
            "property",
            name=f"client.{_t(c['name'])}",
            value=_t(c.get("version") or ("unavailable" if not c.get("available", True) else "")),
        )
    for s, cells in matrix.rows():
        for cell in cells:
            if not cell.ran:
                if cell.unavailable:
                    case = ET.SubElement(
                        suite, "testcase", classname=_t(s["name"]), name=_t(cell.client), time="0"
                    )
                    ET.SubElement(case, "skipped", message=_t(f"client not available: {cell.unavailable}"))
                continue
            for result in cell.results:
                case = ET.SubElement(
                    suite,
                    "testcase",
                    classname=_t(s["name"]),
                    name=_t(cell.client + repetition_label(result, cell)),
                    time=f"{float(result.get('duration_s') or 0):.3f}",
                )
                summary = one_line((result.get("evidence") or {}).get("summary", ""), 1000)
                if cell.flaky:
                    ET.SubElement(
                        case, "skipped", message=_t(f"flaky: {cell.rate}; this run: {result['outcome']}")
                    )
                    ET.SubElement(case, "system-out").text = _t(
                        f"outcome: {outcome(result['outcome']).label}: {summary}"
                    )
                elif not result.get("passed"):
                    kind = "known_changed" if result.get("known_changed") else result["outcome"]
                    why = one_line("; ".join(why_failed(result)), 600)
                    message = f"{why} — {summary}" if why else summary
                    failure = ET.SubElement(case, "failure", message=_t(message), type=_t(kind))
                    failure.text = _failure_text(result)
                else:
                    out = [f"outcome: {outcome(result['outcome']).label}: {summary}"]
                    if result.get("known"):
                        out.insert(0, f"passed as a recorded known behaviour: {result['known']}")
                    ET.SubElement(case, "system-out").text = _t("\n".join(out))
    for key in not_run:
        scenario, _, client = str(key).partition("/")
        case = ET.SubElement(suite, "testcase", classname=_t(scenario), name=_t(client), time="0")
        ET.SubElement(case, "skipped", message="not run: the run was interrupted (Ctrl-C)")
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"
