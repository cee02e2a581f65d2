"""pytest plugin: test *your own* SSE client code through faultproxy (``docs/pytest.md``).

Installed with the package (entry point ``pytest11``), it gives:

- the ``faultproxy`` fixture: a proxy with a capture in front of a server, both on loopback in a
  background thread. The server is the reference SSE server (ids 1..N) unless the test says
  otherwise: ``@pytest.mark.faultproxy_server(kind="openai", ...)`` for the OpenAI or Anthropic
  mock (``kind="anthropic"``), ``faultproxy_server(url="http://host:port/path")`` for any server,
  or a ``faultproxy_upstream`` fixture returning the URL of a server the test starts itself.
  Point your client at ``faultproxy.url`` (``faultproxy.base_url`` for an SDK);
  ``with faultproxy.fault("sse_disconnect", after_events=3): ...`` applies a fault for a block;
- what happened, once the exchange is over (:meth:`FaultproxyHarness.settle`: the server has
  finished its responses, or the timeout passed): ``faultproxy.sent`` (every event the server
  wrote), ``faultproxy.expected`` (what the application should end up with),
  ``faultproxy.delivered()`` (the events the proxy delivered), ``faultproxy.fired()`` (where
  faults acted);
- the verdict on what your client received, against the server's ground truth:
  ``faultproxy.assert_no_silent_loss(events, error=exc)`` fails when events are missing or
  altered and your client did not raise -- the ``early_end`` case that comparing with
  ``faultproxy.sent`` alone misses; ``faultproxy.verdict(events, error=exc)`` gives the whole
  verdict (outcome, summary, evidence);
- ``@pytest.mark.faultproxy_faults("sse_disconnect:after_events=3", "sse_split:mode=byte", ...)``
  runs the test once under each fault of the list, each its own test id (the ``--fault`` syntax);
- ``pytest --faultproxy-scenarios scenarios/``: every cell of the scenario files there as a test
  item, so pytest-xdist can spread them (:mod:`faultproxy.scenarios.collect`).

Fault specs have one namespace: a fault's own keys (``name``, ``stream``, ``toxicity``,
``connections``, ``match``) and its type's attributes (``faultproxy faults`` lists both); no
attribute takes a shared key's name.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

SETTLE_S = 5.0  # how long .sent / .verdict() wait for the server to finish its responses
SHARED_KEYS = ("name", "stream", "toxicity", "connections", "match")


class FaultproxyHarness:
    """What the ``faultproxy`` fixture hands a test."""

    def __init__(
        self,
        server: Any,
        proxy: Any,
        capture: Path,
        *,
        kind: str = "sse",
        target: str = "/events",
        ca_file: Path | None = None,
    ):
        self.server = server  # None for a server of the user's own (url: / faultproxy_upstream)
        self.proxy = proxy
        self.capture = capture
        self.kind = kind
        self.target = target
        self.settle_s = SETTLE_S
        # with tls=True: the CA certificate your client must trust (the proxy serves HTTPS with it)
        self.ca_file = ca_file

    @property
    def url(self) -> str:
        """The stream's URL through the proxy."""
        return f"{self.proxy.url}{self.target}"

    @property
    def base_url(self) -> str:
        """An SDK's ``base_url`` through the proxy (OpenAI: ``.../v1``; Anthropic: the origin)."""
        return self.proxy.url + ("/v1" if self.kind == "openai" else "")

    # -- faults -------------------------------------------------------------------------------

    def fault(self, type: str, **attributes: Any) -> Any:
        """Add a fault now (live connections pick it up); use as ``with`` to remove it after the block.

        ``name``, ``stream``, ``toxicity``, ``connections`` and ``match`` go to the fault itself;
        everything else is an attribute of the fault type (see ``faultproxy faults``).
        """
        fields = {k: attributes.pop(k) for k in SHARED_KEYS if k in attributes}
        return self.proxy.add_fault(type, attributes, **fields)

    def fired(self, type: str | None = None) -> list[Any]:
        """Evidence of every time a fault acted (optionally of one fault type)."""
        return [e for e in self.proxy.evidence if type is None or e.fault_type == type]

    # -- what happened ------------------------------------------------------------------------

    def settle(self, timeout: float | None = None) -> bool:
        """Wait until the exchange is over: the server has finished every response it started
        (written it all, or seen its client go) and the proxy holds no connection that a server of
        the user's own is still answering. False if ``timeout`` (default :attr:`settle_s`) passed
        first; what happened so far is then what the views show."""
        stop = time.monotonic() + (self.settle_s if timeout is None else timeout)
        while True:
            busy = getattr(self.server, "busy", False) if self.server is not None else self.proxy.active > 0
            if not busy:
                return True
            if time.monotonic() >= stop:
                return False
            time.sleep(0.01)

    @property
    def sent(self) -> list[Any]:
        """Ground truth, once settled: every event the server wrote, in order
        (:class:`~faultproxy.scenarios.events.Item`: ``id``, ``type``, ``data``, ``t``, ``connection``)."""
        self.settle()
        return list(self._truth().writes or [])

    @property
    def expected(self) -> list[Any]:
        """What the application should end up with, once settled: the server's stream, each event once
        (for the reference server: events 1..N, whatever a fault did to them)."""
        self.settle()
        return list(self._truth().intended or [])

    def _truth(self) -> Any:
        from faultproxy.scenarios.events import ground_truth
        from faultproxy.scenarios.truth import truth_from_capture

        if self.server is not None:
            return ground_truth(self.server)
        self.proxy.flush_capture()  # a server of the user's own: what the proxy read from it
        return truth_from_capture(self.capture)

    def delivered(self) -> list[dict[str, Any]]:
        """The events the proxy delivered to clients so far, as a spec-exact parser reads them."""
        return [
            {"conn": r["conn"], **r["event"]}
            for r in self._records()
            if r.get("type") == "event" and r.get("dir") == "response"
        ]

    def wire(self) -> bytes:
        """Every response byte the proxy delivered so far, all connections in order."""
        return b"".join(
            base64.b64decode(r["b64"]) for r in self._records() if r.get("dir") == "response" and "b64" in r
        )

    def _records(self) -> list[dict[str, Any]]:
        self.proxy.flush_capture()
        return [json.loads(line) for line in self.capture.read_text(encoding="utf-8").splitlines()]

    # -- the verdict --------------------------------------------------------------------------

    def verdict(
        self,
        received: Iterable[Any],
        error: BaseException | str | None = None,
        *,
        protocol: str | None = None,
    ) -> dict[str, Any]:
        """The verdict on what your client handed your application, as ``faultproxy run`` gives it:
        ``outcome`` (ok, silent_loss, error, duplicated, reordered, ...), ``passed``, ``evidence``
        (``summary``, ``missing``, ...).

        ``received``: the events in order -- objects or dicts with ``data`` (and ``id``, ``type`` or
        ``event``), or strings (the data). ``error``: what your client raised, if it did (an error
        after every event arrived is fine; before, it is how the loss was signalled). ``protocol``:
        what the events are, for an LLM mock: ``openai-chat``, ``openai-responses`` or
        ``anthropic-messages``, in the vocabulary of the SDK clients (``docs/pytest.md``): strings
        are text deltas, ``{"type": "finish", "data": "stop"}`` the finish reason, ``tool_call``
        argument fragments; default ``sse``, the raw events.
        """
        from faultproxy.clients.protocol import error_name
        from faultproxy.clients.transcript import ReceivedEvent, Transcript
        from faultproxy.scenarios.verdict import classify

        protocol = protocol or "sse"
        kind = "delta" if protocol != "sse" else "message"
        events = [
            ReceivedEvent(
                type=str(_field(e, "type", "event") or kind), data=_text(e), id=_id(_field(e, "id")), t=0.0
            )
            for e in received
        ]
        if error is None:
            end, error_type, message = "completed", None, None
        elif isinstance(error, BaseException):
            end, error_type, message = "error", error_name(error), str(error) or repr(error)
        else:
            end, error_type, message = "error", "error", str(error)
        transcript = Transcript(
            client="your client", events=events, end=end, error_type=error_type, error_message=message
        )
        self.settle()
        self.proxy.flush_capture()
        return classify(
            self.server,
            self.capture,
            transcript,
            list(self.proxy.evidence),
            ["no_silent_loss"],
            protocol=protocol,
            include_transcript=False,
        ).to_dict()

    def assert_no_silent_loss(
        self,
        received: Iterable[Any],
        error: BaseException | str | None = None,
        *,
        protocol: str | None = None,
    ) -> dict[str, Any]:
        """Fail the test when events your application should have got are missing or altered and
        your client did not raise (or when it got events twice or out of order); pass when every
        event arrived, or when the client raised. Returns the verdict."""
        result = self.verdict(received, error, protocol=protocol)
        if result["outcome"] in ("silent_loss", "duplicated", "reordered", "hung"):
            raise AssertionError(result["evidence"]["summary"])
        return result


def _field(event: Any, *names: str) -> Any:
    for name in names:
        value = event.get(name) if isinstance(event, dict) else getattr(event, name, None)
        if value is not None:
            return value
    return None


def _text(event: Any) -> str:
    if isinstance(event, str):
        return event
    data = _field(event, "data")
    return data if isinstance(data, str) else json.dumps(data) if data is not None else ""


def _id(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


# -- building the harness ---------------------------------------------------------------------


@contextmanager
def fronting(
    server: dict[str, Any] | str | None = None,
    *,
    faults: list[Any] = (),
    capture: Path,
    seed: int = 0,
    tls: bool = False,
    upstream_ca: str | Path | None = None,
) -> Iterator[FaultproxyHarness]:
    """A :class:`FaultproxyHarness` outside pytest: ``server`` is the options of a built-in server
    (``{"kind": "openai", ...}``; default the reference SSE server) or the URL of one of yours
    (an ``https://`` one is verified against the system's CAs, or ``upstream_ca``).

    ``tls``: TLS end to end, as against a real API -- the built-in server serves HTTPS posing as
    its API's host (api.openai.com, api.anthropic.com; a throw-away CA), the proxy re-originates
    TLS to it and serves HTTPS itself; :attr:`FaultproxyHarness.ca_file` is the CA to trust."""
    from faultproxy.net.stream_server import running_in_thread
    from faultproxy.proxy.server import Proxy
    from faultproxy.scenarios.model import DEFAULT_PATHS, ServerSpec, options_model
    from faultproxy.scenarios.tls import TLSWorld

    with ExitStack() as stack:
        world = TLSWorld(capture.parent) if tls else None
        options: dict[str, Any] = {"upstream_ca": upstream_ca} if upstream_ca is not None else {}
        if isinstance(server, str):
            spec = ServerSpec(kind="url", url=server)
            running, upstream = None, spec.origin()
            target = _target(server)
        else:
            server_options = dict(server or {"events": 10, "interval_ms": 5})
            kind = server_options.pop("kind", "sse")
            options_model(kind).model_validate(server_options)  # the names and types of a scenario's server
            spec = ServerSpec(kind=kind, options=server_options)
            built = spec.build()
            if world is not None:
                world.serve(built, kind)
            running = stack.enter_context(running_in_thread(built))
            upstream, target = f"http://127.0.0.1:{running.port}", DEFAULT_PATHS[kind] or "/"
            if world is not None:
                upstream, options = (
                    world.upstream(kind, running.port),
                    world.proxy_options(kind, running.port),
                )
        proxy = stack.enter_context(
            running_in_thread(Proxy(upstream, faults=list(faults), capture=capture, seed=seed, **options))
        )
        yield FaultproxyHarness(
            running,
            proxy,
            capture,
            kind=spec.kind,
            target=target,
            ca_file=world.ca_file if world is not None else None,
        )


def _target(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def pytest_addoption(parser: pytest.Parser) -> None:
    from faultproxy.scenarios.collect import add_options

    add_options(parser)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Scenario files as test items, when asked (``--faultproxy-scenarios``; see :mod:`faultproxy.scenarios.collect`)."""
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    from faultproxy.scenarios.collect import ScenarioFile, wanted

    return ScenarioFile.from_parent(parent, path=file_path) if wanted(parent.config) else None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "faultproxy_server(kind='sse', **options) or faultproxy_server(url=...): "
        "the server behind the faultproxy fixture (sse, starlette, openai, anthropic "
        "with the options of a scenario file's server, or any URL); tls=True: HTTPS "
        "end to end (trust faultproxy.ca_file); upstream_ca=FILE for an https URL",
    )
    config.addinivalue_line(
        "markers",
        "faultproxy_faults(*faults): run the test once under each fault "
        "(TYPE:key=value,… as faultproxy proxy --fault takes it), each its own test id",
    )


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
def faultproxy_upstream() -> str | None:
    """Override to put faultproxy in front of a server your test starts: return its URL
    (``http://127.0.0.1:PORT/stream``); the path is what ``faultproxy.url`` asks for."""
    return None


@pytest.fixture
def faultproxy(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    faultproxy_fault: str | None,
    faultproxy_upstream: str | None,
) -> Iterator[FaultproxyHarness]:
    """faultproxy in front of a server, for the duration of one test (see the module docstring)."""
    from pydantic import ValidationError

    from faultproxy.faults import parse_cli_fault
    from faultproxy.scenarios.model import SERVER_KINDS, options_model

    marker = request.node.get_closest_marker("faultproxy_server")
    options = dict(marker.kwargs) if marker else None
    tls = bool(options.pop("tls", False)) if options else False
    upstream_ca = options.pop("upstream_ca", None) if options else None
    server: dict[str, Any] | str | None = options
    if faultproxy_upstream is not None:
        server = faultproxy_upstream
    elif options is not None and "url" in options:
        server = str(options["url"])
    elif options is not None:
        kind = options.get("kind", "sse")
        if kind not in SERVER_KINDS:
            raise pytest.UsageError(
                f"{request.node.nodeid}: faultproxy_server: kind {kind!r}; one of "
                f"{', '.join(SERVER_KINDS)} (or url=...)"
            )
        model = options_model(kind)
        try:
            model.model_validate({k: v for k, v in options.items() if k != "kind"})
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(map(str, first["loc"]))
            what = "unknown option" if first["type"] == "extra_forbidden" else first["msg"]
            raise pytest.UsageError(
                f"{request.node.nodeid}: faultproxy_server: {where}: {what}; the {kind} server "
                f"takes: {', '.join(model.model_fields)}"
            ) from None
    faults = [parse_cli_fault(faultproxy_fault)] if faultproxy_fault else []
    with fronting(
        server, faults=faults, capture=tmp_path / "faultproxy-capture.jsonl", tls=tls, upstream_ca=upstream_ca
    ) as harness:
        yield harness
