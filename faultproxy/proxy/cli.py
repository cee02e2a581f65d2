"""``faultproxy proxy`` and ``faultproxy capture show``."""

from __future__ import annotations

import asyncio
import gc
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from faultproxy.aio import run
from faultproxy.cli import BadInput
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


def _describe(limits: ProxyLimits, descriptors: tuple[int, int]) -> str:
    """The limits in force, in one line: what a user checks when a client is refused."""
    head = limits.head

    def seconds(value: float | None) -> str:
        return f"{value:g}s" if value else "none"

    before, after = descriptors
    raised = f", raised from {before}" if after != before else ""
    return (f"heads {head.max_head} B, lines {head.max_line} B, {head.max_fields} fields; "
            f"header timeout {seconds(limits.header_timeout)}, idle timeout {seconds(limits.idle_timeout)}; "
            f"{limits.connection_cap()} connections (descriptor limit {after}{raised})")


@click.command("proxy")
@click.option("--listen", default="127.0.0.1:8080", show_default=True, help="HOST:PORT to accept clients on.")
@click.option("--upstream", required=True, help="http://HOST:PORT of the server to relay to.")
@click.option("--raw", is_flag=True, help="Relay plain TCP bytes, no HTTP parsing.")
@click.option("--capture", type=click.Path(dir_okay=False, path_type=Path), help="Write a capture (JSON Lines).")
@click.option("--no-redact", is_flag=True, help="Keep Authorization, x-api-key, cookies… in the capture.")
@click.option("--connect-timeout", type=click.FloatRange(min=0.001), default=10.0, show_default=True,
              help="Seconds to wait for the upstream connection before answering 502.")
@click.option("--max-head-size", type=click.IntRange(min=1), default=DEFAULT_LIMITS.max_head, show_default=True,
              metavar="BYTES", help="Largest request head, through its blank line: larger is answered 431. "
                                    "A larger response head passes on as bytes, unparsed.")
@click.option("--max-line-size", type=click.IntRange(min=1), default=DEFAULT_LIMITS.max_line, show_default=True,
              metavar="BYTES", help="Longest request line (else 414) or header line (else 431).")
@click.option("--max-header-count", type=click.IntRange(min=1), default=DEFAULT_LIMITS.max_fields,
              show_default=True, metavar="N", help="Most header fields in a request head: more is answered 431.")
@click.option("--header-timeout", type=click.FloatRange(min=0), default=60.0, show_default=True, metavar="SECONDS",
              help="A request head must be whole this long after the connection opened or its first byte "
                   "came: else 408 (a close if nothing came). 0: no limit.")
@click.option("--idle-timeout", type=click.FloatRange(min=0), default=75.0, show_default=True, metavar="SECONDS",
              help="Close a kept-alive client connection after this long with no request in progress "
                   "(a stalled response is in progress). 0: no limit.")
@click.option("--max-connections", type=click.IntRange(min=1), metavar="N",
              help="Clients relayed at once; one more is answered 503 (closed under --raw). "
                   "Default: what the descriptor limit holds, two per connection.")
@click.option("--faults", "fault_file", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML file with a list of faults (Toxiproxy's toxic shape, extended).")
@click.option("--fault", "fault_flags", multiple=True, metavar="TYPE:key=value,…",
              help="A fault for quick use, e.g. sse_disconnect:after_events=3,mode=rst (repeatable).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for every random decision of the faults.")
@click.option("-v", "--verbose", count=True,
              help="Say what happens: -v connections and faults fired, -vv every FIN too. Upstream failures "
                   "and refused requests are always said.")
def proxy(listen: str, upstream: str, raw: bool, capture: Path | None, no_redact: bool,
          connect_timeout: float, max_head_size: int, max_line_size: int, max_header_count: int,
          header_timeout: float, idle_timeout: float, max_connections: int | None,
          fault_file: Path | None, fault_flags: tuple[str, ...], seed: int, verbose: int) -> None:
    """Relay clients to an upstream, byte for byte, watching HTTP/1.1 and SSE as it passes.

    With faults, break the stream on purpose: see ``faultproxy faults`` for the list.
    """
    import logging

    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(format="%(asctime)s.%(msecs)03d faultproxy: %(message)s", datefmt="%H:%M:%S", level=level)
    from faultproxy.faults import FaultSpecError, load_fault_file, parse_cli_fault
    from faultproxy.proxy.capture import CaptureError
    from faultproxy.proxy.limits import ProxyLimits, raise_nofile
    from faultproxy.proxy.server import Proxy

    descriptors = raise_nofile()
    try:
        specs = load_fault_file(fault_file) if fault_file else []
        specs += [parse_cli_fault(text, index=len(specs) + i) for i, text in enumerate(fault_flags)]
        limits = ProxyLimits(HeadLimits(max_head_size, max_line_size, max_header_count),
                             header_timeout or None, idle_timeout or None, max_connections)
        instance = Proxy(upstream, listen, raw=raw, capture=capture, redact=not no_redact,
                         connect_timeout=connect_timeout, limits=limits, faults=specs, seed=seed)
    except FaultSpecError as error:
        raise click.BadParameter(str(error), param_hint="--faults/--fault") from None
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
        click.echo(f"faultproxy: {instance.url} -> {instance.upstream} ({mode})"
                   + (f", capture {capture}" if capture else ""), err=True)
        click.echo(f"  limits: {_describe(limits, descriptors)}", err=True)
        for spec in instance.faults.specs:
            click.echo(f"  fault {spec.name}: {spec.type} {spec.stream} {spec.attributes.model_dump()}", err=True)
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
