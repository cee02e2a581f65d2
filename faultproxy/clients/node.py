"""The Node.js clients: npm packages run by the machine's ``node``, from ``faultproxy/clients/node/``.

That directory ships a pinned ``package.json`` + ``package-lock.json`` and the child scripts
(``*_child.mjs``, with ``protocol.mjs``: the JSON-lines protocol of
:mod:`faultproxy.clients.protocol`, in JavaScript). ``npm ci --prefix faultproxy/clients/node``
installs the packages into its ``node_modules/`` (``scripts/bootstrap`` does it);
:func:`faultproxy.clients.registry.load_all` imports this module, which registers:

- ``node-eventsource`` -- the ``eventsource`` package's ``EventSource`` (WHATWG semantics:
  reconnects after a clean end or an error, with Last-Event-ID, honours ``retry:``, stops on
  a 204 or another non-200 answer). GET only; extra headers go through its ``fetch`` option.
- ``fetch-event-source`` -- ``@microsoft/fetch-event-source``'s ``fetchEventSource()``
  (any method and body; reconnects after errors only, by what ``onerror`` returns).

Both run on Node's built-in ``fetch`` (undici). Pinned for Node 20: ``eventsource`` 5
needs Node 22.12, so 4.1.1 is the pin.

Observed (Node 20.20, undici 6.24): on a response with ``Connection: close``, undici takes
the end of the connection -- a FIN, even an RST -- for the end of the body, though a chunked
body is cut mid-way; so both clients see that drop as a clean end (``eventsource``
reconnects anyway and loses nothing; ``fetch-event-source`` stops there). Without
``Connection: close`` the same cut is ``TypeError: terminated`` (caused by
``undici.SocketError: other side closed``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from faultproxy.clients.registry import ANTHROPIC, NODE, OPENAI_CHAT, OPENAI_RESPONSES, Availability, ClientInfo, register

NODE_DIR = Path(__file__).resolve().parent / "node"
NODE_MODULES = NODE_DIR / "node_modules"
INSTALL_HINT = "npm ci --prefix faultproxy/clients/node"


def node_executable() -> str | None:
    return shutil.which("node")


def package_version(package: str) -> str | None:
    """The installed version of ``package`` in ``node_modules`` (None if it is not installed)."""
    try:
        return json.loads((NODE_MODULES / package / "package.json").read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError):
        return None


def _availability(package: str) -> Availability:
    if node_executable() is None:
        return Availability(False, "node is not on PATH", "apt-get install nodejs npm && " + INSTALL_HINT)
    if not NODE_MODULES.is_dir():
        return Availability(False, f"{NODE_MODULES} is missing", INSTALL_HINT)
    if package_version(package) is None:
        return Availability(False, f"{package} is not installed in {NODE_MODULES}", INSTALL_HINT)
    return Availability(True, "", "")


def _node_client(name: str, script: str, package: str, description: str, *, args: tuple[str, ...] = (),
                 **extra) -> ClientInfo:
    return register(ClientInfo(
        name=name, kind=NODE, description=description, install_hint=INSTALL_HINT,
        command_fn=lambda info: [node_executable() or "node", str(NODE_DIR / script), *args],
        version_fn=lambda: package_version(package),
        available_fn=lambda: _availability(package),
        **extra,
    ))


_node_client(
    "node-eventsource", "eventsource_child.mjs", "eventsource",
    "the eventsource npm package's EventSource on Node's fetch (reconnects with Last-Event-ID; "
    "honours retry:)",
    methods=("GET",), body=False, reconnects=True,
    notes=(
        "reconnect_ms is not applied: the library waits 3000 ms, or what the server's retry: says",
        "Node's fetch (undici) takes a cut body on a Connection: close response for a clean end",
    ),
)
_node_client(
    "fetch-event-source", "fetch_event_source_child.mjs", "@microsoft/fetch-event-source",
    "@microsoft/fetch-event-source's fetchEventSource() on Node's fetch (reconnects after errors only)",
    reconnects=True,
    notes=(
        "a clean end of the body is never followed by a reconnect",
        "a response that is not text/event-stream (a 204 too) is an error, and so is retried",
    ),
)


# The LLM clients (llm_child.mjs): the official SDKs, and the Vercel AI SDK's streamText with its
# OpenAI (Responses API, its default) and Anthropic providers. Pinned for Node 20: openai 6,
# @anthropic-ai/sdk 1.10, ai 6 with @ai-sdk/openai 3 and @ai-sdk/anthropic 3 (their next majors
# need Node 22).
_node_client(
    "node-openai", "llm_child.mjs", "openai",
    "the official openai npm SDK, chat.completions.create({stream: true}), iterated",
    protocol=OPENAI_CHAT, methods=("POST",), args=("node-openai",),
)
_node_client(
    "node-anthropic", "llm_child.mjs", "@anthropic-ai/sdk",
    "the official @anthropic-ai/sdk, messages.create({stream: true}), iterated",
    protocol=ANTHROPIC, methods=("POST",), args=("node-anthropic",),
)
_node_client(
    "vercel-ai-openai", "llm_child.mjs", "ai",
    "the Vercel AI SDK's streamText() with @ai-sdk/openai (the Responses API); the message as the SDK assembles it",
    protocol=OPENAI_RESPONSES, methods=("POST",), args=("vercel-ai-openai",),
)
_node_client(
    "vercel-ai-anthropic", "llm_child.mjs", "ai",
    "the Vercel AI SDK's streamText() with @ai-sdk/anthropic; the message as the SDK assembles it",
    protocol=ANTHROPIC, methods=("POST",), args=("vercel-ai-anthropic",),
)
