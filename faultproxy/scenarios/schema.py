"""A JSON Schema of scenario files, for editors (``faultproxy scenarios schema``).

Built from the same models the loader validates with -- server options per kind, the request,
every registered fault type's attributes, client definitions, expectations and their parameters,
known behaviour -- so an editor (VS Code's YAML extension, JetBrains) completes and checks a
scenario file as faultproxy will read it. The loader stays the authority: it also checks what a
schema cannot say (a client name is registered, a known: entry names one of the scenario's
clients, names are unique across files) and says where, with ``FILE:LINE``.

``docs/scenarios.md`` shows how to point an editor at it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

SCHEMA_ID = "https://faultproxy.invalid/schemas/scenario-file.json"


class _Defs:
    """Collects the ``$defs`` of every model used, under names that cannot collide."""

    def __init__(self) -> None:
        self.defs: dict[str, Any] = {}

    def model(self, model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
        schema = model.model_json_schema(by_alias=True, ref_template=f"#/$defs/{prefix}{{model}}")
        for name, sub in schema.pop("$defs", {}).items():
            self.defs[prefix + name] = sub
        schema.pop("title", None)
        return schema


def _server(defs: _Defs) -> dict[str, Any]:
    from faultproxy.scenarios.model import SERVER_KINDS, options_model

    kinds = []
    for kind in SERVER_KINDS:
        options = defs.model(options_model(kind), f"{kind}_")
        options["properties"] = {
            "kind": {"const": kind, "description": f"the built-in {kind} server"},
            **options.get("properties", {}),
        }
        options["required"] = ["kind", *options.get("required", [])]
        kinds.append(options)
    url = {
        "type": "object",
        "additionalProperties": False,
        "required": ["url"],
        "properties": {
            "url": {
                "type": "string",
                "pattern": "^http://",
                "description": "a server of your own: http://host:port/path",
            }
        },
    }
    return {
        "description": "the server: a built-in kind and its options, or {url: ...}",
        "oneOf": [{"enum": list(SERVER_KINDS)}, url, *kinds],
    }


def _fault(defs: _Defs) -> dict[str, Any]:
    from faultproxy.faults import REGISTRY
    from faultproxy.faults.spec import SHARED_KEYS, Match

    match = defs.model(Match, "fault_")
    shared: dict[str, Any] = {
        "name": {"type": "string", "description": SHARED_KEYS["name"]},
        "stream": {"enum": ["downstream", "upstream"], "description": SHARED_KEYS["stream"]},
        "toxicity": {"type": "number", "minimum": 0, "maximum": 1, "description": SHARED_KEYS["toxicity"]},
        "connections": {
            "description": SHARED_KEYS["connections"],
            "oneOf": [
                {"type": "integer", "minimum": 1},
                {"type": "array", "items": {"type": "integer", "minimum": 1}},
            ],
        },
        "match": {**match, "description": SHARED_KEYS["match"]},
    }
    types = []
    for name in sorted(REGISTRY):
        cls = REGISTRY[name]
        attributes = defs.model(cls.Attributes, f"{name}_")
        types.append(
            {
                "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
                "then": {"properties": {"attributes": attributes}},
            }
        )
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["type"],
        "properties": {
            "type": {"enum": sorted(REGISTRY), "description": "the fault type (faultproxy faults)"},
            "attributes": {"type": "object"},
            **shared,
        },
        "allOf": types,
    }


def _expectations() -> dict[str, Any]:
    from faultproxy.scenarios.model import EXPECTATIONS

    flags, valued = [], {}
    for name, (model, shorthand, meaning) in EXPECTATIONS.items():
        params = model.model_json_schema()
        params.pop("title", None)
        props = params.get("properties", {})
        forms: list[dict[str, Any]] = []
        if not params.get("required"):  # nothing to give: the bare name works too
            flags.append(name)
            forms += [{"const": True}, {"type": "null"}]
        if props:
            forms.append(params)
        else:
            forms.append({"type": "object", "maxProperties": 0})
        if shorthand is not None:
            forms.append(props[shorthand])
            if shorthand == "any_of":
                forms.append(props[shorthand]["items"])
        valued[name] = {"description": meaning, "anyOf": forms}
    item = {
        "oneOf": [
            {"enum": flags, "description": "an expectation with its parameters' defaults"},
            {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "additionalProperties": False,
                "properties": valued,
            },
        ]
    }
    return {
        "description": "what must hold for each cell (default: [no_silent_loss])",
        "oneOf": [
            {"type": "array", "items": item},
            {"type": "object", "additionalProperties": False, "properties": valued},
        ],
    }


def _client(defs: _Defs) -> dict[str, Any]:
    from faultproxy.clients.spec import ClientSpec

    schema = defs.model(ClientSpec, "client_")
    schema["properties"].pop("module", None)  # built-in clients only
    return schema


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a scenario file."""
    from faultproxy.scenarios.intermediary import IntermediarySpec
    from faultproxy.scenarios.model import NAME_PATTERN, Known, Reconnect, RequestSpec, Timeouts

    defs = _Defs()
    client = _client(defs)
    scenario = {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "server"],
        "properties": {
            "name": {"type": "string", "pattern": NAME_PATTERN, "description": "unique across the run"},
            "description": {"type": "string"},
            "tags": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "server": {"$ref": "#/$defs/server"},
            "request": defs.model(RequestSpec),
            "faults": {"type": "array", "items": {"$ref": "#/$defs/fault"}},
            "intermediary": defs.model(IntermediarySpec),
            "clients": {
                "description": "all (the default), or client names and definitions of your own",
                "oneOf": [
                    {"const": "all"},
                    {"type": "string"},
                    {
                        "type": "array",
                        "minItems": 1,
                        "items": {"oneOf": [{"type": "string"}, {"$ref": "#/$defs/client"}]},
                    },
                ],
            },
            "expectations": _expectations(),
            "timeouts": defs.model(Timeouts),
            "reconnect": {"oneOf": [{"type": "boolean"}, defs.model(Reconnect)]},
            "repetitions": {"type": "integer", "minimum": 1},
            "seed": {"type": "integer"},
            "tls": {
                "type": "boolean",
                "description": "TLS end to end: the built-in server serves HTTPS as its API's "
                "host, the proxy re-originates and serves HTTPS, every client "
                "trusts the run's CA (docs/tls.md)",
            },
            "known": {
                "type": "object",
                "additionalProperties": defs.model(Known),
                "description": "client name -> its recorded behaviour here (passes while it holds)",
            },
        },
    }
    defs.defs.update({"server": _server(defs), "fault": _fault(defs), "client": client, "scenario": scenario})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "faultproxy scenario file",
        "description": "One scenario, or 'scenarios: [...]' with the definitions of the file's own 'clients: [...]' "
        "(docs/scenarios.md).",
        "oneOf": [
            {"$ref": "#/$defs/scenario"},
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["scenarios"],
                "properties": {
                    "scenarios": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/scenario"}},
                    "clients": {"type": "array", "items": {"$ref": "#/$defs/client"}},
                },
            },
        ],
        "$defs": defs.defs,
    }
