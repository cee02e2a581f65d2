"""Users' own clients: defined as data (a scenario file, faultproxy.toml, pyproject.toml, --client-cmd),
run through the same harness as the built-in ones, in either protocol.

The simple-protocol children here are tiny ``python -c`` scripts; the examples in ``examples/``
(Python on httpx-sse, Node on the eventsource package, curl) run in real scenario runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from faultproxy.clients import ClientRequest, registry, run_client
from faultproxy.clients.cli import inventory
from faultproxy.config import ConfigError, load_project_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


pytestmark = pytest.mark.usefixtures("registry_as_it_was")  # clients a test defines go with it


def simple(name: str, code: str, tmp_path: Path, **extra) -> registry.ClientInfo:
    """A simple-protocol client whose command is ``python -c CODE {url}``, defined like a user's."""
    return registry.define(
        {"name": name, "command": [sys.executable, "-c", code, "{url}"], "protocol": "simple", **extra},
        where=f"{tmp_path}/t.yaml:1",
        here=tmp_path,
        file=f"{tmp_path}/t.yaml",
    )


EMIT = "import json, sys, time\ndef say(**m): print(json.dumps(m), flush=True)\n"


def test_simple_protocol_events_and_a_clean_exit(tmp_path: Path) -> None:
    simple(
        "s-ok",
        EMIT
        + """
say(type="message", data="a", id="1")
print("a stray log line", flush=True)
time.sleep(0.05)
say(data={"n": 2}, id=2)
say(type="tick", data="", id=None)
""",
        tmp_path,
        version="3.1",
    )
    t = run_client("s-ok", ClientRequest("http://127.0.0.1:9/x", deadline_s=20))
    assert t.end == "completed" and t.exit_code == 0 and t.version == "3.1"
    assert [(e.type, e.data, e.id) for e in t.events] == [
        ("message", "a", "1"),
        ("message", '{"n": 2}', "2"),
        ("tick", "", None),
    ]
    assert t.events[1].t - t.events[0].t >= 0.04  # stamped by the harness as each line arrived
    assert t.t0_monotonic is not None and t.attempts == []
    assert any("a stray log line" in n for n in t.notes)


def test_simple_protocol_failures(tmp_path: Path) -> None:
    simple(
        "s-line",
        EMIT + 'say(data="a")\nsay(error="boom", error_type="MyError")\nsay(data="late")\n',
        tmp_path,
    )
    simple("s-timeout", EMIT + 'say(error="read timed out", timeout=True)\nsys.exit(1)\n', tmp_path)
    simple(
        "s-exit",
        EMIT + 'say(data="a")\nprint("Traceback...\\nValueError: bad", file=sys.stderr)\nsys.exit(3)\n',
        tmp_path,
    )
    simple("s-signal", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)", tmp_path)
    simple("s-hang", EMIT + 'say(data="a")\ntime.sleep(600)\n', tmp_path)
    request = ClientRequest("http://127.0.0.1:9/x", deadline_s=20)
    line = run_client("s-line", request)
    assert (line.end, line.error_type, line.error_message, line.data) == ("error", "MyError", "boom", ["a"])
    assert any("after the error line" in n for n in line.notes)
    assert run_client("s-timeout", request).end == "timeout"
    exited = run_client("s-exit", request)
    assert (exited.end, exited.error_type, exited.error_message) == (
        "error",
        "exit status 3",
        "ValueError: bad",
    )
    assert exited.data == ["a"]
    assert run_client("s-signal", request).end == "crashed"
    hung = run_client("s-hang", ClientRequest("http://127.0.0.1:9/x", deadline_s=1.0))
    assert hung.end == "hung" and hung.data == ["a"]  # the deadline counts from the start: no hello here


def test_placeholders_fill_one_argument_each_and_braces_stay(tmp_path: Path) -> None:
    code = EMIT + "say(data=json.dumps(sys.argv[1:]))\n"
    registry.define(
        {
            "name": "s-args",
            "protocol": "simple",
            "command": [
                sys.executable,
                "-c",
                code,
                "{method}",
                "{body}",
                "{headers}",
                "{timeout}",
                "{reconnects}",
                "{here}",
                "{{x}}",
                "{not a placeholder}",
            ],
        },
        where="t",
        here=tmp_path,
        file="t",
    )
    request = ClientRequest(
        "http://127.0.0.1:9/x?a=1 2",
        method="post",
        headers={"X": "y z"},
        body='{"q": "a b"}',
        timeout_s=2.5,
        reconnect=True,
        max_reconnects=3,
    )
    t = run_client("s-args", request)
    assert json.loads(t.data[0]) == [
        "POST",
        '{"q": "a b"}',
        '{"X": "y z"}',
        "2.5",
        "3",
        str(tmp_path),
        "{x}",
        "{not a placeholder}",
    ]


def test_a_user_client_runs_in_the_directory_of_its_file(tmp_path: Path) -> None:
    (tmp_path / "mine.py").write_text(EMIT + 'say(data="from mine")\n')
    registry.define(
        {"name": "s-here", "command": "python3 mine.py {url}"}, where="t", here=tmp_path, file="t"
    )
    assert run_client("s-here", ClientRequest("http://127.0.0.1:9/x")).data == ["from mine"]


def test_a_command_that_cannot_start_is_crashed_and_unavailable(tmp_path: Path) -> None:
    info = registry.define(
        {"name": "s-gone", "command": "no-such-program-xyz {url}", "install": "apt-get install xyz"},
        where="t",
        here=tmp_path,
        file="t",
    )
    assert info.available() == (False, "no-such-program-xyz is not on PATH", "apt-get install xyz")
    t = run_client("s-gone", ClientRequest("http://127.0.0.1:9/x"))
    assert t.end == "crashed" and "cannot start 'no-such-program-xyz'" in (t.error_message or "")


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"name": "x1", "command": "run {uri}"}, "unknown placeholder {uri}; known: {url}"),
        ({"name": "x2"}, "command: required"),
        ({"name": "x3", "command": "a", "protocol": "jsonl"}, "protocol: must be one of 'simple' or 'full'"),
        (
            {"name": "x4", "command": "a", "colour": "red"},
            "colour: unknown key; a client takes: name, command",
        ),
        ({"name": "raw", "command": "a"}, "'raw': that is a built-in client's name"),
        ({"name": "bad name", "command": "a"}, "name: String should match pattern"),
        ({"name": "x5", "command": ""}, "command: the command is empty"),
    ],
)
def test_bad_definitions_say_what_is_wrong(definition: dict, message: str) -> None:
    with pytest.raises(registry.ClientSpecError) as info:
        registry.define(definition, where="f.yaml:3", here=Path.cwd(), file="f.yaml")
    assert str(info.value).startswith("f.yaml:3: ") and message in str(info.value)


def test_a_name_is_defined_once_across_files(tmp_path: Path) -> None:
    registry.define({"name": "s-once", "command": "a"}, where="a.yaml:1", here=tmp_path, file="a.yaml")
    registry.define(
        {"name": "s-once", "command": "b"}, where="a.yaml:1", here=tmp_path, file="a.yaml"
    )  # reloaded
    with pytest.raises(registry.ClientSpecError, match=r"already defined \(a.yaml:1\)"):
        registry.define({"name": "s-once", "command": "b"}, where="b.yaml:4", here=tmp_path, file="b.yaml")


def test_config_files_define_the_projects_clients(tmp_path: Path) -> None:
    own = tmp_path / "own"
    own.mkdir()
    (own / "faultproxy.toml").write_text('[[clients]]\nname = "cfg-own"\ncommand = "node c.js {url}"\n')
    py = tmp_path / "py"
    py.mkdir()
    (py / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.faultproxy]\nclients = [\n'
        '  {name = "cfg-py", command = "python3 c.py {url}", speaks = "openai-chat"},\n]\n'
    )
    assert load_project_config(own / "faultproxy.toml") == ["cfg-own"]
    assert load_project_config(py / "pyproject.toml") == ["cfg-py"]
    own_info, py_info = registry.get("cfg-own"), registry.get("cfg-py")
    assert own_info.in_all and own_info.here == own and own_info.output == "simple"
    assert py_info.protocol == "openai-chat" and "[tool.faultproxy]" in py_info.origin
    row = next(r for r in inventory() if r["name"] == "cfg-own")
    assert row["origin"].startswith(f"defined in {own / 'faultproxy.toml'}") and row["output"] == "simple"
    (tmp_path / "bad.toml").write_text('[[clients]]\nname = "cfg-bad"\ncommand = "a"\n[server]\nurl = "x"\n')
    with pytest.raises(ConfigError, match="unknown key 'server'; allowed: clients"):
        load_project_config(tmp_path / "bad.toml")
    (tmp_path / "broken.toml").write_text("[[clients]\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_project_config(tmp_path / "broken.toml")


def faultproxy(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faultproxy", *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


def outcomes(out: Path) -> dict[tuple[str, str], tuple[str, bool]]:
    report = json.loads((out / "latest" / "report.json").read_text())
    return {(r["scenario"], r["client"]): (r["outcome"], r["passed"]) for r in report["results"]}


def test_the_example_clients_in_a_real_scenario_run(tmp_path: Path) -> None:
    """examples/: a Python (simple), a Node (full) and a curl (simple) client through real faults."""
    for name in ("example-node",):
        if not (EXAMPLES / "node" / "node_modules").is_dir():
            pytest.fail(f"{name}: run scripts/bootstrap (npm ci --prefix examples/node)")
    done = faultproxy(
        "run",
        "--config",
        str(EXAMPLES / "faultproxy.toml"),
        str(EXAMPLES / "scenarios.yaml"),
        "--out",
        str(tmp_path),
        "-j",
        "4",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert outcomes(tmp_path) == {
        ("example-healthy", "example-python"): ("ok", True),
        ("example-healthy", "example-node"): ("ok", True),
        ("example-healthy", "example-curl"): ("ok", True),
        ("example-cut", "example-python"): ("error", True),
        ("example-cut", "example-curl"): ("error", True),
        ("example-resume", "example-node"): ("resumed", True),
        ("example-early-end", "example-python"): ("silent_loss", True),
        ("example-early-end", "example-curl"): ("silent_loss", True),
    }
    report = json.loads((tmp_path / "latest" / "report.json").read_text())
    curl_cut = next(
        r for r in report["results"] if r["scenario"] == "example-cut" and r["client"] == "example-curl"
    )
    assert (
        curl_cut["evidence"]["error"]["type"] == "exit status 18"
    )  # curl: transfer closed with data remaining
    versions = {c["name"]: c["version"] for c in report["clients"]}
    assert versions["example-node"] == "4.1.1" and versions["example-curl"][0].isdigit()


SUITE = """
scenarios:
  - name: healthy
    server: {kind: sse, events: 4, interval_ms: 2}
    clients: [raw]
    expectations: [all_events_in_order]
    timeouts: {deadline_ms: 20000}
  - name: early-end
    server: {kind: sse, events: 6, interval_ms: 2}
    faults: [{type: early_end, attributes: {after_events: 2}}]
    clients: [raw]
    timeouts: {deadline_ms: 20000}
  - name: llm
    server: {kind: openai}
    clients: [openai]
"""


@pytest.mark.parametrize(
    ("protocol", "command", "name"),
    [
        ("simple", "{python} examples/python/sse_client.py {url}", "sse_client"),
        ("full", "mine=node examples/node/client.mjs", "mine"),
    ],
)
def test_client_cmd_runs_a_one_off_client_in_every_scenario_it_can_read(
    tmp_path: Path, protocol: str, command: str, name: str
) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    done = faultproxy(
        "run",
        str(suite),
        "--client-protocol",
        protocol,
        "--client-cmd",
        command,
        "--out",
        str(tmp_path / "out"),
        "-j",
        "2",
    )
    assert done.returncode == 1, done.stdout + done.stderr  # the early end is a silent loss
    # only the one-off client ran, and not where it cannot read the stream (an OpenAI API)
    assert outcomes(tmp_path / "out") == {
        ("healthy", name): ("ok", True),
        ("early-end", name): ("silent_loss", False),
    }


def test_client_cmd_errors_are_bad_input(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    done = faultproxy("run", str(suite), "--client-cmd", "x=go {uri}", "--out", str(tmp_path))
    assert done.returncode == 2 and "unknown placeholder {uri}" in done.stderr
