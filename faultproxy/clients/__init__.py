"""Clients behind one subprocess adapter: the reference clients and users' own run the same way.

The runner asks for a client by name and a :class:`ClientRequest` (URL, method, headers,
body, the client's own read timeout, a reconnect policy, the harness deadline) and gets a
:class:`Transcript` back: each event the client handed to the application (type, data, id,
receive time, connection), each connection attempt with the ``Last-Event-ID`` it sent and
its status, how it ended (``completed``, ``error`` with the exception type and message as
the client reported them, ``timeout`` when the client's own timeout fired, ``hung`` when
the harness had to kill it at the deadline, ``crashed`` when it died without saying how it
ended), the client's name and exact version, notes, and the tail of its stderr::

    from faultproxy.clients import ClientRequest, run_client
    transcript = run_client("httpx-sse", ClientRequest(url, deadline_s=10))
    transcript = await arun_client("openai", ClientRequest(base_url, method="POST"))

The contract, which every client follows (``docs/clients.md`` for users):

- :mod:`faultproxy.clients.transcript` -- the dataclasses (JSON-safe ``to_dict`` /
  ``from_dict``) and the end values;
- :mod:`faultproxy.clients.protocol` -- the child process protocols: the request as JSON on
  stdin; on stdout either the full protocol's JSON Lines (``hello``, ``attempt``, ``event``,
  ``disconnect``, ``note``, ``end``; the harness deadline runs from ``hello``) or the simple
  protocol's one line per event, flushed as they happen;
- :mod:`faultproxy.clients.harness` -- :func:`run_client` / :func:`arun_client`: start the
  child in its own process group, feed it the request, collect lines, kill the group at the
  deadline;
- :mod:`faultproxy.clients.spec` / :mod:`faultproxy.clients.registry` -- clients as data: the
  built-in ones in ``builtin.toml``, users' own from scenario files, ``faultproxy.toml`` or
  ``--client-cmd``, all :class:`~faultproxy.clients.registry.ClientInfo` (command with
  placeholders, output protocol, what it speaks, version, availability with the install hint,
  what it can send);
- ``faultproxy/clients/py_<name>.py`` -- the Python clients' child-side code: ``version()``
  and ``run(request, emitter)``, run by ``python -m faultproxy.clients.child NAME``;
  ``node/*_child.mjs`` the Node clients', on ``node/protocol.mjs``.

Reconnect policy: clients that reconnect apply it (through the library's own settings
where it has them, otherwise the adapter counts the library's reconnects and stops it when
the allowance is spent, noting it); clients that do not reconnect ignore it and say so in
the notes. A run the adapter stopped ends ``completed`` if the last connection ended
cleanly and with the last connection's error otherwise.
"""

from faultproxy.clients.harness import arun_client, run_client
from faultproxy.clients.registry import REGISTRY, ClientInfo, UnsupportedRequest, define, get, names, register
from faultproxy.clients.transcript import (
    COMPLETED,
    CRASHED,
    ENDS,
    ERROR,
    HUNG,
    TIMEOUT,
    Attempt,
    ClientRequest,
    ReceivedEvent,
    Transcript,
)

__all__ = [
    "COMPLETED",
    "CRASHED",
    "ENDS",
    "ERROR",
    "HUNG",
    "TIMEOUT",
    "REGISTRY",
    "Attempt",
    "ClientInfo",
    "ClientRequest",
    "ReceivedEvent",
    "Transcript",
    "UnsupportedRequest",
    "arun_client",
    "define",
    "get",
    "names",
    "register",
    "run_client",
]
