"""The verdict of an LLM client: judged by the message the application ended up with.

An LLM application does not look at SSE events; it gets a message -- text, tool calls (a name
and JSON arguments it will parse and act on), a finish reason, token usage. The LLM clients
report that message (the protocol's ``message`` line, :mod:`faultproxy.clients.protocol`) and
:func:`judge` compares it with what the mock server meant to send (its ground truth: the last
streamed exchange's planned answer):

- ``hung`` -- the harness had to kill the client;
- ``error`` -- the call failed (the SDK's exception class and message are kept), even when the
  whole message had arrived before: an application whose call raised retries or gives up;
- ``silent_loss`` -- the call returned, but the text or a tool call's arguments are truncated or
  altered, the finish reason or the usage is missing or wrong (the worst: the application acts
  on half an answer);
- ``duplicated`` / ``reordered`` -- as ``silent_loss``, when the text is the one sent with a
  piece repeated right after itself, or with the same characters in another order;
- ``ok`` -- the message is the one the server sent.

Finish reasons are compared by meaning (``stop`` = ``end_turn`` = ``completed``; ``tool_calls`` =
``tool_use`` = ``tool-calls``; ``length`` = ``max_tokens`` = ``incomplete``), usage by its input
and output token counts, tool-call arguments as parsed JSON. The result goes into the cell's
evidence as ``message`` (the received message beside the truth, and the differences), which the
reports show. The formats are described in ``docs/llm-streams.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

SIGNALLED = ("error", "timeout", "crashed")
_FINISH = {
    "stop": "stop", "end_turn": "stop", "completed": "stop", "stop_sequence": "stop",
    "tool_calls": "tool_calls", "tool_use": "tool_calls", "tool-calls": "tool_calls", "tool_call": "tool_calls",
    "function_call": "tool_calls",
    "length": "length", "max_tokens": "length", "incomplete": "length", "max_output_tokens": "length",
    "content_filter": "content_filter", "content-filter": "content_filter", "refusal": "content_filter",
    "failed": "error", "error": "error",
}


@dataclass
class MessageVerdict:
    outcome: str
    differences: list[str] = field(default_factory=list)
    received: dict[str, Any] = field(default_factory=dict)
    truth: dict[str, Any] = field(default_factory=dict)
    summary: str = ""

    def as_evidence(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "received": self.received, "truth": self.truth,
                "differences": self.differences}


def truth_of(sent: Any) -> dict[str, Any] | None:
    """The message the server meant to stream last (None: no LLM ground truth, or no stream)."""
    log = getattr(sent, "log", None)
    if not isinstance(log, list):
        return None
    streamed = [x for x in log if getattr(x, "stream", False) and getattr(x, "endpoint", "") != "unknown"]
    if not streamed:
        return None
    x = streamed[-1]
    return {
        "text": x.text,
        "tool_calls": [{"name": c.name, "arguments": c.arguments} for c in x.tool_calls],
        "finish_reason": x.finish_reason,
        "usage": usage_of(x.usage),
    }


def usage_of(usage: Any) -> dict[str, Any] | None:
    """``{"input_tokens", "output_tokens"}`` from any API's usage object (None stays None)."""
    if not isinstance(usage, dict):
        return None
    return {
        "input_tokens": usage.get("input_tokens", usage.get("prompt_tokens")),
        "output_tokens": usage.get("output_tokens", usage.get("completion_tokens")),
    }


def _arguments(text: Any) -> tuple[bool, Any]:
    if isinstance(text, (dict, list)):
        return True, text
    try:
        return True, json.loads(text or "{}")
    except (TypeError, ValueError):
        return False, text


def _short(text: str, width: int = 60) -> str:
    text = " ".join(str(text).split())
    return repr(text if len(text) <= width else text[: width - 1] + "…")


def compare(received: dict[str, Any], truth: dict[str, Any]) -> list[str]:
    """What differs between the message received and the truth, as sentences (empty: the same)."""
    out: list[str] = []
    got, want = received.get("text") or "", truth.get("text") or ""
    if got != want:
        if want.startswith(got):
            out.append(f"text truncated: {len(got)} of {len(want)} characters ({_short(got)})")
        else:
            out.append(f"text altered: {_short(got)} instead of {_short(want)}")
    calls, wanted = received.get("tool_calls") or [], truth.get("tool_calls") or []
    if len(calls) != len(wanted):
        out.append(f"{len(calls)} tool call(s) instead of {len(wanted)}")
    for call, want_call in zip(calls, wanted):
        ok, value = _arguments(call.get("arguments"))
        _, expected = _arguments(want_call.get("arguments"))
        if call.get("name") != want_call.get("name"):
            out.append(f"tool call {call.get('name')!r} instead of {want_call.get('name')!r}")
        if not ok:
            out.append(f"tool call {want_call.get('name')} arguments are not JSON: {_short(value)} "
                       f"(sent: {_short(want_call.get('arguments'))})")
        elif value != expected:
            out.append(f"tool call {want_call.get('name')} arguments {_short(json.dumps(value))} instead of "
                       f"{_short(json.dumps(expected))}")
    finish, want_finish = received.get("finish_reason"), truth.get("finish_reason")
    if want_finish is not None and not _same_finish(finish, want_finish, bool(wanted)):
        out.append(f"finish reason {finish!r} instead of {want_finish!r}" if finish else
                   f"no finish reason (sent: {want_finish!r})")
    usage, want_usage = usage_of(received.get("usage")), truth.get("usage")
    if want_usage is not None:
        if usage is None or usage.get("output_tokens") is None:
            out.append(f"no usage (sent: {want_usage['output_tokens']} output tokens)")
        elif usage["output_tokens"] != want_usage["output_tokens"]:
            out.append(f"usage says {usage['output_tokens']} output tokens, not {want_usage['output_tokens']}")
    return out


def _same_finish(got: Any, want: Any, tools: bool) -> bool:
    a, b = _FINISH.get(str(got), str(got)), _FINISH.get(str(want), str(want))
    # the Responses API says "completed" whether the answer was text or a tool call
    return a == b or (tools and {a, b} == {"stop", "tool_calls"})


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
    if end == "hung":
        outcome = "hung"
    elif end in SIGNALLED:
        outcome = "error"
    elif not differences:
        outcome = "ok"
    else:
        outcome = alteration(received.get("text") or "", truth.get("text") or "") or "silent_loss"
    verdict = MessageVerdict(outcome, differences, dict(received), truth)
    verdict.summary = _summary(verdict, transcript)
    return verdict


def alteration(got: str, want: str) -> str | None:
    """``duplicated`` when ``got`` is ``want`` with one piece repeated right after itself,
    ``reordered`` when it holds the same characters in another order; None otherwise."""
    if got == want:
        return None
    d = len(got) - len(want)
    if d > 0:
        p = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), len(want))
        for start in range(max(0, p - d), p + 1):  # the copy may end where the texts part
            piece = got[start:start + d]
            if got[:start] + got[start + d:] == want and (got[start - d:start] == piece or got[start + d:start + 2 * d] == piece):
                return "duplicated"
    if d == 0 and sorted(got) == sorted(want):
        return "reordered"
    return None


def _summary(v: MessageVerdict, t: Any) -> str:
    what = "; ".join(v.differences)
    error = f"{getattr(t, 'error_type', None) or t.end} ({_short(getattr(t, 'error_message', '') or '', 100)})"
    if v.outcome == "hung":
        return f"Hung: the harness killed the client; the message so far: {what or 'complete'}."
    if v.outcome == "error":
        whole = "although the whole message had arrived" if not v.differences else f"with {what}"
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
            detail = "the message arrived whole" if verdict.outcome == "ok" else (
                f"the call ended {verdict.outcome}" if met else "; ".join(verdict.differences))
            r = replace(r, met=met, detail=detail)
        out.append(r)
    return out
