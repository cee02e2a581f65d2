"""Every client faultproxy can drive, by name: how to start it, its version, whether it is here.

Names are a contract (scenarios and reports use them). Python clients run as
``python -m faultproxy.clients.child NAME`` and live in ``faultproxy/clients/py_<name>.py``;
Node and browser clients register entries with their own ``command`` (see
:func:`register`). Nothing here imports a client library: versions come from the installed
distribution's metadata, availability from ``importlib.util.find_spec``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from faultproxy.clients.transcript import ClientRequest

PYTHON, NODE, BROWSER = "python", "node", "browser"

# What a client speaks: a generic SSE endpoint, or one vendor API through its SDK.
SSE, OPENAI_CHAT, OPENAI_RESPONSES, ANTHROPIC = "sse", "openai-chat", "openai-responses", "anthropic-messages"


class Availability(NamedTuple):
    ok: bool
    reason: str  # "" when ok; otherwise what is missing
    install: str  # the command that makes it available ("" when ok)


class UnsupportedRequest(ValueError):
    """The client cannot make this request (a method or body it has no way to send)."""


@dataclass(frozen=True)
class ClientInfo:
    """One client. ``kind`` is ``python``, ``node`` or ``browser``.

    Python entries need only ``module`` (and ``distribution`` for the version,
    ``imports`` for availability). Other kinds give ``command_fn`` (the argv to start the
    child; the harness appends nothing), ``version_fn`` and ``available_fn``.
    """

    name: str
    kind: str
    description: str
    install_hint: str
    module: str | None = None  # python: the module with ``run(request, emitter)`` and ``version()``
    distribution: str | None = None  # python: the distribution whose version is the client's version
    imports: tuple[str, ...] = ()  # python: modules that must be importable
    protocol: str = SSE
    methods: tuple[str, ...] = ("GET", "POST")
    body: bool = True  # can send a request body
    headers: bool = True  # can send extra request headers
    reconnects: bool = False  # reconnects (the library's own logic, or the adapter's from its callbacks)
    command_fn: Callable[[ClientInfo], list[str]] | None = None
    version_fn: Callable[[], str | None] | None = None
    available_fn: Callable[[], Availability] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def command(self) -> list[str]:
        """The argv that starts this client's child process."""
        if self.command_fn is not None:
            return self.command_fn(self)
        if self.kind != PYTHON:
            raise ValueError(f"client {self.name!r} ({self.kind}) has no command")
        return [sys.executable, "-m", "faultproxy.clients.child", self.name]

    def version(self) -> str | None:
        """The installed version (None if not installed); the child reports the one it really loaded."""
        if self.version_fn is not None:
            return self.version_fn()
        if self.distribution is None:
            return None
        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return None

    def available(self) -> Availability:
        if self.available_fn is not None:
            return self.available_fn()
        missing = [m for m in self.imports if not _importable(m)]
        if missing:
            return Availability(False, f"cannot import {', '.join(missing)}", self.install_hint)
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


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


REGISTRY: dict[str, ClientInfo] = {}


def register(info: ClientInfo) -> ClientInfo:
    """Add (or replace) a client entry; Node and browser clients call this from their own module."""
    REGISTRY[info.name] = info
    return info


# Modules that register more clients (Node, browser) when they exist; imported on demand.
EXTENSIONS = ("faultproxy.clients.node", "faultproxy.clients.browser")
_loaded = False


def load_all() -> None:
    """Import the extension modules that exist, so their clients are registered too."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in EXTENSIONS:
        if _importable(module):
            importlib.import_module(module)


def get(name: str) -> ClientInfo:
    if name not in REGISTRY:
        load_all()
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown client {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def names(kind: str | None = None) -> list[str]:
    load_all()
    return [n for n, info in REGISTRY.items() if kind is None or info.kind == kind]


def _faultproxy_version() -> str:
    from faultproxy import __version__

    return __version__


def _python(name: str, description: str, *, distribution: str | None, imports: tuple[str, ...],
            pip: str, **extra) -> ClientInfo:
    module = "faultproxy.clients.py_" + name.replace("-", "_")
    return register(ClientInfo(
        name=name, kind=PYTHON, description=description, install_hint=f"pip install {pip}" if pip else "",
        module=module, distribution=distribution, imports=imports, **extra,
    ))


_python(
    "raw", "faultproxy's from-scratch reconnecting EventSource (faultproxy.lab.sse_client)",
    distribution=None, imports=(), pip="", methods=("GET",), body=False, headers=False, reconnects=True,
    version_fn=_faultproxy_version,
)
_python(
    "httpx-sse", "httpx + httpx-sse connect_sse / iter_sse (no reconnection)",
    distribution="httpx-sse", imports=("httpx", "httpx_sse"), pip="httpx httpx-sse",
)
_python(
    "sseclient-py", "sseclient-py's SSEClient over a requests response (stream=True; no reconnection)",
    distribution="sseclient-py", imports=("requests", "sseclient"), pip="requests sseclient-py",
)
_python(
    "requests-sse", "requests-sse EventSource (reconnects, doubling its delay each time)",
    distribution="requests-sse", imports=("requests", "requests_sse"), pip="requests-sse", reconnects=True,
)
_python(
    "aiohttp-sse-client2", "aiohttp-sse-client2 EventSource on aiohttp (reconnects after a clean end)",
    distribution="aiohttp-sse-client2", imports=("aiohttp", "aiohttp_sse_client2"), pip="aiohttp-sse-client2",
    reconnects=True,
)
_python(
    "launchdarkly-eventsource",
    "LaunchDarkly's ld_eventsource SSEClient on urllib3 (reconnects with Last-Event-ID)",
    distribution="launchdarkly-eventsource", imports=("ld_eventsource",), pip="launchdarkly-eventsource",
    methods=("GET",), body=False, reconnects=True,
)
_python(
    "openai", "the official OpenAI SDK, chat.completions.create(stream=True): one event per content delta",
    distribution="openai", imports=("openai",), pip="openai", protocol=OPENAI_CHAT, methods=("POST",),
)
_python(
    "openai-responses",
    "the official OpenAI SDK, responses.create(stream=True): one event per output_text.delta",
    distribution="openai", imports=("openai",), pip="openai", protocol=OPENAI_RESPONSES, methods=("POST",),
)
_python(
    "anthropic", "the official Anthropic SDK, messages.create(stream=True): one event per text delta",
    distribution="anthropic", imports=("anthropic",), pip="anthropic", protocol=ANTHROPIC, methods=("POST",),
)
_python(
    "langchain-openai",
    "LangChain's ChatOpenAI(...).stream() on Chat Completions; the message as LangChain adds the chunks up",
    distribution="langchain-openai", imports=("langchain_openai",), pip="langchain-openai", protocol=OPENAI_CHAT,
    methods=("POST",),
)
_python(
    "pydantic-ai",
    "Pydantic AI's model_request_stream_sync on its Anthropic model; the message as Pydantic AI assembles it",
    distribution="pydantic-ai-slim", imports=("pydantic_ai", "anthropic"), pip="pydantic-ai-slim[anthropic]",
    protocol=ANTHROPIC, methods=("POST",),
)
_python(
    "naive", "a tutorial-style parser: requests iter_content, split each read on \\n\\n, keep 'data: ' lines "
    "(deliberately wrong)",
    distribution=None, imports=("requests",), pip="requests", version_fn=_faultproxy_version,
)
