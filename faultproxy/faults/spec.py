"""Fault descriptions: Toxiproxy's toxic shape, extended, validated with precise errors.

The same shape arrives from YAML files, ``--fault TYPE:key=value,…`` flags, Python calls and
the REST API::

    - name: cut-after-3        # optional, unique per proxy
      type: sse_disconnect     # a registered fault
      stream: downstream       # downstream (server→client, default) or upstream
      toxicity: 1.0            # probability, drawn per connection from the proxy's seed
      attributes: {after_events: 3, mode: rst}
      match: {method: POST, path: "/v1/*", header: {x-test: a}}
      connections: [1]         # 1-based connection numbers it applies to

Every error names the fault, the field, what is allowed and, for YAML, the file and line.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from faultproxy.bounded_yaml import BoundedLoader
from faultproxy.errors import InputError
from faultproxy.faults.base import REGISTRY, TAKES, Attributes, Direction, Fault

# Toxiproxy's ``stream`` names (the API's, kept for its clients) and the directions they mean.
STREAM_DIRECTION: dict[str, Direction] = {"downstream": "response", "upstream": "request"}
DIRECTION_STREAM: dict[Direction, str] = {d: s for s, d in STREAM_DIRECTION.items()}


class FaultSpecError(InputError):
    """A fault description that cannot be used, said so that the user can fix it."""


class Match(BaseModel):
    """Which requests a fault applies to (all given conditions must hold)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str | None = None
    path: str | None = Field(None, description="glob, e.g. /v1/*; matched against the path without the query")
    header: dict[str, str] = Field(default_factory=dict, description="header name → exact value")

    def disjoint(self, other: Match) -> bool:
        """Whether no request can match both: different methods, different plain paths (no
        glob characters), or a header both require with different values."""
        if self.method and other.method and self.method.upper() != other.method.upper():
            return True
        plain = [p for p in (self.path, other.path) if p is not None and not set(p) & set("*?[")]
        if len(plain) == 2 and plain[0] != plain[1]:
            return True
        mine = {k.lower(): v for k, v in self.header.items()}
        return any(mine.get(k.lower(), v) != v for k, v in other.header.items())

    def accepts(self, method: bytes, target: bytes, headers: Any) -> bool:
        if self.method is not None and method.decode("latin-1").upper() != self.method.upper():
            return False
        if self.path is not None:
            path = target.decode("latin-1").split("?", 1)[0]
            if not fnmatch.fnmatchcase(path, self.path):
                return False
        for name, value in self.header.items():
            if (headers.get(name) or b"").decode("latin-1") != value:
                return False
        return True


class FaultSpec(BaseModel):
    """One configured fault. ``attributes`` holds the fault type's validated attribute model."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str
    type: str
    stream: Literal["downstream", "upstream"] = "downstream"
    toxicity: float = Field(1.0, ge=0.0, le=1.0)
    attributes: Attributes
    match: Match | None = None
    connections: tuple[int, ...] | None = None

    @field_validator("connections")
    @classmethod
    def _positive(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is not None and any(n < 1 for n in value):
            raise ValueError("connection numbers start at 1")
        return value

    @property
    def direction(self) -> Direction:
        """What the fault acts on: ``response`` (``stream: downstream``) or ``request`` (``upstream``)."""
        return STREAM_DIRECTION[self.stream]

    @property
    def fault_class(self) -> type[Fault]:
        return REGISTRY[self.type]

    def instantiate(self) -> Fault:
        return self.fault_class(self.attributes)

    def applies_to_connection(self, conn: int) -> bool:
        return self.connections is None or conn in self.connections

    def as_dict(self) -> dict[str, Any]:
        """The toxic shape again (what the REST API and reports show)."""
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": self.attributes.model_dump(),
        }
        if self.match is not None:
            out["match"] = self.match.model_dump(exclude_defaults=True)
        if self.connections is not None:
            out["connections"] = list(self.connections)
        return out


def _describe(error: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in error["loc"])
    msg = error["msg"]
    if error["type"] == "extra_forbidden":
        msg = "unknown field"
    elif error["type"] == "literal_error" and "expected" in error.get("ctx", {}):
        msg = f"must be one of {error['ctx']['expected']}"
    shown = error.get("input")
    got = (
        ""
        if error["type"] in ("missing", "extra_forbidden") or isinstance(shown, dict)
        else f" (got {shown!r})"
    )
    return f"{loc}: {msg}{got}"


def describe_attribute(name: str, prop: dict[str, Any], required: bool) -> str:
    """One attribute as a person reads it: ``after_events: integer ≥0, required — …``."""
    options = prop.get("anyOf", [prop])
    kinds = " | ".join(
        "|".join(map(repr, o["enum"])) if "enum" in o else str(o.get("type", "?")) for o in options
    )
    bounds = [
        f"{sym}{o[key]}"
        for o in options
        for key, sym in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"))
        if key in o
    ]
    default = "required" if required else f"default {prop.get('default')!r}"
    extra = f" {' '.join(bounds)}" if bounds else ""
    return f"{name}: {kinds}{extra}, {default} — {prop.get('description', '')}"


def _allowed_attributes(model: type[Attributes]) -> str:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    props = schema.get("properties", {})
    return "; ".join(describe_attribute(n, p, n in required) for n, p in props.items()) or "none"


def parse_fault(
    raw: Any, *, index: int = 0, where: str = "", lines: dict[str, int] | None = None
) -> FaultSpec:
    """Validate one fault description (a mapping) into a :class:`FaultSpec`.

    ``where`` prefixes errors (e.g. ``scenarios/x.yaml:12``); ``lines`` maps dotted field
    paths to YAML line numbers so an error points at the offending line.
    """
    lines = lines or {}

    def fail(message: str, field: str = "") -> FaultSpecError:
        line = lines.get(field) or lines.get(field.split(".")[0]) or lines.get("")
        place = f"{where}:{line}: " if where and line else (f"{where}: " if where else "")
        return FaultSpecError(f"{place}{label}: {message}")

    label = f"fault #{index + 1}"
    if not isinstance(raw, dict):
        raise fail(f"a fault must be a mapping with at least 'type', got {type(raw).__name__}")
    if isinstance(raw.get("name"), str):
        label = f"fault {raw['name']!r}"
    kind = raw.get("type")
    if kind is None:
        raise fail("'type' is missing; one of: " + ", ".join(sorted(REGISTRY)), "type")
    if kind not in REGISTRY:
        raise fail(f"unknown type {kind!r}; one of: " + ", ".join(sorted(REGISTRY)), "type")
    label = f"{label} ({kind})" if "name" in raw else f"fault #{index + 1} ({kind})"
    cls = REGISTRY[kind]
    attributes = raw.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise fail("'attributes' must be a mapping", "attributes")
    try:
        attrs = cls.Attributes.model_validate(attributes)
    except ValidationError as error:
        first = error.errors()[0]
        field = "attributes." + ".".join(str(p) for p in first["loc"])
        hint = f"; {kind} takes: {_allowed_attributes(cls.Attributes)}"
        raise fail("attributes." + _describe(first) + hint, field) from None
    body = {k: v for k, v in raw.items() if k != "attributes"}
    body.setdefault("name", f"{kind}_{index + 1}")
    if "connections" in body and isinstance(body["connections"], int):
        body["connections"] = [body["connections"]]
    try:
        spec = FaultSpec.model_validate({**body, "attributes": attrs})
    except ValidationError as error:
        first = error.errors()[0]
        raise fail(_describe(first), ".".join(str(p) for p in first["loc"])) from None
    if spec.direction not in cls.directions:
        streams = " or ".join(DIRECTION_STREAM[d] for d in cls.directions)
        raise fail(f"stream: {kind} works only on {streams}", "stream")
    return spec


def check_unique(specs: list[FaultSpec], where: str = "") -> list[FaultSpec]:
    """The list as a whole: unique names, and faults that can work together (see below)."""
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise FaultSpecError(f"{where + ': ' if where else ''}fault name {spec.name!r} is used twice")
        seen.add(spec.name)
    for i, first in enumerate(specs):
        for second in specs[i + 1 :]:
            why = _conflict(first, second)
            if why:
                names = f"{first.name!r} ({first.type}) and {second.name!r} ({second.type})"
                place = f"{where}: " if where else ""
                raise FaultSpecError(
                    f"{place}faults {names} cannot apply together: {why}; keep one of them, "
                    "or give them different connections: or match:"
                )
    return specs


_LAYERS = ("sse", "http", "bytes")  # the order a response passes through the layers


def _takes(spec: FaultSpec) -> frozenset[str]:
    return spec.fault_class.takes(spec.attributes)


def _conflict(a: FaultSpec, b: FaultSpec) -> str:
    """Why two faults cannot apply together ('' when they can): on traffic both act on, they take
    over the same thing (:data:`~faultproxy.faults.base.TAKES`), so whichever acts second works on
    what the first replaced -- its evidence would claim what no client ever sees."""
    if not _same_traffic(a, b):
        return ""
    shared = sorted((_takes(a) & _takes(b)) - {"response"})
    if shared:
        return f"each {_reason(shared[0])}, and the second would act on what the first already replaced"
    for whole, other in ((a, b), (b, a)):
        layers = _LAYERS.index(other.fault_class.layer), _LAYERS.index(whole.fault_class.layer)
        if "response" in _takes(whole) and layers[0] <= layers[1]:
            return (
                f"{whole.type} replaces or drops the whole response, so nothing {other.type} does to it "
                "would reach the client"
            )
    return ""


def _reason(what: str) -> str:
    kind, _, name = what.partition(":")
    if kind == "header":
        return f"sets or removes the {name} header field"
    if kind == "field":
        return f"rewrites the events' {name}: field"
    return TAKES[what]


def _same_traffic(a: FaultSpec, b: FaultSpec) -> bool:
    """Whether two faults can act on the same bytes: the same stream, a connection both apply to,
    and a request both match (told apart only by plainly different methods, paths or headers)."""
    if a.stream != b.stream:
        return False
    if (
        a.connections is not None
        and b.connections is not None
        and not set(a.connections) & set(b.connections)
    ):
        return False  # never on one connection
    return a.match is None or b.match is None or not a.match.disjoint(b.match)


# The keys every fault has, beside its type's attributes: one namespace (no attribute takes one of
# these names), so the flat forms -- ``--fault TYPE:k=v,...``, the pytest fixture's ``fault(type,
# **k)``, the marker -- need no prefix to tell them apart. ``faultproxy faults`` lists them.
SHARED_KEYS: dict[str, str] = {
    "name": "the fault's own name, unique per proxy (default TYPE_N)",
    "stream": "downstream (server→client, the default) or upstream (client→server)",
    "toxicity": "probability 0..1 that a connection gets the fault, drawn from the seed (default 1)",
    "connections": "1-based connection numbers it applies to, e.g. [1] or [2, 3] (default every one)",
    "match": "the requests it applies to: {method: POST, path: /v1/*, header: {x-test: a}}",
}


def split_items(text: str) -> list[str]:
    """``a=1,b=[1,2],c={x: 1, y: 2}`` -> ``["a=1", "b=[1,2]", "c={x: 1, y: 2}"]``: commas inside
    brackets, braces or quotes do not split."""
    items, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [item.strip() for item in items if item.strip()]


def parse_cli_fault(text: str, index: int = 0) -> FaultSpec:
    """``TYPE:key=value,key=value`` (values parsed as YAML: ``connections=[1,2]``,
    ``match={path: /v1/*}``), as ``--fault`` takes it. Keys are the fault's shared keys
    (:data:`SHARED_KEYS`) or its type's attributes."""
    kind, _, rest = text.partition(":")
    attributes: dict[str, Any] = {}
    top: dict[str, Any] = {}
    for item in split_items(rest):
        key, eq, value = item.partition("=")
        if not eq:
            raise FaultSpecError(f"--fault {text!r}: expected key=value, got {item!r}")
        try:
            parsed = yaml.safe_load(value) if value else ""
        except yaml.YAMLError as error:
            problem = getattr(error, "problem", None) or error
            raise FaultSpecError(f"--fault {text!r}: {key.strip()}: not a YAML value ({problem})") from None
        (top if key.strip() in SHARED_KEYS else attributes)[key.strip()] = parsed
    return parse_fault({"type": kind.strip(), **top, "attributes": attributes}, index=index, where="--fault")


class _LineLoader(BoundedLoader):
    """A YAML loader that remembers the line of every mapping key (and refuses alias bombs)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = _LineDict(loader.construct_mapping(node, deep=True))
    mapping.lines = {"": node.start_mark.line + 1}
    for key_node, _ in node.value:
        mapping.lines[str(key_node.value)] = key_node.start_mark.line + 1
    return mapping


class _LineDict(dict):
    lines: dict[str, int]


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str, where: str) -> Any:
    """YAML with line numbers kept on mappings (``.lines``); syntax errors become FaultSpecError."""
    try:
        return yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise FaultSpecError(f"{where}{line}: invalid YAML: {getattr(error, 'problem', error)}") from None


def _field_lines(item: Any) -> dict[str, int]:
    lines = dict(getattr(item, "lines", {}))
    for key in ("attributes", "match"):
        sub = item.get(key) if isinstance(item, dict) else None
        for name, line in getattr(sub, "lines", {}).items():
            if name:
                lines[f"{key}.{name}"] = line
    return lines


def parse_faults(data: Any, where: str = "") -> list[FaultSpec]:
    """A list of fault descriptions (or ``{faults: [...]}``), from YAML data with line numbers."""
    if isinstance(data, dict) and "faults" in data:
        data = data["faults"]
    if data is None:
        return []
    if not isinstance(data, list):
        raise FaultSpecError(f"{where}: expected a list of faults (or a mapping with 'faults:')")
    specs = [parse_fault(item, index=i, where=where, lines=_field_lines(item)) for i, item in enumerate(data)]
    return check_unique(specs, where)


def load_fault_file(path: str | Path) -> list[FaultSpec]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise FaultSpecError(f"{path}: cannot read: {error.strerror or error}") from None
    return parse_faults(load_yaml(text, str(path)), str(path))
