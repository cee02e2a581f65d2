"""Ratios, the issue's targets, and the tables."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

TARGET_STREAMS = 5000
TARGET_KIB_PER_STREAM = 16.0


def _ok(entry: dict | None) -> bool:
    return bool(entry) and "error" not in entry


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 2)


def derive(result: dict) -> dict:
    """Add ratios, added latency and the target checks to a run's result (in place)."""
    through = result.get("throughput", {})
    direct, nginx = through.get("direct"), through.get("nginx")
    for entry in through.values():
        if _ok(entry):
            entry["vs_direct"] = _ratio(entry["mb_s"], direct["mb_s"]) if _ok(direct) else None
            entry["vs_nginx"] = _ratio(entry["mb_s"], nginx["mb_s"]) if _ok(nginx) else None

    latency = result.get("latency", {})
    direct, nginx = latency.get("direct"), latency.get("nginx")
    for entry in latency.values():
        if not _ok(entry):
            continue
        if _ok(direct):
            entry["added_p50_ms"] = round(entry["p50_ms"] - direct["p50_ms"], 3)
            entry["added_p99_ms"] = round(entry["p99_ms"] - direct["p99_ms"], 3)
            entry["p99_vs_direct"] = _ratio(entry["p99_ms"], direct["p99_ms"])
        if _ok(nginx):
            entry["p99_vs_nginx"] = _ratio(entry["p99_ms"], nginx["p99_ms"])

    conc = result.get("concurrency", {})
    nginx = conc.get("nginx")
    for entry in conc.values():
        if _ok(entry):
            entry["per_stream_vs_nginx"] = (
                _ratio(entry["per_stream_kib"], nginx["per_stream_kib"]) if _ok(nginx) else None
            )

    result["checks"] = checks(result)
    result["notes"] = notes(result)
    return result


def notes(result: dict) -> list[str]:
    out = []
    through = result.get("throughput", {})
    direct = through.get("direct")
    proxies = [e["mb_s"] for n, e in through.items() if n != "direct" and _ok(e)]
    if _ok(direct) and proxies:
        ratio = direct["mb_s"] / max(proxies)
        if ratio >= 2:
            out.append(
                f"direct is {ratio:.1f}x the fastest proxy: the upstream and the reader are not what limits "
                "the proxies' throughput"
            )
        else:
            out.append(
                f"WARNING: direct is only {ratio:.1f}x the fastest proxy: the upstream or the reader may be "
                "limiting the throughput numbers"
            )
    return out


def checks(result: dict) -> list[dict]:
    out = []
    fp = result.get("concurrency", {}).get("faultproxy")
    if "concurrency" in result:
        name = f"faultproxy holds >= {TARGET_STREAMS:,} concurrent streams at <= {TARGET_KIB_PER_STREAM:g} KiB RSS each"
        if not _ok(fp):
            out.append(
                {
                    "target": name,
                    "status": "MISS" if fp else "n/a",
                    "detail": (fp or {}).get("error", "not measured"),
                }
            )
        else:
            fits = fp["per_stream_kib"] <= TARGET_KIB_PER_STREAM and fp["alive"] >= fp["streams"]
            detail = f"{fp['alive']:,} streams alive, {fp['per_stream_kib']:.2f} KiB each"
            if fp["streams"] < TARGET_STREAMS:
                out.append(
                    {
                        "target": name,
                        "status": "n/a",
                        "detail": detail + f" (only {fp['streams']:,} streams configured)",
                    }
                )
            else:
                out.append({"target": name, "status": "PASS" if fits else "MISS", "detail": detail})
    if "throughput" in result:
        fp, ng = result["throughput"].get("faultproxy"), result["throughput"].get("nginx")
        name = "faultproxy throughput >= nginx's"
        if _ok(fp) and _ok(ng):
            out.append(
                {
                    "target": name,
                    "status": "PASS" if fp["mb_s"] >= ng["mb_s"] else "MISS",
                    "detail": f"{fp['mb_s']:,.0f} vs {ng['mb_s']:,.0f} MB/s",
                }
            )
        else:
            out.append({"target": name, "status": "n/a", "detail": "needs both faultproxy and nginx"})
    if "latency" in result:
        fp, ng = result["latency"].get("faultproxy"), result["latency"].get("nginx")
        name = "faultproxy p99 added latency <= nginx's"
        if _ok(fp) and _ok(ng) and "added_p99_ms" in fp:
            out.append(
                {
                    "target": name,
                    "status": "PASS" if fp["added_p99_ms"] <= ng["added_p99_ms"] else "MISS",
                    "detail": f"{fp['added_p99_ms']:+.2f} vs {ng['added_p99_ms']:+.2f} ms",
                }
            )
        else:
            out.append({"target": name, "status": "n/a", "detail": "needs direct, faultproxy and nginx"})
    return out


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _ms(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def render(result: dict, console: Console) -> None:
    cfg = result["config"]
    machine = result["machine"]
    console.print(
        f"[bold]faultproxy bench[/bold]: {machine['cpus']} CPUs ({machine['cpu_model']}), Python {machine['python']}, "
        f"{machine['loop']}, Linux {machine['kernel']}. Upstream, load client and proxy all share these cores."
    )
    for name, target in result["targets"].items():
        if not target["available"]:
            console.print(f"  {name}: not measured: {target['reason']}")

    if "throughput" in result:
        table = Table(
            title=f"Throughput: one SSE stream of {cfg['throughput_bytes'] / 2**20:,.0f} MiB, ~1 KiB events, "
            f"each a chunk (median of up to {cfg['reps']} runs)"
        )
        for col in ("target", "MB/s", "best", "vs direct", "vs nginx", "proxy CPU", "other load", "capture"):
            table.add_column(col, justify="left" if col == "target" else "right")
        for name, entry in result["throughput"].items():
            if not _ok(entry):
                table.add_row(name, "error", entry.get("error", "")[:40], "", "", "", "", "")
                continue
            cpu = [r["cpu_pct"]["proxy"] for r in entry["runs"] if "proxy" in r["cpu_pct"]]
            other = max(r["cpu_pct"]["other"] for r in entry["runs"])
            partial = "" if all(r["complete"] for r in entry["runs"]) else " *"
            capture = f"{entry['capture_per_byte']:g} B/B" if "capture_per_byte" in entry else "-"
            table.add_row(
                name,
                f"{entry['mb_s']:,.0f}{partial}",
                f"{entry['best_mb_s']:,.0f}",
                _x(entry.get("vs_direct")),
                _x(entry.get("vs_nginx")),
                f"{max(cpu):.0f}%" if cpu else "-",
                f"{other:.0f}%",
                capture,
            )
        console.print(table)
        if any("capture_per_byte" in e for e in result["throughput"].values() if _ok(e)):
            console.print(
                "  capture: bytes the capture file grew by per byte streamed (a stream no fault touches "
                "is kept once, decoded, as JSON)."
            )
        if any(not r["complete"] for e in result["throughput"].values() if _ok(e) for r in e["runs"]):
            console.print(
                f"  * runs stopped after {cfg['rep_time_limit']:g}s: the rate is over what was relayed by then."
            )

    if "latency" in result:
        table = Table(
            title=f"Latency: {cfg['latency_streams']:,} concurrent streams x {cfg['rate']:g} events/s x "
            f"{cfg['latency_seconds']:g}s, ms from the upstream's write to the client's read"
        )
        for col in (
            "target",
            "events",
            "p50",
            "p99",
            "max",
            "added p50",
            "added p99",
            "p99 vs direct",
            "p99 vs nginx",
            "proxy CPU",
            "other load",
        ):
            table.add_column(col, justify="left" if col == "target" else "right")
        for name, entry in result["latency"].items():
            if not _ok(entry):
                table.add_row(name, "error", entry.get("error", "")[:40], *[""] * 8)
                continue
            events = f"{entry['events']:,}" + (
                "" if entry["events"] >= entry["expected"] else f"/{entry['expected']:,}"
            )
            cpu = entry["cpu_pct"].get("proxy")
            table.add_row(
                name,
                events,
                _ms(entry["p50_ms"]),
                _ms(entry["p99_ms"]),
                _ms(entry["max_ms"]),
                _ms(entry.get("added_p50_ms"), True),
                _ms(entry.get("added_p99_ms"), True),
                _x(entry.get("p99_vs_direct")),
                _x(entry.get("p99_vs_nginx")),
                f"{cpu:.0f}%" if cpu is not None else "-",
                f"{entry['cpu_pct']['other']:.0f}%",
            )
        console.print(table)
        direct = result["latency"].get("direct")
        if any(e.get("events", 0) < e.get("expected", 0) for e in result["latency"].values() if _ok(e)):
            console.print("  events 'n/m': only n of the m events sent arrived before the run's deadline.")
        if _ok(direct):
            console.print(
                f"  The load client and the upstream run in one process (the bench worker, "
                f"{direct['cpu_pct']['worker']:.0f}% CPU in the direct run); the proxy in another. "
                "With 2 cores all three compete, so 'added' includes scheduling, not only relaying."
            )
    if "throughput" in result or "latency" in result:
        console.print(
            "  'other load': CPU used meanwhile by processes outside the benchmark (100% = one core of "
            f"{machine['cpus']}); when it is high, the numbers above it are not clean."
        )

    if "concurrency" in result:
        table = Table(
            title=f"Concurrency: {cfg['idle_streams']:,} idle SSE streams through one proxy process, "
            f"keep-alive every {cfg['idle_interval']:g}s"
        )
        for col in ("target", "open", "RSS before", "RSS with", "per stream", "vs nginx"):
            table.add_column(col, justify="left" if col == "target" else "right")
        for name, entry in result["concurrency"].items():
            if not _ok(entry):
                table.add_row(name, "error", entry.get("error", "")[:40], "", "", "")
                continue
            table.add_row(
                name,
                f"{entry['alive']:,}",
                f"{entry['rss_before_kib'] / 1024:.1f} MiB",
                f"{entry['rss_with_kib'] / 1024:.1f} MiB",
                f"{entry['per_stream_kib']:.2f} KiB",
                _x(entry.get("per_stream_vs_nginx")),
            )
        console.print(table)

    for note in result.get("notes", []):
        console.print(f"  {note}")
    if result.get("checks"):
        console.print("[bold]Targets[/bold]")
        for check in result["checks"]:
            colour = {"PASS": "green", "MISS": "red"}.get(check["status"], "yellow")
            console.print(f"  [{colour}]{check['status']:4}[/{colour}]  {check['target']}: {check['detail']}")
    for error in result.get("errors", []):
        console.print(f"[red]error[/red]: {error}")
    console.print(f"({result['seconds']:.0f}s)")
