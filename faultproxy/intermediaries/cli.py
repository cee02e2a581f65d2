"""``faultproxy repro``: the nginx buffering problem, reproduced with real nginx.

``faultproxy repro nginx`` runs everything on loopback with Debian's nginx (``--docker``: the
same topology from ``docker-compose.yml``, through the Docker SDK). ``repro upstreams`` and
``repro probe`` are the two halves the compose file runs in its containers.
"""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console

from faultproxy.aio import run as run_loop
from faultproxy.cli import BadInput


def _cases(names: tuple[str, ...]) -> list:
    from faultproxy.intermediaries.repro import CASES, case

    try:
        return [case(n) for n in names] if names else list(CASES)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--case") from None


def _show(report: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        from faultproxy.intermediaries.table import render

        render(report, Console(width=None if sys.stdout.isatty() else 160))  # a pipe or a log: wide enough


@click.group("repro")
def repro() -> None:
    """Reproduce intermediaries that break SSE, for real, beside faultproxy's emulation."""


@repro.command("nginx")
@click.option("--json", "as_json", is_flag=True, help="The measurements as JSON instead of the table.")
@click.option(
    "--docker",
    is_flag=True,
    help="Run docker-compose.yml's services (nginx 1.28 and 1.30) through the Docker SDK.",
)
@click.option("--case", "names", multiple=True, metavar="NAME", help="Only these cases (repeatable).")
@click.option(
    "--nginx", "binary", metavar="PATH", help="The nginx binary (default: nginx on PATH or /usr/sbin/nginx)."
)
@click.option("--no-emulation", is_flag=True, help="Only real nginx, no faultproxy rows.")
def nginx_command(
    as_json: bool, docker: bool, names: tuple[str, ...], binary: str | None, no_emulation: bool
) -> None:
    """Each nginx case (defaults, 1 KiB events, the fixes, gzip, read timeout, keep-alive, a tutorial's
    block) measured through real nginx and through faultproxy's emulation, side by side."""
    from faultproxy.bench.peers import PeerError
    from faultproxy.intermediaries.repro import run_native

    cases = _cases(names)
    err = Console(stderr=True)
    if docker:
        from faultproxy.intermediaries.docker_run import DockerUnavailable, run_compose

        try:
            report = run_compose(names, emulate=not no_emulation, log=lambda text: err.print(text))
        except DockerUnavailable as error:
            click.echo(f"faultproxy repro nginx --docker: {error}", err=True)
            sys.exit(2)
        _show(report, as_json)
        return
    longest = max(c.duration for c in cases)
    err.print(
        f"measuring {len(cases)} cases through real nginx"
        f"{'' if no_emulation else ' and through faultproxy'}, all at once (about {longest + 2:.0f} s)…"
    )
    try:
        report = run_loop(run_native(cases, binary=binary, emulate=not no_emulation))
    except PeerError as error:
        raise BadInput(f"cannot start nginx: {error}") from None
    _show(report, as_json)


@repro.command("upstreams")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 in a container)."
)
@click.option(
    "--base-port",
    type=click.IntRange(1, 65000),
    default=None,
    help="Case i listens on BASE_PORT+i (default: the compose file's 8100).",
)
def upstreams(host: str, base_port: int | None) -> None:
    """Serve every case's upstream stream (what docker-compose.yml's `upstream` service runs)."""
    import asyncio

    from faultproxy.intermediaries.repro import BASE_PORT, CASES, serve_upstreams

    async def main() -> None:
        servers = await serve_upstreams(list(CASES), host, BASE_PORT if base_port is None else base_port)
        for c, server in zip(CASES, servers):
            click.echo(f"listening on {server.url}  (case {c.name})")
        try:
            await asyncio.Event().wait()
        finally:
            for server in servers:
                await server.stop()

    try:
        run_loop(main())
    except KeyboardInterrupt:
        pass


@repro.command("probe")
@click.option(
    "--upstream",
    "upstream_host",
    required=True,
    metavar="HOST",
    help="Where `repro upstreams` runs (case i on port BASE_PORT+i).",
)
@click.option(
    "--base-port", type=click.IntRange(1, 65000), default=None, help="As given to `repro upstreams`."
)
@click.option(
    "--nginx",
    "targets",
    multiple=True,
    required=True,
    metavar="VERSION=URL",
    help="An nginx serving docker.conf, e.g. 1.28.3=http://nginx-old:8080 (repeatable).",
)
@click.option(
    "--wait",
    type=click.FloatRange(0, 600),
    default=60,
    show_default=True,
    help="Seconds to wait for the upstreams and every nginx to accept connections.",
)
@click.option("--json", "as_json", is_flag=True, help="The measurements as JSON instead of the table.")
@click.option("--case", "names", multiple=True, metavar="NAME", help="Only these cases (repeatable).")
@click.option("--no-emulation", is_flag=True, help="Only real nginx, no faultproxy rows.")
def probe_command(
    upstream_host: str,
    base_port: int | None,
    targets: tuple[str, ...],
    wait: float,
    as_json: bool,
    names: tuple[str, ...],
    no_emulation: bool,
) -> None:
    """Measure the cases through nginx servers started elsewhere (docker-compose.yml's `probe` service)."""
    from faultproxy.intermediaries.repro import BASE_PORT, CASES, run_external

    parsed = []
    for item in targets:
        version, eq, url = item.partition("=")
        if not eq or not url.startswith("http://") or not version[:1].isdigit():
            raise click.BadParameter(f"{item!r}: expected VERSION=http://HOST:PORT", param_hint="--nginx")
        parsed.append((version, url))
    base = BASE_PORT if base_port is None else base_port
    indexes = {c.name: i for i, c in enumerate(CASES)}
    cases = _cases(names)
    ups = {c.name: f"http://{upstream_host}:{base + indexes[c.name]}" for c in cases}
    try:
        report = run_loop(run_external(cases, parsed, ups, wait=wait, emulate=not no_emulation))
    except TimeoutError as error:
        raise BadInput(str(error)) from None
    _show(report, as_json)
    wrong = [n for n in report["nginx"] if n.get("label_problem")]
    if wrong:  # the shapes and emulations were chosen for another version than the one measured
        for n in wrong:
            click.echo(f"Error: --nginx {n['version']}={n['url']}: {n['label_problem']}", err=True)
        sys.exit(1)
