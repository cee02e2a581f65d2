"""``faultproxy bench``: runs end to end at small sizes and reports every target it could run.

No timing is asserted anywhere: the numbers depend on the machine and whatever else runs on
it. What is checked is that each phase measured each configured target, and the shape of
the JSON that docs and scripts read.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from faultproxy.bench.cli import _size
from faultproxy.bench.load import hist_percentile, histogram, percentile
from faultproxy.bench.upstream import paced_event, throughput_block
from faultproxy.wire.chunked import ChunkData, ChunkedDecoder, ChunkHeader

SMALL = [
    "--quick",
    "--json",
    "--bytes",
    "8M",
    "--reps",
    "2",
    "--streams",
    "20",
    "--seconds",
    "1",
    "--idle-streams",
    "40",
    "--idle-interval",
    "0.5",
]


@pytest.fixture(scope="module")
def report() -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "faultproxy", "bench", *SMALL], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_every_available_target_is_measured_in_every_phase(report: dict) -> None:
    assert report["errors"] == []
    available = [name for name, t in report["targets"].items() if t["available"]]
    assert {"direct", "faultproxy", "faultproxy-capture"} <= set(available)
    for name in available:
        through = report["throughput"][name]
        assert len(through["runs"]) >= 1
        # nginx re-chunks the body, so only the SSE payload is the same for every target
        least = (8 << 20) * through["payload_fraction"]
        assert all(run["complete"] and run["bytes"] >= least for run in through["runs"])
        assert through["mb_s"] > 0  # bytes moved, not a speed
        if name == "faultproxy-capture":  # measured on the large stream only
            assert through["capture_per_byte"] > 1  # every byte kept (base64, decoded events beside)
            assert name not in report["latency"] and name not in report["concurrency"]
            continue
        assert "capture_per_byte" not in through

        latency = report["latency"][name]
        assert latency["events"] == latency["expected"] == 20 * 20  # 20 streams x 20/s x 1 s
        assert all(r["ready"] == 20 and r["ended"] == 20 and not r["timed_out"] for r in latency["rounds"])
        assert 0 < latency["p50_ms"] <= latency["p99_ms"] <= latency["max_ms"] * 1.01

        if name == "direct" or name.startswith("faultproxy-"):  # no proxy; faults on (idle memory: without)
            assert name not in report["concurrency"]
            continue
        conc = report["concurrency"][name]
        assert conc["opened"] == conc["alive"] == 40
        assert conc["keep_alives"] >= 40  # every stream got one through the proxy
        assert conc["rss_before_kib"] > 0 and conc["rss_with_kib"] > 0


@pytest.mark.slow
def test_report_shape(report: dict) -> None:
    for key in (
        "version",
        "machine",
        "config",
        "targets",
        "throughput",
        "latency",
        "concurrency",
        "checks",
        "errors",
        "seconds",
        "command",
    ):
        assert key in report
    assert report["machine"]["cpus"] >= 1
    assert report["config"]["throughput_bytes"] == 8 << 20
    for target in report["targets"].values():
        assert target["available"] or target["reason"]
    assert report["latency"]["faultproxy"]["added_p99_ms"] is not None
    assert [c["status"] for c in report["checks"]] and all(
        c["status"] in ("PASS", "MISS", "n/a") for c in report["checks"]
    )
    # 40 streams is below the 5,000: that target is not judged at this size
    assert report["checks"][0]["status"] == "n/a"
    if report["targets"].get("nginx", {}).get("available"):
        assert report["throughput"]["faultproxy"]["vs_nginx"] is not None


@pytest.mark.slow
def test_tls_run_measures_direct_faultproxy_and_nginx_over_tls() -> None:
    """``--tls``: the load, the proxies and the upstream speak TLS; nginx and faultproxy both
    terminate it and re-originate it, verifying the upstream against the bench CA."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "faultproxy",
            "bench",
            *SMALL,
            "--tls",
            "--only",
            "direct,nginx,faultproxy,throughput,latency",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["config"]["tls"] is True and report["errors"] == []
    assert report["targets"]["faultproxy"]["available"] is True
    measured = ["direct", "faultproxy"] + (["nginx"] if report["targets"]["nginx"]["available"] else [])
    for name in measured:
        assert all(run["complete"] for run in report["throughput"][name]["runs"])
        assert report["latency"][name]["events"] == 20 * 20


def test_only_rejects_unknown_names() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "faultproxy", "bench", "--only", "haproxy"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "haproxy" in proc.stderr


def test_upstream_block_is_valid_chunked_sse() -> None:
    block, payload = throughput_block(event_size=1024, block_size=64 << 10)
    events = ChunkedDecoder().feed(block)
    sizes = [e.size for e in events if isinstance(e, ChunkHeader)]
    data = b"".join(e.data for e in events if isinstance(e, ChunkData))
    assert len(data) == payload == sum(sizes)
    assert all(s == 1024 for s in sizes)
    assert data.count(b"\n\n") == len(sizes) and b"\r" not in data  # LF only: the reader relies on it
    one = ChunkedDecoder().feed(paced_event(7, 123456789, b"xx"))
    assert b"".join(e.data for e in one if isinstance(e, ChunkData)) == b"id: 7\ndata: 123456789 xx\n\n"


def test_histogram_percentiles_are_within_a_percent() -> None:
    values = sorted(range(10_000, 5_000_000, 997))
    hist = histogram(values)
    for q in (0.5, 0.9, 0.99):
        assert abs(hist_percentile(hist, q) / percentile(values, q) - 1) < 0.011


def test_sizes() -> None:
    assert _size("64M") == 64 << 20
    assert _size("1G") == 1 << 30
    assert _size("512k") == 512 << 10
    assert _size("100") == 100
