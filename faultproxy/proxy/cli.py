"""``faultproxy proxy`` and ``faultproxy capture show``."""

from __future__ import annotations

import asyncio
import gc
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from faultproxy.aio import run
from faultproxy.cli import BadInput
from faultproxy.proxy.routing import HANDSHAKE_TIMEOUT
from faultproxy.upstream import PRESETS, Preset, preset
from faultproxy.wire.limits import DEFAULT_LIMITS, HeadLimits

if TYPE_CHECKING:
    from faultproxy.proxy.limits import ProxyLimits


def _quiet_gc() -> None:
    """Keep the garbage collector from pausing thousands of live streams.

    Measured with ``faultproxy bench``: the cyclic collector's sweeps over every
    connection's objects were most of the proxy's p99 added latency. What exists at start-up
    is frozen out of its sight, and young-generation sweeps run 100× less often; reference
    counting still frees everything that is not in a cycle at once.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(70_000, 50, 100)


def _tls_options(f):
    """The options of issue 14: TLS upstreams, presets, --resolve, --tls, forward mode (docs/tls.md)."""
    options = [
        click.option(
            "--preset",
            type=click.Choice(sorted(PRESETS), case_sensitive=False),
            help="A real API as the upstream (https://api.openai.com or https://api.anthropic.com); "
            "prints the line that points its SDKs at the proxy.",
        ),
        click.option(
            "--resolve",
            "resolve",
            multiple=True,
            metavar="HOST:PORT:ADDR",
            help="As curl's: connect to ADDR for HOST:PORT, keeping HOST for SNI, the certificate "
            "check and Host (repeatable).",
        ),
        click.option(
            "--upstream-ca",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Verify the https upstream against the CA certificates in FILE only (PEM), "
            "instead of the system's.",
        ),
        click.option(
            "--insecure", is_flag=True, help="Do not verify the https upstream's certificate at all."
        ),
        click.option(
            "--keylog",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Append the TLS session keys of both sides to FILE (NSS key log, for Wireshark; mode 0600).",
        ),
        click.option(
            "--tls",
            is_flag=True,
            help="Serve HTTPS to clients, with a certificate from the local CA ('faultproxy ca path').",
        ),
        click.option(
            "--forward",
            is_flag=True,
            help="Be an HTTP proxy (HTTP_PROXY/HTTPS_PROXY): each client names its upstream; "
            "CONNECT tunnels carrying TLS are intercepted with the local CA.",
        ),
        click.option(
            "--intercept",
            "intercept",
            multiple=True,
            metavar="HOST",
            help="With --forward: intercept TLS only for HOST (a name, *.domain or an IP; repeatable). "
            "Default: every host.",
        ),
        click.option(
            "--no-intercept",
            "no_intercept",
            multiple=True,
            metavar="HOST",
            help="With --forward: tunnel HOST's TLS as bytes, byte faults only (repeatable; '*': every host).",
        ),
        click.option(
            "--keep-host",
            is_flag=True,
            help="Send the client's Host to an https upstream as it came (default: the upstream's own).",
        ),
        click.option(
            "--tls-timeout",
            type=click.FloatRange(min=0.001),
            default=HANDSHAKE_TIMEOUT,
            show_default=True,
            help="Seconds a TLS handshake may take, on either side.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _upstream(upstream: str | None, preset_name: str | None) -> tuple[str | None, Preset | None]:
    if preset_name is None:
        return upstream, None
    if upstream is not None:
        raise click.UsageError("give --upstream or --preset, not both (--preset sets the upstream)")
    chosen = preset(preset_name)
    return chosen.upstream, chosen


def _describe(limits: ProxyLimits, descriptors: tuple[int, int]) -> str:
    """The limits in force, in one line: what a user checks when a client is refused."""
    head = limits.head

    def seconds(value: float | None) -> str:
        return f"{value:g}s" if value else "none"

    before, after = descriptors
    raised = f", raised from {before}" if after != before else ""
    return (
        f"heads {head.max_head} B, lines {head.max_line} B, {head.max_fields} fields; "
        f"header timeout {seconds(limits.header_timeout)}, idle timeout {seconds(limits.idle_timeout)}; "
        f"{limits.connection_cap()} connections (descriptor limit {after}{raised})"
    )


@click.command("proxy")
@click.option("--listen", default="127.0.0.1:8080", show_default=True, help="HOST:PORT to accept clients on.")
@click.option("--upstream", help="The server to relay to: https://HOST[:PORT] (TLS) or http://HOST:PORT.")
@click.option("--raw", is_flag=True, help="Relay plain TCP bytes, no HTTP parsing.")
@click.option(
    "--capture", type=click.Path(dir_okay=False, path_type=Path), help="Write a capture (JSON Lines)."
)
@click.option("--no-redact", is_flag=True, help="Keep Authorization, x-api-key, cookies… in the capture.")
@click.option(
    "--connect-timeout",
    type=click.FloatRange(min=0.001),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the upstream connection before answering 502.",
)
@click.option(
    "--max-head-size",
    type=click.IntRange(min=1),
    default=DEFAULT_LIMITS.max_head,
    show_default=True,
    metavar="BYTES",
    help="Largest request head, through its blank line: larger is answered 431. "
    "A larger response head passes on as bytes, unparsed.",
)
@click.option(
    "--max-line-size",
    type=click.IntRange(min=1),
    default=DEFAULT_LIMITS.max_line,
    show_default=True,
    metavar="BYTES",
    help="Longest request line (else 414) or header line (else 431).",
)
@click.option(
    "--max-header-count",
    type=click.IntRange(min=1),
    default=DEFAULT_LIMITS.max_fields,
    show_default=True,
    metavar="N",
    help="Most header fields in a request head: more is answered 431.",
)
@click.option(
    "--header-timeout",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="A request head must be whole this long after the connection opened or its first byte "
    "came: else 408 (a close if nothing came). 0: no limit.",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(min=0),
    default=75.0,
    show_default=True,
    metavar="SECONDS",
    help="Close a kept-alive client connection after this long with no request in progress "
    "(a stalled response is in progress). 0: no limit.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    metavar="N",
    help="Clients relayed at once; one more is answered 503 (closed under --raw). "
    "Default: what the descriptor limit holds, two per connection.",
)
@click.option(
    "--faults",
    "fault_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML file with a list of faults (Toxiproxy's toxic shape, extended).",
)
@click.option(
    "--fault",
    "fault_flags",
    multiple=True,
    metavar="TYPE:key=value,…",
    help="A fault for quick use, e.g. sse_disconnect:after_events=3,mode=rst (repeatable).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed for every random decision of the faults."
)
@_tls_options
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Say what happens: -v connections and faults fired, -vv every FIN too. Upstream failures "
    "and refused requests are always said.",
)
def proxy(
    listen: str,
    upstream: str | None,
    raw: bool,
    capture: Path | None,
    no_redact: bool,
    connect_timeout: float,
    max_head_size: int,
    max_line_size: int,
    max_header_count: int,
    header_timeout: float,
    idle_timeout: float,
    max_connections: int | None,
    fault_file: Path | None,
    fault_flags: tuple[str, ...],
    seed: int,
    verbose: int,
    **tls: Any,
) -> None:
    """Relay clients to an upstream, byte for byte, watching HTTP/1.1 and SSE as it passes.

    With faults, break the stream on purpose: see ``faultproxy faults`` for the list. In front of
    a real API: ``--preset openai`` (or ``--upstream https://…``); as an HTTP proxy: ``--forward``.
    TLS, the local CA and every option here: docs/tls.md.
    """
    import logging

    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(
        format="%(asctime)s.%(msecs)03d faultproxy: %(message)s", datefmt="%H:%M:%S", level=level
    )
    from faultproxy.faults import FaultSpecError, load_fault_file, parse_cli_fault
    from faultproxy.proxy.capture import CaptureError
    from faultproxy.proxy.limits import ProxyLimits, raise_nofile
    from faultproxy.proxy.server import Proxy
    from faultproxy.tls import CAError

    upstream, chosen = _upstream(upstream, tls.pop("preset"))
    if raw and tls["forward"]:
        raise click.UsageError("--forward reads each client's request to know where it goes: drop --raw")
    descriptors = raise_nofile()
    try:
        specs = load_fault_file(fault_file) if fault_file else []
        specs += [parse_cli_fault(text, index=len(specs) + i) for i, text in enumerate(fault_flags)]
        limits = ProxyLimits(
            HeadLimits(max_head_size, max_line_size, max_header_count),
            header_timeout or None,
            idle_timeout or None,
            max_connections,
        )
        instance = Proxy(
            upstream,
            listen,
            raw=raw,
            capture=capture,
            redact=not no_redact,
            connect_timeout=connect_timeout,
            limits=limits,
            faults=specs,
            seed=seed,
            **tls,
        )
    except FaultSpecError as error:
        raise click.BadParameter(str(error), param_hint="--faults/--fault") from None
    except CAError as error:
        raise BadInput(str(error)) from None
    except ValueError as error:
        raise click.UsageError(str(error)) from None

    async def serve() -> None:
        try:
            await instance.start()
            _quiet_gc()
        except OSError as error:
            if error.filename:  # opening the capture failed, not the listening socket
                raise BadInput(f"cannot write capture {error.filename}: {error.strerror}") from None
            raise BadInput(f"cannot listen on {instance.listen}: {error.strerror or error}") from None
        mode = "raw TCP" if raw else "HTTP/1.1"
        click.echo(
            f"faultproxy: {instance.url} -> {instance.routing.describe()} ({mode})"
            + (f", capture {capture}" if capture else ""),
            err=True,
        )
        server_tls = instance.routing.server_tls
        ca_file = str(server_tls.ca.cert_path) if server_tls is not None and server_tls.ca.cert_path else None
        if chosen is not None:
            click.echo("  point the SDKs at it:", err=True)
            for line in chosen.lines(instance.url, ca_file if instance.routing.downstream_tls else None):
                click.echo(f"    {line}", err=True)
        elif instance.routing.forward:
            click.echo(f"  export HTTPS_PROXY={instance.url} HTTP_PROXY={instance.url}", err=True)
        if ca_file is not None:
            click.echo(f"  clients must trust the local CA: {ca_file} (docs/tls.md)", err=True)
        click.echo(f"  limits: {_describe(limits, descriptors)}", err=True)
        for spec in instance.faults.specs:
            click.echo(
                f"  fault {spec.name}: {spec.type} {spec.stream} {spec.attributes.model_dump()}", err=True
            )
        try:
            await instance.serve_forever()
        except asyncio.CancelledError:
            pass
        finally:
            try:
                await instance.stop()
            except CaptureError as error:  # a full disk: said when it happened, and again here
                click.echo(f"faultproxy: {error}", err=True)
            click.echo(f"faultproxy: stopped: {instance.activity.summary()}", err=True)

    try:
        run(serve())
    except KeyboardInterrupt:
        sys.exit(0)
