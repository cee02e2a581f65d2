"""Running the grid: every case × chunking × client is one cell, with its own server and client process.

A cell starts a :class:`~faultproxy.conformance.server.CaseServer` for the case cut the
chunking's way, runs the client through its adapter (:func:`faultproxy.clients.arun_client`: the
real library, the real browser, the real Node package, in its own process) and judges what the
client reported and what the server saw it ask for. No proxy stands in between: the server's
writes are the reads the client gets.

The row ``wire`` is faultproxy's own parser (:mod:`faultproxy.wire.sse`), fed the same pieces in
memory; every other row is a registered client (a user's own client too, once it is registered:
:func:`clients_for` is the one place that turns names into clients).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from faultproxy.clients import arun_client, registry
from faultproxy.clients.transcript import ClientRequest, Transcript
from faultproxy.conformance import sdk
from faultproxy.conformance.cases import Case, Expected
from faultproxy.conformance.chunking import CHUNKINGS, cut
from faultproxy.conformance.judge import NA, Got, Verdict, judge, parse_case
from faultproxy.conformance.server import GAP_S, CaseServer

WIRE = "wire"  # the row of faultproxy.wire.sse, judged in memory
DEADLINE_S = 15.0
RECONNECT_MS = 100


@dataclass(frozen=True)
class Cell:
    case: Case
    chunking: str
    client: str

    @property
    def key(self) -> str:
        return f"{self.case.name}/{self.chunking}/{self.client}"


def chunkings_for(case: Case, chunkings: tuple[str, ...] = CHUNKINGS) -> tuple[str, ...]:
    """The chunkings ``case`` runs under: the chosen ones, or those of the case's own ``cuts`` that
    were chosen, plus its cuts that are its alone (``halves``); its first cut if none is left."""
    own = case.cuts or chunkings
    return tuple(c for c in own if c in chunkings or c not in CHUNKINGS) or own[:1]


def plan(cases: list[Case], clients: list[str], chunkings: tuple[str, ...] = CHUNKINGS) -> list[Cell]:
    return [
        Cell(case, chunking, client)
        for case in cases
        for chunking in chunkings_for(case, chunkings)
        for client in clients
    ]


def clients_for(
    names: list[str] | None, *, builtin_only: bool = False
) -> tuple[list[str], dict[str, registry.Availability]]:
    """The client names to run and each one's availability. By default every client that runs
    everywhere (the built-ins and the project config's; ``builtin_only``: the built-ins, as the
    published grid has them); a user's own client otherwise by name, or by ``--client-cmd``."""
    registry.load_all()
    default = [n for n, info in registry.REGISTRY.items() if (info.builtin if builtin_only else info.in_all)]
    wanted = names or [WIRE, *default]
    unknown = [n for n in wanted if n != WIRE and n not in registry.REGISTRY]
    if unknown:
        raise KeyError(
            f"unknown client(s) {', '.join(unknown)}; known: {WIRE}, {', '.join(registry.names())}"
        )
    availability = {n: registry.get(n).available() for n in wanted if n != WIRE}
    return wanted, availability


def why_not(case: Case, info: registry.ClientInfo) -> str | None:
    """Why ``info`` cannot run ``case`` (None: it can)."""
    if case.reconnects and not info.reconnects:
        return f"{info.name} does not reconnect"
    if info.protocol != registry.SSE:
        reason = sdk.unfit(case)
        return f"{info.protocol}: {reason}" if reason else None
    return None


def request_for(case: Case, info: registry.ClientInfo, url: str) -> ClientRequest:
    """The request: one reconnect allowed where the case is about reconnecting (or about *not*
    reconnecting), to clients that reconnect streams; the SDKs' request retries are not asked for."""
    base = url.rstrip("/")
    if info.protocol in (registry.OPENAI_CHAT, registry.OPENAI_RESPONSES):
        target = base + "/v1"
    elif info.protocol == registry.ANTHROPIC:
        target = base
    else:
        target = base + "/events"
    allowed = 1 if (case.reconnects or case.stops) and info.reconnects else 0
    return ClientRequest(
        target,
        reconnect=bool(allowed),
        max_reconnects=allowed,
        reconnect_ms=RECONNECT_MS,
        deadline_s=DEADLINE_S,
    )


def sdk_bodies(case: Case, info: registry.ClientInfo, chunking: str) -> tuple[list[bytes], ...]:
    """The case's bodies for an SDK client, in the pieces the server writes: its deltas in the
    vendor's envelope, inside the vendor's whole stream for the SDKs that need it
    (:mod:`faultproxy.conformance.sdk`)."""
    if info.name in sdk.WHOLE_STREAM:
        text = "".join(e.data for e in case.events)
        return tuple(sdk.whole_stream_pieces(r.body, info.protocol, text, chunking) for r in case.responses)
    return tuple(cut(sdk.wrap(r.body, info.protocol), chunking) for r in case.responses)


def _result(cell: Cell, verdict: Verdict, duration: float, **extra: Any) -> dict[str, Any]:
    return {
        "case": cell.case.name,
        "chunking": cell.chunking,
        "client": cell.client,
        "status": verdict.status,
        "problems": verdict.problems,
        "duration_s": round(duration, 3),
        **extra,
    }


async def run_cell(cell: Cell, gap: float = GAP_S) -> dict[str, Any]:
    """One cell, start to verdict; never raises (a cell the harness could not run fails, saying why).

    ``gap``: the server's wait between two pieces. The result's ``min_gap_ms`` is the closest two
    pieces of a response really came, and ``unsure`` says when that was closer than ``gap``
    (then the client may have read two pieces as one: its pass under that chunking is weaker)."""
    t0 = time.monotonic()
    if cell.client == WIRE:
        return _result(cell, parse_case(cell.case, cell.chunking), time.monotonic() - t0)
    info = registry.get(cell.client)
    reason = why_not(cell.case, info)
    if reason:
        return _result(cell, Verdict(NA, [reason]), 0.0)
    bodies, expected, sse = None, list(cell.case.events), info.protocol == registry.SSE
    may_raise = False
    if not sse:
        bodies = sdk_bodies(cell.case, info, cell.chunking)
        expected = [Expected(e.data) for e in expected]
        # a stream cut inside a block lacks the vendor's end too: an SDK may rightly raise there
        may_raise = not sdk.ends_between_blocks(cell.case.responses[-1].body)
    try:
        async with CaseServer(cell.case, cell.chunking, bodies, gap) as server:
            transcript = await arun_client(cell.client, request_for(cell.case, info, server.url), info=info)
            requests, headers, closest = server.requests, server.last_event_ids[1:], server.min_gap
    except Exception as error:  # noqa: BLE001 - one broken cell never stops the grid
        return _result(
            cell, Verdict("fail", [f"the harness could not run this cell: {error!r}"]), time.monotonic() - t0
        )
    got = [Got(e.type, e.data, e.id) for e in transcript.events if sse or e.type == "delta"]
    verdict = judge(
        cell.case,
        expected,
        got,
        requests=requests,
        last_event_ids=headers,
        ended=transcript.end,
        error=_error(transcript),
        compare_types=sse,
        compare_ids=cell.case.check_ids and sse,
        may_raise=may_raise,
    )
    spacing: dict[str, Any] = {}
    if closest is not None:
        spacing["min_gap_ms"] = round(closest * 1000, 3)
        if closest < gap:
            spacing["unsure"] = (
                f"two pieces were written {closest * 1000:.2f} ms apart, under the {gap * 1000:g} ms gap"
            )
    return _result(
        cell,
        verdict,
        time.monotonic() - t0,
        version=transcript.version,
        end=transcript.end,
        error=_error(transcript),
        requests=requests,
        last_event_ids=headers,
        received=[{"type": g.type, "data": g.data, "id": g.id} for g in got],
        **spacing,
    )


def _error(transcript: Transcript) -> str | None:
    if transcript.error_type is None:
        return None
    return f"{transcript.error_type}: {(transcript.error_message or '')[:300]}"


async def run_cells(
    cells: list[Cell],
    jobs: int,
    on_done: Callable[[Cell, dict[str, Any]], None] | None = None,
    gap: float = GAP_S,
) -> list[dict[str, Any]]:
    """Run cells ``jobs`` at a time; results in plan order."""
    gate = asyncio.Semaphore(max(1, jobs))
    results: list[dict[str, Any]] = [{} for _ in cells]

    async def one(index: int, cell: Cell) -> None:
        async with gate:
            results[index] = await run_cell(cell, gap)
        if on_done is not None:
            on_done(cell, results[index])

    await asyncio.gather(*(one(i, c) for i, c in enumerate(cells)))
    return results
