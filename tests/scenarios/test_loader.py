"""Scenario files: valid ones load into the models; every kind of bad one is refused with
FILE:LINE and what is allowed."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from faultproxy.clients import names as client_names
from faultproxy.scenarios import ScenarioError, load_file, load_paths, load_text
from faultproxy.scenarios.model import EXPECTATIONS, Expectation

BASE = """\
name: basic
server:
  kind: sse
  events: 3
clients: [raw]
"""


def fails(text: str, where: str = "s.yaml") -> str:
    with pytest.raises(ScenarioError) as info:
        load_text(textwrap.dedent(text), where)
    return str(info.value)


# -- valid files ------------------------------------------------------------------------------


DOCS = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"


pytestmark = pytest.mark.usefixtures("registry_as_it_was")  # clients a test defines go with it


def test_the_documented_example_loads_with_every_field() -> None:
    doc = DOCS.read_text(encoding="utf-8")
    example = (
        doc.split("A complete scenario with every field", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    )
    (scenario,) = load_text(example, "example.yaml")
    assert scenario.name == "drop-one-event"
    assert scenario.tags == ("sse", "loss")
    assert scenario.server.kind == "sse" and scenario.server.options == {"events": 6, "interval_ms": 5}
    assert scenario.server.typed_options().server_kwargs()["interval"] == 0.005
    assert [f.type for f in scenario.faults] == ["sse_drop"]
    assert scenario.faults[0].attributes.event_index == 3
    assert scenario.clients == ("raw", "httpx-sse", "naive")
    assert sorted(e.name for e in scenario.expectations) == sorted(EXPECTATIONS)
    assert scenario.expectations[2].params == {"type": "httpx.*", "message": "peer closed"}
    assert scenario.expectations[4].params == {"ms": 500}
    assert scenario.expectations[8].params == {"any_of": ["ok", "resumed"]}
    assert scenario.intermediary is not None and scenario.intermediary.config == "defaults"
    assert scenario.intermediary.position == "behind_proxy"
    assert scenario.timeouts.read_ms == 2000 and scenario.timeouts.deadline_ms == 10000
    assert scenario.reconnect is not None and scenario.reconnect.max == 2
    assert scenario.seed == 7 and scenario.repetitions == 1
    known = scenario.known_for("naive")
    assert known is not None and known.outcomes == ("silent_loss",) and "splits" in known.why
    assert scenario.file == "example.yaml" and scenario.line == 1


def test_every_field_option_expectation_and_outcome_is_documented() -> None:
    from faultproxy.scenarios.loader import TOP_KEYS
    from faultproxy.scenarios.model import (
        OUTCOMES,
        SERVER_KINDS,
        Known,
        Reconnect,
        RequestSpec,
        Timeouts,
        options_model,
    )

    doc = DOCS.read_text(encoding="utf-8")
    names = [*TOP_KEYS, *EXPECTATIONS, *OUTCOMES, *SERVER_KINDS]
    for model in (RequestSpec, Timeouts, Reconnect, Known, *(options_model(k) for k in SERVER_KINDS)):
        names += [field.alias or name for name, field in model.model_fields.items()]
    undocumented = sorted({n for n in names if f"`{n}`" not in doc and f"`kind: {n}`" not in doc})
    assert not undocumented, f"docs/scenarios.md does not name: {undocumented}"
    first = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    load_text(first, "first-example.yaml")  # the page's opening example is a valid scenario


def test_defaults_and_the_client_request() -> None:
    (s,) = load_text("name: tiny\nserver: sse\n", "t.yaml")
    assert s.clients == "all"
    assert s.expectations == (Expectation(name="no_silent_loss"),)
    assert s.faults == () and s.reconnect is None and s.repetitions == 1 and s.seed is None
    request = s.client_request("raw", "http://127.0.0.1:9999")
    assert request.url == "http://127.0.0.1:9999/events" and request.method == "GET"
    assert request.reconnect is False and request.deadline_s == 30.0 and request.timeout_s is None
    # 'all' means the clients that speak the server's protocol
    assert "raw" in s.client_names() and "openai" not in s.client_names()
    assert set(s.client_names()) <= set(client_names())


def test_client_request_follows_the_scenario() -> None:
    (s,) = load_text(
        textwrap.dedent("""\
        name: post
        server: {kind: openai, tokens: 3}
        request: {path: /v1/chat/completions, json: {model: m, stream: true}, headers: {Authorization: Bearer x}}
        clients: [raw, openai]
        timeouts: {read_ms: 1500, deadline_ms: 4000}
        reconnect: true
    """),
        "p.yaml",
    )
    raw = s.client_request("raw", "http://127.0.0.1:1")
    assert raw.method == "POST" and raw.url == "http://127.0.0.1:1/v1/chat/completions"
    assert raw.headers["Content-Type"] == "application/json" and raw.body == '{"model": "m", "stream": true}'
    assert raw.timeout_s == 1.5 and raw.deadline_s == 4.0 and raw.reconnect and raw.max_reconnects == 3
    assert s.client_request("openai", "http://127.0.0.1:1").url == "http://127.0.0.1:1/v1"
    assert s.client_names() == ["raw", "openai"]
    assert s.server.typed_options().server_kwargs() == {"tokens": 3}


def test_several_scenarios_expectations_as_a_mapping_and_the_report_entry() -> None:
    out = load_text(
        textwrap.dedent("""\
        scenarios:
          - name: one
            server: {url: "http://127.0.0.1:8080/stream?x=1"}
            expectations: {no_silent_loss: true, completes_within: 3000}
          - name: two
            description: framework server
            server: {kind: starlette, events: 2, ping_ms: 0}
            faults:
              - {type: sse_disconnect, attributes: {after_events: 1, mode: rst}, connections: 1}
    """),
        "many.yaml",
    )
    assert [s.name for s in out] == ["one", "two"]
    assert out[0].server.kind == "url" and out[0].target() == "/stream?x=1"
    assert [e.label for e in out[0].expectations] == ["no_silent_loss", "completes_within 3000 ms"]
    entry = out[1].as_report_dict()
    assert entry["name"] == "two" and entry["file"] == "many.yaml" and entry["line"] == 5
    assert entry["server"] == {"kind": "starlette", "events": 2, "ping_ms": 0}
    assert entry["faults"][0]["connections"] == [1] and entry["faults"][0]["attributes"]["mode"] == "rst"
    assert entry["expectations"] == [{"name": "no_silent_loss"}]


def test_load_paths_reads_a_directory_and_refuses_a_name_used_twice(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: a\nserver: sse\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yml").write_text("name: b\nserver: sse\n")
    (tmp_path / "notes.txt").write_text("not a scenario")
    assert [s.name for s in load_paths([tmp_path])] == ["a", "b"]
    (tmp_path / "c.yaml").write_text("\n\nname: a\nserver: sse\n")
    with pytest.raises(ScenarioError, match=r"c\.yaml:3: scenario name 'a' is already used at .*a\.yaml:1"):
        load_paths([tmp_path])
    with pytest.raises(ScenarioError, match=r"missing\.yaml: cannot read"):
        load_file(tmp_path / "missing.yaml")


# -- bad files: every error has file:line and says what is allowed -----------------------------


def test_unknown_top_level_key() -> None:
    message = fails(BASE + "expect: [no_silent_loss]\n")
    assert message.startswith("s.yaml:6: scenario 'basic': unknown key 'expect'; allowed: name, description")
    assert "expectations" in message and "known" in message


def test_unknown_server_option_lists_the_options_of_that_kind() -> None:
    message = fails(BASE.replace("events: 3", "events: 3\n  speed: 2"))
    assert message.startswith(
        "s.yaml:5: scenario 'basic': server.speed: unknown key; allowed: events, interval_ms"
    )
    assert "keepalive_ms" in message and "drop_after" in message


def test_wrong_type_names_the_field_and_its_type() -> None:
    message = fails(BASE.replace("events: 3", "events: lots"))
    assert message.startswith("s.yaml:4: scenario 'basic': server.events:")
    assert "(got 'lots')" in message and "events: integer ≥0, default 10" in message
    message = fails(BASE + "repetitions: many\n")
    assert message.startswith("s.yaml:6: scenario 'basic': repetitions: expected int (got 'many')")
    message = fails(BASE + "timeouts:\n  read_ms: -5\n")
    assert message.startswith("s.yaml:7: scenario 'basic': timeouts.read_ms: Input should be greater than 0")
    assert "read_ms: number | null >0" in message


def test_unknown_server_kind_and_bad_url() -> None:
    message = fails(BASE.replace("kind: sse", "kind: websocket"))
    assert message == (
        "s.yaml:3: scenario 'basic': server.kind: unknown kind 'websocket'; "
        "one of: sse, starlette, openai, anthropic, llm (or give 'url: http://...')"
    )
    message = fails("name: u\nserver:\n  url: https://example.invalid/x\n")
    assert message.startswith("s.yaml:3: scenario 'u': server.url: must be an http:// URL")
    message = fails("name: u\nserver:\n  url: http://127.0.0.1:1/x\n  events: 3\n")
    assert message.startswith(
        "s.yaml:4: scenario 'u': server.events: unknown key; a url: server takes only 'url'"
    )
    message = fails("name: m\nserver: {kind: anthropic, tokenz: 3}\n")
    assert "server.tokenz: unknown key; allowed: seed, tokens" in message and "stream_error" in message


def test_unknown_client_points_at_its_list_item() -> None:
    message = fails("name: c\nserver: sse\nclients:\n  - raw\n  - curl\n")
    assert message.startswith(
        "s.yaml:5: scenario 'c': clients: unknown client 'curl'; one of: raw, httpx-sse"
    )
    assert "(or 'all', or define one: {name: ..., command: ..., protocol: simple})" in message
    assert "listed twice" in fails("name: c\nserver: sse\nclients: [raw, raw]\n")


def test_a_scenario_file_defines_its_own_clients(tmp_path: Path) -> None:
    from faultproxy.clients import registry

    path = tmp_path / "own.yaml"
    path.write_text(
        textwrap.dedent("""\
        clients:
          - {name: own-shared, command: "node shared.js {url}"}
        scenarios:
          - name: a
            server: sse
            clients: [own-shared, raw, {name: own-inline, command: [python3, mine.py, "{url}"], protocol: full}]
          - name: b
            server: sse
            clients: [own-inline]
            known:
              own-inline: {outcome: silent_loss, why: its parser splits reads}
        """)
    )
    a, b = load_file(path)
    assert a.clients == ("own-shared", "raw", "own-inline") and b.clients == ("own-inline",)
    inline = registry.get("own-inline")
    assert (inline.output, inline.here, inline.origin, inline.in_all) == (
        "full",
        tmp_path,
        f"{path}:6",
        False,
    )
    assert registry.get("own-shared").output == "simple"
    # a file's own clients run where they are named, not in every 'all' scenario
    (everyone,) = load_text("name: c\nserver: sse\n", "c.yaml")
    assert "own-inline" not in everyone.client_names() and "raw" in everyone.client_names()
    load_file(path)  # the same file again: its definitions again


def test_bad_client_definitions_in_a_scenario_file(tmp_path: Path) -> None:
    message = fails("name: c\nserver: sse\nclients:\n  - raw\n  - {name: own-x, command: go, colour: red}\n")
    assert message.startswith(
        "s.yaml:5: scenario 'c': clients: client 'own-x': colour: unknown key; a client takes:"
    )
    message = fails("clients: [{name: own-y}]\nscenarios:\n  - {name: c, server: sse}\n")
    assert message.startswith("s.yaml:1: clients: client 'own-y': command: required")
    message = fails("clients: {name: own-z}\nscenarios:\n  - {name: c, server: sse}\n")
    assert "clients: beside 'scenarios', a list of client definitions" in message
    (tmp_path / "first.yaml").write_text("name: c1\nserver: sse\nclients: [{name: own-twice, command: a}]\n")
    (tmp_path / "second.yaml").write_text("name: c2\nserver: sse\nclients: [{name: own-twice, command: b}]\n")
    with pytest.raises(
        ScenarioError,
        match=r"second.yaml:3: scenario 'c2': clients: client 'own-twice' is already "
        r"defined \(.*first.yaml:3\)",
    ):
        load_paths([tmp_path])


def test_unknown_fault_type_and_attribute_come_from_the_fault_engine() -> None:
    message = fails(BASE + "faults:\n  - type: sse_dorp\n")
    assert message.startswith(
        "s.yaml:7: scenario 'basic': faults: fault #1: unknown type 'sse_dorp'; one of: "
    )
    assert "sse_drop" in message and "early_end" in message
    message = fails(BASE + "faults:\n  - type: sse_drop\n    attributes:\n      index: 3\n")
    assert message.startswith(
        "s.yaml:9: scenario 'basic': faults: fault #1 (sse_drop): attributes.index: unknown field"
    )
    assert "sse_drop takes: event_index: integer | null ≥0" in message
    message = fails(BASE + "faults:\n  - type: sse_disconnect\n    attributes: {}\n")
    assert "attributes.after_events: Field required" in message


def test_bad_expectations() -> None:
    message = fails(BASE + "expectations:\n  - no_silent_loss\n  - all_events\n")
    assert message.startswith(
        "s.yaml:8: scenario 'basic': expectations: unknown expectation 'all_events'; one of: "
    )
    assert "all_events_in_order" in message and "max_time_to_first_event" in message
    message = fails(BASE + "expectations:\n  - completes_within: soon\n")
    assert message.startswith("s.yaml:7: scenario 'basic': expectations.completes_within: ms:")
    assert "(got 'soon'); takes: ms: number >0, required" in message
    message = fails(BASE + "expectations:\n  - outcome: fine\n")
    assert (
        "'fine' is not an outcome; one of: ok, silent_loss, error, hung, duplicated, reordered, resumed"
        in message
    )
    message = fails(BASE + "expectations:\n  - error_raised: {kind: x}\n")
    assert "expectations.error_raised: unknown key 'kind'; takes: type:" in message
    message = fails(BASE + "expectations:\n  - resumed: 3\n")
    assert "expectations.resumed: takes no value but true" in message
    assert "given twice" in fails(BASE + "expectations: [resumed, resumed]\n")


def test_bad_intermediary() -> None:
    message = fails(BASE + "intermediary: {kind: nginx, config: fast}\n")
    assert message.startswith("s.yaml:6: scenario 'basic': intermediary.config: ")
    assert "no nginx route 'fast'; the routes are: defaults, " in message
    message = fails(BASE + "intermediary: {kind: haproxy, config: defaults}\n")
    assert "intermediary.kind: must be one of 'nginx' (got 'haproxy')" in message
    message = fails(BASE + "intermediary:\n  kind: nginx\n  config: defaults\n  where: first\n")
    assert message.startswith(
        "s.yaml:9: scenario 'basic': intermediary.where: unknown key; allowed: kind, config, position"
    )
    assert "intermediary.config: required" in fails(BASE + "intermediary: {kind: nginx}\n")


def test_bad_known_behaviour() -> None:
    message = fails("name: k\nserver: sse\nknown:\n  curl: {outcome: ok, why: x}\n")
    assert message.startswith("s.yaml:4: scenario 'k': known: unknown client 'curl'; one of: raw")
    message = fails("name: k\nserver: sse\nknown:\n  naive:\n    outcome: lost\n    why: x\n")
    assert message.startswith(
        "s.yaml:5: scenario 'k': known.naive.outcome: must be one of 'ok', 'silent_loss'"
    )
    message = fails("name: k\nserver: sse\nknown:\n  naive:\n    outcome: silent_loss\n")
    assert message.startswith(
        "s.yaml:4: scenario 'k': known.naive.why: required; known.naive takes: outcome:"
    )
    message = fails(BASE + "known:\n  naive: {outcome: ok, why: x}\n")
    assert "known: 'naive' is not one of this scenario's clients (raw)" in message


def test_yaml_syntax_error_and_shapes() -> None:
    assert re.match(r"s\.yaml:\d+: invalid YAML: ", fails(BASE + "faults: [\n"))
    assert fails("name: a\n  bad: indent\n").startswith("s.yaml:2: invalid YAML:")
    assert fails("").startswith("s.yaml: empty file")
    assert fails("- just\n- a list\n").startswith(
        "s.yaml:1: scenario #1: a scenario is a mapping with keys: name"
    )
    assert fails("name: x\n").startswith("s.yaml:1: scenario 'x': 'server' is missing")
    assert "is not allowed: letters, digits" in fails("name: 'no spaces'\nserver: sse\n")
    assert "'scenarios' must be a non-empty list" in fails("scenarios: []\n")
    assert "beside 'scenarios'" in fails("scenarios:\n  - {name: a, server: sse}\ndefaults: {}\n")
    message = fails(BASE + "request:\n  path: events\n")
    assert message.startswith("s.yaml:7: scenario 'basic': request.path: Value error, must start with /")
    message = fails(BASE + "request:\n  body: x\n  json: {a: 1}\n")
    assert "give either body or json, not both" in message
    message = fails(BASE + "request:\n  methd: GET\n")
    assert (
        message
        == "s.yaml:7: scenario 'basic': request.methd: unknown key; allowed: method, path, headers, body, json"
    )


def test_every_server_kind_builds_from_its_options() -> None:
    from faultproxy.servers.anthropic import AnthropicServer
    from faultproxy.servers.openai import OpenAIServer
    from faultproxy.servers.sse import ReferenceSSEServer
    from faultproxy.servers.starlette_app import StarletteServer

    text = textwrap.dedent("""\
        scenarios:
          - {name: a, server: {kind: sse, events: 4, interval_ms: 20, keepalive_ms: 5, event_type: tick, size: 64}}
          - {name: b, server: {kind: starlette, events: 2, ping_ms: 0, retry: 100}}
          - {name: c, server: {kind: openai, tokens: 5, ttft: 0.01, error_after: 2}}
          - {name: d, server: {kind: anthropic, text: hello there, require_version: false}}
          - {name: e, server: {url: "http://127.0.0.1:1/s"}}
          - {name: f, server: {kind: llm, tokens: 3, stall_after: 1, stall_ms: 5}}
    """)
    a, b, c, d, e, f = load_text(text, "kinds.yaml")
    sse = a.server.build()
    assert isinstance(sse, ReferenceSSEServer)
    assert (sse.events, sse.interval, sse.keepalive, sse.event_type, sse.size) == (4, 0.02, 0.005, "tick", 64)
    starlette = b.server.build()
    assert isinstance(starlette, StarletteServer) and starlette.ping == 0 and starlette.stream.retry == 100
    assert isinstance(c.server.build(), OpenAIServer) and isinstance(d.server.build(), AnthropicServer)
    with pytest.raises(ValueError, match="not started by faultproxy"):
        e.server.build()
    assert [s.client_names() for s in (c, d)] == [
        ["openai", "openai-responses", "langchain-openai", "node-openai", "vercel-ai-openai"],
        ["anthropic", "pydantic-ai", "node-anthropic", "vercel-ai-anthropic"],
    ]
    # kind llm: every LLM client, each given the mock of the API it speaks
    assert sorted(f.client_names()) == sorted(c.client_names() + d.client_names())
    assert isinstance(f.server.build("anthropic-messages"), AnthropicServer)
    openai_mock = f.server.build("openai-chat")
    assert isinstance(openai_mock, OpenAIServer) and (openai_mock.stall_after, openai_mock.stall_ms) == (1, 5)


# -- every default scenario asserts what it is about -------------------------------------------------


def test_every_default_scenario_asserts_what_its_tags_are_about() -> None:
    """A buffering scenario checks when the first event arrives, a stall one the client's timeout or
    hang, a reconnect one the resume... (TAG_EXPECTATIONS): no_silent_loss alone would let a
    scenario pass without testing what its name says."""
    from faultproxy.scenarios.model import missing_assertions
    from faultproxy.scenarios.runner import DEFAULT_SUITE

    gaps = {s.name: missing_assertions(s.tags, s.expectation_names()) for s in load_paths([DEFAULT_SUITE])}
    assert not {name: gap for name, gap in gaps.items() if gap}, (
        "scenarios that do not assert what their tags say"
    )


def test_a_tag_without_its_assertion_is_named_with_what_would_assert_it() -> None:
    from faultproxy.scenarios.model import missing_assertions

    assert missing_assertions(["buffering", "drop"], ["no_silent_loss"]) == {
        "buffering": frozenset({"max_time_to_first_event", "min_time_to_first_event"})
    }
    assert missing_assertions(["buffering"], ["no_silent_loss", "min_time_to_first_event"]) == {}


# -- files that try to blow up ----------------------------------------------------------------

LAUGHS = (
    "["
    + ", ".join(
        ['&a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
        + [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    )
    + "]"
)  # 9^10 "lol"s from 1.3 KB

BOMBS = {
    "billion laughs in a request body": (
        BASE + f"request: {{json: {LAUGHS}}}\n",
        "s.yaml:6: invalid YAML: the document expands to over 100,000 values through its aliases",
    ),
    "billion laughs in a fault": (
        BASE + f"faults:\n  - {{type: sse_inject, attributes: {{data: {LAUGHS}}}}}\n",
        "s.yaml:7: invalid YAML: the document expands to over 100,000 values",
    ),
    "an alias inside itself": (
        BASE + "tags: &t [a, *t]\n",
        "s.yaml:6: invalid YAML: an alias that contains itself",
    ),
    "100,000 levels deep": (
        BASE + "tags: " + "[" * 100_000 + "]" * 100_000 + "\n",
        "s.yaml:6: invalid YAML: ",
    ),
    "150 levels deep": (
        BASE + "tags: " + "[" * 150 + "]" * 150 + "\n",
        "s.yaml:6: invalid YAML: nested deeper than 100 levels",
    ),
}


@pytest.mark.parametrize("case", BOMBS)
def test_a_file_that_would_blow_up_is_refused_before_it_is_built(tmp_path: Path, case: str) -> None:
    """In a child limited to 1 GB and GUARD seconds: before the limit, the alias bomb held
    ``faultproxy run`` at 1.8 GB until it was killed."""
    import resource
    import subprocess
    import sys

    text, message = BOMBS[case]
    path = tmp_path / "s.yaml"
    path.write_text(text)
    code = (
        "import sys\nfrom faultproxy.scenarios import ScenarioError, load_file\n"
        "try:\n    load_file(sys.argv[1])\nexcept ScenarioError as error:\n    print(error)\n"
    )

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    done = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(str(path).replace("s.yaml", "") + message), done.stdout


def test_anchors_and_aliases_within_the_limits_still_work() -> None:
    text = BASE.replace("clients: [raw]\n", "") + "clients: &both [raw, httpx-sse]\ntags: *both\n"
    (scenario,) = load_text(text, "s.yaml")
    assert scenario.clients == ("raw", "httpx-sse") and scenario.tags == ("raw", "httpx-sse")
