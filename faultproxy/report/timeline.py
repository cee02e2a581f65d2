"""The event-arrival timeline of one result, as inline SVG (no script, no external anything).

x is seconds since the cell started. Lanes, top to bottom: what the server sent (ground
truth; events that never reached the application are vermillion, with a cross below them),
what the client received (coloured by the connection it arrived on), and the client's
connections (a bar from each attempt to the next, labelled with the Last-Event-ID it sent).
Faults are dashed vertical lines with their names on top; the end is a solid line.

Every string comes from the wire or from a scenario file and is escaped.
"""

from __future__ import annotations

import html
import math
from typing import Any

from faultproxy.report.model import clean, format_seconds, one_line

# Okabe–Ito, without vermillion (kept for missing events and faults).
CONNECTION_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#333333")
MISSING = "#D55E00"
MAX_TITLES = 600  # marks beyond this many per lane get no tooltip (keeps big streams light)

W, LEFT, RIGHT = 960, 118, 24
Y_LABELS = (13, 27)  # two rows for fault / end labels
SENT = (40, 62)
RECV = (74, 96)
CONN = (108, 124)
AXIS = 136
H = 158


def _e(value: Any) -> str:
    return html.escape(clean(value), quote=True)


def connection_colour(conn: Any) -> str:
    try:
        n = int(conn)
    except (TypeError, ValueError):
        n = 1
    return CONNECTION_COLOURS[(n - 1) % len(CONNECTION_COLOURS)]


def _nice_step(span: float, target: int = 8) -> float:
    raw = span / target
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * power:
            return m * power
    return 10 * power


def _tick_label(t: float, step: float) -> str:
    if step < 1:
        ms = t * 1000
        return f"{ms:.0f} ms" if step >= 0.001 else f"{ms:.2f} ms"
    return f"{t:.0f} s" if step >= 1 and float(t).is_integer() else f"{t:.1f} s"


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _key(event_id: Any, index: int) -> str:
    return str(index) if event_id is None else clean(event_id)


def unplaced_missing(sent: list[list[Any]], ev: dict[str, Any]) -> list[Any]:
    """Missing events with no tick in the sent lane."""
    drawn = {_key(row[1] if len(row) > 1 else None, i) for i, row in enumerate(sent)}
    return [i for i in (ev.get("missing") or []) if clean(i) not in drawn]


def timeline_svg(result: dict[str, Any], *, svg_id: str = "tl") -> str:
    """The SVG for ``result["timeline"]``; an explanatory paragraph when there is none."""
    tl = result.get("timeline") or {}
    ev = result.get("evidence") or {}
    sent = [row for row in tl.get("sent") or [] if row and _num(row[0]) is not None]
    received = [row for row in tl.get("received") or [] if row and _num(row[0]) is not None]
    faults = [row for row in tl.get("faults") or [] if row and _num(row[0]) is not None]
    attempts = [row for row in tl.get("attempts") or [] if row and _num(row[0]) is not None]
    end = _num(tl.get("end"))
    if not (sent or received or faults or attempts):
        return '<p class="muted">No timeline was recorded for this result.</p>'

    times = [r[0] for r in sent + received + faults + attempts] + ([end] if end is not None else [])
    t_lo, t_hi = min(min(times), 0.0), max(max(times), 1e-3)
    if min(times) > 0.3 * t_hi:  # a long quiet start (setup before the first byte): start near the first mark
        t_lo = min(times) - 0.05 * (t_hi - min(times))
    step = _nice_step(max(t_hi - t_lo, 1e-3))
    t_lo = math.floor(t_lo / step + 1e-9) * step  # the axis starts and ends on a tick
    t_max = max(math.ceil(t_hi / step - 1e-9) * step, t_lo + step)
    plot = W - LEFT - RIGHT

    def x(t: float) -> float:
        return round(LEFT + plot * (min(max(t, t_lo), t_max) - t_lo) / (t_max - t_lo), 2)

    missing = {clean(i) for i in ev.get("missing") or []}
    duplicated = {clean(i) for i in ev.get("duplicated") or []}
    garbled = {clean(i) for i in ev.get("garbled") or []}
    reordered = {clean(i) for i in ev.get("reordered") or []}

    out: list[str] = []
    add = out.append
    n_conn = len({(r[2] if len(r) > 2 else 1) for r in received} | {i + 1 for i in range(len(attempts))})
    desc = (
        f"{len(sent)} events sent, {len(received)} received on {max(n_conn, 1)} connection"
        f"{'s' * (n_conn > 1)}, {len(faults)} fault{'s' * (len(faults) != 1)} fired"
        + (f", {len(missing)} never received" if missing else "")
        + (f", ended ({_e(ev.get('end', 'end'))}) at {format_seconds(end)}" if end is not None else "")
    )
    height = H + (16 if unplaced_missing(sent, ev) else 0)
    add(
        f'<svg class="timeline" id="{_e(svg_id)}" viewBox="0 0 {W} {height}" width="100%" role="img" '
        f'aria-labelledby="{_e(svg_id)}-t {_e(svg_id)}-d" xmlns="http://www.w3.org/2000/svg">'
    )
    add(f'<title id="{_e(svg_id)}-t">Event timeline</title><desc id="{_e(svg_id)}-d">{_e(desc)}.</desc>')

    # lanes and grid
    for label, (y0, y1) in (("server sent", SENT), ("client received", RECV), ("connections", CONN)):
        add(f'<rect class="lane" x="{LEFT}" y="{y0}" width="{plot}" height="{y1 - y0}"/>')
        add(
            f'<text class="lane-label" x="{LEFT - 8}" y="{(y0 + y1) / 2 + 4}" text-anchor="end">{label}</text>'
        )
    t = t_lo
    while t <= t_max + step / 2:
        add(f'<line class="grid" x1="{x(t)}" y1="{SENT[0]}" x2="{x(t)}" y2="{AXIS}"/>')
        add(
            f'<text class="tick" x="{x(t)}" y="{AXIS + 14}" text-anchor="middle">{_tick_label(t, step)}</text>'
        )
        t = round(t + step, 9)
    add(f'<line class="axis" x1="{LEFT}" y1="{AXIS}" x2="{LEFT + plot}" y2="{AXIS}"/>')

    # connections: a bar per attempt, from its start to the next attempt (or the end)
    stop = end if end is not None else t_max
    for i, row in enumerate(attempts):
        start = row[0]
        until = attempts[i + 1][0] if i + 1 < len(attempts) else stop
        leid = row[1] if len(row) > 1 else None
        colour = connection_colour(i + 1)
        width = max(x(until) - x(start), 2)
        label = f"#{i + 1}" + (f" Last-Event-ID {one_line(leid, 24)}" if leid is not None else "")
        add(
            f'<g class="tl-attempt" data-conn="{i + 1}"><title>{_e(f"connection {label} at {format_seconds(start)}")}'
            f'</title><rect x="{x(start)}" y="{CONN[0] + 3}" width="{width:.2f}" height="{CONN[1] - CONN[0] - 6}" '
            f'rx="3" fill="{colour}" fill-opacity="0.28" stroke="{colour}"/>'
            f'<circle cx="{x(start)}" cy="{(CONN[0] + CONN[1]) / 2}" r="4" fill="{colour}"/>'
            f'<text class="attempt-label" x="{x(start) + 7}" y="{CONN[1] + 10}">{_e(label)}</text></g>'
        )

    # sent
    for i, row in enumerate(sent):
        key = _key(row[1] if len(row) > 1 else None, i)
        lost = key in missing
        text = f"sent {one_line(key, 60)} at {format_seconds(row[0])}" + (" — never received" if lost else "")
        tip = f"<title>{_e(text)}</title>" if i < MAX_TITLES else ""
        cls = "tl-sent tl-lost" if lost else "tl-sent"
        add(
            f'<line class="{cls}" data-id="{_e(key)}" x1="{x(row[0])}" y1="{SENT[0] + 3}" x2="{x(row[0])}" '
            f'y2="{SENT[1] - 3}">{tip}</line>'
        )
        if lost:
            cx, cy = x(row[0]), (RECV[0] + RECV[1]) / 2
            add(
                f'<path class="tl-missing" data-id="{_e(key)}" d="M{cx - 4},{cy - 4}L{cx + 4},{cy + 4}'
                f'M{cx - 4},{cy + 4}L{cx + 4},{cy - 4}"><title>{_e(f"missing: {one_line(key, 60)}")}</title></path>'
            )

    # missing events the sent lane cannot show (no send time: the server never got to them, or the
    # runner knows them only from the scenario's expected list)
    unplaced = unplaced_missing(sent, ev)
    if unplaced:
        names = ", ".join(one_line(i, 16) for i in unplaced[:4]) + (", …" if len(unplaced) > 4 else "")
        text = f"✕ {len(unplaced)} more never received (no send time): {names}"
        add(
            f'<text class="tl-missing-more" x="{LEFT + plot}" y="{AXIS + 30}" text-anchor="end">'
            f"<title>{_e('never received: ' + ', '.join(one_line(i, 40) for i in unplaced))}</title>{_e(text)}</text>"
        )

    # received
    seen: set[str] = set()
    for i, row in enumerate(received):
        key = _key(row[1] if len(row) > 1 else None, i)
        conn = row[2] if len(row) > 2 else 1
        extra = []
        if key in seen and key in duplicated:
            extra.append("duplicate")
        if key in garbled:
            extra.append("garbled")
        if key in reordered:
            extra.append("out of order")
        seen.add(key)
        text = f"received {one_line(key, 60)} on connection {conn} at {format_seconds(row[0])}"
        if extra:
            text += " — " + ", ".join(extra)
        tip = f"<title>{_e(text)}</title>" if i < MAX_TITLES else ""
        cls = "tl-recv" + "".join(f" tl-{w.split()[-1]}" for w in extra)
        px = x(row[0])
        add(
            f'<line class="{cls}" data-id="{_e(key)}" data-conn="{_e(conn)}" x1="{px}" y1="{RECV[0] + 3}" x2="{px}" '
            f'y2="{RECV[1] - 3}" stroke="{connection_colour(conn)}">{tip}</line>'
        )
        if extra:
            add(f'<circle class="tl-flag" cx="{px}" cy="{RECV[0] - 1}" r="3"/>')

    # faults and the end, with labels placed in two rows so that neighbours do not overlap
    marks: list[tuple[float, str, str, str]] = [
        (
            r[0],
            "fault",
            one_line(r[1] if len(r) > 1 else "fault", 32),
            one_line(r[2] if len(r) > 2 else "", 200),
        )
        for r in faults
    ]
    if end is not None:
        marks.append((end, "end", f"end: {one_line(ev.get('end') or 'end', 20)}", ""))
    last_right = [-1e9, -1e9]
    for t, kind, label, detail in sorted(marks, key=lambda m: m[0]):
        px = x(t)
        est = 6.3 * len(label) + 6
        anchor, lx = ("end", px - 3) if px + est > W - 4 else ("start", px + 3)
        left_edge = lx - est if anchor == "end" else lx
        row = 0 if left_edge > last_right[0] + 4 else 1 if left_edge > last_right[1] + 4 else 0
        last_right[row] = lx if anchor == "end" else lx + est
        tip = _e(f"{label} at {format_seconds(t)}" + (f": {detail}" if detail else ""))
        add(
            f'<g class="tl-{kind}"><title>{tip}</title>'
            f'<line x1="{px}" y1="{Y_LABELS[row] + 3}" x2="{px}" y2="{AXIS}"/>'
            f'<text x="{lx}" y="{Y_LABELS[row]}" text-anchor="{anchor}">{_e(label)}</text></g>'
        )
    add("</svg>")
    return "".join(out)


def timeline_legend(result: dict[str, Any]) -> str:
    """A legend listing only what this timeline shows."""
    tl = result.get("timeline") or {}
    ev = result.get("evidence") or {}
    conns = sorted(
        {int(r[2]) for r in tl.get("received") or [] if len(r) > 2 and isinstance(r[2], int)}
        | set(range(1, len(tl.get("attempts") or []) + 1))
    )
    items = ['<span class="key"><i class="sw sent"></i>sent</span>']
    items += [
        f'<span class="key"><i class="sw" style="background:{connection_colour(c)}"></i>received on #{c}</span>'
        for c in conns
    ]
    if ev.get("missing"):
        items.append('<span class="key"><i class="sw lost"></i>never received ✕</span>')
    if ev.get("duplicated") or ev.get("garbled") or ev.get("reordered"):
        items.append('<span class="key"><i class="sw flag"></i>duplicate / garbled / out of order</span>')
    if tl.get("faults"):
        items.append('<span class="key"><i class="sw fault"></i>fault</span>')
    if tl.get("end") is not None:
        items.append('<span class="key"><i class="sw end"></i>end</span>')
    return f'<div class="legend tl-legend">{"".join(items)}</div>'
