"""The child side of a Python client: ``python -m faultproxy.clients.child NAME``.

Reads the :class:`~faultproxy.clients.transcript.ClientRequest` from stdin, imports
``faultproxy.clients.py_<name>``, says hello with the version of the library it loaded, and
calls the module's ``run(request, emitter)``. A module may also have ``prepare(request)``,
called before hello, for setup the deadline should not include (the browser client launches
the browser and opens its page there). ``run`` emits attempts and events through the
:class:`~faultproxy.clients.protocol.Emitter` as they happen; it either emits ``end``
itself or returns (-> ``completed``) or raises (-> ``timeout`` if the exception is a
timeout, else ``error``, with the exception's type and message).

The protocol goes to a private duplicate of the original stdout; file descriptor 1 and
``sys.stdout`` are pointed at stderr, so nothing a library prints can corrupt it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import sys

from faultproxy.clients.protocol import Emitter, error_name
from faultproxy.clients.transcript import COMPLETED, ERROR, TIMEOUT, ClientRequest

# Exception class names (anywhere in the MRO) that mean "a timeout fired" across the
# libraries we drive: builtins/asyncio, httpx, requests, urllib3, aiohttp, openai, anthropic.
TIMEOUT_NAMES = frozenset(
    {
        "TimeoutError",
        "TimeoutException",
        "ReadTimeout",
        "ConnectTimeout",
        "WriteTimeout",
        "PoolTimeout",
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "APITimeoutError",
        "ServerTimeoutError",
        "SocketTimeoutError",
        "ConnectionTimeoutError",
    }
)


def is_timeout(error: BaseException, depth: int = 0) -> bool:
    """Whether ``error`` (or what it explicitly wraps: ``__cause__``, exception args) is a timeout."""
    if depth > 4:
        return False
    if any(cls.__name__ in TIMEOUT_NAMES for cls in type(error).__mro__):
        return True
    wrapped = [error.__cause__, *[a for a in getattr(error, "args", ()) if isinstance(a, BaseException)]]
    return any(w is not None and is_timeout(w, depth + 1) for w in wrapped)


def classify(error: BaseException) -> str:
    return TIMEOUT if is_timeout(error) else ERROR


def end_with(emitter: Emitter, error: BaseException | None) -> None:
    """``end``: completed for None, else timeout/error from the exception.

    Wrapped exceptions (``raise X from Y``) are noted first: "Connection error." says less
    than the ``httpx2.RemoteProtocolError`` under it.
    """
    if error is None:
        emitter.end(COMPLETED)
        return
    cause, depth = error.__cause__, 0
    while cause is not None and depth < 4:
        emitter.note(f"caused by {error_name(cause)}: {cause}")
        cause, depth = cause.__cause__, depth + 1
    emitter.end(classify(error), error_name(error), str(error) or repr(error))


def dist_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def stack_note(emitter: Emitter, *distributions: str) -> None:
    """A note with the versions of the libraries under the client (httpx, urllib3, ...)."""
    parts = [f"{d} {dist_version(d) or '?'}" for d in distributions]
    emitter.note("stack: " + ", ".join(parts))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(
            "usage: python -m faultproxy.clients.child NAME  (the request as JSON on stdin)", file=sys.stderr
        )
        return 2
    name = argv[0]
    protocol_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    from faultproxy.clients import registry

    info = registry.get(name)
    if info.module is None:
        print(f"client {name!r} is not a Python client", file=sys.stderr)
        return 2
    request = ClientRequest.from_dict(json.loads(sys.stdin.read()))
    module = importlib.import_module(info.module)
    prepare = getattr(module, "prepare", None)
    if prepare is not None:  # setup that is part of loading the client (a browser and its page), before hello
        prepare(request)
    emitter = Emitter(protocol_out, name)
    emitter.hello(module.version(), tuple(getattr(module, "REPORTS", ())))  # optional event fields it reports
    try:
        module.run(request, emitter)
    except BaseException as error:  # noqa: BLE001 -- every way a client can fail is a result
        end_with(emitter, error)
    else:
        emitter.end(COMPLETED)
    protocol_out.flush()
    sys.stderr.flush()
    # Some libraries leave non-daemon threads or half-closed sockets behind; the run is
    # over and reported, so leave without waiting for them.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
