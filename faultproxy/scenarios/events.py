"""The three records of a cell -- sent, delivered, received -- as one kind of item, in one vocabulary.

:class:`Item` is an event reduced to what the comparisons need: type, data, id, time, connection.

- :func:`sent_items` reads a server's ground truth: the SSE servers' ``.sent``
  (:class:`~faultproxy.lab.sse_server.SentEvent`, ids ``1..N``) or the LLM mocks' ``.log`` of
  exchanges (their events carry no ids); also plain lists of those or of dicts.
- :func:`expected_stream` turns every write the server made into the *logical* stream the
  application should end up with (see there).
- :func:`received_items` reads a client :class:`~faultproxy.clients.transcript.Transcript`.
- the delivered items come from :mod:`faultproxy.scenarios.oracle`.

The official SDK clients do not hand raw SSE events to the application: they report what the SDK
yields (``delta`` text, ``tool_call`` fragments, ``finish`` reasons...). :func:`project` maps raw
SSE items into that vocabulary exactly as each SDK adapter in ``faultproxy/clients/`` does, so
sent and delivered can be compared with what such a client received. For the generic SSE
clients the projection is the identity, except that OpenAI's ``data: [DONE]`` sentinel is left
out: some clients stop at it without reporting it, and its absence is an end-of-stream matter
that the oracle reports (a missing sentinel), not a lost event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

SSE, OPENAI_CHAT, OPENAI_RESPONSES, ANTHROPIC = "sse", "openai-chat", "openai-responses", "anthropic-messages"
DONE = "[DONE]"


@dataclass(frozen=True)
class Item:
    """One event: ``id`` is the event's id (the last event ID in effect) or None; ``t`` a time whose
    clock depends on the record (sent: ``time.monotonic()``; delivered: seconds since the capture
    started; received: seconds since the client started); ``connection`` the connection (sent: the
    server's numbering; delivered: the proxy's; received: the client's attempt number); ``index``
    the event's position in its connection's response. ``retry`` is the event's own ``retry`` field
    as text (delivered: the valid one of its block; received: what the client reported with the
    event, for the clients that report one; None: none) -- judged only between delivered and
    received (``docs/outcomes.md``, "Every field is judged")."""

    type: str
    data: str
    id: str | None = None
    t: float | None = None
    connection: int | None = None
    index: int | None = None
    retry: str | None = None

    @property
    def content(self) -> tuple[str, str]:
        return (self.type, self.data)


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _sent_one(obj: Any, position: int) -> Item:
    if isinstance(obj, Item):
        return obj
    raw_id = _get(obj, "id")
    event_type = _get(obj, "type") or _get(obj, "event") or "message"
    return Item(
        type=str(event_type),
        data=str(_get(obj, "data", "")),
        id=None if raw_id in (None, "") else str(raw_id),
        t=_get(obj, "time", _get(obj, "t")),
        connection=_get(obj, "connection", 1),
        index=_get(obj, "index", position),
    )


def sent_items(source: Any) -> list[Item] | None:
    """Every event a server wrote, in order, as :class:`Item` (None: no ground truth, e.g. a ``url:`` server).

    ``source`` is a server object (``.sent`` or an LLM mock's ``.log``), a list of the SSE servers'
    ``SentEvent`` / LLM ``Exchange`` objects, dicts of their fields, or Items.
    """
    if source is None:
        return None
    log = getattr(source, "log", None)
    if not isinstance(source, (list, tuple)) and isinstance(log, list) and not hasattr(source, "sent"):
        source = log
    elif hasattr(source, "sent") and not isinstance(source, (list, tuple)):
        source = source.sent
    out: list[Item] = []
    per_connection: dict[int, int] = {}
    for obj in source:
        events = _get(obj, "events")
        if isinstance(events, list) and _get(obj, "endpoint") is not None:  # an LLM mock's Exchange
            for ev in events:
                item = _sent_one(ev, _get(ev, "index", 0))
                out.append(replace(item, connection=_get(obj, "n", 1), t=_get(ev, "time")))
            continue
        item = _sent_one(obj, 0)
        conn = item.connection or 1
        position = per_connection.get(conn, 0)
        per_connection[conn] = position + 1
        out.append(replace(item, index=position) if _get(obj, "index") is None else item)
    return out


# the type of the stand-in for what was owed but never sent (a tail the server never got to write, a
# stream a fault answered for); its data reads "what: why" ("the rest of the stream: ...")
UNSENT = "<unsent>"


@dataclass
class GroundTruth:
    """What the server meant to stream (``intended``: the logical stream the application should end
    up with) and every event it really wrote (``writes``: per connection, re-sends included).

    The two differ when a connection was cut: the server stops writing when its client goes away,
    so ``writes`` alone would make a stream cut after event 2 look complete.
    """

    intended: list[Item] | None
    writes: list[Item] | None


def ground_truth(source: Any) -> GroundTruth:
    """The ground truth of a server object, or of a plain list (taken as what was written).

    - SSE reference servers (``ReferenceSSEServer``, the lab ``SSEServer``, ``StarletteServer``):
      the intended stream is events ``1..N`` with the data the server defines for each;
    - LLM mocks: the last streamed response; if the mock did not get to write all of it (its
      client went away), a stand-in item of type ``<unsent>`` marks the unwritten rest, which no
      client can receive, so the loss is counted;
    - a list of events (or None): ``writes`` is that list and ``intended`` its logical stream
      (:func:`expected_stream`).
    """
    if source is None:
        return GroundTruth(None, None)
    if isinstance(source, GroundTruth):
        return source
    writes = sent_items(source)
    stream = getattr(source, "stream", None)  # StarletteServer defines its events with a ReferenceSSEServer
    definer = source if callable(getattr(source, "data", None)) and hasattr(source, "events") else None
    if definer is None and stream is not None and callable(getattr(stream, "data", None)):
        definer = stream
    if definer is not None and isinstance(getattr(definer, "events", None), int):
        kind = getattr(definer, "event_type", None) or "message"
        intended = [
            Item(type=kind, data=definer.data(n), id=str(n), index=n - 1)
            for n in range(1, definer.events + 1)
        ]
        return GroundTruth(intended, writes)
    intended = expected_stream(writes or [])
    log = getattr(source, "log", None)
    if isinstance(log, list) and log and not isinstance(source, (list, tuple)):
        streamed = [x for x in log if getattr(x, "stream", False)]
        last = streamed[-1] if streamed else None
        if last is not None and not getattr(last, "completed", True):
            rest = f"the rest of response {last.n}: the server did not get to write it ({last.outcome})"
            intended = intended + [Item(type=UNSENT, data=rest, connection=last.n, index=len(intended))]
    return GroundTruth(intended, writes)


def has_ids(items: list[Item]) -> bool:
    """Whether every event carries an id of its own (then events are matched by id)."""
    return bool(items) and all(i.id for i in items)


def expected_stream(sent: list[Item]) -> list[Item]:
    """The logical stream the application should end up with, from every write the server made.

    With ids (the reference servers), an event the server wrote again on a later connection
    (it resumed after a ``Last-Event-ID``, or repeated an event that a cut connection lost) is the
    same event: each id counts once, in the order ids first appeared. Without ids a reconnect
    cannot resume, so what the application needed is one whole response: the last one the server
    streamed (an SDK retry after a 5xx, or a generic client re-requesting, starts over).
    """
    if not sent:
        return []
    if has_ids(sent):
        seen: set[str] = set()
        out = []
        for item in sent:
            if item.id not in seen:
                seen.add(item.id)  # type: ignore[arg-type]
                out.append(item)
        return out
    last = sent[-1].connection
    return [i for i in sent if i.connection == last]


def received_items(transcript: Any) -> list[Item]:
    """The events a client handed to its application (a Transcript, or its ``to_dict()``)."""
    events = _get(transcript, "events") or []
    return [
        Item(
            type=str(_get(e, "type") or "message"),
            data=str(_get(e, "data", "")),
            id=_get(e, "id") or None,
            t=_get(e, "t"),
            connection=_get(e, "connection", 1),
            index=n,
            retry=None if _get(e, "retry") is None else str(_get(e, "retry")),
        )
        for n, e in enumerate(events)
    ]


# -- projections ------------------------------------------------------------------------------


def _json(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def _openai_chat(item: Item) -> list[tuple[str, str]]:
    chunk = _json(item.data)
    if not isinstance(chunk, dict):
        return []
    out = []
    for choice in chunk.get("choices") or []:
        delta = choice.get("delta") or {}
        if delta.get("content"):
            out.append(("delta", delta["content"]))
        for call in delta.get("tool_calls") or []:
            arguments = (call.get("function") or {}).get("arguments")
            if arguments:
                out.append(("tool_call", arguments))
        if choice.get("finish_reason"):
            out.append(("finish", choice["finish_reason"]))
    return out


_TERMINAL = ("response.completed", "response.incomplete", "response.failed")


def _openai_responses(item: Item) -> list[tuple[str, str]]:
    body = _json(item.data)
    body = body if isinstance(body, dict) else {}
    kind = body.get("type") or item.type
    if kind == "response.output_text.delta":
        return [("delta", str(body.get("delta", "")))]
    if kind == "response.function_call_arguments.delta":
        return [("tool_call", str(body.get("delta", "")))]
    if kind in _TERMINAL:
        status = (body.get("response") or {}).get("status")
        return [("finish", status or kind.rsplit(".", 1)[-1])]
    if kind == "error":
        return [("error", str(body.get("message") or ""))]
    return []


def _anthropic(item: Item) -> list[tuple[str, str]]:
    body = _json(item.data)
    body = body if isinstance(body, dict) else {}
    kind = body.get("type") or item.type
    if kind == "content_block_delta":
        delta = body.get("delta") or {}
        if delta.get("type") == "text_delta":
            return [("delta", str(delta.get("text", "")))]
        if delta.get("type") == "input_json_delta":
            return [("tool_call", str(delta.get("partial_json", "")))]
        return []
    if kind == "message_delta" and (body.get("delta") or {}).get("stop_reason"):
        return [("finish", body["delta"]["stop_reason"])]
    if kind == "message_stop":
        return [("stop", "")]
    return []


_PROJECTIONS = {OPENAI_CHAT: _openai_chat, OPENAI_RESPONSES: _openai_responses, ANTHROPIC: _anthropic}


def project(items: list[Item] | None, protocol: str = SSE) -> list[Item] | None:
    """Raw SSE items as a client speaking ``protocol`` reports them (see the module docstring)."""
    if items is None:
        return None
    if protocol == SSE:
        return [i for i in items if i.data != DONE]
    fn = _PROJECTIONS.get(protocol)
    if fn is None:
        raise ValueError(f"unknown client protocol {protocol!r}; one of: {SSE}, {', '.join(_PROJECTIONS)}")
    out = []
    for item in items:
        for kind, data in fn(item):
            out.append(
                Item(type=kind, data=data, id=None, t=item.t, connection=item.connection, index=item.index)
            )
    return out


def protocol_of(client: str) -> str:
    """The protocol a registered client speaks (``sse`` for unknown names)."""
    try:
        from faultproxy.clients import registry

        return registry.get(client).protocol
    except (KeyError, ImportError):
        return SSE


def reports_ids_of(client: str) -> bool:
    """Whether a registered client hands over event ids (True for unknown names: a spec client does)."""
    try:
        from faultproxy.clients import registry

        return registry.get(client).reports_ids
    except (KeyError, ImportError):
        return True


def transcript_from_lab(lab: Any, *, client: str = "lab", t0: float | None = None) -> Any:
    """A :class:`~faultproxy.lab.sse_client.SSEClient` transcript as a client
    :class:`~faultproxy.clients.transcript.Transcript`, so the lab client can be judged like any other.

    Times become seconds since ``t0`` (default: the first attempt's start), with ``t0_monotonic``
    set so the verdict's timeline lines up with the server's clock. The lab client never raises:
    it ends ``error`` when its last connection failed (a network error, a refused status) and
    ``completed`` when that connection ended cleanly or with ``204 No Content``.
    """
    from faultproxy import __version__
    from faultproxy.clients.transcript import Attempt, ReceivedEvent, Transcript

    clean = ("ended", "no-content")  # the attempt outcomes that end a connection cleanly
    attempts = list(lab.attempts)
    start = t0 if t0 is not None else (attempts[0].started if attempts else 0.0)
    events = [
        ReceivedEvent(
            type=r.event.type,
            data=r.event.data,
            id=r.event.id or None,
            t=round(r.time - start, 6),
            connection=r.connection,
        )
        for r in lab.events
    ]
    out_attempts = [
        Attempt(
            number=a.number,
            t=round(a.started - start, 6),
            last_event_id=a.last_event_id,
            status=a.status,
            ended="ended" if a.outcome in clean else "error",
            error_type=None if a.outcome in (*clean, "closed") else f"lab.{a.outcome}",
            error_message=a.detail or None,
        )
        for a in attempts
    ]
    last = attempts[-1] if attempts else None
    failed = last is not None and last.outcome in ("network-error", "failed")
    times = [r.time for r in lab.events] + [a.started for a in attempts]
    return Transcript(
        client=client,
        version=__version__,
        events=events,
        attempts=out_attempts,
        end="error" if failed else "completed",
        error_type=f"lab.{last.outcome}" if failed else None,  # type: ignore[union-attr]
        error_message=(last.detail or None) if failed else None,  # type: ignore[union-attr]
        duration_s=round(max(times) - start, 6) if times else 0.0,
        t0_monotonic=start,
    )
