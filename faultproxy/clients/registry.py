"""Every client faultproxy can drive, by name: how to start it, its version, whether it is here.

Clients are data. The built-in ones are defined in ``builtin.toml`` beside this module, in the
same shape as a user's own client (:mod:`faultproxy.clients.spec`, ``docs/clients.md``), and
:func:`define` adds a user's client from a scenario file, a config file or ``--client-cmd``.
Names are a contract (scenarios and reports use them): a built-in name cannot be redefined,
and a user's name is defined once (the same file may load again).

Nothing here imports a client library: versions come from the installed distribution's
metadata, an npm package's ``package.json`` or a ``--version`` command; availability from
``importlib.util.find_spec``, ``PATH`` and the files a client needs.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from faultproxy.clients.spec import (
    FULL,
    SIMPLE,
    ClientSpec,
    ClientSpecError,
    Requires,
    VersionFrom,
    machine_values,
    parse_client,
    request_values,
    substitute,
)
from faultproxy.clients.transcript import ClientRequest

PYTHON, NODE, BROWSER, COMMAND = "python", "node", "browser", "command"

# What a client speaks: a generic SSE endpoint, or one vendor API through its SDK.
SSE, OPENAI_CHAT, OPENAI_RESPONSES, ANTHROPIC = "sse", "openai-chat", "openai-responses", "anthropic-messages"

BUILTIN_FILE = Path(__file__).resolve().parent / "builtin.toml"
BUILT_IN = "built-in"


class Availability(NamedTuple):
    ok: bool
    reason: str  # "" when ok; otherwise what is missing
    install: str  # the command that makes it available ("" when ok)


class UnsupportedRequest(ValueError):
    """The client cannot make this request (a method or body it has no way to send)."""


@dataclass(frozen=True)
class ClientInfo:
    """One client: a command template and what the harness needs to know about it.

    ``output`` is what the child prints: :data:`~faultproxy.clients.spec.FULL` (the JSON-lines
    protocol of :mod:`faultproxy.clients.protocol`) or :data:`~faultproxy.clients.spec.SIMPLE`
    (one JSON line per event). ``protocol`` is what it reads (``sse`` or an LLM API).
    ``origin`` says where it was defined; ``in_all`` whether scenarios with ``clients: all``
    run it (built-ins and clients from a config file or ``--client-cmd``; a client defined in
    a scenario file runs where it is named).
    """

    name: str
    command: tuple[str, ...]
    kind: str = COMMAND
    description: str = ""
    install_hint: str = ""
    output: str = FULL
    protocol: str = SSE
    methods: tuple[str, ...] = ("GET", "POST")
    body: bool = True
    headers: bool = True
    reconnects: bool = False
    # hands the application each event's id (EventSource's lastEventId, an event's .id): its ids are
    # judged like its data (docs/outcomes.md, "Every field is judged"); a client that reports none
    # (naive keeps only data: lines) is not blamed for ids it never claimed to deliver
    reports_ids: bool = True
    notes: tuple[str, ...] = ()
    module: str | None = None  # built-in Python clients: the module with ``run(request, emitter)``
    version_from: str | VersionFrom | None = None
    requires: Requires = field(default_factory=Requires)
    env: Mapping[str, str] = field(default_factory=dict)
    here: Path = BUILTIN_FILE.parent
    origin: str = BUILT_IN  # where it is defined, as listings show it (FILE:LINE)
    file: str = ""  # the file that defines it
    in_all: bool = True

    @classmethod
    def from_spec(
        cls, spec: ClientSpec, *, here: Path, origin: str, file: str = "", in_all: bool
    ) -> ClientInfo:
        return cls(
            name=spec.name,
            command=tuple(spec.command),
            kind=spec.kind,
            description=spec.description,  # type: ignore[arg-type]
            install_hint=spec.install,
            output=spec.protocol,
            protocol=spec.speaks,
            methods=spec.methods,
            body=spec.body,
            headers=spec.headers,
            reconnects=spec.reconnects,
            reports_ids=spec.reports_ids,
            notes=spec.notes,
            module=spec.module,
            version_from=spec.version,
            requires=spec.requires,
            env=dict(spec.env),
            here=here,
            origin=origin,
            file=file,
            in_all=in_all,
        )

    @property
    def builtin(self) -> bool:
        return self.origin == BUILT_IN

    def _values(self, request: ClientRequest | None = None) -> dict[str, str]:
        values = machine_values(self.here)
        if request is not None:
            values.update(request_values(request))
        return values

    def argv(self, request: ClientRequest) -> list[str]:
        """The command that starts this client for ``request``, placeholders replaced."""
        values = self._values(request)
        return [substitute(part, values) for part in self.command]

    def environment(self) -> dict[str, str]:
        values = self._values()
        return {k: substitute(v, values) for k, v in self.env.items()}

    @property
    def cwd(self) -> Path | None:
        """User clients run in the directory of the file that defines them (relative paths work)."""
        return None if self.builtin else self.here

    def version(self) -> str | None:
        """The installed version (None if unknown); a full-protocol child reports the one it loaded."""
        source = self.version_from
        if source is None or isinstance(source, str):
            return source
        if source.distribution is not None:
            try:
                return importlib.metadata.version(source.distribution)
            except importlib.metadata.PackageNotFoundError:
                return None
        values = self._values()
        if source.npm is not None:
            folder = Path(substitute(source.dir or "{here}", values))
            try:
                data = json.loads(
                    (folder / "node_modules" / source.npm / "package.json").read_text(encoding="utf-8")
                )
                return str(data["version"])
            except (OSError, ValueError, KeyError):
                return None
        if source.command is not None:
            argv = source.command.split() if isinstance(source.command, str) else source.command
            return command_version(tuple(substitute(p, values) for p in argv), str(self.cwd or ""))
        return None

    def available(self) -> Availability:
        values = self._values()
        missing: list[str] = []
        program = self.command[0]
        executables = list(self.requires.executables)
        if "{" not in program:  # the program itself, when it is named outright
            executables.insert(0, program if "/" not in program else str((self.cwd or Path()) / program))
        for executable in dict.fromkeys(executables):
            path = substitute(executable, values)
            if "/" in path:
                if not os.access(path, os.X_OK):
                    missing.append(f"{path} is missing")
            elif shutil.which(path) is None:
                missing.append(f"{path} is not on PATH")
        gone = [m for m in self.requires.imports if not _importable(m)]
        if gone:
            missing.append(f"cannot import {', '.join(gone)}")
        for name in self.requires.files:
            path = Path(substitute(name, values))
            if not path.is_absolute() and self.cwd is not None:
                path = self.cwd / path
            if not path.exists():
                missing.append(f"{path} is missing")
        if missing:
            return Availability(False, "; ".join(missing), self.install_hint)
        return Availability(True, "", "")

    def supports(self, request: ClientRequest) -> tuple[bool, str]:
        """Whether this client can make ``request`` at all (checked before a child is started)."""
        method = request.method.upper()
        if self.protocol == SSE and method not in self.methods:
            return False, f"{self.name} can only send {'/'.join(self.methods)}, not {method}"
        if self.protocol == SSE and request.body is not None and not self.body:
            return False, f"{self.name} cannot send a request body"
        if request.headers and not self.headers:
            return False, f"{self.name} cannot send extra request headers"
        return True, ""

    def describe_origin(self) -> str:
        return "built-in" if self.builtin else f"defined in {self.origin}"


@functools.cache
def command_version(argv: tuple[str, ...], cwd: str = "") -> str | None:
    """``1.2.3`` from the output of ``argv`` (``chromium --version``: the browser's version)."""
    try:
        result = subprocess.run(list(argv), capture_output=True, text=True, timeout=30, cwd=cwd or None)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+(?:\.\d+){1,3})", result.stdout + result.stderr)
    return match.group(1) if match else None


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


REGISTRY: dict[str, ClientInfo] = {}


def register(info: ClientInfo) -> ClientInfo:
    """Add (or replace) a client entry as it is (tests register throwaway clients this way)."""
    REGISTRY[info.name] = info
    return info


def define(raw: Any, *, where: str, here: Path, file: str, in_all: bool = False) -> ClientInfo:
    """Register a user's client from its definition (a mapping), or raise :class:`ClientSpecError`.

    ``where`` is the definition's place (``FILE:LINE``) for errors and listings, ``here`` the
    directory its relative paths and ``{here}`` start from, ``file`` the file it is in. A file
    loaded again may define its clients again; another file may not take their names.
    """
    spec = parse_client(raw, where)
    if spec.module is not None:
        raise ClientSpecError(f"{where}: client {spec.name!r}: module: only built-in clients run a module")
    info = ClientInfo.from_spec(spec, here=here, origin=where, file=file, in_all=in_all)
    old = REGISTRY.get(spec.name)
    if old is not None and old.builtin:
        raise ClientSpecError(
            f"{where}: client {spec.name!r}: that is a built-in client's name; choose another"
        )
    if old is not None and old.file != file:
        raise ClientSpecError(
            f"{where}: client {spec.name!r} is already defined ({old.origin}); "
            "define it once (a config file is the place for a client several files share)"
        )
    return register(info)


def _load_builtin() -> None:
    with BUILTIN_FILE.open("rb") as handle:
        data = tomllib.load(handle)
    for raw in data["client"]:
        spec = parse_client(raw, str(BUILTIN_FILE))
        register(ClientInfo.from_spec(spec, here=BUILTIN_FILE.parent, origin=BUILT_IN, in_all=True))


def load_all() -> None:
    """Register the clients of the project's config file (``faultproxy.toml`` / ``pyproject.toml``)."""
    from faultproxy.config import load_project_config

    load_project_config()


def get(name: str) -> ClientInfo:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown client {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def names(kind: str | None = None) -> list[str]:
    return [n for n, info in REGISTRY.items() if kind is None or info.kind == kind]


__all__ = [
    "ANTHROPIC",
    "BROWSER",
    "BUILT_IN",
    "COMMAND",
    "FULL",
    "NODE",
    "OPENAI_CHAT",
    "OPENAI_RESPONSES",
    "PYTHON",
    "REGISTRY",
    "SIMPLE",
    "SSE",
    "Availability",
    "ClientInfo",
    "ClientSpecError",
    "Requires",
    "UnsupportedRequest",
    "VersionFrom",
    "command_version",
    "define",
    "get",
    "load_all",
    "names",
    "register",
]

_load_builtin()
