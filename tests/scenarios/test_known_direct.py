"""Every ``known:`` entry of the default suite, re-verified with the library itself (no adapter).

A ``known:`` entry says "this client does X with these bytes". The cell that records it runs the
client through its faultproxy adapter, so an adapter bug can pass for the library's behaviour
(the requests-sse adapter once turned every refused first connection into a clean, empty
stream: five entries claimed a silent loss the library never commits). Here each entry's
scenario runs for real -- its server, the proxy with its faults, the same bytes -- but the
client is the library used as its README shows (``tests/clients/direct/``), and the verdict
must be one the entry records, with some expectation unmet (the deviation the entry is about).

Entries of faultproxy's own clients (``raw``, ``naive``: the adapter *is* the client) and of
``chromium`` (the adapter is a page that uses the browser's own EventSource; there is no
library between) are not re-run here; the test fails if any other client lacks a driver.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import time
from pathlib import Path

import pytest

from faultproxy.clients.harness import child_env
from faultproxy.clients.transcript import ReceivedEvent, Transcript
from faultproxy.scenarios import load_paths
from faultproxy.scenarios.runner import DEFAULT_SUITE, Cell, run_cell

DIRECT = Path(__file__).parents[1] / "clients" / "direct"
PYTHON = {
    "httpx-sse",
    "sseclient-py",
    "requests-sse",
    "aiohttp-sse-client2",
    "launchdarkly-eventsource",
    "openai",
    "openai-responses",
    "anthropic",
    "langchain-openai",
    "pydantic-ai",
}
NODE = {
    "node-eventsource",
    "fetch-event-source",
    "node-openai",
    "node-anthropic",
    "vercel-ai-openai",
    "vercel-ai-anthropic",
}
REPORTS_RETRY = {"httpx-sse", "sseclient-py", "fetch-event-source"}  # their events carry the block's retry
NOT_LIBRARIES = {
    "raw": "faultproxy's own lab client",
    "naive": "faultproxy's own baseline",
    "chromium": "the browser's EventSource, with no library in between",
}

ENTRIES = [(s, client) for s in load_paths([DEFAULT_SUITE]) for client in sorted(s.known)]


def test_every_known_client_has_a_direct_driver():
    missing = {c for _, c in ENTRIES} - PYTHON - NODE - set(NOT_LIBRARIES)
    assert not missing, f"known: entries of clients with no direct driver: {sorted(missing)}"


STARTUP_S = 60.0  # a child that has not loaded its library by then is hung (as the harness's allowance)


async def run_direct(client: str, request, ca_file=None) -> Transcript:
    """The library in a child process; killed at the scenario's deadline (then ``hung``), which
    counts from the child's hello -- its library loaded -- like the harness's: a slow import on a
    loaded machine is no part of what the library did with the bytes. ``ca_file`` (a ``tls: true``
    scenario): the CA the library trusts, by the settings its users give (``SSL_CERT_FILE``, …)."""
    if client in NODE:
        node = shutil.which("node")
        if node is None:
            pytest.skip("node is not installed")
        argv = [node, str(DIRECT / "direct_node.mjs"), client]
    else:
        argv = [sys.executable, str(DIRECT / "direct_py.py"), client]
    child = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=child_env(ca_file=ca_file),
    )
    payload = json.dumps(
        {
            "url": request.url,
            "method": request.method,
            "headers": request.headers,
            "body": request.body,
            "timeout_s": request.timeout_s,
            "reconnects": request.reconnects_allowed,
            "reconnect_ms": request.reconnect_ms,
        }
    ).encode()
    child.stdin.write(payload)
    child.stdin.close()
    events: list[ReceivedEvent] = []
    end: dict = {"end": "hung"}
    t0 = time.monotonic()

    async def hello() -> None:
        nonlocal t0
        async for line in child.stdout:
            if json.loads(line).get("hello"):
                t0 = time.monotonic()
                return

    message: dict | None = None  # an LLM library's message (the verdict judges LLM clients by it)

    async def read() -> None:
        nonlocal end, message
        async for line in child.stdout:
            record = json.loads(line)
            if "event" in record:
                kind, data, ident, retry = record["event"]
                events.append(ReceivedEvent(kind, data, ident, time.monotonic() - t0, retry=retry))
            elif "message" in record:
                message = record["message"]
            elif "end" in record:
                end = record

    try:
        await asyncio.wait_for(hello(), STARTUP_S)
        await asyncio.wait_for(read(), request.deadline_s)
        await child.wait()
    except TimeoutError:
        child.kill()
        await child.wait()
    return Transcript(
        client=client,
        version="direct",
        events=events,
        end=end["end"],
        error_type=end.get("error_type"),
        error_message=end.get("error_message"),
        duration_s=time.monotonic() - t0,
        t0_monotonic=t0,
        message=message,
        reports=["retry"] if client in REPORTS_RETRY else [],
    )


def _id(entry) -> str:
    return f"{entry[0].name}/{entry[1]}"


LIBRARY_ENTRIES = [e for e in ENTRIES if e[1] not in NOT_LIBRARIES]
PARALLEL = 6  # the cells mostly wait (on deadlines, stalls, reconnect delays): run them together


@pytest.fixture(scope="module")
def direct_results(tmp_path_factory):
    """Every entry's cell, run at once on one loop (each with its own server, proxy and child)."""

    async def main():
        gate = asyncio.Semaphore(PARALLEL)

        async def one(entry):
            async with gate:
                folder = tmp_path_factory.mktemp(_id(entry).replace("/", "-"))
                return await run_cell(Cell(entry[0], entry[1], 0), 0, folder, run_client=run_direct)

        # the cells that wait longest go first: those whose record is a hang wait out the whole deadline
        order = sorted(
            LIBRARY_ENTRIES,
            key=lambda e: (
                -e[0].timeouts.deadline_ms
                if "hung" in e[0].known[e[1]].outcomes
                else -(e[0].timeouts.read_ms or 0)
            ),
        )
        results = await asyncio.gather(*(one(e) for e in order))
        return {_id(e): r for e, r in zip(order, results)}

    return asyncio.run(main())


@pytest.mark.parametrize("entry", LIBRARY_ENTRIES, ids=_id)
def test_known_entry_holds_for_the_library_itself(entry, direct_results):
    scenario, client = entry
    known = scenario.known[client]
    result = direct_results[_id(entry)]
    unmet = [e.name for e in result.unmet]
    assert result.outcome in known.outcomes and unmet, (
        f"{scenario.name}: the library {client} itself is {result.outcome} (unmet: {unmet or 'none'}), but the "
        f"scenario records {known.label()}: {result.evidence.summary}"
    )


REFUSED_FIRST = {
    "rate-limited-429": "requests_sse.InvalidStatusCodeError",
    "server-error-503": "requests_sse.InvalidStatusCodeError",
    "wrong-content-type": "requests_sse.InvalidContentTypeError",
    "empty-response": "requests.ConnectionError",
    "upstream-timeout-then-close": "requests.ConnectionError",
}


@pytest.mark.parametrize("name", sorted(REFUSED_FIRST))
def test_requests_sse_adapter_reports_a_refused_first_connection_as_the_library_raises_it(name, tmp_path):
    """The adapter once ended these ``completed`` (its on_error ran before ``source`` was bound)."""
    scenario = next(s for s in load_paths([DEFAULT_SUITE]) if s.name == name)
    result = asyncio.run(run_cell(Cell(scenario, "requests-sse", 0), 0, tmp_path))
    assert result.outcome == "error", result.evidence.summary
    assert result.evidence.error is not None and result.evidence.error.type == REFUSED_FIRST[name]


# -- the list in docs/ ------------------------------------------------------------------------------

FINDINGS = Path(__file__).parents[2] / "docs" / "client-findings.md"
SECTIONS = {
    "httpx-sse": "httpx-sse",
    "sseclient-py": "sseclient-py",
    "requests-sse": "requests-sse",
    "aiohttp-sse-client2": "aiohttp-sse-client2",
    "launchdarkly-eventsource": "launchdarkly-eventsource",
    "node-eventsource": "eventsource ",
    "fetch-event-source": "@microsoft/fetch-event-source",
    "chromium": "Chromium",
    "openai": "openai ",
    "anthropic": "anthropic ",
    "openai-responses": "openai Responses",
    "langchain-openai": "langchain-openai",
    "pydantic-ai": "pydantic-ai",
    "node-openai": "node: openai",
    "node-anthropic": "node: @anthropic-ai/sdk",
    "vercel-ai-openai": "Vercel AI SDK 6 with @ai-sdk/openai",
    "vercel-ai-anthropic": "Vercel AI SDK 6 with @ai-sdk/anthropic",
}


def _section(text: str, client: str) -> str:
    found = [part for part in text.split("\n## ") if part.startswith(SECTIONS[client])]
    assert found, f"docs/client-findings.md has no section for {client}"
    return found[0]


@pytest.mark.parametrize("entry", LIBRARY_ENTRIES, ids=_id)
def test_every_known_entry_is_listed_with_its_evidence_in_docs(entry):
    scenario, client = entry
    assert f"`{scenario.name}`" in _section(FINDINGS.read_text(), client), (
        f"docs/client-findings.md does not list {client} in {scenario.name}"
    )


def test_the_suite_reproduces_at_least_30_distinct_misbehaviours():
    text = FINDINGS.read_text()
    rows = [
        line
        for client in SECTIONS
        for line in _section(text, client).splitlines()
        if line.startswith("| ") and not line.startswith("| behaviour")
    ]
    assert len(rows) >= 30 and f"**{len(rows)} distinct misbehaviours**" in text
