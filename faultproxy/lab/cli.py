"""``faultproxy lab ...``: the command line for the lab servers and clients.

Servers print ``listening on URL`` on the first line of stdout and run until Ctrl-C.
Bad input (an unusable address, an unreachable URL) is one line on stderr and exit code 2.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from contextlib import suppress
from typing import Any, TypeVar

import click

from faultproxy.cli import BadInput
from faultproxy.lab.chunked import ChunkedServer, describe, fetch_chunked
from faultproxy.lab.echo import EchoServer
from faultproxy.lab.echo import echo as roundtrip
from faultproxy.lab.framing import VARIANTS, FramingServer, compare, table
from faultproxy.lab.http_server import DEFAULT_BODY, HTTPServer
from faultproxy.lab.sse_client import DEFAULT_RECONNECT_MS, FAILED, Attempt, ReceivedEvent, SSEClient
from faultproxy.lab.sse_server import SSEServer
from faultproxy.net.addresses import HTTPURL, error_text, parse_hostport, parse_http_url
from faultproxy.net.stream_server import StreamServer
from faultproxy.wire.chunked import ChunkData, ChunkedEnd, ChunkEnd
from faultproxy.wire.http import Response

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class LabError(BadInput):
    """A one-line error for the user, exit code 2 (bad input), no traceback."""


def listen_address(default: str) -> Callable[[F], F]:
    """The ``--listen HOST:PORT`` option, parsed into ``(host, port)``."""

    def parse(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, int]:
        try:
            return parse_hostport(value)
        except ValueError as error:
            raise LabError(f"--listen: {error}") from None

    return click.option(
        "--listen",
        default=default,
        show_default=True,
        callback=parse,
        help="Address to listen on (port 0: any free port).",
    )


def http_url(ctx: click.Context, param: click.Parameter, value: str) -> HTTPURL:
    try:
        return parse_http_url(value)
    except ValueError as error:
        raise LabError(str(error)) from None


def announce(url: str, what: str) -> None:
    click.echo(f"listening on {url}  ({what})")


def serve(server: StreamServer, what: str) -> None:
    """Run an asyncio lab server until Ctrl-C; a bind (or log file) failure becomes a one-line error."""

    async def main() -> None:
        try:
            await server.start()
        except OSError as error:
            action = f"open {error.filename}" if error.filename else f"listen on {server.host}:{server.port}"
            raise LabError(f"cannot {action}: {error_text(error)}") from None
        announce(server.url, what)
        await server.serve_forever()

    run(main())


def run(coroutine: Coroutine[Any, Any, T]) -> T | None:
    """``asyncio.run``, with Ctrl-C as a quiet way to stop (None)."""
    try:
        return asyncio.run(coroutine)
    except KeyboardInterrupt:
        return None


@click.group()
def lab() -> None:
    """Each protocol layer built from raw sockets: TCP, HTTP/1.1, chunked, framing, SSE."""


# -- echo ------------------------------------------------------------------------------------


@lab.group()
def echo() -> None:
    """TCP echo: every byte sent comes back."""


@echo.command("serve")
@listen_address("127.0.0.1:7007")
def echo_serve(listen: tuple[str, int]) -> None:
    """Echo server (a thread per client). Try: nc 127.0.0.1 7007"""
    try:
        server = EchoServer(*listen)
    except OSError as error:
        raise LabError(f"cannot listen on {listen[0]}:{listen[1]}: {error_text(error)}") from None
    announce(f"tcp://{server.host}:{server.port}", "echo")
    with suppress(KeyboardInterrupt):
        server.serve_forever()


@echo.command("send")
@click.argument("address")
@click.argument("messages", nargs=-1, required=True)
def echo_send(address: str, messages: tuple[str, ...]) -> None:
    """Send each MESSAGE (plus a newline) to HOST:PORT and print what comes back."""
    try:
        host, port = parse_hostport(address)
    except ValueError as error:
        raise LabError(str(error)) from None
    try:
        replies = roundtrip(host, port, [m.encode() + b"\n" for m in messages])
    except OSError as error:
        raise LabError(f"{address}: {error_text(error)}") from None
    for message, reply in zip(messages, replies, strict=True):
        click.echo(f"sent {message!r}  got back {reply.decode(errors='replace').rstrip()!r}")


# -- http --------------------------------------------------------------------------------------


@lab.command("http")
@listen_address("127.0.0.1:8080")
@click.option("--body", default=None, help="The response body (default: a greeting).")
def http(listen: tuple[str, int], body: str | None) -> None:
    """Minimal HTTP/1.1 server: 200 with Content-Length, keep-alive, HEAD, 400 on bad requests."""
    server = HTTPServer(DEFAULT_BODY if body is None else body, *listen)
    serve(server, f"{len(server.body)}-byte body")


# -- chunked ----------------------------------------------------------------------------------


@lab.group()
def chunked() -> None:
    """Chunked transfer coding, one chunk at a time."""


@chunked.command("serve")
@listen_address("127.0.0.1:8081")
@click.option("--chunks", default=5, show_default=True, type=click.IntRange(1), help="Number of chunks.")
@click.option(
    "--interval-ms", default=500, show_default=True, type=click.IntRange(0), help="Pause before each chunk."
)
def chunked_serve(listen: tuple[str, int], chunks: int, interval_ms: int) -> None:
    """Answer every request with a slow chunked body. Try: curl -N --raw -i URL"""
    serve(ChunkedServer(chunks, interval_ms / 1000, *listen), f"{chunks} chunks, one every {interval_ms} ms")


@chunked.command("get")
@click.argument("url", callback=http_url)
@click.option(
    "--show-wire", is_flag=True, help="Show every framing byte: size lines, data, CRLFs, terminator."
)
def chunked_get(url: HTTPURL, show_wire: bool) -> None:
    """GET URL over a raw socket and decode the chunked body as it arrives."""
    piece, count, total = b"", 0, 0
    try:
        for elapsed, event in fetch_chunked(url):
            if show_wire:
                click.echo(f"{elapsed:9.1f} ms  {describe(event)}")
            elif isinstance(event, Response):
                status_line = event.raw.split(b"\r\n")[0].decode("latin-1")
                click.echo(f"{elapsed:9.1f} ms  {status_line}")
            elif isinstance(event, ChunkData):
                piece += event.data
            elif isinstance(event, ChunkEnd):
                count, total = count + 1, total + len(piece)
                text = piece.decode(errors="replace")
                click.echo(f"{elapsed:9.1f} ms  chunk {count} ({len(piece)} bytes): {text!r}")
                piece = b""
            elif isinstance(event, ChunkedEnd):
                click.echo(f"{elapsed:9.1f} ms  end of body: {count} chunks, {total} bytes")
    except (OSError, ValueError) as error:  # WireError is a ValueError
        raise LabError(f"{url.host}:{url.port}: {error_text(error)}") from None


# -- framing ----------------------------------------------------------------------------------


@lab.group(invoke_without_command=True)
@listen_address("127.0.0.1:8082")
@click.option(
    "--interval-ms",
    default=200,
    show_default=True,
    type=click.IntRange(0),
    help="Time to produce each piece.",
)
@click.pass_context
def framing(ctx: click.Context, listen: tuple[str, int], interval_ms: int) -> None:
    """Serve one body framed three ways (and cut short); `framing compare URL` shows what a client sees."""
    if ctx.invoked_subcommand is not None:
        return

    server = FramingServer(interval=interval_ms / 1000, host=listen[0], port=listen[1])
    serve(server, "paths: " + " ".join(v.path for v in VARIANTS))


@framing.command("compare")
@click.argument("url", callback=http_url)
def framing_compare(url: HTTPURL) -> None:
    """Fetch every variant from a `lab framing` server at URL and print what the client can tell."""
    try:
        click.echo(table(compare(url)))
    except OSError as error:
        raise LabError(f"{url.host}:{url.port}: {error_text(error)}") from None


# -- sse ----------------------------------------------------------------------------------------


@lab.group()
def sse() -> None:
    """Server-Sent Events: a server that records what it sent, a client that reconnects."""


@sse.command("serve")
@listen_address("127.0.0.1:8083")
@click.option(
    "--events", default=10, show_default=True, type=click.IntRange(0), help="Events per stream (ids 1..N)."
)
@click.option(
    "--interval-ms", default=1000, show_default=True, type=click.IntRange(0), help="Pause before each event."
)
@click.option(
    "--retry", type=click.IntRange(0), help="Send `retry: MS` with the first event of each connection."
)
@click.option(
    "--keepalive-ms", type=click.IntRange(1), help="Send `: keep-alive` comments this often while idle."
)
@click.option("--event-type", help="Name the events (`event: NAME`); default: unnamed (message).")
@click.option("--multiline", is_flag=True, help="Spread each event's data over several `data:` lines.")
@click.option("--drop-after", type=click.IntRange(1), help="Cut the first connection after K events.")
@click.option(
    "--log",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write every sent event to this JSONL file.",
)
def sse_serve(
    listen: tuple[str, int],
    events: int,
    interval_ms: int,
    retry: int | None,
    keepalive_ms: int | None,
    event_type: str | None,
    multiline: bool,
    drop_after: int | None,
    log: str | None,
) -> None:
    """Serve GET /events: ids 1..N, resume from Last-Event-ID, 204 once all were delivered."""
    try:
        server = SSEServer(
            events=events,
            interval=interval_ms / 1000,
            retry=retry,
            keepalive=keepalive_ms / 1000 if keepalive_ms else None,
            event_type=event_type,
            multiline=multiline,
            drop_after=drop_after,
            log=log,
            host=listen[0],
            port=listen[1],
        )
    except ValueError as error:
        raise LabError(str(error)) from None
    serve(server, f"{events} events, one every {interval_ms} ms")


@sse.command("listen")
@click.argument("url")
@click.option("--max-reconnects", type=click.IntRange(0), help="Give up after N reconnects (default: never).")
@click.option(
    "--reconnect-ms",
    default=DEFAULT_RECONNECT_MS,
    show_default=True,
    type=click.IntRange(0),
    help="Reconnection time until the server sends `retry:`.",
)
@click.option("--last-event-id", default="", help="Start as if this event ID had been received.")
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per line: connections, events, the end."
)
def sse_listen(
    url: str, max_reconnects: int | None, reconnect_ms: int, last_event_id: str, as_json: bool
) -> None:
    """Listen to an SSE stream at URL, reconnecting as a browser's EventSource would."""
    start = time.monotonic()

    def ms(at: float) -> float:
        return round((at - start) * 1000, 1)

    def out(kind: str, text: str, **fields: Any) -> None:
        click.echo(json.dumps({"kind": kind, **fields}) if as_json else text)

    def label(a: Attempt) -> str:
        waited = f" after {a.waited_ms} ms" if a.number > 1 else ""
        sent = f", Last-Event-ID: {a.last_event_id}" if a.last_event_id else ""
        return f"[connection {a.number}{waited}{sent}]"

    def attempt_fields(a: Attempt) -> dict[str, Any]:
        return {
            "connection": a.number,
            "last_event_id": a.last_event_id,
            "waited_ms": a.waited_ms,
            "status": a.status,
        }

    def opened(a: Attempt) -> None:
        out("open", f"{label(a)} {a.status} {a.content_type}", **attempt_fields(a), t_ms=ms(a.started))

    def received(r: ReceivedEvent) -> None:
        e = r.event
        out(
            "event",
            f"{ms(r.time):9.1f} ms  id={e.id} event={e.type} data={e.data!r}",
            connection=r.connection,
            id=e.id,
            type=e.type,
            data=e.data,
            t_ms=ms(r.time),
        )

    def ended(a: Attempt) -> None:
        out(
            "close",
            f"{label(a)} {a.outcome}: {a.detail}",
            **attempt_fields(a),
            outcome=a.outcome,
            detail=a.detail,
            events=a.events,
        )

    try:
        client = SSEClient(
            url,
            max_reconnects=max_reconnects,
            reconnect_ms=reconnect_ms,
            last_event_id=last_event_id,
            on_open=opened,
            on_event=received,
            on_end=ended,
        )
    except ValueError as error:
        raise LabError(str(error)) from None

    transcript = run(client.run())
    if transcript is None:
        return  # Ctrl-C
    if transcript.end == FAILED and not any(a.status for a in transcript.attempts):
        raise LabError(transcript.detail)  # the server was never reached
    out(
        "done",
        f"done: {transcript.end}: {transcript.detail} ({len(transcript.events)} events)",
        end=transcript.end,
        detail=transcript.detail,
        events=len(transcript.events),
    )
    if transcript.end == FAILED:
        raise click.exceptions.Exit(1)
