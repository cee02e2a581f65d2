"""What a scenario says, as validated models: the server, the request, the faults, the clients,
what must hold (expectations) and what is known to fail (known behaviour).

The YAML shape is documented (with a complete example) in :mod:`faultproxy.scenarios`;
:mod:`faultproxy.scenarios.loader` turns YAML into these models with file:line errors.
Models are frozen; unknown keys are refused everywhere (``extra="forbid"``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from faultproxy.faults.spec import FaultSpec
from faultproxy.scenarios.intermediary import IntermediarySpec

OUTCOMES = ("ok", "silent_loss", "error", "hung", "duplicated", "reordered", "resumed")
Outcome = Literal["ok", "silent_loss", "error", "hung", "duplicated", "reordered", "resumed"]
SERVER_KINDS = ("sse", "starlette", "openai", "anthropic", "llm")
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- servers ------------------------------------------------------------------------------------


class SSEOptions(Strict):
    """``kind: sse`` -- :class:`~faultproxy.servers.sse.ReferenceSSEServer` (ids 1..N, resumable)."""

    events: int = Field(10, ge=0, description="number of events (ids 1..N)")
    interval_ms: float = Field(10.0, ge=0, description="ms between events")
    retry: int | None = Field(None, ge=0, description="retry: field (ms) with each connection's first event")
    keepalive_ms: float | None = Field(None, gt=0, description="send a comment every this many ms while idle")
    event_type: str | None = Field(None, description="event: field of every event (default none: message)")
    multiline: bool = Field(False, description="data spread over several data: lines")
    size: int | None = Field(None, ge=0, description="bytes of data per event (padded)")
    drop_after: int | None = Field(None, ge=1, description="the server cuts connection 1 after N events")
    framing: Literal["auto", "chunked", "close"] = Field(
        "auto",
        description="auto: chunked to HTTP/1.1, close-delimited to HTTP/1.0; chunked; close: always close-delimited",
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="extra response header fields, e.g. {X-Accel-Buffering: 'no'}"
    )

    def server_kwargs(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "interval": self.interval_ms / 1000,
            "retry": self.retry,
            "keepalive": None if self.keepalive_ms is None else self.keepalive_ms / 1000,
            "event_type": self.event_type,
            "multiline": self.multiline,
            "size": self.size,
            "drop_after": self.drop_after,
            "framing": self.framing,
            "headers": dict(self.headers),
        }


class StarletteOptions(Strict):
    """``kind: starlette`` -- the same stream from sse-starlette under uvicorn."""

    events: int = Field(10, ge=0, description="number of events (ids 1..N)")
    interval_ms: float = Field(10.0, ge=0, description="ms between events")
    retry: int | None = Field(None, ge=0, description="retry: field (ms) with each connection's first event")
    event_type: str | None = Field(None, description="event: field of every event")
    multiline: bool = Field(False, description="data spread over several data: lines")
    size: int | None = Field(None, ge=0, description="bytes of data per event (padded)")
    ping_ms: float = Field(15000.0, ge=0, description="keep-alive comment every this many ms (0: none)")

    def server_kwargs(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "interval": self.interval_ms / 1000,
            "retry": self.retry,
            "event_type": self.event_type,
            "multiline": self.multiline,
            "size": self.size,
            "ping": self.ping_ms / 1000,
        }


_NOT_FROM_SCENARIOS = {"host", "port", "jsonl"}  # the runner decides where servers listen and log


def _mock_options(kind: str) -> type[Strict]:
    """The options model of an LLM mock, made from its module's ``OPTIONS`` (names and types as there)."""
    import importlib

    module = importlib.import_module(f"faultproxy.servers.{kind}")
    fields: dict[str, Any] = {}
    for name, (typ, default, help_text) in module.OPTIONS.items():
        if name in _NOT_FROM_SCENARIOS:
            continue
        shown = "" if default is None else f" (default {default!r})"
        fields[name] = (typ | None, Field(None, description=help_text + shown))
    model = create_model(f"{kind.title()}Options", __base__=Strict, **fields)

    def server_kwargs(self: Any) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None}

    model.server_kwargs = server_kwargs  # type: ignore[attr-defined]
    return model


_OPTION_MODELS: dict[str, type[Strict]] = {}


def options_model(kind: str) -> type[Strict]:
    if kind not in _OPTION_MODELS:
        own = {"sse": SSEOptions, "starlette": StarletteOptions}.get(kind)
        _OPTION_MODELS[kind] = own or _mock_options(kind)
    return _OPTION_MODELS[kind]


class ServerSpec(Strict):
    """A built-in server (``kind`` plus its options) or any server at ``url``."""

    kind: Literal["sse", "starlette", "openai", "anthropic", "llm", "url"]
    options: dict[str, Any] = Field(default_factory=dict, description="validated by the kind's options model")
    url: str | None = None

    @property
    def builtin(self) -> bool:
        return self.kind != "url"

    @property
    def ground_truth(self) -> bool:
        """Whether the server logs what it sent (every built-in one does; a ``url:`` server does not)."""
        return self.builtin

    def origin(self) -> str:
        """``http://host:port`` of a ``url:`` server (its path is what the clients request)."""
        from urllib.parse import urlsplit

        parts = urlsplit(self.url or "")
        return f"{parts.scheme}://{parts.netloc}"

    def typed_options(self) -> Strict:
        return options_model(self.kind).model_validate(self.options)

    def build(self, protocol: str | None = None) -> Any:
        """An unstarted server object (``async with`` it), listening on a free loopback port;
        ``protocol``: the client's, which picks the mock for ``kind: llm``."""
        if self.kind == "url":
            raise ValueError("a url: server is not started by faultproxy")
        kwargs = self.typed_options().server_kwargs()  # type: ignore[attr-defined]
        if self.kind == "sse":
            from faultproxy.servers.sse import ReferenceSSEServer

            return ReferenceSSEServer(**kwargs)
        if self.kind == "starlette":
            from faultproxy.servers.starlette_app import StarletteServer

            return StarletteServer(**kwargs)
        import importlib

        # the mocks' own option handling (types as their OPTIONS say)
        module = importlib.import_module(f"faultproxy.servers.{self.kind}")
        return module.build(kwargs, protocol) if self.kind == "llm" else module.build(kwargs)

    def as_dict(self) -> dict[str, Any]:
        if self.kind == "url":
            return {"url": self.url}
        return {"kind": self.kind, **self.options}


# -- request, timeouts, reconnects --------------------------------------------------------------

DEFAULT_PATHS = {
    "sse": "/events",
    "starlette": "/events",
    "openai": "/v1/chat/completions",
    "anthropic": "/v1/messages",
    "llm": None,
    "url": None,
}


class RequestSpec(Strict):
    """What the clients send. ``path`` defaults by server kind (``/events``; the mocks' stream endpoints);
    for a ``url:`` server, the URL's own path. The official SDK clients ignore method and path (they call
    their API), and take ``json`` as extra parameters of their create call."""

    method: str | None = Field(None, description="default: GET (sse, starlette, url), POST (the LLM mocks)")
    path: str | None = Field(None, description="request target; default by server kind")
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = Field(None, description="request body as text")
    json_: Any = Field(None, alias="json", description="request body as JSON (sets Content-Type)")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("path")
    @classmethod
    def _slash(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError("must start with /")
        return value

    @field_validator("method")
    @classmethod
    def _method(cls, value: str | None) -> str | None:
        if value is not None and (not value.isalpha() or not value.isascii()):
            raise ValueError("an HTTP method such as GET or POST")
        return value.upper() if value else value

    @model_validator(mode="after")
    def _one_body(self) -> RequestSpec:
        if self.body is not None and self.json_ is not None:
            raise ValueError("give either body or json, not both")
        return self


class Timeouts(Strict):
    read_ms: float | None = Field(None, gt=0, description="the client's own read timeout (none: its default)")
    deadline_ms: float = Field(30000.0, gt=0, description="the harness kills the client after this -> hung")


class Reconnect(Strict):
    max: int = Field(3, ge=0, description="reconnects allowed after the first connection")
    delay_ms: int = Field(100, ge=0, description="wait before reconnecting (a server's retry: wins)")


# -- expectations -------------------------------------------------------------------------------


class Expectation(Strict):
    """One thing that must hold for a cell. ``params`` depend on the name (see :data:`EXPECTATIONS`)."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.params}

    @property
    def label(self) -> str:
        if not self.params:
            return self.name
        if list(self.params) == ["ms"]:
            return f"{self.name} {self.params['ms']:g} ms"
        return f"{self.name} " + ", ".join(f"{k}={v}" for k, v in self.params.items())


class _Flag(Strict):
    """An expectation without parameters (``- name``, ``name: true`` or ``name: {}``)."""


class _ErrorRaised(Strict):
    type: str | None = Field(None, description="glob on the error type, e.g. 'httpx.*'")
    message: str | None = Field(None, description="text the error message must contain")


class _Millis(Strict):
    ms: float = Field(..., gt=0, description="milliseconds")


class _Names(Strict):
    faults: list[str] = Field(..., min_length=1, description="names of the scenario's faults")


class _Outcomes(Strict):
    any_of: list[Outcome] = Field(..., min_length=1, description="outcomes that pass")


# name -> (parameter model, shorthand field for a scalar value, what it means)
EXPECTATIONS: dict[str, tuple[type[Strict], str | None, str]] = {
    "all_events_in_order": (_Flag, None, "every sent event received exactly once, in order, unaltered"),
    "no_silent_loss": (_Flag, None, "every event arrived, or the client signalled an error"),
    "error_raised": (
        _ErrorRaised,
        None,
        ("the client reported an error or its own timeout (type: glob, message: text)"),
    ),
    "resumed": (_Flag, None, "reconnected with the right Last-Event-ID and got the rest exactly once"),
    "max_time_to_first_event": (
        _Millis,
        "ms",
        (
            "the first event arrived within this many ms of the client's "
            "start (its hello, just before its request)"
        ),
    ),
    "min_time_to_first_event": (
        _Millis,
        "ms",
        (
            "the first event arrived no sooner than this many ms after the "
            "client's start (an intermediary held it)"
        ),
    ),
    "max_event_gap": (_Millis, "ms", "no two consecutive events reached the application more than ms apart"),
    "completes_within": (_Millis, "ms", "the client gave control back (completed, error, timeout) within ms"),
    "no_duplicates": (_Flag, None, "no event handed to the application twice"),
    "matches_oracle": (
        _Flag,
        None,
        (
            "the client handed over exactly the events a spec-exact parser finds "
            "in the delivered bytes (its parsing is right, whatever faults did)"
        ),
    ),
    "outcome": (_Outcomes, "any_of", "the outcome is one of these"),
    "may_not_fire": (
        _Names,
        "faults",
        (
            "these faults may leave a cell without firing (by default a fault that "
            "never fired fails the cell: the scenario did not test what it says)"
        ),
    ),
}
DEFAULT_EXPECTATIONS = (Expectation(name="no_silent_loss"),)

_TIME_TO_FIRST = frozenset({"max_time_to_first_event", "min_time_to_first_event"})
# A scenario tagged so is about something ``no_silent_loss`` alone does not check: it must assert
# one of these (tests/scenarios/test_loader.py checks the default suite against this table).
TAG_EXPECTATIONS: dict[str, frozenset[str]] = {
    "buffering": _TIME_TO_FIRST,  # held events: when the first one arrives
    "latency": _TIME_TO_FIRST | {"max_event_gap"},
    "compression": _TIME_TO_FIRST | {"all_events_in_order"},
    "stall": frozenset(
        {"error_raised", "outcome", "completes_within", "all_events_in_order"}
    ),  # timeout / hung / not broken
    "timeout": frozenset({"error_raised", "outcome", "completes_within", "all_events_in_order"}),
    "hung": frozenset({"outcome"}),
    "keepalive": frozenset({"all_events_in_order", "error_raised", "outcome"}),
    "reconnect": frozenset({"resumed", "no_duplicates", "all_events_in_order", "outcome"}),
    "retry": frozenset({"resumed", "completes_within", "matches_oracle"}),
    "ids": frozenset({"resumed", "outcome", "matches_oracle"}),
    "204": frozenset({"all_events_in_order", "completes_within"}),
    "status": frozenset({"error_raised"}),
    "sentinel": frozenset({"error_raised"}),  # only an end sentinel shows the loss: the client owes an error
    "headers": frozenset({"error_raised", "all_events_in_order", "matches_oracle"}),
    "undetectable": frozenset({"outcome"}),  # the loss no client can notice: say which outcome is right
    "loss": frozenset({"outcome", "error_raised"}),
    "duplicate": frozenset({"outcome", "no_duplicates"}),
    "order": frozenset({"outcome"}),
    "malformed": frozenset({"outcome", "matches_oracle", "all_events_in_order"}),
    "format": frozenset({"all_events_in_order", "matches_oracle"}),
    "encoding": frozenset({"all_events_in_order", "matches_oracle"}),
    "line-endings": frozenset({"all_events_in_order"}),
    "rechunk": frozenset({"all_events_in_order"}),
    "inject": frozenset({"matches_oracle", "all_events_in_order"}),
    "baseline": frozenset({"all_events_in_order"}),
    "backpressure": frozenset({"all_events_in_order"}),
}


def missing_assertions(tags: Iterable[str], expectations: Iterable[str]) -> dict[str, frozenset[str]]:
    """The tags whose subject no expectation asserts: tag -> the expectations that would."""
    named = set(expectations)
    return {
        tag: TAG_EXPECTATIONS[tag]
        for tag in tags
        if tag in TAG_EXPECTATIONS and not named & TAG_EXPECTATIONS[tag]
    }


# -- known behaviour ----------------------------------------------------------------------------


class Known(Strict):
    """A client's recorded behaviour in this scenario (an expected failure): it passes while it holds."""

    outcome: Outcome | list[Outcome]
    why: str = Field(..., min_length=1, description="what in the client causes it")
    issue: str | None = Field(None, description="a link to the client's bug report, if any")

    @property
    def outcomes(self) -> tuple[str, ...]:
        return (self.outcome,) if isinstance(self.outcome, str) else tuple(self.outcome)

    def label(self) -> str:
        return f"{'|'.join(self.outcomes)}: {self.why}"


# -- the scenario -------------------------------------------------------------------------------


class Scenario(Strict):
    """One scenario: run against each of its clients, ``repetitions`` times."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str = Field(..., pattern=NAME_PATTERN)
    description: str = ""
    tags: tuple[str, ...] = ()
    server: ServerSpec
    request: RequestSpec = Field(default_factory=RequestSpec)
    faults: tuple[FaultSpec, ...] = ()
    intermediary: IntermediarySpec | None = None
    clients: tuple[str, ...] | Literal["all"] = "all"
    expectations: tuple[Expectation, ...] = DEFAULT_EXPECTATIONS
    timeouts: Timeouts = Field(default_factory=Timeouts)
    reconnect: Reconnect | None = None
    repetitions: int = Field(1, ge=1)
    seed: int | None = None
    known: dict[str, Known] = Field(default_factory=dict)
    # TLS end to end (faultproxy/scenarios/tls.py): the built-in server serves HTTPS as its API's
    # host, the proxy re-originates and serves HTTPS, every client trusts the run's CA
    tls: bool = False
    file: str = ""
    line: int | None = None

    @model_validator(mode="after")
    def _tls_where_it_can_be(self) -> Scenario:
        if self.tls and (not self.server.builtin or self.server.kind == "starlette"):
            raise ValueError(
                f"tls: true needs a built-in server faultproxy serves over TLS (sse, openai, anthropic, "
                f"llm), not {self.server.kind}; a url: server speaks https:// by its URL"
            )
        if self.tls and self.intermediary is not None:
            raise ValueError(
                "tls: true and an intermediary: nginx in the path speaks plain HTTP here; drop one"
            )
        return self

    # -- what a runner needs ------------------------------------------------------------------

    def client_names(self, registered: list[str] | None = None) -> list[str]:
        """The clients to run: the list given, or for ``all`` every registered client that speaks
        this server's protocol (generic SSE clients for sse/starlette/url servers; the SDK clients
        of that API for openai/anthropic), built-in or the project's own (a client defined in a
        scenario file runs where it is named)."""
        if self.clients != "all":
            return list(self.clients)
        from faultproxy.clients import registry

        pool = registered if registered is not None else registry.names()
        return [n for n in pool if self.speaks_with(n) and registry.get(n).in_all]

    def speaks_with(self, client: str) -> bool:
        """Whether ``client`` reads what this scenario's server streams (any SSE, or that LLM API)."""
        from faultproxy.clients import registry

        llm = {registry.OPENAI_CHAT, registry.OPENAI_RESPONSES, registry.ANTHROPIC}
        wanted = {
            "openai": {registry.OPENAI_CHAT, registry.OPENAI_RESPONSES},
            "anthropic": {registry.ANTHROPIC},
            "llm": llm,
        }.get(self.server.kind, {registry.SSE})
        return registry.get(client).protocol in wanted

    def known_for(self, client: str) -> Known | None:
        return self.known.get(client)

    @property
    def method(self) -> str:
        return self.request.method or (
            "POST" if self.server.kind in ("openai", "anthropic", "llm") else "GET"
        )

    def target(self) -> str:
        """The request target (path and query) the generic clients ask for."""
        if self.request.path is not None:
            return self.request.path
        if self.server.kind == "url":
            from urllib.parse import urlsplit

            parts = urlsplit(self.server.url or "")
            return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return DEFAULT_PATHS[self.server.kind] or "/"

    def body(self) -> str | None:
        if self.request.json_ is not None:
            import json

            return json.dumps(self.request.json_)
        return self.request.body

    def client_request(self, client: str, base_url: str) -> Any:
        """The :class:`~faultproxy.clients.ClientRequest` for ``client``, sent to ``base_url``
        (``http://127.0.0.1:PORT``: the proxy's URL). SDK clients get the API base URL."""
        from faultproxy.clients import ClientRequest, registry

        protocol = registry.get(client).protocol
        headers = dict(self.request.headers)
        if self.request.json_ is not None and protocol == registry.SSE:
            headers.setdefault("Content-Type", "application/json")
        base = base_url.rstrip("/")
        if protocol in (registry.OPENAI_CHAT, registry.OPENAI_RESPONSES):
            url = base + "/v1"
        elif protocol == registry.ANTHROPIC:
            url = base
        else:
            url = base + self.target()
        reconnect = self.reconnect
        return ClientRequest(
            url=url,
            method=self.method,
            headers=headers,
            body=self.body(),
            timeout_s=None if self.timeouts.read_ms is None else self.timeouts.read_ms / 1000,
            reconnect=reconnect is not None,
            max_reconnects=reconnect.max if reconnect else 0,
            reconnect_ms=reconnect.delay_ms if reconnect else 100,
            deadline_s=self.timeouts.deadline_ms / 1000,
        )

    def secret_values(self) -> set[str]:
        """The secrets this scenario's requests carry (headers, query, body; see
        :mod:`faultproxy.redact`): its report masks them wherever a client or server quotes them."""
        from faultproxy.redact import known_values

        return known_values(self.request.headers, self.target(), self.body()) | known_values(
            url=self.server.url
        )

    def expectation_names(self) -> list[str]:
        return [e.name for e in self.expectations]

    def as_report_dict(self) -> dict[str, Any]:
        """This scenario as the report's ``scenarios[]`` entry."""
        return {
            "name": self.name,
            "file": self.file,
            "line": self.line,
            "description": self.description,
            "tags": list(self.tags),
            "server": self.server.as_dict(),
            "faults": [f.as_dict() for f in self.faults],
            "expectations": [e.as_dict() for e in self.expectations],
            **({"intermediary": self.intermediary.as_dict()} if self.intermediary else {}),
            **({"tls": True} if self.tls else {}),
        }
