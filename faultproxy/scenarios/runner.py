"""Running scenarios: every scenario × client × repetition is one *cell*, run in isolation.

A cell gets its own server, its own proxy (with the scenario's faults and a capture), its own
nginx when the scenario puts one in the path (:mod:`~faultproxy.scenarios.intermediary`), and its
own client subprocess, so cells can run in parallel without seeing each other's traffic and
a hanging or crashing client only ever costs its own cell. When the client is done the proxy
is closed (so the capture is complete) and :func:`~faultproxy.scenarios.verdict.classify`
turns ground truth, capture and transcript into the cell's result.

Every time in a result counts from the cell's start (``t0`` below), the zero of its timeline. The
client and the capture keep clocks of their own, started later; each says when it started (the
transcript's ``t0_monotonic``, the capture's ``monotonic_start``), so ``classify`` moves their times
onto the cell's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from faultproxy import __version__
from faultproxy.clients import arun_client, registry
from faultproxy.private import make_dirs
from faultproxy.redact import map_strings, mask_known, redact_urls
from faultproxy.scenarios.intermediary import cell_path
from faultproxy.scenarios.model import Scenario
from faultproxy.scenarios.result import CellEvidence, CellResult, ClientError, ExpectationResult
from faultproxy.scenarios.truth import truth_from_capture
from faultproxy.scenarios.verdict import classify

DEFAULT_SUITE = Path(__file__).resolve().parents[2] / "scenarios"


@dataclass(frozen=True)
class Cell:
    """One run of a scenario with a client; ``runs``: how many runs of that pair the plan holds."""

    scenario: Scenario
    client: str
    repetition: int
    runs: int = 1

    @property
    def key(self) -> str:
        rep = f"-{self.repetition}" if self.runs > 1 else ""
        return f"{self.scenario.name}/{self.client}{rep}"


def plan(
    scenarios: list[Scenario], clients: list[str] | None, repeat: int = 1, extra: list[str] = ()
) -> tuple[list[Cell], dict[str, registry.Availability]]:
    """The cells to run, and the availability of every client involved.

    ``clients`` narrows every scenario to those names; ``extra`` clients (``--client-cmd``) run in
    every scenario whose server they can read, whatever its list says. An unavailable client is
    reported (with its install command) and its cells are not run — the report says so, nothing
    is silent. ``repeat``: every scenario × client runs its ``repetitions`` that many times over (a
    pair whose outcome varies between its runs is then reported flaky, with its rate).
    """
    availability: dict[str, registry.Availability] = {}
    cells: list[Cell] = []
    for scenario in scenarios:
        names = scenario.client_names()
        names += [n for n in extra if n not in names and scenario.speaks_with(n)]
        if clients is not None:
            names = [n for n in names if n in clients]
        for name in names:
            if name not in availability:
                availability[name] = registry.get(name).available()
            if not availability[name].ok:
                continue
            runs = scenario.repetitions * repeat
            cells.extend(Cell(scenario, name, repetition, runs) for repetition in range(runs))
    return cells, availability


ClientRunner = Callable[[str, Any], Awaitable[Any]]  # (client name, ClientRequest) -> Transcript


async def run_cell(
    cell: Cell, run_seed: int, cell_dir: Path, run_client: ClientRunner = arun_client
) -> CellResult:
    """One cell, start to verdict. Never raises: a broken cell is reported as such.

    ``run_client`` runs the client (default: the registered adapter in its child process); the
    tests that re-check a ``known:`` entry give one that runs the library with no adapter."""
    from faultproxy.proxy.server import Proxy
    from faultproxy.scenarios.tls import TLSWorld

    scenario = cell.scenario
    capture = cell_dir / "capture.jsonl"
    t0 = time.monotonic()
    seed = scenario.seed if scenario.seed is not None else run_seed
    server: Any = None
    try:
        make_dirs(cell_dir)
        tls: dict[str, Any] = {}
        world = TLSWorld(cell_dir) if scenario.tls else None
        try:  # the server is stopped however the cell ends: an error, or a Ctrl-C even while it starts
            if scenario.server.builtin:
                server = scenario.server.build(registry.get(cell.client).protocol)
                if world is not None:
                    world.serve(server, scenario.server.kind)
                await server.start()
                upstream = f"http://127.0.0.1:{server.port}"
                if world is not None:
                    upstream = world.upstream(scenario.server.kind, server.port)
                    tls = world.proxy_options(scenario.server.kind, server.port)
                    run_client = partial(run_client, ca_file=world.ca_file)
            else:
                upstream = (
                    scenario.server.origin()
                )  # the proxy connects there; the path is the clients' request

            def make_proxy(to: str, *, faults: bool = True, capture: str = capture.name) -> Proxy:
                return Proxy(
                    to,
                    faults=list(scenario.faults) if faults else [],
                    seed=seed,
                    capture=cell_dir / capture,
                    **tls,
                )

            named = scenario.server.url if scenario.server.kind == "url" else f"{scenario.server.kind} server"
            async with cell_path(scenario.intermediary, upstream, named, make_proxy) as route:
                request = scenario.client_request(cell.client, route.url)
                transcript = await run_client(cell.client, request)
                fired, notes = list(route.proxy.evidence), route.proxy.faults.notes
        finally:
            if server is not None:
                await server.stop()
        sent: Any = server if scenario.server.ground_truth else None
        if sent is None and route.behind is not None:  # nginx in front: the server's bytes are behind it
            sent = truth_from_capture(route.behind)
        result = classify(
            sent,
            capture,
            transcript,
            fired,
            scenario.expectations,
            scenario.known_for(cell.client),
            scenario=scenario.name,
            client=cell.client,
            repetition=cell.repetition,
            t0=t0,
            faults_configured=[f.name for f in scenario.faults],
            fault_notes=notes,
            reconnects=request.reconnects_allowed,
            read_timeout_s=request.timeout_s,
        )
        return replace(result, path=route.path + (" (TLS on both sides)" if scenario.tls else ""))
    except Exception as error:  # noqa: BLE001 - the run goes on; the cell says what broke
        return _broken_cell(cell, error, time.monotonic() - t0)


def _broken_cell(cell: Cell, error: BaseException, duration: float) -> CellResult:
    text = f"{type(error).__name__}: {error}"
    return CellResult(
        scenario=cell.scenario.name,
        client=cell.client,
        repetition=cell.repetition,
        outcome="error",
        passed=False,
        duration_s=round(duration, 3),
        expectations=[ExpectationResult("cell ran", False, text)],
        evidence=CellEvidence(
            f"the harness could not run this cell: {text}",
            error=ClientError(f"harness.{type(error).__name__}", str(error)),
        ),
    )


async def run_cells(
    cells: list[Cell],
    run_seed: int,
    run_dir: Path,
    jobs: int,
    on_done: Callable[[Cell, CellResult], None] | None = None,
) -> list[CellResult]:
    """Run cells ``jobs`` at a time; results come back in plan order. Cancelled, it returns only
    once every cell running has cleaned up."""
    gate = asyncio.Semaphore(max(1, jobs))
    results: list[CellResult | None] = [None] * len(cells)

    async def one(index: int, cell: Cell) -> None:
        async with gate:
            folder = run_dir / "cells" / cell.scenario.name / f"{cell.client}-{cell.repetition}"
            result = await run_cell(cell, run_seed, folder)
            results[index] = result
            if on_done is not None:
                on_done(cell, result)

    # a task group, not gather: cancelled (Ctrl-C), it waits until every cell has stopped its client,
    # proxy and server; gather returned at the first cell cancelled, and the loop's shutdown then
    # cut the others' cleanup short (servers left streaming, cancelled with a traceback each)
    async with asyncio.TaskGroup() as group:
        for index, cell in enumerate(cells):
            group.create_task(one(index, cell))
    return [r for r in results if r is not None]


def build_report(
    run_id: str,
    started: dt.datetime,
    duration: float,
    seed: int,
    scenarios: list[Scenario],
    availability: dict[str, registry.Availability],
    results: list[CellResult],
    environment: dict[str, Any] | None = None,
    repeat: int = 1,
    interrupted: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report (``faultproxy-report/1``): the results as ``schema.json`` says, in plan order, and
    the cells whose outcome varied between their runs (``flaky``, with their rates). ``interrupted``:
    the run was stopped (Ctrl-C): ``{"cells_planned", "cells_done", "not_run": [cell keys]}``."""
    from faultproxy.report.model import build_matrix

    clients = []
    for name, avail in availability.items():
        info = registry.get(name)
        version = None
        if avail.ok:
            version = (
                next((r.client_version for r in results if r.client == name and r.client_version), None)
                or info.version()
            )
        clients.append(
            {
                "name": name,
                "version": version,
                "available": avail.ok,
                "reason": None if avail.ok else f"{avail.reason}; install: {avail.install}",
            }
        )
    report = {
        "schema": "faultproxy-report/1",
        "run_id": run_id,
        "started": started.isoformat(timespec="seconds"),
        "duration_s": round(duration, 3),
        "seed": seed,
        "faultproxy_version": __version__,
        **({"environment": environment} if environment else {}),
        "repeat": repeat,
        **({"interrupted": interrupted} if interrupted else {}),
        "clients": clients,
        "scenarios": [s.as_report_dict() for s in scenarios],
        "results": [r.to_dict() for r in results],
    }
    report["flaky"] = [cell.flaky_record() for cell in build_matrix(report).ran_cells() if cell.flaky]
    # no secret of a scenario reaches a report file, however a client or server quoted it
    secrets = set().union(*(s.secret_values() for s in scenarios))
    return mask_known(map_strings(report, redact_urls), secrets)
