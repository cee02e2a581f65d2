"""``faultproxy explore`` end to end: from scratch to a one-fault scenario that ``faultproxy run`` reproduces.

fetch-event-source treats a body that stops as a normal end (``onclose``), so a stream cut by the
proxy is a silent loss -- a known behaviour of the library (see ``scenarios/03-midstream.yaml``).
The search is kept small for CI: two fault types, two faults at most, a dozen schedules.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from faultproxy.cli import main
from faultproxy.scenarios import load_paths


def test_explore_finds_shrinks_and_writes_a_scenario_that_run_reproduces(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "explore",
            "--client",
            "fetch-event-source",
            "--property",
            "no_silent_loss",
            "--faults",
            "latency,sse_disconnect",
            "--max-faults",
            "2",
            "--budget",
            "12",
            "--seed",
            "3",
            "--confirm",
            "1",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 1, result.output  # 1: a failure was found, and it reproduced every time
    [run_dir] = tmp_path.iterdir()
    summary = json.loads((run_dir / "explore.json").read_text(encoding="utf-8"))
    assert summary["found"]["faults"] == 1
    assert summary["found"]["schedule"][0]["type"] == "sse_disconnect"
    assert summary["schedules_tried"] <= 12
    assert all(t["duration_s"] > 0 for t in summary["trials"] if t["verdict"] != "invalid")
    assert summary["reproduced"]["failed"] == summary["reproduced"]["runs"] == 10  # re-confirmed 10 times
    assert summary["stream"]["events"] == 10 and summary["trials"][0]["phase"] == "baseline"
    assert "reproduced it in 10 of 10 runs" in result.output
    assert (run_dir / "report" / "index.html").exists()

    scenario_file = run_dir / "scenario.yaml"
    [scenario] = load_paths([str(scenario_file)])  # a scenario file faultproxy run accepts as it is
    assert scenario.client_names() == ["fetch-event-source"]
    assert [e.name for e in scenario.expectations] == ["no_silent_loss"]
    assert yaml.safe_load(scenario_file.read_text(encoding="utf-8"))["scenarios"][0]["seed"] == 3
    assert f"faultproxy run {scenario_file} --clients fetch-event-source" in scenario_file.read_text(
        encoding="utf-8"
    )


def test_explore_refuses_bad_input_with_exit_2() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["explore", "--client", "nope", "--property", "no_hang"])
    assert result.exit_code == 2 and "unknown client 'nope'" in result.output
    result = runner.invoke(
        main, ["explore", "--client", "raw", "--property", "no_hang", "--faults", "set_header"]
    )
    assert result.exit_code == 2 and "cannot be drawn" in result.output
    result = runner.invoke(main, ["explore", "--client", "raw", "--property", "fast"])
    assert result.exit_code == 2


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_explore_takes_a_users_own_client_command(tmp_path: Path) -> None:
    """The Python example (httpx-sse) through --client-cmd: it does not reconnect, so a body that
    ends cleanly early loses the rest although reconnects were allowed -- the client's doing, in
    explore's claim and in the written scenario's verdict alike; the scenario says how to rerun it."""
    result = CliRunner().invoke(
        main,
        [
            "explore",
            "--client-cmd",
            f"{{python}} {EXAMPLES / 'python' / 'sse_client.py'} {{url}}",
            "--property",
            "resumed",
            "--faults",
            "early_end",
            "--budget",
            "3",
            "--confirm",
            "0",
            "--seed",
            "2",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 1, result.output
    [run_dir] = tmp_path.iterdir()
    summary = json.loads((run_dir / "explore.json").read_text(encoding="utf-8"))
    assert summary["found"]["schedule"][0]["type"] == "early_end"
    assert summary["reproduced"]["failed"] == summary["reproduced"]["runs"] == 10
    report = json.loads((run_dir / "report" / "report.json").read_text(encoding="utf-8"))
    assert {r["attribution"] for r in report["results"]} == {"client"}
    header = (run_dir / "scenario.yaml").read_text(encoding="utf-8")
    assert f"--client-cmd 'sse_client={{python}} {EXAMPLES / 'python' / 'sse_client.py'} {{url}}'" in header


def test_explore_selects_a_config_files_client_by_name() -> None:
    """--config makes the project's own clients (here the curl example) nameable by --client: the
    client is found, and the next check (a fault that cannot be drawn) is what refuses."""
    result = CliRunner().invoke(
        main,
        [
            "explore",
            "--config",
            str(EXAMPLES / "faultproxy.toml"),
            "--client",
            "example-curl",
            "--property",
            "no_hang",
            "--faults",
            "set_header",
        ],
    )
    assert result.exit_code == 2 and "cannot be drawn" in result.output, result.output
    result = CliRunner().invoke(main, ["explore", "--property", "no_hang"])
    assert result.exit_code == 2 and "name one client to explore" in result.output
