"""``faultproxy bench``."""

from __future__ import annotations

import json
import re
import sys
import time

import click

from faultproxy.bench import PHASES, TARGETS

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmg]?)i?b?\Z", re.IGNORECASE)


def _size(text: str) -> int:
    match = _SIZE.match(text.strip())
    if not match:
        raise click.BadParameter(f"not a size: {text!r} (e.g. 64M, 1G)")
    return int(
        float(match.group(1)) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[match.group(2).lower()]
    )


@click.command("bench")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the results as JSON on stdout (progress stays on stderr)."
)
@click.option("--quick", is_flag=True, help="Small sizes: 64 MiB, 100 streams x 3 s, 500 idle streams.")
@click.option(
    "--only",
    "only",
    multiple=True,
    metavar="NAME",
    help=f"Run only these phases ({', '.join(PHASES)}) and/or targets ({', '.join(TARGETS)}); "
    "repeat it or separate names by commas.",
)
@click.option("--bytes", "size", metavar="SIZE", help="Throughput stream size [1G; quick 64M].")
@click.option("--reps", type=click.IntRange(1, 10), help="Throughput runs per target [3].")
@click.option("--streams", type=click.IntRange(1, 20000), help="Paced streams for latency [1000; quick 100].")
@click.option("--seconds", type=click.FloatRange(0.5, 120), help="Length of the latency run [10; quick 3].")
@click.option(
    "--rounds", type=click.IntRange(1, 10), help="Latency runs per target, interleaved, pooled [2; quick 1]."
)
@click.option("--rate", type=click.FloatRange(0.1, 1000), help="Events per second per paced stream [20].")
@click.option(
    "--idle-streams", type=click.IntRange(1, 9000), help="Idle streams for memory [5000; quick 500]."
)
@click.option(
    "--idle-interval", type=click.FloatRange(0.2, 60), help="Seconds between keep-alives [5; quick 1]."
)
@click.option(
    "--wait-quiet",
    type=click.FloatRange(0, 3600),
    metavar="SECONDS",
    help="Before each measurement, wait up to SECONDS for other processes to use < 20% of a core, "
    "and measure again (twice at most) what they disturbed (> 50% of a core) [0: neither].",
)
@click.option("--nginx", "nginx_path", metavar="PATH", help="nginx binary [on PATH or /usr/sbin/nginx].")
@click.option(
    "--nginx-buffer",
    metavar="SIZE",
    help="Set nginx's proxy_buffer_size (and proxy_buffers 8 x SIZE) [nginx default: one page].",
)
@click.option(
    "--mitmdump", "mitmdump_path", metavar="PATH", help="mitmdump binary [on PATH or .venv-mitm/bin]."
)
@click.option(
    "--tls",
    is_flag=True,
    help="Every hop over TLS: the proxies terminate it and re-originate it to the upstream "
    "(certificates from one throw-away CA).",
)
def bench(
    as_json: bool,
    quick: bool,
    only: tuple[str, ...],
    size: str | None,
    reps: int | None,
    streams: int | None,
    seconds: float | None,
    rounds: int | None,
    rate: float | None,
    idle_streams: int | None,
    idle_interval: float | None,
    wait_quiet: float | None,
    nginx_path: str | None,
    nginx_buffer: str | None,
    mitmdump_path: str | None,
    tls: bool,
) -> None:
    """Measure the proxy against a direct connection, nginx and mitmproxy, on this machine.

    Throughput of one large SSE stream, latency added to many paced streams, and memory per
    idle stream, each against the same purpose-built upstream over loopback. Prints tables
    (or JSON) and whether the project's targets are met; exits 0 whatever the numbers, 1 only
    when something could not be measured because of an error.
    """
    from rich.console import Console
    from rich.markup import escape

    from faultproxy.bench.report import derive, render
    from faultproxy.bench.runner import Config, Run

    names = [n.strip() for item in only for n in item.split(",") if n.strip()]
    unknown = [n for n in names if n not in PHASES + TARGETS]
    if unknown:
        raise click.BadParameter(
            f"unknown name(s) {', '.join(unknown)}; choose from {', '.join(PHASES + TARGETS)}",
            param_hint="--only",
        )
    overrides: dict = {}
    if size is not None:
        overrides["throughput_bytes"] = _size(size)
    for key, value in (
        ("reps", reps),
        ("latency_streams", streams),
        ("latency_seconds", seconds),
        ("latency_rounds", rounds),
        ("rate", rate),
        ("idle_streams", idle_streams),
        ("idle_interval", idle_interval),
        ("wait_quiet", wait_quiet),
    ):
        if value is not None:
            overrides[key] = value
    overrides["phases"] = tuple(p for p in PHASES if p in names) or PHASES
    overrides["targets"] = tuple(t for t in TARGETS if t in names) or TARGETS
    overrides["nginx"] = nginx_path
    overrides["mitmdump"] = mitmdump_path
    overrides["tls"] = tls
    if nginx_buffer is not None:
        overrides["nginx_buffer"] = _size(nginx_buffer)
    config = Config.quick_defaults(**overrides) if quick else Config(**overrides)

    err = Console(stderr=True, highlight=False)
    started = time.monotonic()

    def say(message: str) -> None:
        elapsed = time.monotonic() - started
        err.print(
            f"[dim]bench {int(elapsed // 60):02d}:{elapsed % 60:04.1f}[/dim] {escape(message)}",
            markup=True,
            soft_wrap=True,
        )

    result = Run(config, say).execute()
    result["command"] = (
        "faultproxy bench " + " ".join(sys.argv[2:]) if len(sys.argv) > 1 else "faultproxy bench"
    )
    derive(result)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        out = Console(highlight=False)
        if not out.is_terminal:  # a file or a pipe: wide enough for the latency table
            out = Console(highlight=False, width=132)
        render(result, out)
    if result["errors"]:
        sys.exit(1)
