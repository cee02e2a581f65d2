"""A Toxiproxy-compatible control API: ``faultproxy server``, driven by any Toxiproxy client.

- :mod:`.registry` -- the named proxies and what the API does to them.
- :mod:`.app` -- the HTTP routes (Starlette), Toxiproxy's status codes and JSON shapes.
- :mod:`.metrics` -- ``GET /metrics`` in Prometheus's text format.
- :mod:`.server` -- :class:`ControlServer`, the app under uvicorn on the proxies' event loop.

Toxics are faults (:mod:`faultproxy.faults`): Toxiproxy's types, and faultproxy's HTTP and
SSE faults as extra types (``faultproxy faults`` lists them all).
"""

from faultproxy.control.registry import ControlError, Registry
from faultproxy.control.server import ControlServer

__all__ = ["ControlError", "ControlServer", "Registry"]
