"""A client described as data: the built-in ones (``builtin.toml``) and users' own, one shape.

A user's client is a command. It can be defined in a scenario file (``clients:``), in
``faultproxy.toml`` / ``pyproject.toml`` (``[tool.faultproxy]``, see :mod:`faultproxy.config`)
or with ``faultproxy run --client-cmd``; the built-in clients are defined the same way in
``faultproxy/clients/builtin.toml``, so every client goes through one loader and one harness.
``docs/clients.md`` documents every field and both output protocols::

    name: my-client
    command: node my-client.js {url}     # a string (split like a shell would) or a list
    protocol: simple                     # simple: one JSON line per event; full: the adapters' protocol
    speaks: sse                          # sse | openai-chat | openai-responses | anthropic-messages

Placeholders in the command (``{url}``, ``{method}``, ...; :data:`PLACEHOLDERS`) are replaced
per run, each in its own argument, so a URL or a body never passes through a shell. ``{{`` and
``}}`` stand for literal braces; other braces (a JSON literal in ``python -c``) are left alone.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from faultproxy.clients.transcript import ClientRequest
from faultproxy.errors import InputError

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
SIMPLE, FULL = "simple", "full"
SPEAKS = ("sse", "openai-chat", "openai-responses", "anthropic-messages")

# name -> what it stands for (docs/clients.md lists the same)
PLACEHOLDERS = {
    "url": "the URL to stream from (through the proxy); the API base URL for SDK clients",
    "method": "the HTTP method (GET, POST, ...)",
    "body": "the request body as text ('' when there is none)",
    "headers": "the extra request headers as a JSON object",
    "timeout": "the client's own read timeout in seconds ('' when the scenario sets none)",
    "deadline": "seconds until the harness kills the client (reported hung)",
    "reconnects": "how many reconnects the scenario allows (0: none)",
    "reconnect_ms": "the wait before a reconnect, in milliseconds",
    "request": "the whole request as JSON (also on stdin)",
    "python": "the Python interpreter running faultproxy",
    "node": "the node executable on PATH",
    "here": "the directory of the file that defines the client",
    "chromium": "the Chromium executable ($FAULTPROXY_CHROMIUM, else /usr/bin/chromium)",
}
_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ClientSpecError(InputError):
    """A client definition that cannot be used, said so that the user can fix it."""


def _strict() -> ConfigDict:
    return ConfigDict(extra="forbid", frozen=True)


class Requires(BaseModel):
    """What must be on this machine for the client to run (else it is reported unavailable)."""

    model_config = _strict()
    executables: tuple[str, ...] = Field((), description="commands on PATH, or paths to executables")
    imports: tuple[str, ...] = Field((), description="Python modules that must be importable")
    files: tuple[str, ...] = Field((), description="files that must exist (e.g. an installed npm package)")


class VersionFrom(BaseModel):
    """Where the client's version comes from, when it does not say it itself (``hello``)."""

    model_config = _strict()
    distribution: str | None = Field(None, description="an installed Python distribution")
    npm: str | None = Field(None, description="an npm package installed under dir/node_modules")
    dir: str | None = Field(None, description="the directory holding node_modules (for npm)")
    command: tuple[str, ...] | str | None = Field(
        None, description="a command whose output holds the version"
    )


class ClientSpec(BaseModel):
    """One client definition, as written in a file (``builtin.toml``, a scenario, a config file)."""

    model_config = _strict()

    name: str = Field(..., pattern=NAME_PATTERN, description="the client's name in scenarios and reports")
    command: tuple[str, ...] | str = Field(
        ..., description="the command; a string is split like a shell would"
    )
    protocol: Literal["simple", "full"] = Field(
        SIMPLE,
        description="simple: one JSON line per event; full: the JSON-lines protocol of the built-in adapters",
    )
    speaks: Literal["sse", "openai-chat", "openai-responses", "anthropic-messages"] = Field(
        "sse", description="what it reads: any SSE endpoint, or one LLM API (then {url} is the API base URL)"
    )
    kind: Literal["python", "node", "browser", "command"] = Field(
        "command", description="what runs it (for listings)"
    )
    description: str = ""
    version: str | VersionFrom | None = Field(None, description="its version, or where to find it")
    methods: tuple[str, ...] = Field(("GET", "POST"), description="the HTTP methods it can send")
    body: bool = Field(True, description="it can send a request body")
    headers: bool = Field(True, description="it can send extra request headers")
    reconnects: bool = Field(False, description="it reconnects by itself (resumption can be judged)")
    reports_ids: bool = Field(
        True,
        description="it hands over each event's id, judged like its data (false: its ids are not judged)",
    )
    requires: Requires = Field(default_factory=Requires)
    install: str = Field("", description="what makes it available, shown when a requirement is missing")
    env: dict[str, str] = Field(default_factory=dict, description="extra environment variables")
    notes: tuple[str, ...] = ()
    module: str | None = Field(None, description="built-in Python clients: the module the child runs")

    @field_validator("command")
    @classmethod
    def _command(cls, value: tuple[str, ...] | str) -> tuple[str, ...]:
        argv = shlex.split(value) if isinstance(value, str) else tuple(value)
        if not argv:
            raise ValueError("the command is empty")
        for part in argv:
            check_placeholders(part)
        return tuple(argv)

    @field_validator("methods")
    @classmethod
    def _methods(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(m.upper() for m in value)


def check_placeholders(text: str) -> None:
    for match in _TOKEN.finditer(text):
        name = match.group(1)
        if name is not None and name not in PLACEHOLDERS:
            raise ValueError(
                f"unknown placeholder {{{name}}}; known: "
                + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
                + " (write {{ and }} for braces)"
            )


def _chromium() -> str:
    from faultproxy.clients.browser_chromium import CHROMIUM

    return CHROMIUM


def machine_values(here: Path) -> dict[str, str]:
    """The placeholders that do not depend on the request."""
    return {"python": sys.executable, "node": shutil.which("node") or "node", "here": str(here)}


def request_values(request: ClientRequest) -> dict[str, str]:
    return {
        "url": request.url,
        "method": request.method.upper(),
        "body": request.body or "",
        "headers": json.dumps(request.headers),
        "timeout": "" if request.timeout_s is None else f"{request.timeout_s:g}",
        "deadline": f"{request.deadline_s:g}",
        "reconnects": str(request.reconnects_allowed),
        "reconnect_ms": str(request.reconnect_ms),
        "request": json.dumps(request.to_dict()),
    }


def substitute(text: str, values: dict[str, str]) -> str:
    """``text`` with its placeholders replaced (values computed lazily for ``{chromium}``)."""

    def one(match: re.Match[str]) -> str:
        token, name = match.group(0), match.group(1)
        if name is None:
            return token[0]  # {{ -> {, }} -> }
        if name == "chromium" and name not in values:
            values[name] = _chromium()
        return values[name]

    return _TOKEN.sub(one, text)


def parse_client(raw: Any, where: str = "") -> ClientSpec:
    """A mapping into a :class:`ClientSpec`; errors name the field and what it takes."""
    from pydantic import ValidationError

    label = (
        f"client {raw.get('name')!r}"
        if isinstance(raw, dict) and isinstance(raw.get("name"), str)
        else "client"
    )
    prefix = f"{where}: " if where else ""
    if not isinstance(raw, dict):
        raise ClientSpecError(
            f"{prefix}a client definition is a mapping with name and command (got {type(raw).__name__})"
        )
    try:
        return ClientSpec.model_validate(dict(raw))
    except ValidationError as error:
        first = error.errors()[0]
        loc = ".".join(str(p) for p in first["loc"] if not (isinstance(p, str) and "[" in p))
        if first["type"] == "extra_forbidden":
            allowed = ", ".join(f for f in ClientSpec.model_fields if f != "module")
            message = f"{loc}: unknown key; a client takes: {allowed}"
        elif first["type"] == "missing":
            message = f"{loc}: required (a client needs at least name and command)"
        elif first["type"] == "literal_error":
            message = f"{loc}: must be one of {first['ctx']['expected']} (got {first.get('input')!r})"
        else:
            message = f"{loc}: {first['msg'].removeprefix('Value error, ')}"
        raise ClientSpecError(f"{prefix}{label}: {message}") from None
