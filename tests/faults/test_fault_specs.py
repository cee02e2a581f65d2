"""One namespace for a fault's keys: its own (name, stream, toxicity, connections, match) and its
type's attributes, in every flat form (``--fault``, the pytest fixture, the marker)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from faultproxy.cli import main as cli_main
from faultproxy.faults import REGISTRY, FaultSpecError, parse_cli_fault
from faultproxy.faults.spec import SHARED_KEYS, FaultSpec


def test_the_shared_keys_are_the_fault_specs_own_fields_and_no_attribute_takes_one():
    assert set(SHARED_KEYS) == set(FaultSpec.model_fields) - {"type", "attributes"}
    for name, cls in REGISTRY.items():
        clash = set(cls.Attributes.model_fields) & set(SHARED_KEYS)
        assert not clash, f"{name} has an attribute named like a shared key: {clash}"


def test_cli_faults_set_every_shared_key_beside_the_attributes():
    spec = parse_cli_fault(
        "set_header:header=Content-Type,value=text/plain,name=ct,connections=[1, 2],"
        "match={path: /v1/*, method: POST},toxicity=0.5,stream=downstream"
    )
    assert (spec.name, spec.connections, spec.toxicity, spec.stream) == ("ct", (1, 2), 0.5, "downstream")
    assert spec.match is not None and (spec.match.path, spec.match.method) == ("/v1/*", "POST")
    assert spec.attributes.model_dump() == {"header": "Content-Type", "value": "text/plain"}
    assert parse_cli_fault("sse_drop:event_index=2,connections=1").connections == (1,)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sse_drop:event_index=2,connections=[0]", "connections: Value error, connection numbers start at 1"),
        ("sse_drop:event_index=2,match={colour: red}", "match.colour: unknown field"),
        ("sse_drop:event_index=2,connections=[1", "connections: not a YAML value (expected ',' or ']'"),
        ("set_header:name=Content-Type,value=x", "attributes.header: Field required"),
    ],
)
def test_bad_cli_faults_say_which_key(text: str, message: str):
    with pytest.raises(FaultSpecError) as info:
        parse_cli_fault(text)
    assert message in str(info.value)


def test_faultproxy_faults_lists_the_shared_keys():
    runner = CliRunner()
    text = runner.invoke(cli_main, ["faults"]).output
    for key in SHARED_KEYS:
        assert f"    {key}" in text
    assert "connections=[1]" in text
    described = json.loads(runner.invoke(cli_main, ["faults", "--json"]).output)
    assert set(described["shared_keys"]) == set(SHARED_KEYS)
    assert {f["type"] for f in described["faults"]} == set(REGISTRY)
