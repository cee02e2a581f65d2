"""``faultproxy repro nginx``: each nginx case measured through real nginx and through faultproxy.

A *case* is a route (an nginx configuration, :mod:`.nginx`) with the upstream that shows what
it does -- small events, 1 KiB events, ``X-Accel-Buffering: no``, an idle stream with or without
keep-alive comments -- and the faults that emulate it in faultproxy (a ``buffer`` preset, or
``gzip``, ``close_delimited`` or ``read_timeout``; ``None`` where no fault emulates it). Every case gets its own
reference server (events stamped with their send time); the probe reads each case through
every nginx given and through faultproxy with the emulation, all at once, and the table puts
the rows side by side. ``docs/nginx.md`` explains the cases and what the table says.

The same code runs two ways:

- natively (:func:`run_native`): the servers in this process, Debian's nginx started on a
  loopback port with one ``location`` per case, the emulating proxies in this process;
- in ``docker-compose.yml``: ``faultproxy repro upstreams`` in one container serves case *i*
  on port ``BASE_PORT + i``, nginx containers (old and new defaults) serve ``docker.conf``,
  and ``faultproxy repro probe`` in another measures them (:func:`measure`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from faultproxy.intermediaries import nginx
from faultproxy.intermediaries.probe import CLEAN, CLOSED, CUT, Reading, probe

BASE_PORT = 8100  # docker-compose: case i's upstream listens on BASE_PORT + i
INTERVAL = 0.25  # seconds between events: the margin every shape is judged with
SMALL = {"events": 8, "interval": INTERVAL}  # ~50-byte events: far less than a 4 KiB page in all
BIG = {"events": 12, "interval": INTERVAL, "size": 1024}  # about four events to a page
IDLE = {"events": 2, "interval": 2.0}  # 2 s between events: longer than the short route's 1.5 s
READ_TIMEOUT_MS = 1500  # proxy_read_timeout of the short-timeout route


def _buffer(preset: str) -> dict[str, Any]:
    return {"type": "buffer", "attributes": {"preset": preset}}


HOP10 = {"type": "upstream_http10"}  # over HTTP/1.0 an upstream that dies has ended its body
GZIP_SYNC = {"type": "gzip", "attributes": {"flush": "sync"}}


def _by_hop(http10: list[dict[str, Any]], http11: list[dict[str, Any]]) -> Any:
    """The emulation of a route that leaves the upstream hop to nginx's default: HTTP/1.0 before
    1.29.7, HTTP/1.1 since (``hop``: the hop's HTTP version)."""
    return lambda hop: http10 if hop == "HTTP/1.0" else http11


# nginx's defaults: page batches of a close-delimited body over HTTP/1.0, chunk by chunk over 1.1
DEFAULTS = _by_hop([_buffer("nginx-http10"), HOP10], [_buffer("nginx-http11")])
UNBUFFERED = _by_hop([HOP10], [])


@dataclass(frozen=True)
class Case:
    """One row group of the table: ``route`` with an upstream, and how it is emulated."""

    name: str  # also the nginx location: /NAME/
    route: str
    what: str
    upstream: dict[str, Any]  # ReferenceSSEServer options
    emulation: Any = None  # fault specs, a function of the upstream hop's HTTP version, or None
    ends: tuple[str, str] = (
        CLEAN,
        CLEAN,
    )  # how the stream ends (CLEAN, CLOSED, CUT): nginx < 1.29.7, >= 1.29.7
    shapes: tuple[str, str] = ("streams", "streams")  # how it arrives: nginx < 1.29.7, nginx >= 1.29.7

    def faults(self, hop: str) -> list[dict[str, Any]] | None:
        return self.emulation(hop) if callable(self.emulation) else self.emulation

    def expected_end(self, hop: str) -> str:
        return self.ends[0 if hop == "HTTP/1.0" else 1]

    def expected_shape(self, hop: str) -> str:
        """``streams``, ``held to the end``, ``batches`` or ``cut`` for nginx speaking ``hop`` upstream."""
        return "cut" if self.expected_end(hop) == CUT else self.shapes[0 if hop == "HTTP/1.0" else 1]

    @property
    def duration(self) -> float:
        return self.upstream["events"] * self.upstream["interval"]


CASES: tuple[Case, ...] = (
    Case(
        "defaults",
        "defaults",
        "nginx's defaults, small events",
        SMALL,
        DEFAULTS,
        shapes=("held to the end", "streams"),
    ),
    Case(
        "defaults-1k",
        "defaults",
        "nginx's defaults, 1 KiB events",
        BIG,
        DEFAULTS,
        shapes=("batches", "streams"),
    ),
    Case(
        "x-accel",
        "defaults",
        "defaults; the upstream sends X-Accel-Buffering: no",
        {**SMALL, "headers": {"X-Accel-Buffering": "no"}},
        UNBUFFERED,
    ),
    Case("unbuffered", "unbuffered", "proxy_buffering off", SMALL, UNBUFFERED),
    Case("http11", "http11", "proxy_http_version 1.1 (buffering on)", SMALL, [_buffer("nginx-http11")]),
    Case(
        "gzip",
        "gzip",
        "gzip on for text/event-stream",
        SMALL,
        _by_hop([_buffer("nginx-gzip"), HOP10, GZIP_SYNC], [_buffer("nginx-gzip"), GZIP_SYNC]),
        shapes=("held to the end", "held to the end"),
    ),
    Case(
        "gzip-unbuffered",
        "gzip-unbuffered",
        "gzip on, proxy_buffering off",
        SMALL,
        _by_hop([HOP10, GZIP_SYNC], [GZIP_SYNC]),
    ),
    Case(
        "read-timeout",
        "short-timeout",
        "proxy_read_timeout 1.5s, 2 s between events",
        IDLE,
        [{"type": "read_timeout", "attributes": {"timeout_ms": READ_TIMEOUT_MS}}],
        (CUT, CUT),
    ),
    Case(
        "keep-alive",
        "short-timeout",
        "proxy_read_timeout 1.5s, keep-alive comments every 0.5 s",
        {**IDLE, "keepalive": 0.5},
        [{"type": "read_timeout", "attributes": {"timeout_ms": READ_TIMEOUT_MS}}],
    ),
    Case(
        "tutorial",
        "tutorial",
        "a tutorial's block: chunked_transfer_encoding off",
        SMALL,
        [{"type": "close_delimited"}],
        (CLOSED, CLOSED),
    ),
    # last, so that the compose file's upstream ports of the cases above stay where they were
    Case(
        "upstream-cut",
        "defaults",
        "nginx's defaults; the upstream dies after 3 events",
        {**SMALL, "drop_after": 3, "drop_every": True},
        DEFAULTS,
        (CLEAN, CUT),
        shapes=("held to the end", "streams"),
    ),
)


def case(name: str) -> Case:
    for c in CASES:
        if c.name == name:
            return c
    raise ValueError(f"no case {name!r}; the cases are: {', '.join(c.name for c in CASES)}")


def docker_locations() -> list[nginx.Location]:
    """The locations of ``nginx-conf/docker.conf``: case i proxied to ``upstream:BASE_PORT+i``."""
    return [nginx.Location(f"/{c.name}/", c.route, f"upstream:{BASE_PORT + i}") for i, c in enumerate(CASES)]


def describe_faults(faults: list[dict[str, Any]]) -> str:
    if not faults:
        return "no fault"
    parts = []
    for f in faults:
        attributes = f.get("attributes", {})
        shown = (
            str(next(iter(attributes.values())))
            if len(attributes) == 1
            else " ".join(f"{k}={v}" for k, v in attributes.items())
        )
        parts.append(f"{f['type']} {shown}".strip())
    return " + ".join(parts)


@dataclass
class Row:
    """One measured path for one case."""

    path: str  # "nginx 1.22.1" or "faultproxy: buffer preset=nginx-http10"
    kind: str  # "nginx" or "emulation"
    hop: str | None  # nginx: its upstream HTTP version by default; emulation: the hop it stands for
    reading: Reading

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "hop": self.hop, **self.reading.summary()}


@dataclass
class CaseResult:
    case: Case
    rows: list[Row] = field(default_factory=list)

    def matches(self) -> list[dict[str, Any]]:
        """Each nginx row against the emulation of its hop: same events, same end, releases ±1."""
        out = []
        for real in (r for r in self.rows if r.kind == "nginx"):
            emulated = next(
                (r for r in self.rows if r.kind == "emulation" and real.hop in r.hop.split(",")), None
            )
            if emulated is None:
                continue
            out.append(
                {
                    "nginx": real.path,
                    "emulation": emulated.path,
                    **same_shape(real.reading, emulated.reading, self.case.upstream["interval"]),
                }
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        c = self.case
        return {
            "case": c.name,
            "route": c.route,
            "what": c.what,
            "upstream": {k: v for k, v in c.upstream.items()},
            "rows": [r.as_dict() for r in self.rows],
            "emulation_matches": self.matches(),
        }


TIME_MARGIN = 0.5  # send intervals: how far apart a head or an end may come and still be "the same"


def same_shape(real: Reading, emulated: Reading, interval: float) -> dict[str, Any]:
    """Whether two readings arrived alike: the same events, the same kind of end, each event
    released by the same send give or take one (a batch boundary within one event), and the
    head and the end at the same time give or take half a send interval (``interval`` s) --
    a held head, or a timeout that cuts at another moment, is a difference a client sees."""
    a, b = real.releases, emulated.releases
    problems = []
    if len(real.events) != len(emulated.events):
        problems.append(f"{len(real.events)} vs {len(emulated.events)} events")
    elif any(abs(x - y) > 1 for x, y in zip(a, b)):
        problems.append(f"released after {a} vs {b} sends")
    if real.end != emulated.end:
        problems.append(f"ended {real.end} vs {emulated.end}")

    def at(t: float | None) -> str:
        return "never" if t is None else f"{t / interval:.1f}"

    for what, (x, y) in {
        "head": (real.t_headers, emulated.t_headers),
        "end": (real.t_end, emulated.t_end),
    }.items():
        x, y = real.since_request(x), emulated.since_request(y)
        if (x is None) != (y is None) or (
            x is not None and y is not None and abs(x - y) > TIME_MARGIN * interval
        ):
            problems.append(f"{what} at {at(x)} vs {at(y)} send intervals")
    return {"same": not problems, "detail": "; ".join(problems) or "same arrival shape"}


async def measure(
    cases: list[Case], targets: list[tuple[str, str]], upstreams: dict[str, str], *, emulate: bool = True
) -> list[CaseResult]:
    """Probe every case through every nginx (``(version, base_url)``; case NAME at
    ``base_url/NAME/events``) and, with ``emulate``, through faultproxy with the case's faults
    in front of its upstream (``upstreams[name]``: ``http://host:port``) -- all at once."""
    from faultproxy.faults import parse_fault
    from faultproxy.proxy.server import Proxy

    results = {c.name: CaseResult(c) for c in cases}
    jobs: list[tuple[str, Row, str, Any]] = []  # (case, row, url, probe)
    proxies: list[Proxy] = []
    try:
        for c in cases:
            limit = c.duration + 10.0
            for version, base in targets:
                row = Row(f"nginx {version}", "nginx", nginx.upstream_hop(version), Reading("", 0.0))
                url = f"{base.rstrip('/')}/{c.name}/events"
                jobs.append((c.name, row, url, probe(url, time_limit=limit)))
            if not emulate:
                continue
            emulations: dict[str, list[str]] = {}  # description -> hops it stands for
            specs: dict[str, list[dict[str, Any]]] = {}
            for version, _ in targets:
                hop = nginx.upstream_hop(version)
                faults = c.faults(hop)
                if faults is None:
                    continue
                key = describe_faults(faults)
                specs[key] = faults
                if hop not in emulations.setdefault(key, []):
                    emulations[key].append(hop)
            for key, hops in emulations.items():
                proxy = Proxy(
                    upstreams[c.name], faults=[parse_fault(f, index=i) for i, f in enumerate(specs[key])]
                )
                await proxy.start()
                proxies.append(proxy)
                row = Row(f"faultproxy: {key}", "emulation", ",".join(hops), Reading("", 0.0))
                jobs.append(
                    (c.name, row, f"{proxy.url}/events", probe(f"{proxy.url}/events", time_limit=limit))
                )
        # one path that cannot be read (refused, reset while connecting) is a row that says so
        readings = await asyncio.gather(*(job for *_, job in jobs), return_exceptions=True)
    finally:
        for proxy in proxies:
            await proxy.stop()
    for (name, row, url, _), reading in zip(jobs, readings):
        if isinstance(reading, BaseException):
            if not isinstance(reading, (OSError, asyncio.TimeoutError)):
                raise reading
            reading = Reading.failed(url, reading)
        row.reading = reading
        results[name].rows.append(row)
    return [results[c.name] for c in cases]


async def serve_upstreams(
    cases: list[Case], host: str = "127.0.0.1", base_port: int | None = None
) -> list[Any]:
    """One started reference server per case (stamped events); port ``base_port + i``, or free ones."""
    from faultproxy.servers.sse import ReferenceSSEServer

    servers = []
    try:
        for i, c in enumerate(cases):
            server = ReferenceSSEServer(
                stamp=True, host=host, port=0 if base_port is None else base_port + i, **c.upstream
            )
            await server.start()
            servers.append(server)
    except BaseException:
        for server in servers:
            await server.stop()
        raise
    return servers


async def run_native(
    cases: list[Case] | None = None, *, binary: str | None = None, emulate: bool = True
) -> dict[str, Any]:
    """The whole reproduction on loopback: servers, Debian's nginx, the emulation, the probe."""
    cases = list(cases or CASES)
    servers = await serve_upstreams(cases)
    peer = None
    try:
        locations = [
            nginx.Location(f"/{c.name}/", c.route, f"127.0.0.1:{s.port}") for c, s in zip(cases, servers)
        ]
        peer = await asyncio.to_thread(nginx.start, locations, binary)
        version = nginx.version_of(peer.binary)
        started = time.time()
        results = await measure(
            cases,
            [(version, f"http://127.0.0.1:{peer.port}")],
            {c.name: f"http://127.0.0.1:{s.port}" for c, s in zip(cases, servers)},
            emulate=emulate,
        )
        errors = [line for line in peer.error_log().splitlines() if "[error]" in line]
    finally:
        if peer is not None:
            await asyncio.to_thread(peer.stop)
        for server in servers:
            await server.stop()
    return report(
        results,
        [
            {
                "version": version,
                "binary": peer.binary,
                "upstream_hop": nginx.upstream_hop(version),
                "errors": errors[:20],
            }
        ],
        started,
    )


def report(results: list[CaseResult], nginxes: list[dict[str, Any]], started: float) -> dict[str, Any]:
    return {
        "schema": "faultproxy-repro-nginx/1",
        "started": round(started, 3),
        "nginx": [checked_label(n, results) for n in nginxes],
        "cases": [r.as_dict() for r in results],
    }


def checked_label(entry: dict[str, Any], results: list[CaseResult]) -> dict[str, Any]:
    """An nginx's entry with what its responses said it is: ``server`` (the ``Server`` headers
    seen, e.g. ``nginx/1.22.1``) and ``label_problem`` when that is not the version it was
    labelled with (``--nginx VERSION=URL``): its expected shapes and emulations (which follow
    the upstream hop of the version) were then chosen for another nginx."""
    label = entry["version"]
    readings = [
        row.reading for r in results for row in r.rows if row.kind == "nginx" and row.path == f"nginx {label}"
    ]
    seen = sorted({reading.server for reading in readings if reading.server})
    versions = {v for v in (reading.nginx_version for reading in readings) if v}
    problem = None
    if versions and versions != {label}:
        said = ", ".join(sorted(versions))
        hop = " / ".join(sorted({nginx.upstream_hop(v) for v in versions}))
        problem = (
            f"labelled {label} but says it is nginx {said} (Server header): its upstream hop is {hop}, "
            f"the comparisons assumed {entry['upstream_hop']}"
        )
    elif not versions and any(reading.status for reading in readings):
        problem = (
            f"labelled {label}, which its responses do not confirm (Server: {', '.join(seen) or 'none'}; "
            "server_tokens off?)"
        )
    return {**entry, "server": seen, "label_problem": problem}


async def _accepting(url: str, until: float) -> None:
    from faultproxy.upstream import split_url

    to, _ = split_url(url)
    while True:
        try:
            _, writer = await asyncio.open_connection(to.host, to.port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > until:
                raise TimeoutError(f"{url} does not accept connections") from None
            await asyncio.sleep(0.25)


async def run_external(
    cases: list[Case],
    targets: list[tuple[str, str]],
    upstreams: dict[str, str],
    *,
    wait: float = 60.0,
    emulate: bool = True,
) -> dict[str, Any]:
    """The reproduction against upstreams and nginx servers running elsewhere (the compose file's
    containers), once they all accept connections (``wait`` seconds at most)."""
    until = time.monotonic() + wait
    for url in [*upstreams.values(), *(url for _, url in targets)]:
        await _accepting(url, until)
    started = time.time()
    results = await measure(cases, targets, upstreams, emulate=emulate)
    return report(
        results,
        [{"version": v, "url": url, "upstream_hop": nginx.upstream_hop(v)} for v, url in targets],
        started,
    )
