"""The ``faultproxy`` command line.

Subcommands live beside the code they drive and are imported only when invoked, so
``faultproxy decode`` does not pay for the proxy, the servers or the report renderer.

Exit status, the same for every command (``docs/cli.md``): 0 all good, 1 an expectation unmet
(a failing cell, a failed benchmark target, ...), 2 bad input -- a file, a flag, an unknown
client, a port in use. Every :class:`~faultproxy.errors.InputError` a command lets through
becomes :class:`BadInput` (status 2, its message on stderr).
"""

from __future__ import annotations

import importlib

import click

from faultproxy import __version__
from faultproxy.errors import InputError


class BadInput(click.ClickException):
    """The command cannot run with what it was given: exit status 2 (click's usage errors' status)."""

    exit_code = 2


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
    "scenarios": "faultproxy.scenarios.cli:scenarios",
    "report": "faultproxy.report.cli:report",
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

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except InputError as error:
            raise BadInput(str(error)) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="faultproxy")
def main() -> None:
    """Fault-injection proxy and test harness for streaming HTTP and Server-Sent Events."""
