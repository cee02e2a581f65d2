"""Ground truth where no server log has it: a server of the user's own, and answers a fault gave.

The built-in servers log what they streamed (:func:`faultproxy.scenarios.events.ground_truth`).
Two cases need more, both read from the proxy's capture (``docs/outcomes.md``, "Ground truth"):

- **A server that keeps no log** (``server: {url: ...}``, a user's own): the proxy *read* what
  that server sent. The capture's ``upstream`` records are those bytes, before any fault, and
  :func:`truth_from_capture` turns them into the stream the application should end up with.
  A response the proxy cut before the server finished it gets a stand-in for its unsent rest,
  so a fault that cuts after two events is a loss, not "all 2 events arrived".
- **A request no server answered**: a fault answered for the server (``http_status``,
  ``empty_response``), or the server refused (a status other than 200, another Content-Type).
  The application was owed a stream and got none; :func:`with_answers` puts a stand-in for it
  in the intended stream, so a client that reports such an answer as an empty, successful
  stream is a silent loss, and one that raises is an error -- never ``ok``.

The stand-ins are :class:`~faultproxy.scenarios.events.Item` of type
:data:`~faultproxy.scenarios.events.UNSENT`: no client can receive one, so each counts as lost.

Small on purpose, for callers outside the runner (a pytest fixture around a user's server)::

    truth = truth_from_capture("capture.jsonl")      # GroundTruth(intended, writes)
    truth = with_answers(truth, oracle)              # + stand-ins for unanswered requests
    problem = server_refused(oracle)                 # "status 404" / "" -- a url: server's setup error
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from faultproxy.scenarios.events import UNSENT, GroundTruth, Item, expected_stream
from faultproxy.scenarios.oracle import DeliveredExchange, Oracle, oracle_of

ENDED_BY_SERVER = ("clean", "close")  # the server's response ended as its framing says


def _standin(text: str, conn: int | None, index: int) -> Item:
    return Item(type=UNSENT, data=text, connection=conn, index=index)


def truth_from_capture(capture: Oracle | str | Path | Iterable[dict[str, Any]]) -> GroundTruth:
    """What the server behind the proxy sent, from the capture's upstream side.

    ``writes``: every event of every ``200 text/event-stream`` response the server sent, per
    connection; ``intended``: the logical stream (:func:`~faultproxy.scenarios.events.expected_stream`:
    each id once; without ids, the last response), plus a stand-in when that last response did
    not end by itself (the proxy cut it: the server would have sent more) or was a refusal.
    """
    oracle = oracle_of(capture)
    assert oracle is not None
    upstream = oracle.upstream()
    writes = [e for x in upstream.exchanges if not x.status_problem for e in x.events]
    intended = expected_stream(writes)
    last = upstream.exchanges[-1] if upstream.exchanges else None
    if last is not None and last.status_problem:
        intended.append(
            _standin(
                f"the stream owed to request {last.label}: the server answered it with {last.status_problem}",
                last.conn,
                len(intended),
            )
        )
    elif last is not None and last.status != 204 and last.end not in ENDED_BY_SERVER:
        intended.append(
            _standin(
                f"the rest of the stream: an unknown number of events, as response {last.label} "
                f"was cut ({last.end}) before the server finished it",
                last.conn,
                len(intended),
            )
        )
    return GroundTruth(intended, writes)


def answered_for_server(oracle: Oracle) -> list[DeliveredExchange]:
    """Delivered exchanges whose response did not come from the server: a fault answered the
    request, or the connection ended before the server answered (no upstream response).

    Decided by the exchange numbers alone (what the client got that the server never sent), not
    by the request: a capture holds a request the proxy answered itself only since it records
    ``answered`` heads, and the answer is the proxy's either way."""
    from_server = {(x.conn, x.exchange) for x in oracle.upstream().exchanges}
    return [x for x in oracle.exchanges if (x.conn, x.exchange) not in from_server]


def with_answers(truth: GroundTruth, oracle: Oracle | None) -> GroundTruth:
    """``truth`` with a stand-in for the stream owed when the client's last request got no stream:
    a fault answered for the server, or the response was one a spec client must refuse.

    Only when the intended stream holds nothing else: a stream the server defined (the reference
    servers' events 1..N) already counts as missing when it never arrived."""
    if truth.intended is None or truth.intended or oracle is None or not oracle.has_upstream:
        return truth
    last = oracle.exchanges[-1] if oracle.exchanges else None
    if last is None or last.status == 204:
        return truth
    if last in answered_for_server(oracle):
        if last.status is None:
            text = f"the stream owed to request {last.label}: it got no response at all ({last.end})"
        elif last.answered:
            text = (
                f"the stream owed to request {last.label}: it never reached the server; the proxy answered "
                f"it (status {last.status})"
            )
        else:
            text = (
                f"the stream owed to request {last.label}: the proxy answered it itself (status "
                f"{last.status}), not the server"
            )
    elif last.status_problem:
        text = f"the stream owed to request {last.label}: the server answered it with {last.status_problem}"
    else:
        return truth
    return GroundTruth([_standin(text, last.conn, 0)], truth.writes)


def server_refused(oracle: Oracle | None) -> str:
    """Why every response the server itself gave is one no SSE client may read ('' when at least
    one is a stream, or none came): for a ``url:`` server, a wrong path or a server that is not
    an event stream -- a setup error to report, never a pass."""
    if oracle is None or not oracle.has_upstream:
        return ""
    answers = oracle.upstream().exchanges
    problems = [x.status_problem for x in answers if x.status != 204]
    if not problems or not all(problems):
        return ""
    return f"the server answered {answers[-1].label} {answers[-1].target or ''} with {problems[-1]}".replace(
        "  ", " "
    )
