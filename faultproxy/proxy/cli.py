"""``faultproxy proxy`` and ``faultproxy capture show``."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from faultproxy.aio import run


@click.command("proxy")
@click.option("--listen", default="127.0.0.1:8080", show_default=True, help="HOST:PORT to accept clients on.")
@click.option("--upstream", required=True, help="http://HOST:PORT of the server to relay to.")
@click.option("--raw", is_flag=True, help="Relay plain TCP bytes, no HTTP parsing.")
@click.option("--capture", type=click.Path(dir_okay=False, path_type=Path), help="Write a capture (JSON Lines).")
@click.option("--no-redact", is_flag=True, help="Keep Authorization, x-api-key, cookies… in the capture.")
@click.option("--connect-timeout", type=click.FloatRange(min=0.001), default=10.0, show_default=True,
              help="Seconds to wait for the upstream connection before answering 502.")
def proxy(listen: str, upstream: str, raw: bool, capture: Path | None, no_redact: bool,
          connect_timeout: float) -> None:
    """Relay clients to an upstream, byte for byte, watching HTTP/1.1 and SSE as it passes."""
    from faultproxy.proxy.server import Proxy

    try:
        instance = Proxy(upstream, listen, raw=raw, capture=capture, redact=not no_redact,
                         connect_timeout=connect_timeout)
    except ValueError as error:
        raise click.UsageError(str(error)) from None

    async def serve() -> None:
        try:
            await instance.start()
        except OSError as error:
            raise click.ClickException(f"cannot listen on {instance.listen}: {error.strerror or error}") from None
        mode = "raw TCP" if raw else "HTTP/1.1"
        click.echo(f"faultproxy: {instance.url} -> {instance.upstream} ({mode})"
                   + (f", capture {capture}" if capture else ""), err=True)
        try:
            await instance.serve_forever()
        except asyncio.CancelledError:
            pass
        finally:
            await instance.stop()

    try:
        run(serve())
    except KeyboardInterrupt:
        click.echo("faultproxy: stopped", err=True)
        sys.exit(0)
