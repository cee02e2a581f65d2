"""``faultproxy serve KIND``: the reference servers from the command line.

``sse`` (the from-scratch reference server, durable on request), ``starlette`` (the same
stream from sse-starlette under uvicorn), ``replay FILE|DIR`` (a recorded response with its
timing), ``openai`` and ``anthropic`` (the LLM API mocks, whose options come from their
modules' ``OPTIONS``). ``faultproxy record`` (in :mod:`faultproxy.servers.record`) writes
what ``replay`` serves.

Every server prints ``listening on URL`` as the first line on stdout and runs until
Ctrl-C. Bad input -- an unknown flag, a bad value, a busy port, an unreadable file -- is
one line on stderr (``Error: ...``) and exit code 2.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import click

from faultproxy.cli import BadInput
from faultproxy.net.addresses import error_text, parse_hostport

# kind -> module with ``OPTIONS`` and ``build(options)``; listed even when the module is missing
MOCKS = {
    "openai": ("faultproxy.servers.openai", "127.0.0.1:8087", "OpenAI API mock"),
    "anthropic": ("faultproxy.servers.anthropic", "127.0.0.1:8088", "Anthropic Messages API mock"),
}


class ServeError(BadInput):
    """A one-line error for the user, exit code 2 (bad input), no traceback."""


class _OneLine:
    """Click's usage errors (unknown flag, bad value, missing argument) as one ``Error:`` line."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)  # type: ignore[misc]
        except click.UsageError as error:
            raise ServeError(f"{ctx.command_path}: {error.format_message()}") from None


class Command(_OneLine, click.Command):
    pass


class Group(_OneLine, click.Group):
    command_class = Command

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as error:
            raise ServeError(f"{ctx.command_path}: {error.format_message()}") from None


def _parse_listen(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, int]:
    try:
        return parse_hostport(value)
    except ValueError as error:
        raise ServeError(f"--listen: {error}") from None


def listen_param(default: str) -> click.Option:
    return click.Option(
        ["--listen"],
        default=default,
        show_default=True,
        callback=_parse_listen,
        help="HOST:PORT to listen on (port 0: any free port).",
    )


def listen_option(default: str) -> Callable[[Any], Any]:
    return click.option(
        "--listen",
        default=default,
        show_default=True,
        callback=_parse_listen,
        help="HOST:PORT to listen on (port 0: any free port).",
    )


TLS_HELP = "Serve HTTPS, with a certificate from faultproxy's local CA (see 'faultproxy ca path')."
NAME_HELP = "With --tls: a name the certificate is also valid for, e.g. api.openai.com (repeatable)."
TLS_PARAMS = (
    click.Option(["--tls"], is_flag=True, help=TLS_HELP),
    click.Option(["--tls-name", "tls_names"], multiple=True, metavar="HOST", help=NAME_HELP),
)


def tls_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--tls-name", "tls_names", multiple=True, metavar="HOST", help=NAME_HELP)(f)
    return click.option("--tls", is_flag=True, help=TLS_HELP)(f)


def _serving_context(host: str, names: tuple[str, ...]) -> Any:
    """A server context with a leaf from the user's local CA for the listen host, localhost and ``names``."""
    from faultproxy.tls import CAError, LocalCA, server_context

    try:
        ca = LocalCA.load_or_create()
        hosts = dict.fromkeys([*names, "localhost", "127.0.0.1", "::1", host])  # in order, once each
        return server_context(ca.mint(*[h for h in hosts if h not in ("0.0.0.0", "::")])), ca
    except CAError as error:
        raise ServeError(str(error)) from None


def run_server(
    make: Callable[[], Any], what: Callable[[Any], str], *, tls: bool = False, tls_names: tuple[str, ...] = ()
) -> None:
    """Build, start, announce and run a server until Ctrl-C; failures to start are one line.

    With ``tls`` (or ``tls_names``) the server serves HTTPS; the banner names the CA to trust."""
    from faultproxy.aio import run

    try:
        server = make()
        if tls or tls_names:
            server.tls, ca = _serving_context(server.host, tls_names)
            base = what
            what = lambda srv: f"{base(srv)}; TLS, trust {ca.cert_path}"  # noqa: E731
    except (ValueError, TypeError) as error:
        raise ServeError(str(error)) from None

    async def main() -> None:
        try:
            await server.start()
        except OSError as error:
            action = f"open {error.filename}" if error.filename else f"listen on {server.host}:{server.port}"
            raise ServeError(f"cannot {action}: {error_text(error)}") from None
        except ValueError as error:  # e.g. a durable log of another stream
            raise ServeError(str(error)) from None
        click.echo(f"listening on {server.url}  ({what(server)})")
        try:
            await _forever(server)
        finally:
            await server.stop()

    try:
        run(main())
    except KeyboardInterrupt:
        pass


async def _forever(server: Any) -> None:
    forever: Callable[[], Coroutine[Any, Any, None]] | None = getattr(server, "serve_forever", None)
    if forever is not None:
        await forever()
    else:
        await asyncio.Event().wait()


@click.group("serve", cls=Group)
def serve() -> None:
    """Reference servers: SSE (from scratch or sse-starlette), replay of recordings, LLM API mocks."""


# -- sse --------------------------------------------------------------------------------------------


def stream_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options that define the reference stream, shared by ``sse`` and ``starlette``."""
    for option in reversed(
        [
            click.option(
                "--events",
                default=10,
                show_default=True,
                type=click.IntRange(0),
                help="Events per stream (ids 1..N).",
            ),
            click.option(
                "--interval-ms",
                default=1000,
                show_default=True,
                type=click.IntRange(0),
                help="Pause before each event.",
            ),
            click.option(
                "--retry",
                type=click.IntRange(0),
                help="Send `retry: MS` with the first event of each connection.",
            ),
            click.option("--event-type", help="Name the events (`event: NAME`); default: unnamed (message)."),
            click.option(
                "--multiline", is_flag=True, help="Spread each event's data over several `data:` lines."
            ),
            click.option("--size", type=click.IntRange(0), help="Pad each event's data to this many bytes."),
            click.option(
                "--log",
                type=click.Path(dir_okay=False, path_type=Path),
                help="Write the ground truth (every event sent) to this JSONL file.",
            ),
        ]
    ):
        f = option(f)
    return f


@serve.command("sse")
@listen_option("127.0.0.1:8083")
@stream_options
@click.option(
    "--keepalive-ms", type=click.IntRange(1), help="Send `: keep-alive` comments this often while idle."
)
@click.option("--drop-after", type=click.IntRange(1), help="Cut the first connection after K events.")
@click.option(
    "--framing",
    type=click.Choice(["auto", "chunked", "close"]),
    default="auto",
    show_default=True,
    help="auto: chunked to HTTP/1.1 requests, close-delimited to HTTP/1.0; close: never chunked.",
)
@click.option(
    "--header",
    "headers",
    multiple=True,
    metavar="NAME:VALUE",
    help="An extra response header field (repeatable), e.g. 'X-Accel-Buffering: no'.",
)
@click.option(
    "--durable",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Event log: each event is fsync'd here before it is sent; a restart continues from it.",
)
@tls_options
def sse(
    listen: tuple[str, int],
    events: int,
    interval_ms: int,
    retry: int | None,
    event_type: str | None,
    multiline: bool,
    size: int | None,
    log: Path | None,
    keepalive_ms: int | None,
    drop_after: int | None,
    framing: str,
    headers: tuple[str, ...],
    durable: Path | None,
    tls: bool,
    tls_names: tuple[str, ...],
) -> None:
    """The reference SSE server: GET /events, ids 1..N, resume from Last-Event-ID, 204 when done."""
    from faultproxy.servers.sse import ReferenceSSEServer

    fields = {}
    for item in headers:
        name, colon, value = item.partition(":")
        if not colon:
            raise ServeError(f"--header {item!r}: expected NAME:VALUE")
        fields[name.strip()] = value.strip()

    def make() -> ReferenceSSEServer:
        return ReferenceSSEServer(
            events=events,
            interval=interval_ms / 1000,
            retry=retry,
            keepalive=keepalive_ms / 1000 if keepalive_ms else None,
            event_type=event_type,
            multiline=multiline,
            drop_after=drop_after,
            framing=framing,
            headers=fields,
            size=size,
            durable=durable,
            log=log,
            host=listen[0],
            port=listen[1],
        )

    def what(srv: ReferenceSSEServer) -> str:
        text = f"{events} events, one every {interval_ms} ms"
        if srv.durable is not None:
            text += f", durable log {durable} ({srv.existing} events exist)"
        return text

    run_server(make, what, tls=tls, tls_names=tls_names)


@serve.command("starlette")
@listen_option("127.0.0.1:8084")
@stream_options
@click.option(
    "--ping-ms",
    default=15000,
    show_default=True,
    type=click.IntRange(0),
    help="sse-starlette's keep-alive `: ping` comment interval (0: none).",
)
def starlette(
    listen: tuple[str, int],
    events: int,
    interval_ms: int,
    retry: int | None,
    event_type: str | None,
    multiline: bool,
    size: int | None,
    log: Path | None,
    ping_ms: int,
) -> None:
    """The reference stream from sse-starlette's EventSourceResponse under uvicorn."""
    from faultproxy.servers.starlette_app import StarletteServer

    def make() -> StarletteServer:
        return StarletteServer(
            events=events,
            interval=interval_ms / 1000,
            retry=retry,
            event_type=event_type,
            multiline=multiline,
            size=size,
            ping=ping_ms / 1000,
            log=log,
            host=listen[0],
            port=listen[1],
        )

    run_server(make, lambda srv: f"sse-starlette + uvicorn, {events} events, one every {interval_ms} ms")


# -- replay -----------------------------------------------------------------------------------------


@serve.command("replay")
@click.argument("source", type=click.Path(path_type=Path))
@listen_option("127.0.0.1:8085")
@click.option(
    "--speed",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Scale the recorded timing: 2 = twice as fast, 0 = no waiting.",
)
@click.option("--fast", is_flag=True, help="As fast as possible (the same as --speed 0).")
@click.option(
    "--any",
    "any_request",
    is_flag=True,
    help="Answer every request, whatever its method and path (default for raw files).",
)
@click.option(
    "--log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the ground truth (every write, response and SSE event) to this JSONL file.",
)
@tls_options
def replay(
    source: Path,
    listen: tuple[str, int],
    speed: float,
    fast: bool,
    any_request: bool,
    log: Path | None,
    tls: bool,
    tls_names: tuple[str, ...],
) -> None:
    """Serve a recorded response byte for byte with its timing.

    SOURCE is a raw HTTP response (`curl --raw -i URL > FILE`), a faultproxy capture, or a
    directory written by `faultproxy record`.
    """
    from faultproxy.servers.replay import ReplayServer

    def make() -> ReplayServer:
        return ReplayServer(
            source,
            speed=0 if fast else speed,
            match="any" if any_request else None,
            log=log,
            host=listen[0],
            port=listen[1],
        )

    def what(srv: ReplayServer) -> str:
        pace = "no waiting" if srv.speed == 0 else f"speed {srv.speed:g}"
        return f"{len(srv.recordings)} recorded responses from {source}, matched by {srv.match}, {pace}"

    run_server(make, what, tls=tls, tls_names=tls_names)


# -- LLM API mocks ----------------------------------------------------------------------------------


class _MockGroupCommand(Command):
    """A ``serve openai|anthropic`` command whose options are read from the module when it is used."""

    def __init__(self, kind: str):
        module, self.default_listen, summary = MOCKS[kind]
        super().__init__(
            kind, help=f"{summary}. Options: see --help.", short_help=summary, callback=self._run
        )
        self.kind, self.module_name = kind, module
        self._loaded = False

    def _module(self) -> Any:
        try:
            return importlib.import_module(self.module_name)
        except ImportError as error:
            raise ServeError(f"serve {self.kind}: the {self.kind} mock is not available ({error})") from None

    def _load(self) -> None:
        if self._loaded:
            return
        module = self._module()
        self._options: dict[str, tuple[type, Any, str]] = dict(module.OPTIONS)
        self.params = [listen_param(self.default_listen), *TLS_PARAMS]
        for name, (kind, default, help_text) in self._options.items():
            if name in ("host", "port"):
                continue
            flag = name.replace("_", "-")
            if kind is bool:
                self.params.append(
                    click.Option(
                        [f"--{flag}/--no-{flag}", name], default=default, show_default=True, help=help_text
                    )
                )
            else:
                ctype = {int: click.INT, float: click.FLOAT}.get(kind, click.STRING)
                self.params.append(
                    click.Option(
                        [f"--{flag}", name],
                        type=ctype,
                        default=default,
                        show_default=default is not None,
                        help=help_text,
                    )
                )
        self.help = module.__doc__.strip().split("\n")[0] if module.__doc__ else self.help
        self._loaded = True

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        self._load()
        return super().make_context(info_name, args, parent, **extra)

    def _run(self, listen: tuple[str, int], tls: bool, tls_names: tuple[str, ...], **values: Any) -> None:
        module = self._module()
        options = {name: value for name, value in values.items() if value is not None}
        if "host" in self._options:
            options["host"] = listen[0]
        if "port" in self._options:
            options["port"] = listen[1]

        def what(srv: Any) -> str:
            base = getattr(srv, "base_url", None)
            return f"{self.kind} mock" + (f", base_url {base}" if base else "")

        run_server(lambda: module.build(options), what, tls=tls, tls_names=tls_names)


for _kind in MOCKS:
    serve.add_command(_MockGroupCommand(_kind))
