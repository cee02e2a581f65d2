"""Judging one cell: what a client received (and asked for) against what the case expects.

A cell is ``pass``, ``fail`` (with every difference, in words) or ``n/a`` (the client cannot
take part: it does not reconnect, or its protocol cannot carry the case; the reason is given).
The comparison is exact: type, data (every character, NUL and BOM included) and, in the cases
about ids, the last event ID. For a reconnection case the ``Last-Event-ID`` headers are read
on the server, so they are what the client really sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from faultproxy.clients.transcript import COMPLETED, CRASHED, ERROR
from faultproxy.conformance.cases import Case, Expected
from faultproxy.conformance.chunking import cut
from faultproxy.wire.sse import SSEParser

PASS, FAIL, NA = "pass", "fail", "n/a"


@dataclass
class Verdict:
    status: str
    problems: list[str] = field(default_factory=list)

    @property
    def detail(self) -> str:
        return "; ".join(self.problems)


@dataclass(frozen=True)
class Got:
    """One event as a client reported it: id None when it reported none (or an empty one)."""

    type: str
    data: str
    id: str | None


def _show(value: str, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 5] + "…" + text[-4:]


def judge(
    case: Case,
    expected: Sequence[Expected],
    got: Sequence[Got],
    *,
    requests: int,
    last_event_ids: Sequence[str | None],
    ended: str,
    error: str | None = None,
    compare_types: bool = True,
    compare_ids: bool | None = None,
    may_raise: bool = False,
) -> Verdict:
    """The verdict on one run of ``case``: ``requests`` made and the ``Last-Event-ID`` of each
    request after the first, ``ended`` how the client run ended and ``error`` what it raised.

    How the client ended is judged as its events are (WHATWG #sse-processing-model): a response
    that must fail the connection must reach the application as a failure -- an EventSource fires
    ``error`` and closes -- so a client that ends as if an empty stream had completed hides the
    refusal. The one exception is ``204 No Content``, the spec's way for a server to say "stop":
    faultproxy's own clients and its adapters report that stop as a clean end (docs/outcomes.md),
    so there a clean end and an error both pass and only an event or a reconnect fails. A
    well-formed stream that ends must not make the client raise (``may_raise``: the case's stream
    may rightly end in an error for this client, e.g. an SDK whose stream lacks the vendor's end
    event). ``hung`` and ``crashed`` are always failures."""
    problems: list[str] = []
    if case.stops:
        if got:
            problems.append(f"dispatched {len(got)} event(s) from a response that must fail the connection")
        if requests > 1:
            problems.append(f"reconnected ({requests} requests) after a response that must stop it")
        if ended == COMPLETED and not all(r.status == 204 for r in case.responses):
            problems.append(
                "ended as if the stream had completed, without an error: the application is never "
                "told that the response was refused"
            )
    else:
        problems += _compare_events(
            expected, got, compare_types, case.check_ids if compare_ids is None else compare_ids
        )
        wanted = len(case.responses)
        if requests < wanted:
            problems.append(f"made {requests} request(s), the case needs {wanted} (no reconnect)")
        for number, (want, sent) in enumerate(zip(case.last_event_ids, last_event_ids), start=2):
            if want != sent:
                problems.append(
                    f"request {number} sent Last-Event-ID {_header(sent)}, expected {_header(want)}"
                )
    if ended == "hung":
        problems.append("hung: the client never finished (killed at the deadline)")
    elif ended == CRASHED:
        problems.append(f"crashed{_raised(error)}")
    elif not case.stops and ended != COMPLETED and not may_raise:
        problems.append(f"ended in an error although the stream was well-formed{_raised(error)}")
    return Verdict(FAIL if problems else PASS, problems)


def _raised(error: str | None) -> str:
    return f" ({_show(error, 120)[1:-1]})" if error else ""


def _header(value: str | None) -> str:
    return "none" if value is None else _show(value)


def _compare_events(expected: Sequence[Expected], got: Sequence[Got], types: bool, ids: bool) -> list[str]:
    problems: list[str] = []
    for index, (want, have) in enumerate(zip(expected, got), start=1):
        if want.data != have.data:
            problems.append(f"event {index}: data {_show(have.data)}, expected {_show(want.data)}")
        if types and want.type != have.type:
            problems.append(f"event {index}: type {_show(have.type)}, expected {_show(want.type)}")
        if ids and (want.id or None) != have.id:
            problems.append(
                f"event {index}: last event ID {_header(have.id)}, expected {_header(want.id or None)}"
            )
    if len(got) < len(expected):
        missing = ", ".join(_show(e.data, 30) for e in expected[len(got) :])
        problems.append(f"{len(expected) - len(got)} event(s) missing: {missing}")
    elif len(got) > len(expected):
        extra = ", ".join(_show(g.data, 30) for g in got[len(expected) :])
        problems.append(f"{len(got) - len(expected)} event(s) too many: {extra}")
    return problems


def is_event_stream(content_type: str) -> bool:
    """The MIME type's essence is ``text/event-stream``: type and subtype compare ASCII
    case-insensitively, parameters do not count (WHATWG MIME Sniffing, "essence")."""
    return content_type.split(";")[0].strip().lower() == "text/event-stream"


def parse_case(case: Case, chunking: str) -> Verdict:
    """``faultproxy.wire.sse`` on the case, in memory: each response fed in the chunking's pieces.

    Between responses the parser is replaced, seeded with the last event ID (and reconnection
    time) of the one before, as an EventSource does; that ID is the next request's header.
    """
    got: list[Got] = []
    headers: list[str | None] = []
    last_id, retry = "", None
    for number, response in enumerate(case.responses):
        if number:
            headers.append(last_id or None)
        if case.stops or response.status != 200 or not is_event_stream(response.content_type):
            break  # an EventSource fails the connection here; the parser never sees the body
        parser = SSEParser(last_id, retry)
        for piece in cut(response.body, chunking):
            got += [Got(e.type, e.data, e.id or None) for e in parser.feed(piece)]
        parser.close()
        last_id, retry = parser.last_event_id, parser.retry
    requests = 1 if case.stops else len(case.responses)
    verdict = judge(
        case,
        case.events,
        got,
        requests=requests,
        last_event_ids=headers,
        ended=ERROR if case.stops else COMPLETED,
        compare_ids=True,
    )
    if case.retry is not None and retry != case.retry:
        verdict.problems.append(f"reconnection time {retry}, expected {case.retry}")
        verdict.status = FAIL
    return verdict
