"""What a client was asked to do (:class:`ClientRequest`) and what it did (:class:`Transcript`).

Both are plain dataclasses with ``to_dict`` / ``from_dict`` that round-trip through JSON, so
the runner can store transcripts, the harness can hand requests to a child process on stdin,
and a Node or browser client can produce the same shapes. See :mod:`faultproxy.clients.protocol`
for the wire contract between the harness and a child.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

# How a client run ended.
COMPLETED = "completed"  # the client's stream ended without reporting a problem to the application
ERROR = "error"  # the client reported an error (an exception, an error callback, a failed state)
TIMEOUT = "timeout"  # the client's own timeout fired (its read timeout, as configured from timeout_s)
HUNG = "hung"  # the harness's deadline passed and the child was killed
CRASHED = "crashed"  # the child exited without telling the harness how the client ended
ENDS = (COMPLETED, ERROR, TIMEOUT, HUNG, CRASHED)
CHILD_ENDS = (COMPLETED, ERROR, TIMEOUT)  # the ends a child may report itself


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The keys of ``data`` that are fields of ``cls``: newer writers may add fields."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass
class ClientRequest:
    """One client run: where to connect, what to send, and how patient to be.

    ``timeout_s`` is the *client's own* read timeout (None: the client's default of no
    timeout, or the library's default where it cannot be switched off -- see the notes in the
    transcript). ``deadline_s`` is the *harness's*: the child is killed that many seconds
    after it says hello and the run is reported ``hung``.

    ``reconnect`` / ``max_reconnects`` / ``reconnect_ms`` are applied by clients that can
    reconnect (configured in the library where it allows, otherwise enforced by the adapter
    from the library's callbacks); clients that cannot reconnect ignore them and say so in
    the transcript's notes. ``max_reconnects`` counts connections after the first.

    For the SDK clients (``openai``, ``openai-responses``, ``anthropic``) ``url`` is the API
    base URL the SDK is given (``http://127.0.0.1:PORT/v1`` or the mock's ``base_url``), the
    method is always POST, and ``body``, when given, is a JSON object of extra parameters for
    the SDK's create call (it overrides the defaults: model, messages / input, max_tokens).
    """

    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    timeout_s: float | None = None
    reconnect: bool = False
    max_reconnects: int = 0
    reconnect_ms: int = 100
    deadline_s: float = 30.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClientRequest:
        out = cls(**_known(cls, data))
        out.headers = dict(out.headers or {})
        return out

    @property
    def reconnects_allowed(self) -> int:
        """How many reconnects a reconnecting client may make under this policy."""
        return max(0, self.max_reconnects) if self.reconnect else 0


@dataclass
class ReceivedEvent:
    """One event as the client handed it to the application.

    ``id`` is the last event ID the client reports with the event (EventSource's
    ``lastEventId``; for clients that only expose the event's own ``id:`` field, that); None
    when the client reports none or an empty string. ``t`` is seconds since the client
    process started its request (monotonic); ``connection`` the :class:`Attempt` number it
    arrived on (1 for clients that never reconnect). ``retry``: the event's ``retry`` field as
    the client hands it over (a number, or the text a client keeps unparsed), for the clients
    whose API exposes one (their transcript's ``reports`` names ``retry``); None otherwise.
    """

    type: str
    data: str
    id: str | None
    t: float
    connection: int = 1
    retry: int | str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReceivedEvent:
        return cls(**_known(cls, data))


@dataclass
class Attempt:
    """One connection attempt, as far as the client lets us see it.

    ``last_event_id`` is the ``Last-Event-ID`` header the request carried (None: none).
    ``status`` is the response status, None if there was no response (refused, reset) or
    the client does not show it. ``ended`` / ``t_end`` / ``error_type`` / ``error_message``
    say how the connection ended when that was observable: ``"ended"`` (the body ended
    cleanly) or ``"error"``.
    """

    number: int
    t: float
    last_event_id: str | None = None
    status: int | None = None
    ended: str | None = None
    t_end: float | None = None
    error_type: str | None = None
    error_message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Attempt:
        return cls(**_known(cls, data))


@dataclass
class Transcript:
    """Everything one client run produced; ``end`` is one of :data:`ENDS`.

    ``t0_monotonic`` is the child's ``time.monotonic()`` at t=0. On Linux that clock is
    system-wide, so ``t0_monotonic + event.t`` is directly comparable with the lab server's
    ``SentEvent.time`` and the proxy's evidence timestamps. ``reports`` names the optional
    event fields the client's API exposes and its adapter reports (``retry``): only those are
    judged.
    """

    client: str
    version: str | None = None
    events: list[ReceivedEvent] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    end: str = CRASHED
    error_type: str | None = None
    error_message: str | None = None
    duration_s: float = 0.0
    stderr_tail: str = ""
    notes: list[str] = field(default_factory=list)
    t0_monotonic: float | None = None
    exit_code: int | None = None
    reports: list[str] = field(default_factory=list)
    # LLM clients: the message the application ended up with (see faultproxy.clients.protocol)
    message: dict[str, Any] | None = None

    @property
    def data(self) -> list[str]:
        return [e.data for e in self.events]

    @property
    def ids(self) -> list[str | None]:
        return [e.id for e in self.events]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["events"] = [e.to_dict() for e in self.events]
        out["attempts"] = [a.to_dict() for a in self.attempts]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        known = _known(cls, data)
        known["events"] = [ReceivedEvent.from_dict(e) for e in data.get("events", [])]
        known["attempts"] = [Attempt.from_dict(a) for a in data.get("attempts", [])]
        known["notes"] = list(data.get("notes", []))
        known["reports"] = list(data.get("reports", []))
        return cls(**known)
