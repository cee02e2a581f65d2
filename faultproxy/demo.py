"""``faultproxy run``: the main job — for now, one scenario end to end.

The lab SSE server streams numbered events; the proxy, with a capture on, cuts the first
connection mid-stream (``sse_disconnect``); the lab client reconnects with ``Last-Event-ID``.
The run checks the client's transcript against the server's ground truth — every event
exactly once, in order — and writes what happened under ``reports/<run-id>/``:
``summary.md``, ``report.json`` and the proxy's ``capture.jsonl``. The scenario runner
(many scenarios × many clients) will take over this command and this report layout.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from faultproxy.aio import run as run_loop


async def _scenario(out: Path, events: int, interval: float, cut_after: int, echo: Any) -> dict[str, Any]:
    from faultproxy.faults import parse_fault
    from faultproxy.lab.sse_client import SSEClient
    from faultproxy.lab.sse_server import SSEServer
    from faultproxy.proxy.server import Proxy

    fault = parse_fault({"name": "cut-first-stream", "type": "sse_disconnect",
                         "attributes": {"after_events": cut_after, "mode": "fin"}, "connections": [1]})
    async with SSEServer(events=events, interval=interval, retry=200) as server:
        upstream = f"http://127.0.0.1:{server.port}"
        async with Proxy(upstream, capture=out / "capture.jsonl", faults=[fault]) as proxy:
            echo(f"server {server.url}  →  proxy {proxy.url}  (fault: sse_disconnect after {cut_after} events, "
                 "first connection only)")
            url = proxy.url + server.url.removeprefix(upstream)

            def opened(attempt: Any) -> None:
                sent = attempt.last_event_id or "-"
                echo(f"  connection {attempt.number}: GET with Last-Event-ID {sent}")

            def received(item: Any) -> None:
                echo(f"    event id={item.event.id} data={item.event.data}")

            client = SSEClient(url, max_reconnects=5, reconnect_ms=200, on_open=opened, on_event=received)
            transcript = await client.run()
            evidence = [e.as_dict() for e in proxy.evidence]
    sent_ids = [str(e.id) for e in server.sent]
    got_ids = transcript.ids
    expected = [str(n) for n in range(1, events + 1)]
    return {
        "scenario": "resume-after-drop",
        "client": "raw",
        "outcome": "resumed" if got_ids == expected and len(transcript.attempts) > 1 else (
            "ok" if got_ids == expected else "silent_loss"),
        "expected_ids": expected,
        "sent_ids": sent_ids,
        "received_ids": got_ids,
        "attempts": [{"number": a.number, "last_event_id": a.last_event_id, "status": a.status,
                      "outcome": a.outcome} for a in transcript.attempts],
        "end": transcript.end,
        "faults_fired": evidence,
    }


def _summary(result: dict[str, Any]) -> str:
    attempts = "\n".join(
        f"| {a['number']} | {a['last_event_id'] or '-'} | {a['status']} | {a['outcome']} |" for a in result["attempts"]
    )
    fired = "\n".join(f"- `{e['fault']}` ({e['type']}) on connection {e['conn']}: {e['detail']}"
                      for e in result["faults_fired"]) or "- none"
    return (
        f"# faultproxy run: {result['scenario']}\n\n"
        f"Outcome for client `{result['client']}`: **{result['outcome']}** "
        f"({len(result['received_ids'])} of {len(result['expected_ids'])} events, each exactly once: "
        f"{result['received_ids'] == result['expected_ids']})\n\n"
        f"| connection | Last-Event-ID sent | status | ended |\n|---|---|---|---|\n{attempts}\n\n"
        f"Faults that fired:\n{fired}\n"
    )


@click.command("run")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"), show_default=True,
              help="Where reports go: OUT/<run-id>/ and OUT/latest.")
@click.option("--events", type=click.IntRange(2, 100_000), default=20, show_default=True)
@click.option("--interval-ms", type=click.IntRange(0, 10_000), default=20, show_default=True)
@click.option("--cut-after", type=click.IntRange(1), default=5, show_default=True,
              help="Events delivered before the proxy cuts the first connection.")
def run(out: Path, events: int, interval_ms: int, cut_after: int) -> None:
    """Run the demo scenario and write its report under reports/."""
    if cut_after >= events:
        raise click.BadParameter(f"must be below --events ({events})", param_hint="--cut-after")
    run_id = time.strftime("%Y%m%d-%H%M%S")
    folder = out / run_id
    folder.mkdir(parents=True, exist_ok=True)
    result = run_loop(_scenario(folder, events, interval_ms / 1000, cut_after, lambda s: click.echo(s, err=True)))
    (folder / "report.json").write_text(json.dumps({"version": 1, "results": [result]}, indent=2) + "\n")
    (folder / "summary.md").write_text(_summary(result))
    latest = out / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(run_id)
    click.echo(_summary(result))
    click.echo(f"report: {folder}/summary.md, report.json, capture.jsonl  (also {latest})")
    if result["outcome"] not in ("ok", "resumed"):
        raise SystemExit(1)
