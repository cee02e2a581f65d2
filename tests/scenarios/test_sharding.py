"""Beyond one machine: ``faultproxy run --shard K/N`` in separate processes, joined by
``faultproxy report merge``, gives the report of the unsharded run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from faultproxy.report.merge import MergeError, in_shard, load_report, merge_reports

SUITE = """
scenarios:
  - name: healthy
    server: {kind: sse, events: 4, interval_ms: 2}
    clients: [raw, httpx-sse]
    timeouts: {deadline_ms: 20000}
  - name: cut
    server: {kind: sse, events: 6, interval_ms: 2}
    faults: [{type: sse_disconnect, attributes: {after_events: 2}}]
    clients: [raw, httpx-sse]
    expectations: [error_raised]
    timeouts: {deadline_ms: 20000}
  - name: early-end
    server: {kind: sse, events: 6, interval_ms: 2}
    faults: [{type: early_end, attributes: {after_events: 2}}]
    clients: [raw, httpx-sse]
    timeouts: {deadline_ms: 20000}
"""


def faultproxy(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "faultproxy", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finished(process: subprocess.Popen[str]) -> tuple[int, str]:
    out, err = process.communicate(timeout=300)
    return process.returncode, out + err


def cells(report: dict) -> dict[tuple[str, str, int], tuple]:
    return {
        (r["scenario"], r["client"], r["repetition"]): (
            r["outcome"],
            r["passed"],
            [(x["name"], x["met"]) for x in r["expectations"]],
        )
        for r in report["results"]
    }


def test_shards_in_separate_processes_merge_into_the_unsharded_run(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    whole = faultproxy("run", str(suite), "--out", str(tmp_path / "whole"), "-j", "2")
    shards = [
        faultproxy(
            "run",
            str(suite),
            "--out",
            str(tmp_path / "shards"),
            "--shard",
            f"{k}/3",
            "--run-id",
            "ci-42",
            "-j",
            "2",
        )
        for k in (1, 2, 3)
    ]
    code, text = finished(whole)
    assert code == 1, text  # the early end is a silent loss for both clients
    for shard in shards:
        code, text = finished(shard)
        assert code in (0, 1), text
    parts = sorted((tmp_path / "shards").glob("ci-42-shard-*-of-3"))
    assert [p.name for p in parts] == [f"ci-42-shard-{k}-of-3" for k in (1, 2, 3)]
    merged_run = faultproxy("report", "merge", *map(str, parts), "--out", str(tmp_path / "merged"))
    code, text = finished(merged_run)
    assert code == 1, text
    assert "✗ early-end / raw: silent_loss — no_silent_loss:" in text  # the same failure lines as a run
    unsharded = load_report(tmp_path / "whole" / "latest")
    merged = load_report(tmp_path / "merged" / "ci-42")
    assert cells(merged) == cells(unsharded) and len(cells(merged)) == 6
    assert merged["scenarios"] == unsharded["scenarios"]
    assert [c["name"] for c in merged["clients"]] == [c["name"] for c in unsharded["clients"]]
    assert merged["run_id"] == "ci-42" and [m["shard"]["index"] for m in merged["merged_from"]] == [1, 2, 3]
    # all four files, each a whole run's
    for name in ("report.json", "index.html", "junit.xml", "summary.md"):
        assert (tmp_path / "merged" / "ci-42" / name).stat().st_size > 0
    assert (tmp_path / "merged" / "ci-42" / "junit.xml").read_text().count("<testcase") == 6
    # every cell ran in exactly one shard
    ran = [r["scenario"] + "/" + r["client"] for p in parts for r in load_report(p)["results"]]
    assert sorted(ran) == sorted(
        f"{s}/{c}" for s in ("healthy", "cut", "early-end") for c in ("raw", "httpx-sse")
    )


def test_a_cell_is_in_one_shard_whatever_else_runs() -> None:
    keys = [f"scenario-{s}/client-{c}" for s in range(40) for c in range(13)]
    for n in (1, 2, 4, 7):
        owners = [[k for k in range(1, n + 1) if in_shard(key, (k, n))] for key in keys]
        assert all(len(o) == 1 for o in owners)
        if n > 1:
            sizes = [sum(1 for o in owners if o == [k]) for k in range(1, n + 1)]
            assert min(sizes) > 0.6 * len(keys) / n  # a stable hash spreads the cells


def test_reports_that_are_not_one_run_are_refused(tmp_path: Path) -> None:
    base = {
        "schema": "faultproxy-report/1",
        "run_id": "r",
        "started": "2025-01-01T00:00:00+00:00",
        "duration_s": 1.0,
        "seed": 0,
        "faultproxy_version": "0.1.0",
        "clients": [{"name": "raw", "version": "1", "available": True}],
        "scenarios": [{"name": "s", "file": "s.yaml", "description": "", "faults": [], "expectations": []}],
        "results": [],
    }
    one, two = {**base, "shard": {"index": 1, "count": 2}}, {**base, "shard": {"index": 2, "count": 2}}
    assert merge_reports({"a": one, "b": two})["run_id"] == "r"
    with pytest.raises(MergeError, match="shard 1/2 is given twice"):
        merge_reports({"a": one, "b": dict(one)})
    with pytest.raises(MergeError, match=r"shard\(s\) 2/2 missing \(--partial"):
        merge_reports({"a": one})
    assert merge_reports({"a": one}, partial=True)["merged_from"][0]["source"] == "a"
    with pytest.raises(MergeError, match="the reports differ in seed"):
        merge_reports({"a": one, "b": {**two, "seed": 7}})
    with pytest.raises(MergeError, match="the reports differ in scenarios"):
        merge_reports({"a": one, "b": {**two, "scenarios": []}})
    (tmp_path / "report.json").write_text("{")
    with pytest.raises(MergeError, match="not JSON"):
        load_report(tmp_path)
