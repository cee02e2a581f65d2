"""``faultproxy run`` (the README's main command): a cut stream resumed, and the report it writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_run_resumes_the_cut_stream_and_writes_the_report(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "faultproxy", "run", "--events", "8", "--interval-ms", "5", "--cut-after", "3",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "latest" / "report.json").read_text())
    (result,) = report["results"]
    assert result["outcome"] == "resumed"
    assert result["received_ids"] == [str(n) for n in range(1, 9)]
    # the first connection was cut by the fault, the second resumed after the last id it saw
    assert result["attempts"][0]["outcome"] == "network-error"
    assert result["attempts"][1]["last_event_id"] == "3"
    assert [f["type"] for f in result["faults_fired"]] == ["sse_disconnect"]
    capture = (tmp_path / "latest" / "capture.jsonl").read_text().splitlines()
    assert any(json.loads(line)["type"] == "fault" for line in capture)
    assert "**resumed**" in (tmp_path / "latest" / "summary.md").read_text()


def test_run_refuses_a_cut_after_the_end(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "faultproxy", "run", "--events", "3", "--cut-after", "3", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "--cut-after" in done.stderr
