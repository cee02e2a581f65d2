"""``faultproxy clients``: every client the runner can drive (built-in and the project's own),
its version, and whether it is here."""

from __future__ import annotations

import json

import click

from faultproxy.clients.registry import REGISTRY, load_all


def inventory() -> list[dict]:
    """One row per client: name, kind, protocol (what it speaks), output (simple or full), version,
    available, reason, install, reconnects, methods, description, origin."""
    load_all()  # the project's own clients too
    rows = []
    for info in REGISTRY.values():
        available = info.available()
        rows.append({
            "name": info.name,
            "kind": info.kind,
            "protocol": info.protocol,
            "output": info.output,
            "version": info.version() if available.ok else None,
            "available": available.ok,
            "reason": available.reason,
            "install": available.install,
            "reconnects": info.reconnects,
            "methods": list(info.methods),
            "description": info.description,
            "origin": info.describe_origin(),
        })
    return rows


@click.command("clients")
@click.option("--json", "as_json", is_flag=True, help="Print the inventory as JSON.")
def clients(as_json: bool) -> None:
    """List the clients (built-in, and the project's own from faultproxy.toml) with their versions,
    and how to install the missing ones."""
    rows = inventory()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len(r["name"]) for r in rows)
    states = [(r["version"] or "?") if r["available"] else "missing" for r in rows]
    state_width = max(10, *map(len, states))
    for r, state in zip(rows, states):
        line = f"{r['name']:<{width}}  {r['kind']:<7}  {state:<{state_width}}  {r['description']}"
        if r["origin"] != "built-in":
            line += f"\n{'':<{width}}  {r['origin']}"
        if not r["available"]:
            line += f"\n{'':<{width}}  {r['reason']}; install: {r['install']}"
        click.echo(line)
