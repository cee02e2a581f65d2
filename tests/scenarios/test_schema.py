"""``faultproxy scenarios schema`` (the JSON Schema an editor checks scenario files with) and
``faultproxy scenarios check`` (the loader, without running anything)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from faultproxy.cli import main as cli_main
from faultproxy.scenarios import ScenarioError, load_text

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml")) + [ROOT / "examples" / "scenarios.yaml"]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    result = CliRunner().invoke(cli_main, ["scenarios", "schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_scenario_file_matches_the_schema(validator, path: Path) -> None:
    errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert not errors, errors


GOOD = """\
name: good
server: {kind: openai, tokens: 4}
request: {json: {temperature: 0}}
faults:
  - {type: sse_disconnect, attributes: {after_events: 2, mode: rst}, connections: [1], name: cut}
clients: [openai, {name: schema-own, command: "node c.js {url}", speaks: openai-chat}]
expectations: [no_silent_loss, {error_raised: {type: "openai.*"}}, {max_time_to_first_event: 300}, {outcome: error}]
reconnect: true
known:
  openai: {outcome: error, why: it raises}
"""

BAD = {
    "an unknown fault attribute": GOOD.replace("mode: rst", "mode: rst, colour: red"),
    "a fault attribute of the wrong type": GOOD.replace("after_events: 2", "after_events: two"),
    "an unknown fault type": GOOD.replace("sse_disconnect", "sse_disconect"),
    "an unknown top-level key": GOOD + "colour: red\n",
    "no server": GOOD.replace("server: {kind: openai, tokens: 4}\n", ""),
    "an unknown server option": GOOD.replace("tokens: 4", "tokenz: 4"),
    "an expectation parameter out of range": GOOD.replace(
        "max_time_to_first_event: 300", "max_time_to_first_event: -1"
    ),
    "an unknown outcome": GOOD.replace("{outcome: error}", "{outcome: fine}"),
    "a client definition without a command": GOOD.replace('command: "node c.js {url}", ', ""),
    "a known behaviour without why": GOOD.replace(", why: it raises", ""),
}


@pytest.mark.parametrize("what", BAD)
def test_the_schema_refuses_what_the_loader_refuses(validator, what: str) -> None:
    assert not list(validator.iter_errors(yaml.safe_load(GOOD)))
    load_text(GOOD, "good.yaml")
    assert list(validator.iter_errors(yaml.safe_load(BAD[what])))
    with pytest.raises(ScenarioError):
        load_text(BAD[what], "bad.yaml")


def test_scenarios_check_validates_without_running(tmp_path: Path) -> None:
    runner = CliRunner()
    good = tmp_path / "good.yaml"
    good.write_text(
        textwrap.dedent("""\
        name: checked
        server: {kind: sse, events: 3}
        clients: [raw, httpx-sse]
        """)
    )
    result = runner.invoke(cli_main, ["scenarios", "check", str(good)])
    assert result.exit_code == 0, result.output
    assert f"{good}:1: checked: 2 client(s), 0 fault(s), 1 expectation(s)" in result.output
    assert "1 scenario(s) OK, 2 cell(s)" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: broken\nserver: {kind: sse}\nfaults:\n  - {type: sse_drop, attributes: {evnt_index: 1}}\n"
    )
    result = runner.invoke(cli_main, ["scenarios", "check", str(good), str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:4: scenario 'broken': faults: fault #1 (sse_drop): attributes.evnt_index" in result.output
