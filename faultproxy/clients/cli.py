"""``faultproxy clients``: every client the runner can drive (built-in and the project's own),
its version, and whether it is here; and the options by which every command that runs clients
(``run``, ``conformance``, ``explore``) takes a user's own: ``--client-cmd``, ``--client-protocol``,
``--config`` (:func:`own_client_options`, :func:`load_own_clients`)."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from faultproxy.clients import registry
from faultproxy.clients.registry import REGISTRY, load_all

SCRIPT_SUFFIXES = (".js", ".mjs", ".cjs", ".ts", ".py", ".sh", ".rb", ".pl", ".php", ".go")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def define_command_client(text: str, protocol: str, index: int) -> str:
    """Register a ``--client-cmd`` (``[NAME=]COMMAND``); its name, from NAME or the script it runs."""
    name, eq, command = text.partition("=")
    if not eq or not NAME.fullmatch(name.strip()):
        name, command = "", text
    try:
        argv = shlex.split(command)
    except ValueError as error:
        raise click.BadParameter(f"{text!r}: {error}", param_hint="--client-cmd") from None
    if not name:
        scripts = [Path(a).stem for a in argv if "{" not in a and Path(a).suffix in SCRIPT_SUFFIXES]
        name = re.sub(
            r"[^A-Za-z0-9_.-]", "-", scripts[0] if scripts else Path(argv[0] if argv else "cmd").name
        )
        name = name.lstrip("-_.") or "cmd"
        if name in registry.REGISTRY and registry.get(name).builtin:
            name += "-cmd"
    try:
        return registry.define(
            {
                "name": name.strip(),
                "command": command,
                "protocol": protocol,
                "description": f"--client-cmd {command}",
            },
            where=f"--client-cmd #{index + 1}",
            here=Path.cwd(),
            file=f"--client-cmd #{index + 1}",
            in_all=False,
        ).name
    except registry.ClientSpecError as error:
        raise click.BadParameter(str(error), param_hint="--client-cmd") from None


def own_client_options(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--client-cmd``, ``--client-protocol`` and ``--config``: one meaning in every command;
    ``what`` says what the command does with a ``--client-cmd`` client."""
    return lambda command: _with_options(command, what)


def _with_options(command: Callable[..., Any], what: str) -> Callable[..., Any]:
    options = (
        click.option(
            "--client-cmd",
            "client_cmds",
            multiple=True,
            metavar="[NAME=]COMMAND",
            help=f'Your own client, e.g. "node my-client.js {{url}}" (docs/clients.md): {what}',
        ),
        click.option(
            "--client-protocol",
            type=click.Choice(["simple", "full"]),
            default="simple",
            show_default=True,
            help="What --client-cmd clients print: one JSON line per event, or the full JSON-lines protocol.",
        ),
        click.option(
            "--config",
            "config_file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="The project config whose clients can be named (default: ./faultproxy.toml, "
            "else [tool.faultproxy] in ./pyproject.toml).",
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


def load_own_clients(
    config_file: Path | None, client_cmds: tuple[str, ...], client_protocol: str
) -> list[str]:
    """Register the config file's clients (selectable by name) and each ``--client-cmd``; the
    ``--client-cmd`` clients' names, in order."""
    from faultproxy.config import load_project_config

    load_project_config(config_file)
    return [define_command_client(text, client_protocol, i) for i, text in enumerate(client_cmds)]


def inventory() -> list[dict]:
    """One row per client: name, kind, protocol (what it speaks), output (simple or full), version,
    available, reason, install, reconnects, methods, description, origin."""
    load_all()  # the project's own clients too
    rows = []
    for info in REGISTRY.values():
        available = info.available()
        rows.append(
            {
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
            }
        )
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
