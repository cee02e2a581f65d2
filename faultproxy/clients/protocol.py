"""The contract between the harness and a client child process (any language): two protocols.

The harness starts the child with the command its registry entry gives (Python clients:
``python -m faultproxy.clients.child NAME``; Node and browser clients and users' own clients:
their own command), in a new process group, with three pipes. ``docs/clients.md`` documents
both protocols for users writing their own client.

The simple protocol (``protocol: simple``, :class:`SimpleCollector`)
----------------------------------------------------------------------

For a user's client that only needs to say what it received: one JSON object per line on
stdout for each event it hands to the application, ``{"type": "message", "data": "...",
"id": "7"}`` (``type`` defaults to ``message``, ``id`` to none), and on failure either a
non-zero exit status or an error line ``{"error": "what went wrong", "error_type":
"MyError", "timeout": false}``. The harness stamps each event with the time it read the
line; the deadline counts from the start of the process. Other lines are kept as notes.

The full protocol (``protocol: full``, :class:`Collector`)
-----------------------------------------------------------

What the built-in adapters speak, for clients that report connection attempts, the
``Last-Event-ID`` they sent, how each connection ended, and their own timings.

**stdin** -- one JSON object,
:meth:`ClientRequest.to_dict() <faultproxy.clients.transcript.ClientRequest.to_dict>`, then EOF::

    {"url": "http://127.0.0.1:5000/events", "method": "GET", "headers": {}, "body": null,
     "timeout_s": null, "reconnect": false, "max_reconnects": 0, "reconnect_ms": 100,
     "deadline_s": 30.0}

**stdout** -- JSON Lines: one JSON object per line, UTF-8, each written and *flushed* the moment
it happens, so whatever was received before a hang or a crash is kept. ``t`` is seconds
(float) since the child started the request, from a monotonic clock::

    {"kind": "hello", "client": "httpx-sse", "version": "0.4.3", "t0_monotonic": 12345.678}
    {"kind": "attempt", "number": 1, "t": 0.002, "last_event_id": null, "status": 200}
    {"kind": "event", "type": "message", "data": "{\\"n\\": 1}", "id": "1", "t": 0.013, "connection": 1}
    {"kind": "disconnect", "number": 1, "t": 0.05, "ended": "error",
     "error_type": "httpx.RemoteProtocolError", "error_message": "peer closed connection ..."}
    {"kind": "note", "text": "reconnect policy not applied: httpx-sse does not reconnect"}
    {"kind": "message", "text": "Hello!", "tool_calls": [{"name": "f", "arguments": "{}"}],
     "finish_reason": "stop", "usage": {"input_tokens": 9, "output_tokens": 3}}
    {"kind": "end", "end": "error", "error_type": "httpx.RemoteProtocolError", "error_message": "..."}

- ``hello`` comes first, once the client library is loaded and just before the request
  starts. ``version`` is the exact version of the library the child loaded. ``reports``
  (optional) names the optional event fields the client's API exposes and the child reports:
  ``["retry"]`` when each ``event`` line carries the event's ``retry`` field as the library
  handed it over (a number, a string, or null); only those fields are judged.
  ``t0_monotonic`` (optional) is the child's monotonic clock at t=0. **The harness deadline
  (``deadline_s``) runs from hello**; a child that does not say hello within the startup
  allowance is killed and reported ``hung`` too.
- ``attempt``: a connection attempt, with the ``Last-Event-ID`` header it sent (null: none)
  and the response status (null: no response, or not visible). A later ``attempt`` line with
  a number already seen *updates* that attempt with the fields it carries (e.g. the status
  once the response head is in). Numbers start at 1.
- ``event``: an event as the client handed it to the application; ``id`` null when the
  client reports no (or an empty) ID; ``connection`` the attempt number it arrived on.
- ``disconnect`` (optional): how a connection ended, when the client lets us see it:
  ``"ended"`` (the body ended cleanly) or ``"error"``.
- ``note``: free text for the transcript (a policy the client could not apply, a quirk).
- ``message`` (LLM clients, once, just before ``end``): the message the application ended up
  with, as the SDK or framework assembled it (or as the adapter joined the deltas when the
  library hands out only deltas): ``text``, ``tool_calls`` (``name``, ``arguments`` -- the JSON
  text as received, parsed or not), ``finish_reason`` in the library's own words, ``usage``
  (``input_tokens`` / ``output_tokens``, null when the library reported none), and optionally
  ``blocks``: the kinds of the message's content blocks (``text``, ``tool_call``) in the order
  the application's message holds them (Anthropic's content list, the Responses API's output
  items; left out where the API's message has no order between text and tool calls, as in
  Chat). Sent on an error too, with what had been assembled.
- ``end``: the last line; ``end`` is ``completed``, ``error`` or ``timeout`` (the client's
  own timeout fired); ``error_type`` / ``error_message`` as the client reported them.
  Error types are named ``package.ClassName`` (``httpx.ReadTimeout``,
  ``openai.APIError``) or the bare built-in name (``ConnectionResetError``).

Unknown kinds and non-JSON lines are ignored (kept as notes). The harness reports
``hung`` when it had to kill the child at the deadline, and ``crashed`` when the child exited
without an ``end`` line (with the tail of its **stderr**, which is otherwise free text).
The exit status is informational only.
"""

from __future__ import annotations

import json
import threading
import time
from typing import IO, Any

from faultproxy.clients.transcript import (
    CHILD_ENDS,
    COMPLETED,
    CRASHED,
    ERROR,
    TIMEOUT,
    Attempt,
    ReceivedEvent,
    Transcript,
)

HELLO, ATTEMPT, EVENT, DISCONNECT, NOTE, MESSAGE, END = (
    "hello",
    "attempt",
    "event",
    "disconnect",
    "note",
    "message",
    "end",
)
KINDS = (HELLO, ATTEMPT, EVENT, DISCONNECT, NOTE, MESSAGE, END)


class Emitter:
    """The child's half: writes protocol lines to ``out`` (thread-safe, flushed per line).

    ``start()`` fixes t=0 and says hello; the rest stamp ``t`` themselves. The emitter also
    keeps the bookkeeping most adapters need: the current connection number, and whether
    an ``end`` was already written (so a second one is never sent).
    """

    def __init__(self, out: IO[str], client: str):
        self.out = out
        self.client = client
        self.t0 = time.monotonic()
        self.connection = 0  # the attempt number events are attributed to
        self.attempts = 0
        self.ended = False
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def write(self, message: dict[str, Any]) -> None:
        line = json.dumps(message, ensure_ascii=False, default=str)
        with self._lock:
            self.out.write(line + "\n")
            self.out.flush()

    def hello(self, version: str | None, reports: tuple[str, ...] = ()) -> None:
        self.t0 = time.monotonic()
        message: dict[str, Any] = {
            "kind": HELLO,
            "client": self.client,
            "version": version,
            "t0_monotonic": self.t0,
        }
        if reports:
            message["reports"] = list(reports)
        self.write(message)

    def attempt(
        self,
        *,
        last_event_id: str | None = None,
        status: int | None = None,
        number: int | None = None,
        started: float | None = None,
    ) -> int:
        """A new attempt (``number=None``) or an update of attempt ``number``; returns its number.

        ``started`` is the ``time.monotonic()`` the attempt began, when the client tells us
        (default: now).
        """
        if number is None:
            self.attempts += 1
            number = self.attempts
            self.connection = number
            t = self.now() if started is None else started - self.t0
            message: dict[str, Any] = {
                "kind": ATTEMPT,
                "number": number,
                "t": t,
                "last_event_id": last_event_id or None,
                "status": status,
            }
        else:
            message = {"kind": ATTEMPT, "number": number}
            if status is not None:
                message["status"] = status
            if last_event_id is not None:
                message["last_event_id"] = last_event_id or None
        self.write(message)
        return number

    def event(self, type: str | None, data: str | None, id: str | None = None, **fields: Any) -> None:
        """An event handed to the application; ``fields``: the optional ones hello said it
        reports (``retry=...``)."""
        self.write(
            {
                "kind": EVENT,
                "type": type or "message",
                "data": data if data is not None else "",
                "id": id or None,
                "t": self.now(),
                "connection": max(self.connection, 1),
                **fields,
            }
        )

    def disconnect(
        self,
        ended: str,
        error: BaseException | None = None,
        *,
        number: int | None = None,
        error_type: str | None = None,
        error_message: str | None = None,
    ) -> None:
        """How connection ``number`` (default: the current one) ended: ``"ended"`` or ``"error"``."""
        message: dict[str, Any] = {
            "kind": DISCONNECT,
            "number": number or max(self.connection, 1),
            "t": self.now(),
            "ended": ended,
        }
        if error is not None:
            error_type, error_message = error_name(error), str(error) or repr(error)
        if error_type is not None:
            message["error_type"], message["error_message"] = error_type, error_message
        self.write(message)

    def note(self, text: str) -> None:
        self.write({"kind": NOTE, "text": text})

    def message(
        self,
        text: str,
        tool_calls: list[dict[str, Any]],
        finish_reason: str | None,
        usage: dict[str, Any] | None,
        blocks: list[str] | None = None,
    ) -> None:
        """The LLM message the application ended up with (see the module docstring)."""
        line = {
            "kind": MESSAGE,
            "text": text,
            "tool_calls": tool_calls,
            "finish_reason": finish_reason,
            "usage": usage,
        }
        self.write(line if blocks is None else {**line, "blocks": list(blocks)})

    def end(self, end: str, error_type: str | None = None, error_message: str | None = None) -> None:
        if self.ended:
            return
        self.ended = True
        self.write({"kind": END, "end": end, "error_type": error_type, "error_message": error_message})


def error_name(error: BaseException) -> str:
    """``httpx.ReadTimeout``, ``openai.APIError``, ``ConnectionResetError``: package + class name."""
    cls = type(error)
    package = cls.__module__.split(".")[0]
    if package in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{package}.{cls.__qualname__}"


class _Lines:
    """What both collectors share: a transcript, and stdout lines read as JSON (others kept as notes)."""

    transcript: Transcript

    def _note(self, text: str) -> None:
        if len(self.transcript.notes) < 200:
            self.transcript.notes.append(text)

    def _json(self, line: str) -> tuple[Any, str] | None:
        """The line's JSON value and the line, None for a blank line or one that is not JSON (noted)."""
        line = line.strip()
        if not line:
            return None
        try:
            return json.loads(line), line
        except ValueError:
            self._note(f"ignored a stdout line that is not JSON: {line[:200]!r}")
            return None


class Collector(_Lines):
    """The harness's half: applies protocol lines to a :class:`Transcript` as they arrive."""

    def __init__(self, client: str):
        self.transcript = Transcript(client=client)
        self.hello = False
        self.ended = False
        self._attempts: dict[int, Attempt] = {}

    def feed_line(self, line: str) -> None:
        parsed = self._json(line)
        if parsed is None:
            return
        message, line = parsed
        if not isinstance(message, dict) or message.get("kind") not in KINDS:
            self._note(f"ignored a stdout line of unknown kind: {line[:200]!r}")
            return
        try:
            self._apply(message)
        except (TypeError, ValueError, KeyError) as error:
            self._note(f"ignored a malformed {message.get('kind')} line ({error}): {line[:200]!r}")

    def _attempt(self, m: dict[str, Any]) -> Attempt:
        """The attempt an ``attempt`` or ``disconnect`` line is about, made at its first mention:
        a client may report the disconnect of an attempt whose start line it never wrote."""
        number = int(m["number"])
        attempt = self._attempts.get(number)
        if attempt is None:
            attempt = Attempt(number=number, t=float(m.get("t") or 0.0))
            self._attempts[number] = attempt
            self.transcript.attempts.append(attempt)
        return attempt

    def _apply(self, m: dict[str, Any]) -> None:
        t = self.transcript
        kind = m["kind"]
        if kind == HELLO:
            self.hello = True
            t.client = str(m.get("client") or t.client)
            t.version = m.get("version")
            t.t0_monotonic = m.get("t0_monotonic")
            t.reports = [str(f) for f in m.get("reports") or []]
        elif kind == ATTEMPT:
            attempt = self._attempt(m)
            for key in ("last_event_id", "status"):
                if key in m:
                    setattr(attempt, key, m[key])
        elif kind == DISCONNECT:
            attempt = self._attempt(m)
            attempt.ended = str(m.get("ended") or ERROR)
            attempt.t_end = m.get("t")
            attempt.error_type = m.get("error_type")
            attempt.error_message = m.get("error_message")
        elif kind == EVENT:
            t.events.append(
                ReceivedEvent(
                    type=str(m.get("type") or "message"),
                    data=str(m.get("data") if m.get("data") is not None else ""),
                    id=m.get("id") or None,
                    t=float(m.get("t") or 0.0),
                    connection=int(m.get("connection") or 1),
                    retry=m.get("retry") if isinstance(m.get("retry"), (int, str)) else None,
                )
            )
        elif kind == NOTE:
            self._note(str(m.get("text")))
        elif kind == MESSAGE:
            t.message = {k: m.get(k) for k in ("text", "tool_calls", "finish_reason", "usage")}
            if isinstance(m.get("blocks"), list):
                t.message["blocks"] = [str(b) for b in m["blocks"]]
        elif kind == END:
            if self.ended:
                return
            end = m.get("end")
            if end not in CHILD_ENDS:
                self._note(f"the child reported an unknown end {end!r}; treated as crashed")
                end = CRASHED
            self.ended = True
            t.end = end
            t.error_type = m.get("error_type")
            t.error_message = m.get("error_message")

    def exited(self, returncode: int | None, stderr: str) -> bool:
        """The child exited without an ``end`` line: the harness reports it ``crashed`` (False)."""
        return False


class SimpleCollector(_Lines):
    """The harness's half of the simple protocol (see the module docstring).

    There is no hello: the run starts with the process (``t0``, the harness's monotonic clock),
    and each event is stamped when its line is read. The end is an error line, else the exit
    status: 0 is ``completed``, another status ``error`` (its message: the last line of stderr),
    a signal ``crashed``.
    """

    hello = True

    def __init__(self, client: str, version: str | None, t0: float):
        self.transcript = Transcript(client=client, version=version, t0_monotonic=t0)
        self.t0 = t0
        self.ended = False

    def feed_line(self, line: str) -> None:
        parsed = self._json(line)
        if parsed is None:
            return
        message, line = parsed
        if not isinstance(message, dict) or not ({"error", "data", "type"} & set(message)):
            self._note(f"ignored a stdout line that is neither an event nor an error: {line[:200]!r}")
        elif self.ended:
            self._note(f"ignored a line after the error line: {line[:200]!r}")
        elif "error" in message:
            self.ended = True
            t = self.transcript
            t.end = TIMEOUT if message.get("timeout") is True else ERROR
            t.error_type = str(message.get("error_type") or ("timeout" if t.end == TIMEOUT else "error"))
            t.error_message = _text(message["error"])
        else:
            raw_id = message.get("id")
            connection = message.get("connection")
            self.transcript.events.append(
                ReceivedEvent(
                    type=_text(message.get("type") or "message"),
                    data=_text(message.get("data", "")),
                    id=None if raw_id in (None, "") else _text(raw_id),
                    t=round(time.monotonic() - self.t0, 6),
                    connection=connection if isinstance(connection, int) and connection > 0 else 1,
                )
            )

    def exited(self, returncode: int | None, stderr: str) -> bool:
        """How the run ended, from the exit status (True: decided)."""
        t = self.transcript
        if returncode == 0:
            t.end = COMPLETED
        elif returncode is not None and returncode > 0:
            last = next((ln.strip() for ln in reversed(stderr.splitlines()) if ln.strip()), "")
            t.end, t.error_type = ERROR, f"exit status {returncode}"
            t.error_message = last or f"the command exited with status {returncode}"
        else:
            t.end, t.error_type = CRASHED, "crashed"
            t.error_message = f"the command was killed by signal {-(returncode or 0)}"
        return True


def _text(value: Any) -> str:
    """A JSON value as the text an application would see (a number id as its digits)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
