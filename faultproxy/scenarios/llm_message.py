"""The verdict of an LLM client: judged by the message the application ended up with.

An LLM application does not look at SSE events; it gets a message -- text, tool calls (a name
and JSON arguments it will parse and act on), a finish reason, token usage. The LLM clients
report that message (the protocol's ``message`` line, :mod:`faultproxy.clients.protocol`) and
:func:`judge` compares it with what the mock server meant to send (its ground truth: the whole
answer planned for the last streamed exchange, and apart from it the error the mock injected,
if any):

- ``hung`` -- the harness had to kill the client;
- ``error`` -- the call failed (the SDK's exception class and message are kept), even when the
  whole message had arrived before: an application whose call raised retries or gives up;
- ``silent_loss`` -- the call returned, but the text or a tool call's arguments are truncated or
  altered, the finish reason or the usage is missing or wrong, or the server's stream ended in
  its error event (the worst: the application acts on half an answer);
- ``duplicated`` / ``reordered`` -- as ``silent_loss``, when the text is the one sent with a
  piece repeated right after itself, or with the same characters in another order, or when
  only the order of the content blocks (text, tool calls) differs, for a client that reports
  the order its message holds them in (``blocks``);
- ``ok`` -- the message is the one the server sent.

A request the server refused (no ``200`` with at least one event: a 429, a 529) has no message
to judge: :func:`truth_of` is None and the event verdict decides. Finish reasons are compared by
meaning (``stop`` = ``end_turn`` = ``completed``; ``tool_calls`` = ``tool_use`` = ``tool-calls``;
``length`` = ``max_tokens`` = ``incomplete``; the Responses API's ``completed`` also ends a tool
call), usage by its input and output token counts, tool-call arguments as parsed JSON. The
result goes into the cell's evidence as ``message`` (the received message beside the truth, and
the differences), which the reports show. :func:`signs` says what the delivered stream itself
showed was wrong, for the attribution. The formats are described in ``docs/llm-streams.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from faultproxy.wire.llm import assemble, token_counts
from faultproxy.wire.sse import Event

SIGNALLED = ("error", "timeout", "crashed")
_FINISH = {
    "stop": "stop",
    "end_turn": "stop",
    "completed": "stop",
    "stop_sequence": "stop",
    "tool_calls": "tool_calls",
    "tool_use": "tool_calls",
    "tool-calls": "tool_calls",
    "tool_call": "tool_calls",
    "function_call": "tool_calls",
    "length": "length",
    "max_tokens": "length",
    "incomplete": "length",
    "max_output_tokens": "length",
    "content_filter": "content_filter",
    "content-filter": "content_filter",
    "refusal": "content_filter",
    "failed": "error",
    "error": "error",
}


@dataclass
class MessageVerdict:
    outcome: str
    differences: list[str] = field(default_factory=list)
    received: dict[str, Any] = field(default_factory=dict)
    truth: dict[str, Any] = field(default_factory=dict)
    summary: str = ""

    def as_evidence(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "received": self.received,
            "truth": self.truth,
            "differences": self.differences,
        }


def truth_of(sent: Any) -> dict[str, Any] | None:
    """The whole answer the server meant in its last streamed exchange, with the error it
    injected (if any) under ``error``; None when there is no LLM ground truth, no stream, or the
    last streamed request was refused (no ``200`` with at least one event): an application whose
    request was refused got no message, and the event verdict judges that cell."""
    log = getattr(sent, "log", None)
    if not isinstance(log, list):
        return None
    streamed = [x for x in log if getattr(x, "stream", False) and getattr(x, "endpoint", "") != "unknown"]
    if not streamed:
        return None
    x = streamed[-1]
    if getattr(x, "status", None) != 200 or not getattr(x, "events", None):
        return None
    truth: dict[str, Any] = {
        "text": x.text,
        "tool_calls": [{"name": c.name, "arguments": c.arguments} for c in x.tool_calls],
        "finish_reason": x.finish_reason,
        "usage": usage_of(x.usage),
        # the mocks answer the text first, then the tool calls (docs/llm-streams.md)
        "blocks": (["text"] if x.text else []) + ["tool_call"] * len(x.tool_calls),
    }
    error = getattr(x, "error", None)
    if isinstance(error, dict):
        truth["error"] = {k: error.get(k) for k in ("type", "message", "after")}
    return truth


def usage_of(usage: Any) -> dict[str, Any] | None:
    """``{"input_tokens", "output_tokens"}`` from any API's usage object (None stays None)."""
    if not isinstance(usage, dict):
        return None
    tokens_in, tokens_out = token_counts(usage)
    return {"input_tokens": tokens_in, "output_tokens": tokens_out}


def _arguments(text: Any) -> tuple[bool, Any]:
    if isinstance(text, (dict, list)):
        return True, text
    try:
        return True, json.loads(text or "{}")
    except (TypeError, ValueError):
        return False, text


def _short(text: Any, width: int = 60) -> str:
    """``text`` for a sentence: quoted, whitespace shown as escapes (so a stray newline shows)."""
    text = str(text)
    return repr(text if len(text) <= width else text[: width - 1] + "…")


def _texts(got: str, want: str, width: int = 40) -> str:
    """Where two texts part: the received and the sent text around their first difference."""
    at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    start = max(0, at - width // 2)
    lead = "…" if start else ""
    return (
        f"at character {at}: {_short(lead + got[start : start + width], width + 2)} instead of "
        f"{_short(lead + want[start : start + width], width + 2)}"
    )


def compare(received: dict[str, Any], truth: dict[str, Any]) -> list[str]:
    """What differs between the message received and the truth, as sentences (empty: the same)."""
    out: list[str] = []
    got, want = received.get("text") or "", truth.get("text") or ""
    if got != want:
        if want.startswith(got):
            out.append(f"text truncated: {len(got)} of {len(want)} characters ({_short(got)})")
        else:
            out.append(f"text altered {_texts(got, want)}")
    calls, wanted = received.get("tool_calls") or [], truth.get("tool_calls") or []
    if len(calls) != len(wanted):
        out.append(f"{len(calls)} tool call(s) instead of {len(wanted)}")
    for call, want_call in zip(calls, wanted):
        ok, value = _arguments(call.get("arguments"))
        _, expected = _arguments(want_call.get("arguments"))
        if call.get("name") != want_call.get("name"):
            out.append(f"tool call {call.get('name')!r} instead of {want_call.get('name')!r}")
        if not ok:
            out.append(
                f"tool call {want_call.get('name')} arguments are not JSON: {_short(value)} "
                f"(sent: {_short(want_call.get('arguments'))})"
            )
        elif value != expected:
            out.append(
                f"tool call {want_call.get('name')} arguments {_short(json.dumps(value))} instead of "
                f"{_short(json.dumps(expected))}"
            )
    out += _block_order(received.get("blocks"), truth.get("blocks") or [])
    finish, want_finish = received.get("finish_reason"), truth.get("finish_reason")
    if want_finish is not None and not _same_finish(finish, want_finish, bool(wanted)):
        out.append(
            f"finish reason {finish!r} instead of {want_finish!r}"
            if finish
            else f"no finish reason (sent: {want_finish!r})"
        )
    return out + _usage_differences(usage_of(received.get("usage")), truth.get("usage"))


BLOCK_ORDER = "content blocks in the order"


def _block_order(got: Any, want: list[str]) -> list[str]:
    """The content blocks the application holds in another order than sent (only where the client
    reports an order, and only the order: a block lost or added shows in the text or the calls)."""
    if not isinstance(got, list) or sorted(got) != sorted(want) or got == want:
        return []
    return [f"{BLOCK_ORDER} {', '.join(got)} instead of {', '.join(want)}"]


def _usage_differences(usage: dict[str, Any] | None, want: dict[str, Any] | None) -> list[str]:
    """Both token counts: an application bills and budgets by each. A count of another type (a
    string ``"6"``) is a difference, shown with its quotes."""
    if want is None:
        return []
    if usage is None or usage.get("output_tokens") is None:
        return [f"no usage (sent: {want['output_tokens']} output tokens)"]
    out = []
    for kind in ("output", "input"):
        got, sent = usage.get(f"{kind}_tokens"), want.get(f"{kind}_tokens")
        if sent is None or (got == sent and type(got) is type(sent)):
            continue
        out.append(
            f"no {kind} token count in the usage (sent: {sent})"
            if got is None
            else f"usage says {got!r} {kind} tokens, not {sent!r}"
        )
    return out


def _same_finish(got: Any, want: Any, tools: bool) -> bool:
    a, b = _FINISH.get(str(got), str(got)), _FINISH.get(str(want), str(want))
    # the Responses API says "completed" whether the answer was text or a tool call; the other
    # APIs name a tool call's end (tool_calls, tool_use), so "stop" there is a wrong reason
    completed = "completed" in (str(got), str(want))
    return a == b or (tools and completed and {a, b} == {"stop", "tool_calls"})


def judge(sent: Any, transcript: Any) -> MessageVerdict | None:
    """The message verdict of a cell, or None when it does not apply (the client reports no
    message, or the server has no LLM ground truth)."""
    received = getattr(transcript, "message", None)
    if received is None:
        return None
    truth = truth_of(sent)
    if truth is None:
        return None  # the server streamed nothing (a fault or a refusal answered): the event verdict judges
    end = getattr(transcript, "end", "completed")
    differences = compare(received, truth)
    error = truth.get("error")
    if end == "hung":
        outcome = "hung"
    elif end in SIGNALLED:
        outcome = "error"
    elif error is not None:
        # the server said the answer failed; a call that returned anyway hid it from the application
        differences.insert(
            0,
            f"the server's error event ({error.get('type')}: "
            f"{_short(error.get('message') or '')}) ended the stream",
        )
        outcome = "silent_loss"
    elif not differences:
        outcome = "ok"
    elif all(d.startswith(BLOCK_ORDER) for d in differences):
        outcome = "reordered"  # every piece arrived, the application holds them in another order
    else:
        outcome = alteration(received.get("text") or "", truth.get("text") or "") or "silent_loss"
    verdict = MessageVerdict(outcome, differences, dict(received), truth)
    verdict.summary = _summary(verdict, transcript)
    return verdict


def signs(delivered: list[Any] | None) -> list[str]:
    """What the last delivered LLM stream itself said was wrong -- the API's error event, a tool
    call whose arguments do not parse as JSON -- which a client reading it could tell the
    application (attribution: raising on it is right, staying silent is the client's doing)."""
    if not delivered:
        return []
    last = max(getattr(i, "connection", None) or 0 for i in delivered)
    events = [
        Event(i.type, i.data, "", None) for i in delivered if (getattr(i, "connection", None) or 0) == last
    ]
    message = assemble(events)
    out = []
    if message.error is not None:
        error = message.error
        out.append(
            f"the API's error event ({error.get('type') or error.get('code')}: "
            f"{_short(error.get('message') or '')})"
        )
    out += [
        f"tool call {call.name} arguments that do not parse as JSON ({_short(call.arguments, 30)})"
        for call in message.tool_calls
        if not call.arguments_ok
    ]
    return out


def blame(outcome: str, shown: list[str]) -> str | None:
    """Who is to blame when the delivered stream showed trouble (:func:`signs`): the wire when the
    client raised on it, the client when it returned as if nothing were wrong; None otherwise (the
    event verdict's attribution stands)."""
    if not shown:
        return None
    if outcome == "error":
        return "wire"
    return "client" if outcome in ("silent_loss", "duplicated", "reordered") else None


def alteration(got: str, want: str) -> str | None:
    """``duplicated`` when ``got`` is ``want`` with one piece repeated right after itself,
    ``reordered`` when it holds the same characters in another order; None otherwise."""
    if got == want:
        return None
    d = len(got) - len(want)
    if d > 0:
        p = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), len(want))
        for start in range(max(0, p - d), p + 1):  # the copy may end where the texts part
            piece = got[start : start + d]
            if got[:start] + got[start + d :] == want and (
                got[start - d : start] == piece or got[start + d : start + 2 * d] == piece
            ):
                return "duplicated"
    if d == 0 and sorted(got) == sorted(want):
        return "reordered"
    return None


def _summary(v: MessageVerdict, t: Any) -> str:
    what = "; ".join(v.differences)
    error = (
        f"{getattr(t, 'error_type', None) or t.end} ({_short(getattr(t, 'error_message', '') or '', 100)})"
    )
    if v.outcome == "hung":
        return f"Hung: the harness killed the client; the message so far: {what or 'complete'}."
    if v.outcome == "error":
        # "whole" only when what arrived is the whole planned answer, not the part before an error
        whole = "although the whole message had arrived" if not v.differences else f"with {what}"
        cause = v.truth.get("error")
        if cause is not None:
            return (
                f"Error: the call raised {error} on the server's error event ({cause.get('type')}, "
                f"after {cause.get('after')} deltas), {whole}."
            )
        return f"Error: the call raised {error}, {whole}."
    if v.outcome == "ok":
        return "OK: the application got the message the server sent (text, tool calls, finish reason, usage)."
    label = {"silent_loss": "Silent loss", "duplicated": "Duplicated", "reordered": "Reordered"}[v.outcome]
    return f"{label}: the call returned without an error, but {what}."


def adjust_expectations(results: list[Any], verdict: MessageVerdict) -> list[Any]:
    """``no_silent_loss`` judged on the message: met unless the application silently got a wrong one."""
    out = []
    for r in results:
        if r.name == "no_silent_loss":
            met = verdict.outcome not in ("silent_loss", "duplicated", "reordered")
            detail = (
                "the message arrived whole"
                if verdict.outcome == "ok"
                else (f"the call ended {verdict.outcome}" if met else "; ".join(verdict.differences))
            )
            r = replace(r, met=met, detail=detail)
        out.append(r)
    return out
