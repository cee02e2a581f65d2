"""The conformance grid for real: a case server on loopback, clients in their own processes.

The CI subset: faultproxy's own ``raw`` client under every quick case and chunking, and the
deliberately wrong ``naive`` client, which must fail where a split CRLF trips it, where a cut
reaches it and where it ends quietly on a refusal -- the grid has to be able to show a failure.
``FAULTPROXY_CONFORMANCE_FULL=1`` runs the full grid instead: every case, every chunking, every
available client (minutes), and checks that every cell ran and faultproxy's own rows passed.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from faultproxy.aio import run as run_loop
from faultproxy.cli import main
from faultproxy.clients import registry
from faultproxy.conformance import report as rendering
from faultproxy.conformance.cases import BY_NAME, CASES, select
from faultproxy.conformance.cli import DOCS
from faultproxy.conformance.runner import WIRE, clients_for, plan, run_cells
from faultproxy.conformance.server import GAP_S, CaseServer

FULL = os.environ.get("FAULTPROXY_CONFORMANCE_FULL") == "1"


def test_raw_client_passes_every_case_through_a_real_socket() -> None:
    if FULL:
        names, _ = clients_for(None)
        clients = [n for n in names if n == WIRE or registry.get(n).available().ok]
    else:
        clients = ["raw"]
    results = run_loop(run_cells(plan(list(CASES) if FULL else select(quick=True), clients), jobs=4))
    failed = [
        f"{r['case']}/{r['chunking']}/{r['client']}: {'; '.join(r['problems'])}"
        for r in results
        if r["status"] == "fail" and (r["client"] in ("raw", WIRE) or "harness could not" in r["problems"][0])
    ]
    assert not failed
    reconnect = next(r for r in results if r["case"] == "ld-reconnect-id" and r["client"] == "raw")
    assert reconnect["requests"] == 2 and reconnect["last_event_ids"] == ["abc"]  # read on the server


def test_a_chunking_reaches_the_client() -> None:
    """naive splits each read on a blank line: the same bytes pass in one piece and fail a byte at a
    time -- so the server's cuts really reach a client (50 ms apart here, so that no busy machine
    can merge the pieces of this short line)."""
    cells = plan([BY_NAME["ld-one-line"]], ["naive"], ("whole", "bytes"))
    whole, by_byte = run_loop(run_cells(cells, jobs=2, gap=0.05))
    assert whole["status"] == "pass", whole["problems"]
    assert by_byte["status"] == "fail" and by_byte["received"] == []
    assert by_byte["min_gap_ms"] >= 50 and "unsure" not in by_byte


def test_a_client_that_ends_quietly_on_a_refused_response_fails() -> None:
    """naive checks no status and no Content-Type: it ends as if an empty stream had completed (or
    hands over the refused body), where raw tells the application."""
    cases = [BY_NAME[name] for name in ("wpt-mime-bogus", "wpt-status-205", "wpt-status-210")]
    results = run_loop(run_cells(plan(cases, ["naive", "raw"]), jobs=3))
    by_client = {(r["case"], r["client"]): r for r in results}
    for case in cases:
        naive, raw = by_client[case.name, "naive"], by_client[case.name, "raw"]
        assert naive["status"] == "fail" and naive["end"] == "completed", naive
        assert raw["status"] == "pass" and raw["end"] == "error", raw


def test_the_server_keeps_every_piece_apart_when_it_falls_behind() -> None:
    """A piece that is late (the event loop was blocked) must not drag every piece that fell due
    meanwhile into one back-to-back burst: each write waits the gap after the one before."""

    async def read_all() -> float:
        async with CaseServer(BY_NAME["ld-one-line"], "bytes") as server:
            asyncio.get_running_loop().call_later(0.01, time.sleep, 0.1)  # a busy machine, for 100 ms
            port = int(server.url.rsplit(":", 1)[1].split("/")[0])
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
            await reader.read()
            writer.close()
            assert server.min_gap is not None
            return server.min_gap

    assert run_loop(read_all()) >= GAP_S


def test_sdk_clients_that_need_the_vendors_whole_stream_get_it() -> None:
    """Pydantic AI (a Messages stream must start with message_start) and the Vercel AI SDK (a delta's
    text part must have been announced) raise on bare deltas; around the vendor's whole stream they
    are judged on the case."""
    names = [n for n in ("pydantic-ai", "vercel-ai-openai") if registry.get(n).available().ok]
    if not names:
        pytest.skip("neither pydantic-ai nor the Vercel AI SDK is installed")
    results = run_loop(run_cells(plan([BY_NAME["ld-two-messages"]], names, ("whole",)), jobs=2))
    for r in results:
        assert r["status"] == "pass" and r["end"] == "completed", r


def test_a_client_that_splits_on_blank_lines_fails_the_crlf_case_however_cut() -> None:
    results = run_loop(run_cells(plan([BY_NAME["ld-crlf-split"]], ["naive"]), jobs=3))
    assert [r["status"] for r in results] == ["fail"] * 3
    assert "event 1: data 'Hello\\r', expected 'Hello\\nWorld'" in results[0]["problems"]


def test_sdk_client_is_judged_on_its_deltas_and_not_asked_to_reconnect() -> None:
    cases = [BY_NAME["ld-crlf-split"], BY_NAME["ld-reconnect-id"], BY_NAME["wpt-final-block"]]
    results = run_loop(run_cells(plan(cases, ["openai"], ("whole",)), jobs=2))
    by_case = {r["case"]: r for r in results}
    assert by_case["ld-reconnect-id"]["status"] == "n/a"
    assert by_case["ld-crlf-split"]["status"] == "n/a"  # a two-line event cannot ride in one delta
    assert by_case["wpt-final-block"]["status"] == "pass", by_case["wpt-final-block"]["problems"]
    assert by_case["wpt-final-block"]["received"] == [{"type": "delta", "data": "test1", "id": None}]


def test_cli_writes_the_grid_and_regenerates_the_docs_page(tmp_path: Path) -> None:
    page = tmp_path / "conformance.md"
    page.write_text(
        f"intro\n{rendering.GRID_START}\nold grid\n{rendering.GRID_END}\nafter\n", encoding="utf-8"
    )
    result = CliRunner().invoke(
        main,
        [
            "conformance",
            "--clients",
            "wire,naive",
            "--cases",
            "wpt-bom,ld-crlf-split",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output  # naive's failures are findings, not errors
    assert "| `ld-crlf-split` | ✓ | ✗ |" in result.output
    # the count adds up (review2: "4 × 4 × 3 chunkings = 16 cells"), and a CI log shows progress
    assert "2 cases under whole, bytes, eol = 6 case cuts × 2 clients = 12 cells" in result.output
    assert "12/12 cells done, 6 failed" in result.output  # naive fails both cases however cut
    [run_dir] = (tmp_path / "out").iterdir()
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    assert report["schema"] == rendering.SCHEMA
    assert {r["client"] for r in report["results"]} == {"wire", "naive"}
    assert (run_dir / "index.html").exists() and (run_dir / "summary.md").exists()
    rendering.update_docs(page, report)
    text = page.read_text(encoding="utf-8")
    assert text.startswith("intro\n") and text.endswith(f"{rendering.GRID_END}\nafter\n")
    assert "old grid" not in text and "| `wpt-bom` | ✓ |" in text


def test_cli_refuses_unknown_names_and_says_which() -> None:
    result = CliRunner().invoke(main, ["conformance", "--clients", "raw,nope"])
    assert result.exit_code == 2 and "unknown client(s) nope" in result.output
    result = CliRunner().invoke(main, ["conformance", "--chunkings", "whole,lines"])
    assert result.exit_code == 2 and "unknown chunking(s) lines" in result.output


def test_update_docs_refuses_a_page_without_markers(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(ValueError, match="markers"):
        rendering.update_docs(
            page, {"results": [], "started": "2026", "duration_s": 0, "cases": [], "clients": []}
        )
    assert page.read_text(encoding="utf-8") == "no markers\n"


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_users_own_clients_take_part_by_command_and_by_config_name(tmp_path: Path) -> None:
    """The client-command protocol of ``faultproxy run``: a ``--client-cmd`` (the Python example, on
    httpx-sse, which keeps a leading BOM) and a client of a config file named in ``--clients``
    (the curl example, parsed by faultproxy decode)."""
    result = CliRunner().invoke(
        main,
        [
            "conformance",
            "--client-cmd",
            f"{{python}} {EXAMPLES / 'python' / 'sse_client.py'} {{url}}",
            "--config",
            str(EXAMPLES / "faultproxy.toml"),
            "--clients",
            "example-curl",
            "--cases",
            "wpt-bom,wpt-status-404",
            "--chunkings",
            "whole",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    [run_dir] = tmp_path.iterdir()
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    by_cell = {(r["case"], r["client"]): r for r in report["results"]}
    assert {c["name"] for c in report["clients"]} == {"sse_client", "example-curl"}
    assert by_cell["wpt-bom", "example-curl"]["status"] == "pass"
    assert by_cell["wpt-bom", "sse_client"]["problems"][0] == "event 1: data '3', expected '1'"
    assert {by_cell["wpt-status-404", c]["end"] for c in ("sse_client", "example-curl")} == {"error"}


def test_docs_refuses_a_narrowed_run(tmp_path: Path) -> None:
    """--docs rewrites the published grid: from a subset it would replace the grid with a part of it."""
    before = DOCS.read_bytes()
    result = CliRunner().invoke(
        main, ["conformance", "--docs", "--clients", "raw", "--cases", "wpt-bom", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert (
        "--docs rewrites the whole grid of conformance.md: run it without --clients, --cases" in result.output
    )
    assert DOCS.read_bytes() == before and not any(tmp_path.iterdir())  # refused before any cell ran
