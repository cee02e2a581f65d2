"""Verdicts: one cell (scenario × client × repetition) judged from sent, delivered and received.

:func:`classify` is a pure function of the three records (defined in ``docs/outcomes.md``, with every
outcome and the attribution):

- **sent** -- the server's ground truth, reduced to the *logical* stream the application should
  end up with (:func:`~faultproxy.scenarios.events.expected_stream`: each id once; without ids,
  the last whole response);
- **delivered** -- the oracle (:mod:`faultproxy.scenarios.oracle`): the events a spec-exact
  client must have seen in the bytes the proxy wrote, and how each body ended;
- **received** -- the client's transcript.

It makes three comparisons, all with :func:`~faultproxy.scenarios.match.match` (by id when the
server gives ids, else by (type, data) sequence): *received vs sent* decides the outcome (the
application's view is what the user cares about); *delivered vs sent* (``oracle_vs_sent``) says
what the faults destroyed or changed, and whether a careful client could have noticed; *received
vs delivered* (``received_vs_oracle``) says whether the client parsed what it was given correctly
-- a difference there is the client's own bug, whatever the faults did.

Outcome, first rule that applies
--------------------------------

"Complete" means: every sent event reached the application, unaltered (no missing or garbled
events; duplicates and order are judged after). Events the server never sent do not make a
stream incomplete -- nothing of the application's data is lost -- but they are always reported:
an extra event that the delivered bytes held (a fault injected it, e.g. ``sse_inject``) was
rightly handed over; one the bytes did not hold was made up by the client (a comment turned
into an empty event, a CRLF split into two events), which ``received_vs_oracle`` shows and
``all_events_in_order`` fails on.

1. ``hung`` -- the harness had to kill the client (``end == "hung"``), whatever it had received:
   the application's call never returned, which is a failure of its own even after the last event.
2. ``error`` -- the client told the application something went wrong (``end`` is ``error``,
   ``timeout`` -- its own read timeout -- or ``crashed``) *and the stream is not complete* (or
   there was no event to receive at all: the error is then the whole answer). The
   error is the application's cue to recover, so the loss was not silent. An error after every
   event arrived does not make the cell ``error``: the application has all its data (typically
   the body was cut after the last event, and the client could not know nothing more was coming);
   the outcome is decided by the rules below and the error is kept in the evidence and the
   summary ("then raised ...").
3. ``silent_loss`` -- the client finished *without* an error and the stream is not complete:
   events missing, truncated or altered (an altered event is a lost one: its data never arrived
   as sent; a hang is ``hung`` instead, rule 1). This holds whether the
   client could have noticed or not: when a fault removed events in a way no client can detect
   at the HTTP level (``sse_drop``; ``early_end`` with a clean last chunk), the application still
   lost data without being told -- ``oracle_vs_sent`` then says that it was not noticeable, and
   only an end sentinel or the ids would show it. When the delivered bytes *did* say something was
   wrong (a body cut without its last chunk, a reset), ``oracle_vs_sent`` says so and the client
   is to blame for not raising.
4. ``duplicated`` -- complete, but some event reached the application more than once (a resume
   that repeats the last event, an ``sse_duplicate`` passed on).
5. ``reordered`` -- complete, no duplicates, but not in the order sent.
6. ``resumed`` -- exactly once and in order, with events on more than one connection, and every
   reconnect after the first event carried the right ``Last-Event-ID`` (the id of the last event
   the application had received). A reconnect with a wrong header that still got every event once
   is ``ok``, with a note.
7. ``ok`` -- everything else: every event exactly once, in order.

Duplicates rank above reordering because a repeated event is the usual failure of a resume
(at-least-once delivery handed to an application that assumed exactly-once); both are listed in
the evidence when both happen. Without ground truth (a ``url:`` server) the delivered events
stand in for the sent ones; without a capture, the oracle comparisons are reported as unknown.

``passed`` is true when every expectation is met, or when the scenario records a known behaviour
for this client, the outcome is one of the recorded ones and some expectation is unmet (``known``
names it: a record is of a deviation). A recorded behaviour that no longer holds -- another
outcome, or every expectation now met -- sets ``known_changed`` and fails the cell, so the record
is updated when a client changes, for better or worse. A cell whose scenario did not test what it
says (a fault that never fired, a ``url:`` server that never streamed) fails whatever ``known`` says.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from faultproxy.report.model import CELL_CLOCK, excerpt_heading
from faultproxy.scenarios import llm_message
from faultproxy.scenarios.events import (
    DONE,
    SSE,
    UNSENT,
    Item,
    expected_stream,
    ground_truth,
    has_ids,
    project,
    protocol_of,
    received_items,
    reports_ids_of,
)
from faultproxy.scenarios.match import Match, labels_shown, match
from faultproxy.scenarios.model import DEFAULT_EXPECTATIONS, Expectation, Known
from faultproxy.scenarios.oracle import DeliveredExchange, Oracle, oracle_of
from faultproxy.scenarios.result import CellEvidence, CellResult, ClientError, ExpectationResult
from faultproxy.scenarios.truth import server_refused, truth_from_capture, with_answers

SIGNALLED = ("error", "timeout", "crashed")  # ends that tell the application something went wrong
RETURNED = ("completed", "error", "timeout")  # ends where the client gave control back by itself


# -- inputs -------------------------------------------------------------------------------------


def _transcript(transcript: Any) -> Any:
    if isinstance(transcript, dict):
        from faultproxy.clients.transcript import Transcript

        return Transcript.from_dict(transcript)
    return transcript


def _expectations(items: Iterable[Any] | None) -> list[Expectation]:
    if items is None:
        return list(DEFAULT_EXPECTATIONS)
    out = []
    for item in items:
        if isinstance(item, Expectation):
            out.append(item)
        elif isinstance(item, str):
            out.append(Expectation(name=item))
        elif isinstance(item, dict) and "name" in item:
            out.append(Expectation(name=item["name"], params={k: v for k, v in item.items() if k != "name"}))
        else:
            raise TypeError(f"not an expectation: {item!r}")
    return out or list(DEFAULT_EXPECTATIONS)


def _known(known: Any) -> Known | None:
    if known is None or isinstance(known, Known):
        return known
    return Known.model_validate(known)


def _fault_dicts(faults_fired: Iterable[Any] | None, oracle: Oracle | None) -> list[dict[str, Any]]:
    """Evidence objects (``proxy.evidence``) or their dicts; without them, the capture's fault records
    (the same fields: the capture writes the evidence as it is, with ``type: fault`` as its record
    kind and its own clock's ``t`` kept as ``capture_t``)."""
    if faults_fired is None:
        return [
            {**{k: v for k, v in r.items() if k not in ("type", "t")}, "capture_t": r.get("t")}
            for r in (oracle.fault_records if oracle is not None else [])
        ]
    return [f.as_dict() if hasattr(f, "as_dict") else dict(f) for f in faults_fired]


def _where(f: dict[str, Any]) -> str:
    parts = [
        f"conn {f['conn']}" if f.get("conn") is not None else None,
        f"exchange {f['exchange']}" if f.get("exchange") is not None else None,
        f"event {f['event_index'] + 1}" if f.get("event_index") is not None else None,
        f"byte {f['offset']}" if f.get("offset") is not None else None,
    ]
    return ", ".join(p for p in parts if p)


def _fault_phrase(f: dict[str, Any]) -> str:
    name = f.get("fault") or f.get("fault_type") or "?"
    kind = f.get("fault_type")
    label = f"{kind} {name!r}" if kind and kind != name else str(name)
    detail = f": {f['detail']}" if f.get("detail") else ""
    return f"{label} at {_where(f)}{detail}"


# -- the pieces of the verdict ------------------------------------------------------------------


def _project_intended(intended: list[Item] | None, protocol: str) -> list[Item] | None:
    """The intended stream in the client's vocabulary (the ``<unsent>`` stand-in kept as it is)."""
    if intended is None:
        return None
    unsent = [i for i in intended if i.type == UNSENT]
    return expected_stream(project([i for i in intended if i.type != UNSENT], protocol) or []) + unsent


def _expected_sentinel(items: list[Item]) -> tuple[str, str | None] | None:
    """The end sentinel this kind of stream closes with: OpenAI chat's ``data: [DONE]``, Anthropic's
    ``message_stop``, the Responses API's ``response.completed`` (None for a plain event stream)."""
    for item in items:
        if item.type == "message" and item.data == "[DONE]" or '"chat.completion.chunk"' in item.data:
            return ("message", "[DONE]")
        if item.type.startswith("message_") or item.type == "content_block_delta":
            return ("message_stop", None)
        if item.type.startswith("response."):
            return ("response.completed", None)
    return None


def _has_sentinel(items: list[Item] | None, sentinel: tuple[str, str | None]) -> bool:
    kind, data = sentinel
    return any(i.type == kind and (data is None or i.data == data) for i in items or [])


def _missing_sentinel(
    protocol: str, raw_sent: list[Item] | None, raw_delivered: list[Item] | None
) -> str | None:
    """The end sentinel (``[DONE]``, ``message_stop``, ...) that a client speaking an LLM API's
    protocol should have seen and the delivered bytes lack; None for a generic SSE client (the
    sentinel is no part of what it speaks), without a capture, or when it was delivered."""
    if protocol == SSE or raw_delivered is None:
        return None
    sentinel = _expected_sentinel((raw_sent or []) + raw_delivered)
    if sentinel is None or _has_sentinel(raw_delivered, sentinel):
        return None
    return sentinel[1] or sentinel[0]


def _oracle_vs_sent(
    expected: list[Item] | None,
    oracle: Oracle | None,
    vs: Match | None,
    faults: list[dict[str, Any]],
    raw_sent: list[Item] | None,
    raw_delivered: list[Item] | None,
    signs: list[str] = (),
) -> str:
    """What the faults changed; ``signs``: what an LLM stream itself said was wrong (llm_message.signs)."""
    if raw_delivered is None:
        return "unknown: no capture, so what the proxy delivered cannot be checked"
    if expected is None:
        return (
            "no ground truth (the server does not log what it sent): the delivered events stand in for "
            "the sent ones, so loss caused before or by the proxy cannot be counted"
        )
    parts: list[str] = []
    assert vs is not None
    fired = "; ".join(_fault_phrase(f) for f in faults[:4])
    if len(faults) > 4:
        fired += f" … (+{len(faults) - 4} more)"
    if vs.exact and not expected:
        parts.append("no event was sent, and the delivered bytes hold none")
    elif vs.exact:
        parts.append(f"the delivered bytes hold all {len(expected)} sent events, once each, in order")
    else:
        differences = "; ".join(vs.describe("sent", "delivered"))
        parts.append(f"the delivered bytes differ from what was sent: {differences}")
    broken = [x for x in oracle.exchanges if x.trouble or x.end == "open"] if oracle else []
    if broken:
        parts.append("trouble on the wire: " + "; ".join(x.describe() for x in broken))
    if not vs.complete and oracle is None:
        parts.append("how the bodies ended is unknown (no capture records)")
    elif not vs.complete:
        loud = [x for x in broken if x.trouble]
        if loud:
            troubles = "; ".join(dict.fromkeys(x.trouble for x in loud))
            parts.append(f"a careful client could notice ({troubles})")
        else:
            how = []
            if vs.missing and vs.by_id:
                how.append("a gap in the ids")
            if vs.garbled or vs.extra:
                how.append("the data itself (to an application that validates it)")
            how += signs
            sentinel = _expected_sentinel((raw_sent or []) + (raw_delivered or []))
            if sentinel is not None and not _has_sentinel(raw_delivered, sentinel):
                how.append("the missing end sentinel (" + (sentinel[1] or sentinel[0]) + ")")
            verb = "shows" if len(how) == 1 else "show"
            parts.append(
                "no client could notice at the HTTP level (every body ended cleanly)"
                + (": only " + " or ".join(how) + f" {verb} it" if how else "")
            )
    parts.append(f"faults fired: {fired}" if faults else "no fault fired")
    return "; ".join(parts)


def _received_vs_oracle(
    oracle: Oracle | None, delivered: list[Item] | None, rv: Match | None, end: str
) -> str:
    if delivered is None or rv is None:
        return "unknown: no capture, so the client's parsing cannot be checked"
    if rv.exact:
        return (
            f"the client handed the application exactly the {len(delivered)} events the delivered bytes hold"
        )
    if _stopped_early(oracle, delivered, rv, end):
        return (
            f"the client stopped before the last {len(rv.missing)} delivered events "
            f"({labels_shown(rv.missing_labels(), 8)}) -- it ended '{end}'; what it did hand over matches "
            "the delivered bytes"
        )
    return "the client parsed the delivered bytes differently from a spec-exact parser: " + "; ".join(
        rv.describe("delivered", "received")
    )


def _unfired(
    configured: Iterable[str] | None, fired: list[dict[str, Any]], expectations: list[Expectation]
) -> list[str]:
    """The scenario's faults that never fired in this cell and are not allowed to stay silent."""
    allowed = {n for e in expectations if e.name == "may_not_fire" for n in e.params.get("faults", [])}
    seen = {f.get("fault") for f in fired}
    return [name for name in configured or () if name not in seen and name not in allowed]


def _passed_over(silent: list[str], notes: Iterable[Any] | None) -> str:
    """Why the silent faults passed traffic over, as they said (``Context.passed_over``)."""
    said: dict[str, list[str]] = {}  # the reason → the faults that gave it
    for note in notes or ():
        n = note.as_dict() if hasattr(note, "as_dict") else dict(note)
        names = said.setdefault(n.get("detail", ""), [])
        if n.get("fault") in silent and n["fault"] not in names:
            names.append(n["fault"])
    return "".join(f"; {', '.join(names)}: {detail}" for detail, names in said.items() if names)


def _stopped_early(oracle: Oracle | None, delivered: list[Item] | None, rv: Match | None, end: str) -> bool:
    """The client handed over the delivered events faithfully, then stopped (it raised, hung or
    closed the connection) before the last few: what it did hand over is right."""
    if delivered is None or rv is None or not rv.missing:
        return False
    tail = rv.missing == list(range(len(delivered) - len(rv.missing), len(delivered)))
    stopped = (
        end in SIGNALLED
        or end == "hung"
        or (oracle is not None and any(x.end == "client_closed" for x in oracle.exchanges))
    )
    return bool(tail and stopped and not (rv.garbled or rv.extra or rv.duplicated or rv.reordered))


def _resume(
    received: list[Item], vs: Match | None, rv: Match | None, attempts: list[Any]
) -> tuple[bool, bool, list[str]]:
    """(events came on more than one connection, every reconnect sent the right Last-Event-ID, notes).

    The right one is the last event ID the delivered bytes had set when the client's last event
    before the reconnect arrived (``rv``, received vs delivered): a fault that stripped the ids
    leaves a spec client nothing to send. Without a capture, the sent event's id stands in."""
    connections = sorted({i.connection or 1 for i in received})
    spread = len(connections) > 1
    notes: list[str] = []
    right = True
    checked = 0
    for attempt in attempts:
        number = getattr(attempt, "number", 1)
        before = [r for r, item in enumerate(received) if (item.connection or 1) < number]
        if not before:
            continue
        r = before[-1]
        d = rv.matched_expected(r) if rv is not None else None
        if d is not None:
            want = rv.expected[d].id
        else:
            e = vs.matched_expected(r) if vs is not None else None
            want = (vs.expected[e].id if vs is not None and e is not None else None) or received[r].id
        got = getattr(attempt, "last_event_id", None)
        checked += 1
        if want is not None and got != want:
            right = False
            notes.append(
                f"attempt {number} sent Last-Event-ID {got!r}, but the last event received was {want!r}"
            )
    if spread and not checked:
        right = False
    return spread, right, notes


def _extras(vs: Match | None, rv: Match | None) -> tuple[list[str], list[str]]:
    """Events received that the server never sent: (made up by the client, faithfully passed on from
    the wire). Without a capture every one counts as made up: nothing shows it was on the wire."""
    if vs is None or not vs.extra:
        return [], []
    # on the wire only when the delivered bytes hold it exactly: one the client altered is its own
    faithful = (
        set(rv.pairs.values()) | {r for _, r in rv.reordered + rv.duplicated} if rv is not None else set()
    )
    invented = [vs.received_label(r) for r in vs.extra if r not in faithful]
    wire = [vs.received_label(r) for r in vs.extra if r in faithful]
    return invented, wire


def _attribution(
    outcome: str,
    rv: Match | None,
    oracle: Oracle | None,
    end: str,
    stopped_early: bool,
    wrong_resume: bool,
    no_sentinel: bool,
    reconnects: int = 0,
    read_timeout_s: float | None = None,
) -> str | None:
    """Who is to blame for a cell that is not ok (docs/outcomes.md, "Attribution"): ``client`` when
    it did other than a spec client would with the same bytes -- handed over other events, stayed
    silent about trouble the bytes showed, raised or hung on bytes that were clean and complete,
    resumed from the wrong id -- else ``wire`` (a fault or the server: every spec client would see
    the same). None for ok / resumed, and when the delivered bytes are unknown.

    ``no_sentinel``: the client speaks an LLM API whose streams end with a sentinel (``[DONE]``,
    ``message_stop``) and the delivered bytes lack it: trouble its protocol shows, like a cut.
    ``reconnects``: how many reconnects the scenario allowed -- a spec client given them reconnects
    after any end of the body, clean or not, so one that stopped with reconnects unused lost the
    rest itself. ``read_timeout_s``: the client's own read timeout, if it was given one -- a client
    that hung on a body quiet for longer than that did not use it."""
    if outcome in ("ok", "resumed") or rv is None or oracle is None:
        return None
    if wrong_resume or not (rv.exact or stopped_early):
        return "client"
    # a body still open when the capture ended is trouble only for a client that waited on it (below);
    # a refused head (a status, a Content-Type) is trouble however its body went on
    trouble = no_sentinel or any(x.trouble for x in oracle.exchanges if x.end != "open" or x.status_problem)
    if outcome == "silent_loss":
        # silent about trouble the bytes showed -- unless it asked again (a reconnect, the spec's
        # answer to a cut): then what it still lacks was not delivered to it on any connection
        unanswered = any(x.end != "open" or x.status_problem for x in _unanswered(oracle))
        return "client" if unanswered or no_sentinel or _gave_up(oracle, reconnects) else "wire"
    if outcome == "hung":
        # nothing left to wait for (every body ended, whole or broken): its own hang; a body still
        # open is a stall the wire made -- unless it stayed quiet past the client's own read timeout
        stalls = [
            x for x in oracle.exchanges if x.end in ("open", "client_closed")
        ]  # the server never ended it
        if not stalls:
            return "client"
        return "client" if _quiet_past(oracle, stalls, read_timeout_s) else "wire"
    if outcome == "error":
        # a body still open counts for the wire only when the client waited on it (its own read
        # timeout: a stall); one that raised on open, clean bytes did so on its own -- and whether
        # the proxy saw that client close before the capture ended is only timing
        stalled = end == "timeout" and any(x.end == "open" for x in oracle.exchanges)
        return "wire" if trouble or stalled else "client"
    return "wire"


QUIET_MARGIN_S = 1.0  # beyond the read timeout: time for it to fire and for the client to say so


def _gave_up(oracle: Oracle, reconnects: int) -> bool:
    """The last body ended (it is not open) and the client had reconnects left it never used."""
    last = oracle.last()
    asked_again = len(oracle.exchanges) - 1
    return last is not None and last.end != "open" and asked_again < reconnects


def _quiet_past(oracle: Oracle, stalls: list[DeliveredExchange], read_timeout_s: float | None) -> bool:
    """A stalled body brought no byte for longer than the read timeout (plus :data:`QUIET_MARGIN_S`)
    before the capture ended: a client that had that timeout should have fired it."""
    if read_timeout_s is None:
        return False
    times = [r["t"] for r in oracle.records if isinstance(r.get("t"), (int, float))]
    if not times:
        return False
    conns = {x.conn for x in stalls}
    last_byte = max(
        (
            r["t"]
            for r in oracle.records
            if r.get("conn") in conns and r.get("dir") == "response" and isinstance(r.get("t"), (int, float))
        ),
        default=None,
    )
    return last_byte is not None and max(times) - last_byte > read_timeout_s + QUIET_MARGIN_S


def _unanswered(oracle: Oracle) -> list[DeliveredExchange]:
    """The exchanges with trouble a careful client could notice that it never answered by asking
    again: a request after them (a reconnect) is the spec's answer to a cut or a reset."""
    last = len(oracle.exchanges) - 1
    return [x for i, x in enumerate(oracle.exchanges) if x.trouble and i == last]


def _outcome(end: str, vs: Match | None, resumed_ok: bool) -> str:
    # with nothing to compare against (no ground truth, no capture), only the end can be judged
    complete = vs.complete if vs is not None else end not in SIGNALLED
    if end == "hung":
        return "hung"
    if end in SIGNALLED and (not complete or (vs is not None and not vs.expected)):
        return "error"  # data missing, or nothing was meant to arrive: the error is the whole answer
    if not complete:
        return "silent_loss"
    if vs is not None and vs.duplicated:
        return "duplicated"
    if vs is not None and vs.reordered:
        return "reordered"
    if resumed_ok:
        return "resumed"
    return "ok"


def _error(t: Any) -> ClientError | None:
    if t.end in ("error", "timeout"):
        return ClientError(t.error_type or t.end, t.error_message or "")
    if t.end == "crashed":
        tail = (t.stderr_tail or "").strip().splitlines()
        return ClientError(t.error_type or "crashed", t.error_message or (tail[-1] if tail else ""))
    return None


def _summary(
    outcome: str,
    t: Any,
    vs: Match | None,
    expected: list[Item] | None,
    received: list[Item],
    faults: list[dict[str, Any]],
    oracle_loud: bool | str | None,
    error: ClientError | None,
    reconnect_notes: list[str],
    extras: tuple[list[str], list[str]],
) -> str:
    # counts are of events: a stand-in for what was owed but never sent (the rest of a stream the
    # proxy cut off, a stream a fault answered for) is an unknown number of them, named instead
    n = vs.events if vs is not None else (len(expected) if expected is not None else None)
    lost = vs.missing_events() if vs is not None else []
    owed_parts = [text.partition(": ") for text in (vs.missing_owed() if vs is not None else [])]
    got = _n(len(received), "event") if n is None or vs is None else f"{n - len(lost)} of {n} events"
    err = ""
    if error:
        err = error.type + (f" ({_short(error.message)})" if error.message else "")
    labels = [vs.label(e) for e in lost] if vs is not None else []
    missing = f"missing {labels_shown(labels, 6)}" if labels else ""
    never = "; ".join(f"{what} never came: {why}" for what, _, why in owed_parts)
    missing = f" ({'; '.join(filter(None, [missing, never]))})" if missing or never else ""
    cause = f"; fault {_fault_phrase(faults[0])}" if faults else ""
    then = f" It then raised {err}." if error else ""
    if outcome == "hung":
        text = (
            f"Hung: the harness killed the client after {t.duration_s:.1f} s, "
            f"with {got} received{missing}{cause}."
        )
    elif outcome == "error":
        if n == 0 and not received:
            after = f"before any event ({never or 'none was due'})"
        else:
            after = f"after {got}{missing}"
        text = f"Error: the client raised {err} {after}{cause}."
    elif outcome == "silent_loss":
        assert vs is not None
        what = []
        if lost:
            what.append(
                f"{len(lost)} of {n} events never reached the application ({labels_shown(labels, 6)})"
            )
        what += [f"{what_} never reached the application ({why})" for what_, _, why in owed_parts]
        if vs.garbled:
            what.append(f"{len(vs.garbled)} arrived altered ({labels_shown(vs.garbled_labels(), 6)})")
        notice = ""
        if oracle_loud == "client":
            notice = "; the delivered bytes held every event intact: the client's own parsing lost them"
        elif oracle_loud:
            notice = f" although the delivered bytes showed something was wrong ({oracle_loud})"
        elif oracle_loud is False:
            notice = "; the loss was not noticeable at the HTTP level"
        text = f"Silent loss: {' and '.join(what)}, and the client reported success{notice}{cause}."
    elif outcome == "duplicated":
        assert vs is not None
        labels = ", ".join(dict.fromkeys(vs.duplicated_labels()))
        count = _n(len(vs.duplicated), "event")
        text = f"Duplicated: {count} reached the application more than once ({labels}).{then}"
    elif outcome == "reordered":
        assert vs is not None
        labels = labels_shown(vs.reordered_labels(), 6)
        text = f"Reordered: {_n(len(vs.reordered), 'event')} arrived out of order ({labels}).{then}"
    elif outcome == "resumed":
        conns = len({i.connection for i in received})
        text = (
            f"Resumed: the stream broke and the client reconnected with the right Last-Event-ID; "
            f"all {n} events arrived exactly once over {conns} connections.{then}"
        )
    else:
        if n is not None:
            base = f"All {n} events arrived exactly once, in order."
        else:
            base = f"{_n(len(received), 'event')} arrived."
        notes = (" " + "; ".join(reconnect_notes) + ".") if reconnect_notes else ""
        text = f"OK: {base}{then}{notes}"
    invented, wire = extras
    if invented:
        shown = "; ".join(invented[:3]) + (" …" if len(invented) > 3 else "")
        text += (
            f" The client also handed over {_n(len(invented), 'event')} that the delivered bytes "
            f"did not hold ({shown}): its own parsing."
        )
    if wire:
        shown = "; ".join(wire[:3]) + (" …" if len(wire) > 3 else "")
        verb = "was" if len(wire) == 1 else "were"
        text += (
            f" {_n(len(wire), 'event')} the server never sent {verb} on the wire "
            f"(a fault's doing) and handed over ({shown})."
        )
    return text


def _ms(value: float) -> str:
    """``1,011 ms``: milliseconds as a person reads them in a failure line."""
    return f"{value:,.0f} ms"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _short(text: str, width: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _evaluate(
    expectation: Expectation,
    outcome: str,
    t: Any,
    vs: Match | None,
    received: list[Item],
    resumed_ok: bool,
    resume_notes: list[str],
    extras: tuple[list[str], list[str]],
    rv: Match | None,
) -> ExpectationResult:
    name, p = expectation.name, expectation.params
    complete = vs is None or vs.complete
    problems = "; ".join(vs.describe()) if vs is not None and not vs.exact else ""
    if name == "all_events_in_order":
        invented = extras[0]
        met = vs is not None and vs.complete and not vs.duplicated and not vs.reordered and not invented
        if met:
            detail = "every event exactly once, in order"
            if vs is not None and vs.extra:
                detail += f" (and {_n(len(vs.extra), 'event')} a fault put on the wire, rightly handed over)"
        elif vs is None:
            detail = "no ground truth to compare with"
        elif vs.complete and not vs.duplicated and not vs.reordered:
            detail = (
                f"the client made up {_n(len(invented), 'event')} the delivered bytes did not hold: "
                + "; ".join(invented[:5])
                + (" …" if len(invented) > 5 else "")
            )
        else:
            detail = problems
    elif name == "no_silent_loss":
        met = complete or t.end in SIGNALLED
        if complete:
            detail = "every event arrived"
        elif met:
            detail = f"events were lost, and the client signalled it ({t.end}: {t.error_type or ''})"
        else:
            detail = f"events were lost and the client did not signal it (ended {t.end}): {problems}"
    elif name == "error_raised":
        met = t.end in ("error", "timeout")
        detail = f"{t.end}: {t.error_type or ''} {_short(t.error_message or '', 80)}".strip()
        if met and p.get("type") and not fnmatch.fnmatchcase(t.error_type or "", p["type"]):
            met, detail = False, f"raised {t.error_type!r}, not matching {p['type']!r}"
        if met and p.get("message") and p["message"] not in (t.error_message or ""):
            shown = _short(t.error_message or "", 80)
            met, detail = False, f"the message {shown!r} does not contain {p['message']!r}"
        if not met and t.end not in ("error", "timeout"):
            detail = f"no error: the client ended {t.end}"
    elif name == "resumed":
        met = resumed_ok
        if met:
            detail = "reconnected with the right Last-Event-ID; every event exactly once"
        elif len({i.connection for i in received}) <= 1:
            detail = "the client did not resume (every event it received came on one connection)"
        else:
            detail = "; ".join(resume_notes) or problems or "not every event arrived exactly once"
    elif name == "max_time_to_first_event":
        first = received[0].t if received else None
        met = first is not None and first * 1000 <= p["ms"]
        if first is None:
            detail = f"no event arrived (limit {_ms(p['ms'])})"
        else:
            detail = f"time to first event {_ms(first * 1000)} {'≤' if met else '>'} limit {_ms(p['ms'])}"
    elif name == "min_time_to_first_event":
        first = received[0].t if received else None
        met = first is not None and first * 1000 >= p["ms"]
        if first is None:
            detail = f"no event arrived (at least {_ms(p['ms'])} wanted)"
        else:
            detail = f"time to first event {_ms(first * 1000)} {'≥' if met else '<'} at least {_ms(p['ms'])}"
    elif name == "max_event_gap":
        gaps = [b.t - a.t for a, b in zip(received, received[1:])]
        widest = max(gaps, default=0.0) * 1000
        met = widest <= p["ms"]
        detail = (
            "fewer than two events: no gap"
            if not gaps
            else f"widest gap between events {_ms(widest)} {'≤' if met else '>'} limit {_ms(p['ms'])}"
        )
    elif name == "completes_within":
        took = t.duration_s * 1000
        met = t.end in RETURNED and took <= p["ms"]
        if t.end in RETURNED:
            detail = f"ended {t.end} after {_ms(took)} {'≤' if met else '>'} limit {_ms(p['ms'])}"
        else:
            detail = f"never gave control back ({t.end} after {_ms(took)}; limit {_ms(p['ms'])})"
    elif name == "matches_oracle":
        met = rv is not None and rv.exact
        if rv is None:
            detail = "no capture: the delivered bytes are unknown"
        elif met:
            detail = f"exactly the {_n(len(rv.expected), 'event')} in the delivered bytes"
        else:
            detail = "; ".join(rv.describe("delivered", "received"))
    elif name == "no_duplicates":
        met = vs is None or not vs.duplicated
        detail = (
            "no event twice" if met or vs is None else f"twice: {labels_shown(vs.duplicated_labels(), 8)}"
        )
    elif name == "may_not_fire":
        met, detail = True, f"allowed to stay silent: {', '.join(p['faults'])}"
    elif name == "outcome":
        met = outcome in p["any_of"]
        detail = f"outcome {outcome}; expected one of {', '.join(p['any_of'])}"
    else:
        raise ValueError(f"unknown expectation {name!r}")
    return ExpectationResult(name, bool(met), detail)


# -- timeline and wire excerpt ------------------------------------------------------------------


def _cell_zero(
    t0: float | None, raw_sent: list[Item] | None, t: Any, faults: list[dict[str, Any]]
) -> float | None:
    """The monotonic time every time in the result counts from: ``t0``, else the earliest time known."""
    if t0 is not None:
        return t0
    candidates = [i.t for i in (raw_sent or [])[:1] if i.t is not None]
    if getattr(t, "t0_monotonic", None) is not None:
        candidates.append(t.t0_monotonic)
    candidates += [f["t"] for f in faults if isinstance(f.get("t"), (int, float))]
    return min(candidates) if candidates else None


def _after_zero(t0: float | None, start: float | None) -> float | None:
    """Seconds from the cell's zero to ``start``, when the clock of the client or of the capture
    started (each counts from there); None when either is unknown."""
    return None if t0 is None or start is None else start - t0


def _moved(record: dict[str, Any], by: float) -> dict[str, Any]:
    """``record`` with its times (``t``, ``t_end``) ``by`` seconds later: from the clock of the client
    or of the capture, which started that long after the cell, onto the cell's."""
    return {
        k: round(v + by, 6) if k in ("t", "t_end") and isinstance(v, (int, float)) else v
        for k, v in record.items()
    }


def _transcript_dict(t: Any, t0: float | None, client0: float) -> dict[str, Any]:
    """The transcript with its times on the cell's clock, like every other time in the result.
    ``t0_monotonic`` moves with them, so ``t0_monotonic + t`` is still the monotonic time."""
    out = t.to_dict()
    out["events"] = [_moved(e, client0) for e in out["events"]]
    out["attempts"] = [_moved(a, client0) for a in out["attempts"]]
    if t0 is not None and out.get("t0_monotonic") is not None:
        out["t0_monotonic"] = t0
    return out


def _timeline(
    t0: float | None,
    client0: float,
    raw_sent: list[Item] | None,
    t: Any,
    received: list[Item],
    vs: Match | None,
    faults: list[dict[str, Any]],
) -> dict[str, Any]:
    def rel(x: float | None) -> float | None:
        return None if x is None or t0 is None else round(x - t0, 6)

    sent_rows = [
        [rel(i.t), i.id if i.id else f"#{(i.index or 0) + 1}"]
        for i in (raw_sent or [])
        if i.t is not None and t0 is not None
    ]
    received_rows = []
    for r, item in enumerate(received):
        e = vs.matched_expected(r) if vs is not None else None
        name = item.id or (vs.label(e) if vs is not None and e is not None else f"received #{r}")
        received_rows.append([round(client0 + (item.t or 0.0), 6), name, item.connection])
    fault_rows = [
        [
            rel(f["t"]) if isinstance(f.get("t"), (int, float)) else None,
            f.get("fault") or f.get("fault_type"),
            f.get("detail", ""),
        ]
        for f in faults
    ]
    attempt_rows = [[round(client0 + (a.t or 0.0), 6), a.last_event_id] for a in t.attempts]
    return {
        "sent": sent_rows,
        "received": received_rows,
        "faults": fault_rows,
        "attempts": attempt_rows,
        "end": round(client0 + t.duration_s, 6) if t.duration_s else None,
    }


def _capture_start(records: list[dict[str, Any]]) -> float | None:
    """When the capture's clock started (``time.monotonic()``), from its meta record."""
    meta = records[0] if records and records[0].get("type") == "meta" else {}
    start = meta.get("monotonic_start")
    return start if isinstance(start, (int, float)) else None


def capture_excerpt(
    records: list[dict[str, Any]],
    oracle: Oracle | None = None,
    *,
    shift: float | None = None,
    before: int = 10,
    after: int = 6,
    max_lines: int = 60,
) -> str | None:
    """The wire around the first fault that fired (else around where the first stream broke),
    rendered as ``faultproxy capture show --raw`` prints it, under a heading that says what the
    stamps count from; None when there is nothing to show.

    ``shift``: seconds from the cell's zero to the capture's (which starts with the proxy), to put
    the stamps on the cell's clock like every other time in the result; None keeps the capture's.
    """
    from faultproxy.proxy.capture_read import raw_lines

    anchor = next((k for k, r in enumerate(records) if r.get("type") == "fault"), None)
    if anchor is None and oracle is not None:
        quiet = ("clean", "close", "client_closed", "open")
        broken = next((x for x in oracle.exchanges if x.end not in quiet), None)
        if broken is not None:
            anchor = max(
                (
                    k
                    for k, r in enumerate(records)
                    if r.get("conn") == broken.conn and r.get("exchange") == broken.exchange
                ),
                default=None,
            )
    if anchor is None:
        return None
    conn = records[anchor].get("conn")
    same = [
        k
        for k, r in enumerate(records)  # the server's own bytes (upstream side) are not the client's wire
        if r.get("type") != "meta" and r.get("dir") != "upstream" and (conn is None or r.get("conn") == conn)
    ]
    if anchor not in same:
        same = sorted(same + [anchor])
    at = same.index(anchor)
    window = [records[k] for k in same[max(0, at - before) : at + after + 1]]
    if shift is not None:
        window = [_moved(r, shift) for r in window]
    lines = list(raw_lines(window))
    if len(lines) > max_lines:
        lines = lines[:max_lines] + [f"… ({len(lines) - max_lines} more lines)"]
    heading = excerpt_heading(CELL_CLOCK if shift is not None else "since the capture started")
    return "\n".join([heading, *lines]) if lines else None


# -- the verdict --------------------------------------------------------------------------------


def classify(
    sent: Any,
    delivered: Oracle | str | Path | list[Any] | None,
    transcript: Any,
    faults_fired: Iterable[Any] | None = None,
    expectations: Iterable[Any] | None = None,
    known: Known | dict[str, Any] | None = None,
    *,
    scenario: str = "",
    client: str | None = None,
    repetition: int = 0,
    protocol: str | None = None,
    t0: float | None = None,
    include_transcript: bool = True,
    faults_configured: Iterable[str] | None = None,
    judge_ids: bool | None = None,
    fault_notes: Iterable[Any] | None = None,
    reconnects: int = 0,
    read_timeout_s: float | None = None,
) -> CellResult:
    """One cell's result (:class:`~faultproxy.scenarios.result.CellResult`; ``.to_dict()`` is the
    report's ``result`` object).

    ``sent``: the server object, its ``.sent`` / ``.log``, or Items (None: no ground truth).
    ``delivered``: an :class:`Oracle`, a capture path, capture records, or delivered Items (None: no
    capture). ``transcript``: a :class:`~faultproxy.clients.transcript.Transcript` (or its dict).
    ``faults_fired``: ``proxy.evidence`` (Evidence objects or dicts; None: the capture's fault
    records). ``expectations``: Expectation models, names or ``{"name": ..., **params}`` (None:
    ``no_silent_loss``). ``known``: this client's recorded behaviour (Known or dict) or None.
    ``protocol``: the client's protocol (default: from the client registry by ``client``) picks the
    projection of raw SSE events (see :mod:`faultproxy.scenarios.events`). ``t0``: the cell's start
    (``time.monotonic()``), the zero of every time in the result; default the earliest time known.
    ``faults_configured``: the names of the scenario's faults; one that never fired fails the cell
    unless an expectation ``may_not_fire`` names it; ``fault_notes`` (``proxy.faults.notes``) say why a
    fault passed traffic over, which that failure quotes. ``judge_ids``: whether the client hands over event
    ids, so that a lost or altered one is its loss (default: the client registry's ``reports_ids``;
    True for a client it does not know). ``reconnects`` and ``read_timeout_s``: what the scenario
    gave the client (reconnects allowed, its read timeout), which the attribution weighs.
    """
    t = _transcript(transcript)
    client = client or getattr(t, "client", "") or ""
    protocol = protocol or (protocol_of(client) if client else SSE)
    expectations_ = _expectations(expectations)
    known_ = _known(known)

    oracle: Oracle | None = None
    raw_delivered: list[Item] | None
    if isinstance(delivered, list) and (not delivered or isinstance(delivered[0], Item)):
        raw_delivered = list(delivered)
    else:
        oracle = oracle_of(delivered)
        raw_delivered = oracle.events if oracle is not None else None
    truth = ground_truth(sent)
    if truth.intended is None and oracle is not None and oracle.has_upstream:
        truth = truth_from_capture(oracle)  # a server with no log: what the proxy read from it
    truth = with_answers(truth, oracle)
    raw_sent = truth.writes
    delivered_p = project(raw_delivered, protocol)
    received = received_items(t)
    if protocol == SSE:  # the [DONE] sentinel is left out of the comparison (see events.project)
        received = [i for i in received if i.data != DONE]

    expected = _project_intended(truth.intended, protocol)
    reference = expected
    if reference is None and delivered_p is not None:
        reference = expected_stream(delivered_p) if has_ids(delivered_p) else delivered_p
    by_id = has_ids(reference) if reference else False
    # ids are judged for a client that declares it reports them; the delivered bytes always carry them
    ids = reports_ids_of(client) if judge_ids is None else judge_ids
    vs = match(reference, received, by_id=by_id, judge_ids=ids) if reference is not None else None
    ov = None
    if expected is not None and delivered_p is not None:
        ov = match(expected, delivered_p, by_id=by_id)
    # the retry field is judged where the client reports it, against the delivered bytes (docs/outcomes.md)
    judge_retry = "retry" in (getattr(t, "reports", None) or []) and protocol == SSE
    rv = (
        match(delivered_p, received, by_id=False, judge_ids=ids, judge_retry=judge_retry)
        if delivered_p is not None
        else None
    )

    faults = _fault_dicts(faults_fired, oracle)
    spread, right_ids, resume_notes = _resume(received, vs, rv, list(t.attempts))
    resumed_ok = spread and right_ids and (vs is None or vs.exact)
    outcome = _outcome(t.end, vs, resumed_ok)
    llm = llm_message.judge(sent, t)  # LLM clients: the message they assembled decides (llm_message)
    outcome = llm.outcome if llm is not None else outcome
    error = _error(t)

    # could a careful client have noticed the loss? a trouble text, False, or "client": it was not on the wire
    # an SDK's protocol ends every stream with a sentinel: delivered bytes without it show the loss
    no_sentinel = _missing_sentinel(protocol, raw_sent, raw_delivered)
    loud: bool | str | None = None
    if oracle is not None and vs is not None and not vs.complete:
        troubles = list(dict.fromkeys(x.trouble for x in _unanswered(oracle)))
        troubles += (
            [f"no end sentinel {no_sentinel}, which every stream of this client's protocol ends with"]
            if no_sentinel
            else []
        )
        loud = "client" if ov is not None and ov.complete else ("; ".join(troubles) if troubles else False)
    extras = _extras(vs, rv)
    results = [
        _evaluate(e, outcome, t, vs, received, resumed_ok, resume_notes, extras, rv) for e in expectations_
    ]
    results = llm_message.adjust_expectations(results, llm) if llm is not None else results  # LLM clients
    # checks of the scenario itself, not of the client: a known: entry never stands in for them
    setup: list[ExpectationResult] = []
    silent = _unfired(faults_configured, faults, expectations_)
    if silent:  # the cell did not test what the scenario says it does
        why = _passed_over(silent, fault_notes)
        setup.append(
            ExpectationResult(
                "every fault fired",
                False,
                f"never fired in this cell: {', '.join(silent)} (list it under "
                f"may_not_fire if that is expected){why}",
            )
        )
    refused = server_refused(oracle) if sent is None else ""
    if refused:  # a url: server that never streamed: the scenario tested nothing (a wrong path?)
        setup.append(
            ExpectationResult(
                "the server streamed",
                False,
                f"{refused}: check the server's url (its path) -- no client was tested",
            )
        )
    all_met = all(r.met for r in results)
    blame = _attribution(
        outcome,
        rv,
        oracle,
        t.end,
        _stopped_early(oracle, delivered_p, rv, t.end),
        bool(resume_notes),
        no_sentinel is not None,
        reconnects,
        read_timeout_s,
    )
    # LLM clients: what the delivered stream itself said (its error event, arguments that do not parse)
    signs = llm_message.signs(raw_delivered) if llm is not None and oracle is not None else []
    llm_blame = llm_message.blame(outcome, signs)
    blame = llm_blame or blame

    known_label: str | None = None
    known_changed = False
    passed = all_met and not setup
    if known_ is not None and not setup:
        # the record is of a deviation: it holds while the outcome is a recorded one *and* some
        # expectation is unmet (a client that now meets every expectation has changed too). A cell
        # that did not test what the scenario says (setup) fails whatever the record: it says
        # nothing about the client, so the record is neither confirmed nor contradicted
        if outcome in known_.outcomes and not all_met:
            known_label, passed = known_.label(), True
        else:
            known_changed, passed = True, False
    results += setup

    t0 = _cell_zero(t0, raw_sent, t, faults)
    client0 = _after_zero(t0, getattr(t, "t0_monotonic", None)) or 0.0  # unknown: left on the client's clock
    timeline = _timeline(t0, client0, raw_sent, t, received, vs, faults)
    summary = _summary(
        outcome,
        t,
        vs,
        reference,
        received,
        faults,
        loud,
        error,
        resume_notes if outcome == "ok" and spread else [],
        extras,
    )
    summary = llm.summary if llm is not None else summary  # LLM clients: the message's story
    if outcome in ("ok", "resumed") and rv is not None and not rv.exact and not extras[0]:
        summary += (
            " The client parsed the delivered bytes differently from a spec-exact parser, though: "
            + "; ".join(rv.describe("delivered", "received"))
            + "."
        )
    if llm_blame == "client":
        summary += (
            f" Attribution: the client (the delivered stream showed it -- {'; '.join(signs)}: "
            "it could have told the application)."
        )
    elif blame == "client" and no_sentinel and outcome == "silent_loss":
        summary += (
            f" Attribution: the client (the stream ended without its end sentinel {no_sentinel}, "
            "which every stream of the API it speaks ends with: it could have told the application)."
        )
    elif blame is not None:
        summary += (
            " Attribution: the client (a spec client would have done otherwise with the same bytes)."
            if blame == "client"
            else " Attribution: the wire (a fault or the server: every spec client would see the same)."
        )
    if known_label:
        summary += f" Known behaviour: {known_label}."
    if known_changed:
        assert known_ is not None
        now = "the client now meets every expectation" if all_met else f"the outcome is now {outcome}"
        summary += (
            f" The recorded known behaviour ({known_.label()}) no longer holds ({now}): "
            "update the scenario's 'known' entry."
        )
    for f in faults:
        if isinstance(f.get("t"), (int, float)) and t0 is not None:
            f["t"] = round(f["t"] - t0, 6)

    evidence = CellEvidence(
        summary=summary,
        received=len(received),
        missing=vs.missing_labels() if vs else [],
        duplicated=vs.duplicated_labels() if vs else [],
        reordered=vs.reordered_labels() if vs else [],
        garbled=vs.garbled_labels() if vs else [],
        extra=vs.extra_labels() if vs else [],
        oracle_vs_sent=_oracle_vs_sent(expected, oracle, ov, faults, raw_sent, raw_delivered, signs),
        received_vs_oracle=_received_vs_oracle(oracle, delivered_p, rv, t.end),
        error=error,
        faults_fired=faults,
        attempts=[_moved(a.to_dict() if hasattr(a, "to_dict") else dict(a), client0) for a in t.attempts],
        end=t.end,
        matched_by="id" if by_id else "content",
        sent=sum(1 for i in expected if i.type != UNSENT) if expected is not None else None,
        delivered=len(delivered_p) if delivered_p is not None else None,
        exchanges=[x.to_dict() for x in oracle.exchanges] if oracle is not None else None,
        known_recorded=known_.label() if known_changed and known_ is not None else None,
        projection=protocol if protocol != SSE else None,
        message=llm.as_evidence() if llm is not None else None,  # LLM clients: the message beside the truth
    )
    return CellResult(
        scenario=scenario,
        client=client,
        client_version=getattr(t, "version", None),
        repetition=repetition,
        outcome=outcome,
        attribution=blame,
        passed=passed,
        known=known_label,
        known_changed=known_changed,
        duration_s=max(0.0, float(t.duration_s or 0.0)),
        expectations=results,
        evidence=evidence,
        timeline=timeline,
        capture_excerpt=capture_excerpt(
            oracle.records, oracle, shift=_after_zero(t0, _capture_start(oracle.records))
        )
        if oracle is not None and oracle.records
        else None,
        transcript=_transcript_dict(t, t0, client0) if include_transcript and hasattr(t, "to_dict") else None,
    )


def exchange_summary(exchanges: list[DeliveredExchange]) -> list[str]:
    """One line per delivered exchange (for text reports)."""
    return [x.describe() for x in exchanges]
