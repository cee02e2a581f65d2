"""``faultproxy server``: Toxiproxy's API on :8474, for Toxiproxy's clients unchanged."""

from __future__ import annotations

from pathlib import Path

import click

from faultproxy.servers.cli import ServeError


@click.command("server")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address for the API (loopback only by default)."
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8474,
    show_default=True,
    help="Port for the API (0: any free port).",
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON list of proxies to create at start (Toxiproxy's -config).",
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="NAME",
    help="A DNS name clients may reach the API by (e.g. a compose service name); addresses and "
    "localhost always work, other names are refused against DNS rebinding. Repeatable.",
)
@click.option(
    "--upstream-ca",
    type=click.Path(dir_okay=False, path_type=Path),
    help="For https:// upstreams: verify against the CA certificates in FILE only (PEM).",
)
@click.option("--insecure", is_flag=True, help="For https:// upstreams: do not verify their certificates.")
@click.option(
    "--resolve",
    multiple=True,
    metavar="HOST:PORT:ADDR",
    help="As curl's: connect to ADDR for HOST:PORT, keeping HOST for SNI and the certificate check.",
)
@click.option(
    "--keylog",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append the TLS session keys to FILE (NSS key log, for Wireshark).",
)
def server(
    host: str,
    port: int,
    config: Path | None,
    allow_hosts: tuple[str, ...],
    upstream_ca: Path | None,
    insecure: bool,
    resolve: tuple[str, ...],
    keylog: Path | None,
) -> None:
    """A Toxiproxy-compatible control API: create proxies and add toxics over HTTP.

    Toxics are Toxiproxy's types plus faultproxy's HTTP and SSE faults (``faultproxy faults``).
    Prints ``listening on URL`` first; a bad --config or a busy port is one line and exit 2.
    """
    from faultproxy.aio import run
    from faultproxy.control.registry import ControlError
    from faultproxy.control.server import ControlServer
    from faultproxy.net.addresses import error_text
    from faultproxy.proxy.routing import make_routing

    tls = {
        k: v
        for k, v in {
            "upstream_ca": upstream_ca,
            "insecure": insecure,
            "resolve": resolve,
            "keylog": keylog,
        }.items()
        if v
    }
    try:
        make_routing("https://localhost", **tls)  # the options checked once, before any proxy needs them
    except ValueError as error:
        raise ServeError(str(error)) from None
    control = ControlServer(host, port, config=config, allow_hosts=allow_hosts, tls=tls)

    async def main() -> None:
        try:
            await control.start()
        except ControlError as error:
            raise ServeError(error.message) from None
        except OSError as error:
            raise ServeError(f"cannot listen on {host}:{port}: {error_text(error)}") from None
        click.echo(f"listening on {control.url}  (Toxiproxy API, {len(control.registry.all())} proxies)")
        await control.serve_forever()

    try:
        run(main())
    except KeyboardInterrupt:
        pass
