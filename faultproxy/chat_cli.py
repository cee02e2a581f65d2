"""``faultproxy chat`` and ``faultproxy compare``: watch an LLM stream arrive, token by token.

``chat`` makes one raw streamed request (:mod:`faultproxy.chat`, no SDK) and draws it live: the
tokens as they arrive, time to first token, tokens/s, a stall indicator (seconds since the last
token), and how the stream ended (complete, truncated, error; which sentinel was seen).
``--wire`` shows the raw wire beside the tokens (chunk sizes, event and data lines). Without
``--base-url`` it talks to the built-in mock of the API, paced so the eye can follow.
``--fault TYPE:k=v`` puts a faultproxy proxy with those faults in between, so a stall, a cut or
an error event can be watched as it happens. ``compare`` streams the same prompt in OpenAI's
and Anthropic's formats side by side. See ``docs/llm-streams.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from typing import Any

import click
from rich.columns import Columns
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from faultproxy.chat import DEFAULT_MODELS, SENTINELS, ChatError, ChatState, api_key, request_for, stream
from faultproxy.faults.spec import FaultSpecError, parse_cli_fault
from faultproxy.wire.llm import token_counts

STALL_WARN_S = 1.0  # the stall indicator turns yellow after this long without a token, red after 3x
ENDS = {
    "complete": ("✔", "green"),
    "truncated": ("✘", "red"),
    "error": ("✘", "red"),
    "open": ("…", "yellow"),
    "interrupted": ("■", "yellow"),
}
HOW_TEXT_ARRIVES = {
    "openai": 'data: {"choices":[{"delta":{"content":"…"}}]}',
    "anthropic": 'event: content_block_delta + {"delta":{"type":"text_delta","text":"…"}}',
}
ERROR_SHAPE = {
    "openai": 'data: {"error":{"message","type","code"}} then data: [DONE] (after the 200)',
    "anthropic": 'event: error + {"type":"error","error":{"type":"overloaded_error",…}}',
}


class _Setup:
    """The upstream (the built-in mock, or --base-url) and an optional proxy with faults, per API."""

    def __init__(
        self, faults: tuple[str, ...], tokens: int, tokens_per_s: float, seed: int, ca_file: str | None = None
    ):
        self.ca_file = ca_file
        try:
            self.specs = [parse_cli_fault(text, i) for i, text in enumerate(faults)]
        except FaultSpecError as error:
            raise click.UsageError(str(error)) from None
        self.tokens, self.tokens_per_s, self.seed = tokens, tokens_per_s, seed
        self.stack = contextlib.AsyncExitStack()

    async def base_url(self, api: str, given: str | None) -> str:
        if given is None:
            from faultproxy.servers.anthropic import AnthropicServer
            from faultproxy.servers.openai import OpenAIServer

            cls = OpenAIServer if api == "openai" else AnthropicServer
            mock = cls(
                seed=self.seed,
                tokens=self.tokens,
                tokens_per_s=self.tokens_per_s or None,
                ttft=0.3,
                require_auth=True,
            )
            await self.stack.enter_async_context(mock)
            given = mock.base_url
        if not self.specs:
            return given
        from urllib.parse import urlsplit

        from faultproxy.proxy.server import Proxy

        parts = urlsplit(given)
        if parts.scheme != "http":
            raise ChatError("--fault needs an http:// upstream: the proxy in between relays plain HTTP here")
        proxy = Proxy(f"http://{parts.netloc}", "127.0.0.1:0", faults=list(self.specs), seed=self.seed)
        await self.stack.enter_async_context(proxy)
        return f"http://127.0.0.1:{proxy.port}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def _metrics(state: ChatState) -> Text:
    now = time.monotonic()
    text = Text()
    ttft = state.ttft
    text.append("TTFT ", style="dim").append(f"{ttft:.2f} s" if ttft is not None else "–")
    text.append("  tokens ", style="dim").append(str(state.tokens))
    rate = state.tokens_per_s(now)
    text.append("  tok/s ", style="dim").append(f"{rate:.1f}" if rate is not None else "–")
    since = state.since_last_token(now)
    if since is not None:
        style = "red bold" if since >= 3 * STALL_WARN_S else "yellow" if since >= STALL_WARN_S else "green"
        label = "STALLED " if since >= STALL_WARN_S else ""
        text.append("  last token ", style="dim").append(f"{label}{since:.1f} s ago", style=style)
    text.append("  HTTP ", style="dim").append(str(state.status) if state.status is not None else "…")
    text.append("  body ", style="dim").append(f"{state.body_bytes:,} B in {state.chunks} chunks")
    per = state.bytes_per_token
    if per is not None:
        text.append("  ", style="dim").append(f"{per:.0f} B/token")
    return text


def _ending(state: ChatState) -> Text:
    if state.end is None:
        return Text("● streaming…", style="cyan")
    mark, style = ENDS.get(state.end, ("?", "white"))
    return Text(f"{mark} {state.end}: {state.end_detail}", style=style + " bold")


def _answer(state: ChatState) -> Text:
    message = state.message
    text = Text(message.text or "")
    for call in message.tool_calls:
        text.append(f"\n⚙ {call.name}({call.arguments})", style="magenta")
    if message.usage:
        text.append(f"\nusage: {_usage(message.usage)}", style="dim")
    if message.finish_reason:
        text.append(f"\nfinish: {message.finish_reason}", style="dim")
    return text


def _usage(usage: dict[str, Any] | None) -> str:
    """``9 in / 12 out`` from either API's usage object."""
    if not usage:
        return "–"
    tokens_in, tokens_out = token_counts(usage)
    return f"{tokens_in} in / {tokens_out} out"


def _wire(state: ChatState, lines: int = 14) -> Text:
    out = Text(no_wrap=True, overflow="ellipsis")
    start = state.started
    for t, line in state.wire[-lines:]:
        style = (
            "yellow"
            if line.startswith(("chunk", "last chunk"))
            else "cyan"
            if line.startswith("event:")
            else ""
        )
        out.append(f"{t - start:6.2f} ", style="dim").append(line[:160] + "\n", style=style)
    return out


def render(state: ChatState, wire: bool = False) -> Any:
    title = f"{state.api} · {state.model} · POST {state.url}"
    tokens = Panel(_answer(state), title="tokens", border_style="blue")
    body: Any = tokens
    if wire:
        body = Table.grid(expand=True)
        body.add_column(ratio=1)
        body.add_column(ratio=1)
        body.add_row(tokens, Panel(_wire(state), title="wire", border_style="yellow"))
    return Panel(Group(body, _metrics(state), _ending(state)), title=title, border_style="white")


def _state(api: str, model: str | None) -> ChatState:
    return ChatState(api=api, url="", model=model or DEFAULT_MODELS[api])  # type: ignore[arg-type]


async def _run(
    state: ChatState, setup: _Setup, base_url: str | None, prompt: str, timeout: float | None
) -> None:
    base = await setup.base_url(state.api, base_url)
    host, port, request, state.url = request_for(
        state.api, base, state.model, prompt, api_key(state.api, mock=base_url is None)
    )
    tls = None
    if state.url.startswith("https://"):
        from faultproxy.tls.contexts import TLSConfigError, upstream_context

        try:
            tls = upstream_context(ca_file=setup.ca_file)
        except TLSConfigError as error:
            raise ChatError(str(error).replace("--upstream-ca", "--ca-file")) from None
    await stream(state, host, port, request, timeout, tls)


def _live(states: list[ChatState], draw, work) -> None:
    console = Console()
    with Live(
        get_renderable=draw,
        console=console,
        refresh_per_second=10,
        transient=False,
        vertical_overflow="visible",
    ):
        try:
            asyncio.run(work())
        except KeyboardInterrupt:
            for state in states:
                if state.end is None:
                    state.end, state.end_detail = "interrupted", "stopped with Ctrl-C"


@click.command()
@click.option("--api", type=click.Choice(["openai", "anthropic"]), default="openai", show_default=True)
@click.option("--base-url", help="the API's base URL (OpenAI's with /v1); default: the built-in mock")
@click.option(
    "--ca-file",
    type=click.Path(dir_okay=False),
    help="https: trust only this CA (PEM) instead of the system's",
)
@click.option("--model", help="model name (default: gpt-4o-mini / claude-sonnet-4-5)")
@click.option("--wire", is_flag=True, help="show the raw wire (chunk sizes, event lines) beside the tokens")
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="TYPE:k=v,…",
    help="put a proxy with this fault in between (repeatable)",
)
@click.option("--timeout", type=float, help="give up after this many seconds (the end is then 'open')")
@click.option("--tokens", type=int, default=40, show_default=True, help="built-in mock: tokens in the answer")
@click.option(
    "--tokens-per-s", type=float, default=12.0, show_default=True, help="built-in mock: pacing (0: at once)"
)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="built-in mock: seed of the answer; proxy: fault seed",
)
@click.argument("prompt")
def chat(api, base_url, ca_file, model, wire, faults, timeout, tokens, tokens_per_s, seed, prompt) -> None:
    """Stream PROMPT with a raw HTTP POST (stream: true) and watch the tokens arrive."""
    setup = _Setup(faults, tokens, tokens_per_s, seed, ca_file)
    state = _state(api, model)
    if base_url is not None and api_key(api, mock=False) is None:
        click.echo(
            f"note: ${'OPENAI_API_KEY' if api == 'openai' else 'ANTHROPIC_API_KEY'} is not set; "
            "sending no key",
            err=True,
        )

    async def work() -> None:
        async with setup.stack:
            await _run(state, setup, base_url, prompt, timeout)

    try:
        _live([state], lambda: render(state, wire), work)
    except ChatError as error:
        raise click.UsageError(str(error)) from None
    if state.end not in ("complete",):
        raise SystemExit(1)


def _compare_table(a: ChatState, b: ChatState) -> Table:
    table = Table(title="OpenAI Chat Completions vs Anthropic Messages, on the wire", expand=True)
    table.add_column("", style="bold")
    table.add_column("openai")
    table.add_column("anthropic")

    def events(state: ChatState) -> str:
        counts = Counter(state.events)
        return ", ".join(f"{k} ×{n}" if n > 1 else k for k, n in counts.items()) or "–"

    def sentinel(state: ChatState) -> str:
        seen = "seen" if state.message.sentinel else ("not seen" if state.end else "…")
        return f"{SENTINELS[state.api]} ({seen})"

    def error(state: ChatState) -> str:
        observed = f"\nobserved: {state.message.error}" if state.message.error else ""
        return ERROR_SHAPE[state.api] + observed

    def per_token(state: ChatState) -> str:
        per = state.bytes_per_token
        return f"{per:.0f} B/token ({state.body_bytes:,} B, {state.tokens} tokens)" if per else "–"

    rows = [
        ("event types", events),
        ("how text arrives", lambda s: HOW_TEXT_ARRIVES[s.api]),
        ("end sentinel", sentinel),
        ("error shape", error),
        (
            "usage",
            lambda s: (
                _usage(s.message.usage)
                + (
                    " (final chunk, choices: [])"
                    if s.api == "openai"
                    else " (message_start, then message_delta)"
                )
            ),
        ),
        ("bytes on the wire", per_token),
        ("TTFT", lambda s: f"{s.ttft:.2f} s" if s.ttft is not None else "–"),
        ("ended", lambda s: f"{s.end}: {s.end_detail}" if s.end else "streaming…"),
    ]
    for label, fn in rows:
        table.add_row(label, fn(a), fn(b))
    return table


@click.command()
@click.option("--openai-url", help="OpenAI-format base URL (with /v1); default: the built-in mock")
@click.option("--anthropic-url", help="Anthropic-format base URL; default: the built-in mock")
@click.option(
    "--fault", "faults", multiple=True, metavar="TYPE:k=v,…", help="a proxy with this fault in front of both"
)
@click.option("--timeout", type=float, help="give up after this many seconds")
@click.option(
    "--tokens", type=int, default=30, show_default=True, help="built-in mocks: tokens in the answer"
)
@click.option("--tokens-per-s", type=float, default=12.0, show_default=True, help="built-in mocks: pacing")
@click.option(
    "--seed", type=int, default=1, show_default=True, help="built-in mocks: the same answer in both formats"
)
@click.argument("prompt")
def compare(openai_url, anthropic_url, faults, timeout, tokens, tokens_per_s, seed, prompt) -> None:
    """Stream PROMPT in OpenAI's and Anthropic's formats side by side and compare the wire."""
    setup = _Setup(faults, tokens, tokens_per_s, seed)
    a, b = _state("openai", None), _state("anthropic", None)

    async def work() -> None:
        async with setup.stack:
            await asyncio.gather(
                _run(a, setup, openai_url, prompt, timeout), _run(b, setup, anthropic_url, prompt, timeout)
            )

    def draw() -> Any:
        panels = Columns(
            [Panel(Group(_answer(s), _metrics(s), _ending(s)), title=f"{s.api} · {s.model}") for s in (a, b)],
            equal=True,
            expand=True,
        )
        return Group(panels, _compare_table(a, b))

    try:
        _live([a, b], draw, work)
    except ChatError as error:
        raise click.UsageError(str(error)) from None
    if any(s.end != "complete" for s in (a, b)):
        raise SystemExit(1)  # as chat: a stream that did not end complete (truncated, error, open)
