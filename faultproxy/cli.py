"""The ``faultproxy`` command line.

Subcommands live beside the code they drive and are imported only when invoked, so
``faultproxy decode`` does not pay for the proxy, the servers or the report renderer.
"""

from __future__ import annotations

import importlib

import click

from faultproxy import __version__

# name -> "module:attribute" of a click command or group
SUBCOMMANDS = {
    "run": "faultproxy.scenarios.cli:run",
    "decode": "faultproxy.decode:decode",
    "lab": "faultproxy.lab.cli:lab",
    "proxy": "faultproxy.proxy.cli:proxy",
    "server": "faultproxy.control.cli:server",
    "faults": "faultproxy.faults.cli:faults",
    "capture": "faultproxy.proxy.capture_cli:capture",
    "bench": "faultproxy.bench.cli:bench",
    "clients": "faultproxy.clients.cli:clients",
    "serve": "faultproxy.servers.cli:serve",
    "record": "faultproxy.servers.record:record",
    "repro": "faultproxy.intermediaries.cli:repro",
    "ca": "faultproxy.tls.cli:ca",
    "conformance": "faultproxy.conformance.cli:conformance",
    "explore": "faultproxy.explore.cli:explore",
    "chat": "faultproxy.chat_cli:chat",
    "compare": "faultproxy.chat_cli:compare",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="faultproxy")
def main() -> None:
    """Fault-injection proxy and test harness for streaming HTTP and Server-Sent Events."""
