"""pytest plugin: test *your own* SSE client code through faultproxy.

Installed with the package (entry point ``pytest11``), it gives:

- the ``faultproxy`` fixture: the reference SSE server (ids 1..N) behind a proxy with a
  capture, both on loopback in a background thread. Point your client at ``faultproxy.url``;
  ``with faultproxy.fault("sse_disconnect", after_events=3): …`` applies a fault for a block;
  ``faultproxy.sent`` is what the server sent, ``faultproxy.delivered()`` the events the proxy
  delivered (parsed with faultproxy's spec-exact parser), ``faultproxy.fired()`` where faults acted;
- ``@pytest.mark.faultproxy_server(events=…, interval_ms=…, retry=…, …)`` to shape the stream;
- ``@pytest.mark.faultproxy_faults("sse_disconnect:after_events=3", "sse_split:mode=byte", …)``
  to run the test once under each fault of a list (the ``--fault`` syntax of the CLI).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest


class FaultproxyHarness:
    """What the ``faultproxy`` fixture hands a test."""

    def __init__(self, server: Any, proxy: Any, capture: Path):
        self.server = server
        self.proxy = proxy
        self.capture = capture

    @property
    def url(self) -> str:
        """The stream's URL through the proxy."""
        return f"{self.proxy.url}/events"

    @property
    def sent(self) -> list[Any]:
        """Ground truth: every event the server sent (``id``, ``type``, ``data``, ``time``, ``connection``)."""
        return list(self.server.sent)

    def fault(self, type: str, **attributes: Any) -> Any:
        """Add a fault now (live connections pick it up); use as ``with`` to remove it after the block.

        ``name``, ``stream``, ``toxicity``, ``connections`` and ``match`` go to the fault itself;
        everything else is an attribute of the fault type (see ``faultproxy faults``).
        """
        fields = {k: attributes.pop(k) for k in ("name", "stream", "toxicity", "connections", "match")
                  if k in attributes}
        return self.proxy.add_fault(type, attributes, **fields)

    def fired(self, type: str | None = None) -> list[Any]:
        """Evidence of every time a fault acted (optionally of one fault type)."""
        return [e for e in self.proxy.evidence if type is None or e.type == type]

    def delivered(self) -> list[dict[str, Any]]:
        """The events the proxy delivered to clients so far, as a spec-exact parser reads them."""
        self.proxy.flush_capture()
        events = []
        for line in self.capture.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record.get("type") == "event" and record.get("dir") == "response":
                events.append({"conn": record["conn"], **record["event"]})
        return events

    def wire(self) -> bytes:
        """Every response byte the proxy delivered so far, all connections in order."""
        self.proxy.flush_capture()
        out = bytearray()
        for line in self.capture.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record.get("dir") == "response" and "b64" in record:
                out += base64.b64decode(record["b64"])
        return bytes(out)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faultproxy_server(**options): options of the faultproxy fixture's SSE server "
                                       "(events, interval_ms, retry, keepalive_ms, event_type, multiline, size)")
    config.addinivalue_line("markers", "faultproxy_faults(*faults): run the test once under each fault "
                                       "(TYPE:key=value,… as faultproxy proxy --fault takes it)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("faultproxy_faults")
    if marker is None or "faultproxy" not in metafunc.fixturenames:
        return
    from faultproxy.faults import FaultSpecError, parse_cli_fault

    faults = list(marker.args)
    for i, text in enumerate(faults):
        try:
            parse_cli_fault(text, i)
        except FaultSpecError as error:
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: faultproxy_faults: {error}") from None
    metafunc.parametrize("faultproxy_fault", faults, ids=faults)


@pytest.fixture
def faultproxy_fault() -> str | None:
    """The fault a ``faultproxy_faults`` marker runs this test under (None without the marker)."""
    return None


@pytest.fixture
def faultproxy(request: pytest.FixtureRequest, tmp_path: Path, faultproxy_fault: str | None) -> Iterator[FaultproxyHarness]:
    """The reference SSE server behind faultproxy, for the duration of one test."""
    from faultproxy.faults import parse_cli_fault
    from faultproxy.net.stream_server import running_in_thread
    from faultproxy.proxy.server import Proxy
    from faultproxy.scenarios.model import SSEOptions
    from faultproxy.servers.sse import ReferenceSSEServer

    marker = request.node.get_closest_marker("faultproxy_server")
    options = SSEOptions.model_validate(dict(marker.kwargs) if marker else {"events": 10, "interval_ms": 5})
    capture = tmp_path / "faultproxy-capture.jsonl"
    with ExitStack() as stack:
        server = stack.enter_context(running_in_thread(ReferenceSSEServer(**options.server_kwargs())))
        faults = [parse_cli_fault(faultproxy_fault)] if faultproxy_fault else []
        proxy = stack.enter_context(running_in_thread(
            Proxy(f"http://127.0.0.1:{server.port}", faults=faults, capture=capture)))
        yield FaultproxyHarness(server, proxy, capture)
