"""``faultproxy proxy`` and ``faultproxy capture show``."""

from __future__ import annotations

import asyncio
import gc
import sys
from pathlib import Path

import click

from faultproxy.aio import run
from faultproxy.cli import BadInput


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


@click.command("proxy")
@click.option("--listen", default="127.0.0.1:8080", show_default=True, help="HOST:PORT to accept clients on.")
@click.option("--upstream", required=True, help="http://HOST:PORT of the server to relay to.")
@click.option("--raw", is_flag=True, help="Relay plain TCP bytes, no HTTP parsing.")
@click.option("--capture", type=click.Path(dir_okay=False, path_type=Path), help="Write a capture (JSON Lines).")
@click.option("--no-redact", is_flag=True, help="Keep Authorization, x-api-key, cookies… in the capture.")
@click.option("--connect-timeout", type=click.FloatRange(min=0.001), default=10.0, show_default=True,
              help="Seconds to wait for the upstream connection before answering 502.")
@click.option("--faults", "fault_file", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML file with a list of faults (Toxiproxy's toxic shape, extended).")
@click.option("--fault", "fault_flags", multiple=True, metavar="TYPE:key=value,…",
              help="A fault for quick use, e.g. sse_disconnect:after_events=3,mode=rst (repeatable).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for every random decision of the faults.")
@click.option("-v", "--verbose", count=True,
              help="Say what happens: -v connections and faults fired, -vv every FIN too. Upstream failures "
                   "and refused requests are always said.")
def proxy(listen: str, upstream: str, raw: bool, capture: Path | None, no_redact: bool,
          connect_timeout: float, fault_file: Path | None, fault_flags: tuple[str, ...], seed: int,
          verbose: int) -> None:
    """Relay clients to an upstream, byte for byte, watching HTTP/1.1 and SSE as it passes.

    With faults, break the stream on purpose: see ``faultproxy faults`` for the list.
    """
    import logging

    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(format="%(asctime)s.%(msecs)03d faultproxy: %(message)s", datefmt="%H:%M:%S", level=level)
    from faultproxy.faults import FaultSpecError, load_fault_file, parse_cli_fault
    from faultproxy.proxy.capture import CaptureError
    from faultproxy.proxy.server import Proxy

    try:
        specs = load_fault_file(fault_file) if fault_file else []
        specs += [parse_cli_fault(text, index=len(specs) + i) for i, text in enumerate(fault_flags)]
        instance = Proxy(upstream, listen, raw=raw, capture=capture, redact=not no_redact,
                         connect_timeout=connect_timeout, faults=specs, seed=seed)
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
