"""Scenario files: YAML in, validated :class:`~faultproxy.scenarios.model.Scenario` objects out.

A file holds one scenario (a mapping with ``name``) or several (``scenarios: [...]``). Every
problem is a :class:`ScenarioError` whose message starts ``FILE:LINE:``, names the scenario and
the field, and says what is allowed: the keys a mapping takes, the values a field takes, the
registered clients, fault types and their attributes (faults are validated by
:func:`faultproxy.faults.spec.parse_faults`, the same code as ``--faults`` files).

    scenarios = load_file("scenarios/drop.yaml")        # list[Scenario]
    scenarios = load_paths(["scenarios/"])               # every *.yaml / *.yml under a directory
    scenarios = load_text(text, "inline.yaml")
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from faultproxy.errors import InputError
from faultproxy.faults.spec import FaultSpecError, _LineLoader, describe_attribute, parse_faults
from faultproxy.scenarios.intermediary import IntermediarySpec
from faultproxy.scenarios.model import (
    DEFAULT_EXPECTATIONS,
    EXPECTATIONS,
    NAME_PATTERN,
    OUTCOMES,
    SERVER_KINDS,
    Expectation,
    Known,
    Reconnect,
    RequestSpec,
    Scenario,
    ServerSpec,
    Timeouts,
    options_model,
)

TOP_KEYS = (
    "name",
    "description",
    "tags",
    "server",
    "request",
    "faults",
    "intermediary",
    "clients",
    "expectations",
    "timeouts",
    "reconnect",
    "repetitions",
    "seed",
    "known",
    "tls",
)


class ScenarioError(InputError):
    """A scenario file that cannot be used, said so that the user can fix it (``FILE:LINE: ...``)."""


def _line(node: Any, key: str | None = None) -> int | None:
    lines = getattr(node, "lines", None) or {}
    if key is not None and key in lines:
        return lines[key]
    return lines.get("")


def _walk_line(node: Any, loc: Iterable[Any], fallback: int | None) -> int | None:
    """The YAML line of the item at ``loc`` inside ``node`` (the nearest one known)."""
    line = fallback
    for part in loc:
        inside = (
            part in node
            if isinstance(node, dict)
            else (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node))
        )
        if inside:
            line = _line(node, str(part)) or line
            node = node[part]
        else:
            break
    return line


class _LinedList(list):
    lines: dict[str, int]


class _ScenarioLoader(_LineLoader):
    """The fault files' YAML loader (lines of mapping keys), plus the line of every list item."""


def _construct_sequence(loader: _ScenarioLoader, node: yaml.SequenceNode) -> list[Any]:
    items = _LinedList(loader.construct_sequence(node, deep=True))
    items.lines = {"": node.start_mark.line + 1}
    for i, child in enumerate(node.value):
        items.lines[str(i)] = child.start_mark.line + 1
    return items


_ScenarioLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_yaml(text: str, where: str) -> Any:
    """YAML with the line of every mapping key and list item kept (``.lines``)."""
    try:
        return yaml.load(text, Loader=_ScenarioLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ScenarioError(f"{where}{line}: invalid YAML: {problem}") from None


class _Context:
    """Where errors are reported: the file, and the scenario being read."""

    def __init__(self, where: str, raw: Any, index: int):
        self.where = where
        self.raw = raw
        self.label = f"scenario #{index + 1}"
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            self.label = f"scenario {raw['name']!r}"

    def error(self, message: str, line: int | None = None) -> ScenarioError:
        line = line or _line(self.raw)
        place = f"{self.where}:{line}" if line else self.where
        label = f"{self.label}: " if self.label else ""
        return ScenarioError(f"{place}: {label}{message}")

    def at(self, key: str, *loc: Any) -> int | None:
        node = self.raw.get(key) if isinstance(self.raw, dict) else None
        return _walk_line(node, loc, _line(self.raw, key))


def _fields_help(model: type[BaseModel], only: str | None = None) -> str:
    """What a model takes, field by field (or only the field ``only``), as a person reads it."""
    schema = model.model_json_schema(by_alias=True)
    required = set(schema.get("required", []))
    props = schema.get("properties", {})
    if only in props:
        props = {only: props[only]}
    return "; ".join(describe_attribute(name, prop, name in required) for name, prop in props.items())


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """A pydantic error location without the union-member tags (``literal[...]``, ``list[...]``)."""
    tags = ("str", "int", "float", "bool")
    return tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in tags)))


def _allowed_keys(model: type[BaseModel]) -> str:
    return ", ".join(f.alias or name for name, f in model.model_fields.items())


def _validate(
    ctx: _Context,
    model: type[BaseModel],
    data: Any,
    key: str,
    *,
    what: str | None = None,
    loc_prefix: tuple[Any, ...] = (),
) -> Any:
    """``model.model_validate(data)``; a failure becomes a ScenarioError at the offending line."""
    if not isinstance(data, dict):
        raise ctx.error(
            f"{key}: expected a mapping, got {type(data).__name__}; keys: {_allowed_keys(model)}",
            ctx.at(key, *loc_prefix),
        )
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        loc = _clean_loc(tuple(first["loc"]))
        path = ".".join(str(p) for p in (key, *loc_prefix, *loc))
        line = ctx.at(key, *loc_prefix, *loc)
        kind = first["type"]
        field = str(loc[0]) if loc else None
        if kind == "extra_forbidden":
            message = f"{path}: unknown key; allowed: {_allowed_keys(model)}"
        elif kind == "missing":
            message = f"{path}: required; {what or key} takes: {_fields_help(model)}"
        elif kind == "literal_error":
            message = f"{path}: must be one of {first['ctx']['expected']} (got {first.get('input')!r})"
        else:
            shown = first.get("input")
            got = "" if isinstance(shown, dict) else f" (got {shown!r})"
            message = f"{path}: {first['msg']}{got}; {_fields_help(model, field) or _allowed_keys(model)}"
        raise ctx.error(message, line) from None


# -- the parts ----------------------------------------------------------------------------------


def _server(ctx: _Context, raw: Any) -> ServerSpec:
    kinds = ", ".join(SERVER_KINDS)
    if raw is None:
        raise ctx.error(
            f"'server' is missing: a mapping with 'kind' (one of {kinds}) and its options, "
            "or 'url: http://...'",
            _line(ctx.raw),
        )
    if isinstance(raw, str):
        raw_map: dict[str, Any] = {"kind": raw}
    elif isinstance(raw, dict):
        raw_map = raw
    else:
        raise ctx.error(
            f"server: expected a kind ({kinds}) or a mapping, got {type(raw).__name__}", ctx.at("server")
        )
    if "url" in raw_map:
        extra = sorted(set(raw_map) - {"url"})
        if extra:
            raise ctx.error(
                f"server.{extra[0]}: unknown key; a url: server takes only 'url'", ctx.at("server", extra[0])
            )
        url = raw_map["url"]
        if not isinstance(url, str) or not url.startswith("http://"):
            raise ctx.error(f"server.url: must be an http:// URL (got {url!r})", ctx.at("server", "url"))
        from faultproxy.net.addresses import parse_http_url

        try:
            parse_http_url(url)
        except ValueError as error:
            raise ctx.error(f"server.url: {error}", ctx.at("server", "url")) from None
        return ServerSpec(kind="url", url=url)
    kind = raw_map.get("kind")
    if kind not in SERVER_KINDS:
        message = "'kind' is missing" if kind is None else f"unknown kind {kind!r}"
        raise ctx.error(
            f"server.kind: {message}; one of: {kinds} (or give 'url: http://...')", ctx.at("server", "kind")
        )
    options = {str(k): v for k, v in raw_map.items() if k != "kind"}
    _validate(ctx, options_model(kind), options, "server", what=f"the {kind} server")
    return ServerSpec(kind=kind, options=options)


def _define_client(ctx: _Context, raw: Any, line: int | None) -> str:
    """A client defined in the scenario file: registered under its name, which the file then uses."""
    from faultproxy.clients import registry

    where = f"{ctx.where}:{line}" if line else ctx.where
    path = Path(ctx.where)
    here = path.parent.resolve() if path.exists() else Path.cwd()
    try:
        return registry.define(raw, where=where, here=here, file=str(path)).name
    except registry.ClientSpecError as error:
        text = str(error).removeprefix(f"{where}: ")
        raise ctx.error(f"clients: {text}", line) from None


def _clients(ctx: _Context, raw: Any) -> tuple[str, ...] | str:
    """``all``, or the names to run; a mapping in the list defines a client of the user's own."""
    from faultproxy.clients import registry

    if raw is None or raw == "all":
        return "all"
    items = [raw] if isinstance(raw, (str, dict)) else raw
    if not isinstance(items, list) or not all(isinstance(c, (str, dict)) for c in items):
        raise ctx.error(
            "clients: a list of client names (or client definitions: name, command, protocol), "
            "or 'all'; clients: " + ", ".join(registry.names()),
            ctx.at("clients"),
        )
    seen: list[str] = []
    for i, item in enumerate(items):
        line = ctx.at("clients", i)
        name = _define_client(ctx, item, line) if isinstance(item, dict) else item
        if name not in registry.REGISTRY:
            known = ", ".join(registry.names())
            raise ctx.error(
                f"clients: unknown client {name!r}; one of: {known} (or 'all', or define one: "
                "{name: ..., command: ..., protocol: simple})",
                line,
            )
        if name in seen:
            raise ctx.error(f"clients: {name!r} is listed twice", line)
        seen.append(name)
    if not seen:
        raise ctx.error("clients: the list is empty; name clients or say 'all'", ctx.at("clients"))
    return tuple(seen)


def file_clients(raw: Any, where: str, line: int | None) -> list[str]:
    """The ``clients:`` list beside ``scenarios:`` in a file: client definitions its scenarios can name."""
    ctx = _Context(where, {}, 0)
    ctx.label = ""
    if not isinstance(raw, list):
        raise ctx.error(
            "clients: beside 'scenarios', a list of client definitions (name, command, protocol)", line
        )
    lines = getattr(raw, "lines", {})
    return [_define_client(ctx, item, lines.get(str(i), line)) for i, item in enumerate(raw)]


def _expectation(ctx: _Context, item: Any, line: int | None) -> Expectation:
    names = ", ".join(EXPECTATIONS)
    if isinstance(item, str):
        name, value = item, None
    elif isinstance(item, dict) and len(item) == 1:
        name, value = next(iter(item.items()))
        line = _line(item, str(name)) or line
    else:
        raise ctx.error(
            f"expectations: each item is a name or a one-key mapping 'name: value'; names: {names}", line
        )
    if name not in EXPECTATIONS:
        raise ctx.error(f"expectations: unknown expectation {name!r}; one of: {names}", line)
    model, shorthand, meaning = EXPECTATIONS[name]
    if value is None or value is True or value == {}:
        params: dict[str, Any] = {}
    elif value is False:
        raise ctx.error(
            f"expectations.{name}: 'false' is not allowed; leave the expectation out instead", line
        )
    elif isinstance(value, dict):
        params = dict(value)
    elif shorthand is not None:
        params = {shorthand: value}
    else:
        raise ctx.error(f"expectations.{name}: takes no value but true; it means: {meaning}", line)
    if shorthand == "any_of" and isinstance(params.get("any_of"), str):
        params["any_of"] = [params["any_of"]]
    try:
        typed = model.model_validate(params)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        takes = _fields_help(model) or "no parameters"
        if first["type"] == "extra_forbidden":
            hint = f"unknown key {field!r}; takes: {takes}"
        elif first["type"] == "literal_error":
            hint = f"{first.get('input')!r} is not an outcome; one of: {', '.join(OUTCOMES)}"
        else:
            where = f"{field}: " if field else ""
            hint = f"{where}{first['msg']} (got {first.get('input')!r}); takes: {takes}"
        raise ctx.error(f"expectations.{name}: {hint}", line) from None
    return Expectation(name=name, params=typed.model_dump(exclude_none=True))


def _expectations(ctx: _Context, raw: Any) -> tuple[Expectation, ...]:
    if raw is None:
        return DEFAULT_EXPECTATIONS
    if isinstance(raw, dict):  # the mapping form: {no_silent_loss: true, completes_within: 5000}
        result = tuple(_expectation(ctx, {k: v}, _line(raw, str(k))) for k, v in raw.items())
    elif isinstance(raw, list):
        result = tuple(_expectation(ctx, item, ctx.at("expectations", i)) for i, item in enumerate(raw))
    else:
        raise ctx.error(
            "expectations: a list of expectations; names: " + ", ".join(EXPECTATIONS), ctx.at("expectations")
        )
    names = [e.name for e in result]
    for name in names:
        if names.count(name) > 1:
            raise ctx.error(f"expectations: {name!r} is given twice", ctx.at("expectations"))
    return result or DEFAULT_EXPECTATIONS


def _known(ctx: _Context, raw: Any, clients: tuple[str, ...] | str) -> dict[str, Known]:
    from faultproxy.clients import registry

    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ctx.error("known: a mapping of client name -> {outcome: ..., why: ...}", ctx.at("known"))
    registered = registry.names()
    out: dict[str, Known] = {}
    for client, entry in raw.items():
        line = ctx.at("known", client)
        if client not in registered:
            raise ctx.error(f"known: unknown client {client!r}; one of: {', '.join(registered)}", line)
        if clients != "all" and client not in clients:
            raise ctx.error(
                f"known: {client!r} is not one of this scenario's clients ({', '.join(clients)})", line
            )
        if isinstance(entry, str):
            raise ctx.error(f'known.{client}: a mapping {{outcome: {entry}, why: "..."}}: say why', line)
        out[client] = _validate(ctx, Known, entry, "known", what=f"known.{client}", loc_prefix=(client,))
    return out


def _scalar(
    ctx: _Context, raw: dict[str, Any], key: str, kind: type, default: Any, *, minimum: int | None = None
) -> Any:
    if key not in raw or raw[key] is None:
        return default
    value = raw[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ctx.error(f"{key}: expected {kind.__name__} (got {value!r})", ctx.at(key))
    if minimum is not None and value < minimum:
        raise ctx.error(f"{key}: must be ≥ {minimum} (got {value!r})", ctx.at(key))
    return value


def parse_scenario(raw: Any, where: str = "<scenario>", index: int = 0) -> Scenario:
    """One scenario mapping (from :func:`faultproxy.faults.spec.load_yaml`, with lines) into a Scenario."""
    import re

    ctx = _Context(where, raw, index)
    if not isinstance(raw, dict):
        raise ctx.error(
            f"a scenario is a mapping with keys: {', '.join(TOP_KEYS)} (got {type(raw).__name__})"
        )
    for key in raw:
        if key not in TOP_KEYS:
            raise ctx.error(f"unknown key {key!r}; allowed: {', '.join(TOP_KEYS)}", ctx.at(str(key)))
    name = raw.get("name")
    if not isinstance(name, str) or not re.match(NAME_PATTERN, name):
        problem = "'name' is missing" if name is None else f"name {name!r} is not allowed"
        raise ctx.error(
            f"{problem}: letters, digits, '_', '.', '-' (starting with a letter or digit)", ctx.at("name")
        )
    description = _scalar(ctx, raw, "description", str, "")
    tags = raw.get("tags") or []
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ctx.error("tags: a list of words", ctx.at("tags"))
    server = _server(ctx, raw.get("server"))
    request = RequestSpec()
    if "request" in raw:
        request = _validate(ctx, RequestSpec, raw.get("request") or {}, "request")
    try:
        faults = parse_faults(raw.get("faults"), where)
    except FaultSpecError as error:
        text = str(error)
        if text.startswith(where):
            place, _, rest = text.partition(": ")
            raise ScenarioError(f"{place}: {ctx.label}: faults: {rest}") from None
        raise ScenarioError(f"{where}: {ctx.label}: faults: {text}") from None
    intermediary = None
    if raw.get("intermediary") is not None:
        intermediary = _validate(ctx, IntermediarySpec, raw["intermediary"], "intermediary")
    clients = _clients(ctx, raw.get("clients"))
    expectations = _expectations(ctx, raw.get("expectations"))
    names = [f.name for f in faults]
    for e in expectations:
        unknown = (
            [n for n in e.params.get("faults", []) if n not in names] if e.name == "may_not_fire" else []
        )
        if unknown:
            raise ctx.error(
                f"expectations.may_not_fire: no fault named {unknown[0]!r} in this scenario; its faults: "
                f"{', '.join(names) or '(none)'}",
                ctx.at("expectations"),
            )
    timeouts = Timeouts()
    if raw.get("timeouts") is not None:
        timeouts = _validate(ctx, Timeouts, raw["timeouts"], "timeouts")
    reconnect_raw = raw.get("reconnect")
    if reconnect_raw is None or reconnect_raw is False:
        reconnect = None
    elif reconnect_raw is True:
        reconnect = Reconnect()
    else:
        reconnect = _validate(ctx, Reconnect, reconnect_raw, "reconnect", what="reconnect (or true/false)")
    repetitions = _scalar(ctx, raw, "repetitions", int, 1, minimum=1)
    seed = _scalar(ctx, raw, "seed", int, None)
    known = _known(ctx, raw.get("known"), clients)
    tls = _scalar(ctx, raw, "tls", bool, False)
    if tls and server.kind in ("url", "starlette"):
        raise ctx.error(
            f"tls: true needs a built-in server faultproxy serves over TLS (sse, openai, anthropic, llm), "
            f"not {server.kind}"
            + ("; a url: server speaks https:// by its URL" if server.kind == "url" else ""),
            ctx.at("tls"),
        )
    if tls and intermediary is not None:
        raise ctx.error(
            "tls: true and an intermediary: nginx in the path speaks plain HTTP here; drop one", ctx.at("tls")
        )
    return Scenario(
        name=name,
        description=description,
        tags=tuple(tags),
        server=server,
        request=request,
        faults=tuple(faults),
        intermediary=intermediary,
        clients=clients,
        expectations=expectations,
        timeouts=timeouts,
        reconnect=reconnect,
        repetitions=repetitions,
        seed=seed,
        known=known,
        tls=tls,
        file=where,
        line=_line(raw),
    )


def load_text(text: str, where: str = "<scenario>") -> list[Scenario]:
    """The scenarios of one YAML document: a scenario mapping, or ``scenarios: [...]``."""
    data = load_yaml(text, where)
    if data is None:
        raise ScenarioError(
            f"{where}: empty file: expected a scenario (a mapping with 'name') or 'scenarios: [...]'"
        )
    if isinstance(data, dict) and "scenarios" in data:
        extra = [k for k in data if k not in ("scenarios", "clients")]
        if extra:
            raise ScenarioError(
                f"{where}:{_line(data, str(extra[0]))}: unknown key {extra[0]!r} beside "
                "'scenarios'; a file is one scenario, or 'scenarios: [...]' with the "
                "definitions of its own 'clients: [...]'"
            )
        if "clients" in data:
            file_clients(data["clients"], where, _line(data, "clients"))
        items = data["scenarios"]
        if not isinstance(items, list) or not items:
            raise ScenarioError(f"{where}:{_line(data, 'scenarios')}: 'scenarios' must be a non-empty list")
    else:
        items = [data]
    out = [parse_scenario(item, where, i) for i, item in enumerate(items)]
    return check_names(out)


def check_names(scenarios: list[Scenario]) -> list[Scenario]:
    seen: dict[str, Scenario] = {}
    for s in scenarios:
        if s.name in seen:
            first = seen[s.name]
            raise ScenarioError(
                f"{s.file}:{s.line}: scenario name {s.name!r} is already used at {first.file}:{first.line}"
            )
        seen[s.name] = s
    return scenarios


def load_file(path: str | Path) -> list[Scenario]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError(f"{path}: cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise ScenarioError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    return load_text(text, str(path))


def load_paths(paths: Iterable[str | Path]) -> list[Scenario]:
    """Scenarios from files and directories (``*.yaml`` / ``*.yml`` under them, sorted); names must be
    unique across all of them."""
    out: list[Scenario] = []
    for p in map(Path, paths):
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.suffix in (".yaml", ".yml") and f.is_file())
        else:
            files = [p]
        for f in files:
            out.extend(load_file(f))
    return check_names(out)
