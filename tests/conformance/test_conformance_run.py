"""The conformance grid for real: a case server on loopback, clients in their own processes.

The CI subset: faultproxy's own ``raw`` client under every quick case and chunking, and the
deliberately wrong ``naive`` client, which must fail where a split CRLF trips it -- the grid
has to be able to show a failure. ``FAULTPROXY_CONFORMANCE_FULL=1`` runs every case for ``raw``
(and the full grid is ``faultproxy conformance``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from faultproxy.aio import run as run_loop
from faultproxy.cli import main
from faultproxy.conformance import report as rendering
from faultproxy.conformance.cases import BY_NAME, CASES, select
from faultproxy.conformance.runner import plan, run_cells

FULL = os.environ.get("FAULTPROXY_CONFORMANCE_FULL") == "1"


def test_raw_client_passes_every_case_through_a_real_socket() -> None:
    cases = list(CASES) if FULL else select(quick=True)
    results = run_loop(run_cells(plan(cases, ["raw"]), jobs=4))
    failed = [f"{r['case']}/{r['chunking']}: {'; '.join(r['problems'])}" for r in results if r["status"] != "pass"]
    assert not failed
    reconnect = next(r for r in results if r["case"] == "ld-reconnect-id")
    assert reconnect["requests"] == 2 and reconnect["last_event_ids"] == ["abc"]  # read on the server


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
    page.write_text(f"intro\n{rendering.GRID_START}\nold grid\n{rendering.GRID_END}\nafter\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["conformance", "--clients", "wire,naive", "--cases", "wpt-bom,ld-crlf-split",
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output  # naive's failures are findings, not errors
    assert "| `ld-crlf-split` | ✓ | ✗ |" in result.output
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
        rendering.update_docs(page, {"results": [], "started": "2026", "duration_s": 0, "cases": [], "clients": []})
    assert page.read_text(encoding="utf-8") == "no markers\n"
