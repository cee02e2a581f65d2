"""Verdicts on cells whose right answer is known: hand-built sent / delivered / received records for
every outcome (and the subtle cases), then a few real runs through the proxy with a capture."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from scenario_support import Capture, assert_valid, data, ev, evidence, sent, transcript

from faultproxy.clients.transcript import Attempt, ReceivedEvent, Transcript
from faultproxy.faults import parse_faults
from faultproxy.lab.sse_client import SSEClient
from faultproxy.proxy.server import Proxy
from faultproxy.scenarios import (
    Expectation,
    GroundTruth,
    Item,
    load_text,
    match,
    oracle_from_records,
)
from faultproxy.scenarios import (
    classify as classify_cell,
)
from faultproxy.scenarios.events import UNSENT, ground_truth, project
from faultproxy.scenarios.verdict import capture_excerpt
from faultproxy.servers.sse import ReferenceSSEServer
from faultproxy.wire.sse import encode_event

ALL = [
    "all_events_in_order",
    "no_silent_loss",
    "error_raised",
    "resumed",
    "no_duplicates",
    {"name": "max_time_to_first_event", "ms": 100},
    {"name": "completes_within", "ms": 1000},
]


def classify(*args, **kwargs) -> dict:
    """The report's result object of the cell (what the verdict tests assert on)."""
    return classify_cell(*args, **kwargs).to_dict()


def judge(*args, **kwargs) -> dict:
    kwargs.setdefault("scenario", "s")
    result = classify(*args, **kwargs)
    assert_valid(result)
    return result


def met(result: dict) -> dict[str, bool]:
    return {e["name"]: e["met"] for e in result["expectations"]}


# -- every outcome, with known answers ----------------------------------------------------------


def test_ok_when_every_event_arrives_once_in_order() -> None:
    oracle = oracle_from_records(Capture().stream(1, [1, 2, 3]).records)
    r = judge(sent(3), oracle, transcript([ev(1), ev(2), ev(3)]), [], ALL, None)
    assert r["outcome"] == "ok" and r["evidence"]["summary"].startswith(
        "OK: All 3 events arrived exactly once"
    )
    assert met(r) == {
        "all_events_in_order": True,
        "no_silent_loss": True,
        "error_raised": False,
        "resumed": False,
        "no_duplicates": True,
        "max_time_to_first_event": True,
        "completes_within": True,
    }
    assert r["passed"] is False  # error_raised and resumed were asked for and did not happen
    ev_ = r["evidence"]
    assert (ev_["sent"], ev_["delivered"], ev_["received"]) == (3, 3, 3) and ev_["matched_by"] == "id"
    assert (
        ev_["oracle_vs_sent"]
        == "the delivered bytes hold all 3 sent events, once each, in order; no fault fired"
    )
    assert (
        ev_["received_vs_oracle"]
        == "the client handed the application exactly the 3 events the delivered bytes hold"
    )
    assert r["capture_excerpt"] is None and r["transcript"]["client"] == "raw"


def test_sse_drop_is_silent_loss_with_the_fault_cited_and_not_noticeable() -> None:
    cap = Capture().request(1).response(1)
    for k in (1, 2, 3):
        cap.event(1, k)
    cap.fault(1, "lose-4", "sse_drop", exchange=1, event_index=3, offset=208, detail="dropped event 4 (id 4)")
    cap.event(1, 5).last_chunk(1).closed(1, "upstream").closed(1, "client")
    fired = [evidence("lose-4", "sse_drop", event_index=3, offset=208, detail="dropped event 4 (id 4)")]
    received = transcript([ev(1), ev(2), ev(3), ev(5)])
    r = judge(sent(5), oracle_from_records(cap.records), received, fired, None, None, t0=100.0)
    assert r["outcome"] == "silent_loss" and r["passed"] is False
    e = r["evidence"]
    assert e["missing"] == ["4"] and e["duplicated"] == [] and e["garbled"] == [] and e["extra"] == []
    assert e["faults_fired"][0]["fault"] == "lose-4" and e["faults_fired"][0]["event_index"] == 3
    assert "sse_drop 'lose-4' at conn 1, exchange 1, event 4, byte 208" in e["summary"]
    assert "not noticeable at the HTTP level" in e["summary"]
    assert e["oracle_vs_sent"].startswith(
        "the delivered bytes differ from what was sent: 1 sent but not delivered: 4"
    )
    assert (
        "no client could notice at the HTTP level (every body ended cleanly): only a gap in the ids shows it"
        in e["oracle_vs_sent"]
    )
    assert e["received_vs_oracle"].startswith("the client handed the application exactly the 4 events")
    assert r["expectations"] == [
        {
            "name": "no_silent_loss",
            "met": False,
            "detail": "events were lost and the client did not signal it (ended completed): "
            "1 sent but not received: 4",
        }
    ]
    # the wire around the fault, as `capture show --raw` prints it
    assert "· fault fault_type=sse_drop fault=lose-4" in r["capture_excerpt"]
    assert "← id: 3\\n" in r["capture_excerpt"]
    assert r["timeline"]["faults"] == [[0.05, "lose-4", "dropped event 4 (id 4)"]]


def test_known_behaviour_passes_while_it_holds_and_fails_when_it_changes() -> None:
    received = transcript([ev(1), ev(3)], client="naive")
    known = {"outcome": "silent_loss", "why": "splits reads on \\n\\n"}
    r = judge(sent(3), None, received, None, ["no_silent_loss"], known)
    assert (r["outcome"], r["passed"], r["known"], r["known_changed"]) == (
        "silent_loss",
        True,
        "silent_loss: splits reads on \\n\\n",
        False,
    )
    assert r["expectations"][0]["met"] is False  # the expectation still says what is wrong
    fixed = judge(
        sent(3), None, transcript([ev(1), ev(2), ev(3)], client="naive"), None, ["no_silent_loss"], known
    )
    assert (fixed["outcome"], fixed["passed"], fixed["known"], fixed["known_changed"]) == (
        "ok",
        False,
        None,
        True,
    )
    assert "no longer holds" in fixed["evidence"]["summary"]
    assert fixed["evidence"]["known_recorded"] == "silent_loss: splits reads on \\n\\n"
    either = judge(sent(3), None, received, None, None, {"outcome": ["error", "silent_loss"], "why": "flaky"})
    assert either["passed"] and either["known"] == "error|silent_loss: flaky"


def test_a_known_record_holds_only_while_some_expectation_is_unmet() -> None:
    """A record is of a deviation: the same outcome with every expectation met means the client
    changed (or the record never said anything), and fails the cell like another outcome would."""
    received = transcript([ev(1), ev(3)], client="naive")
    known = {"outcome": "silent_loss", "why": "loses event 2"}
    r = judge(sent(3), None, received, None, [{"name": "outcome", "any_of": ["silent_loss"]}], known)
    assert r["outcome"] == "silent_loss" and all(e["met"] for e in r["expectations"])
    assert (r["passed"], r["known"], r["known_changed"]) == (False, None, True)
    assert "now meets every expectation" in r["evidence"]["summary"]


def test_a_crlf_split_by_the_client_is_its_own_bug_not_the_faults() -> None:
    """The bytes held event 2 (data of two lines, CRLF line endings) intact; the client split it into
    two events. received vs oracle differs, oracle vs sent does not: the client's bug, silent loss."""
    two_lines = "first\nsecond"
    truth = [Item("message", "a", "1"), Item("message", two_lines, "2"), Item("message", "c", "3")]
    cap = Capture().request(1).response(1)
    cap.chunk(1, b"id: 1\r\ndata: a\r\n\r\n").chunk(1, b"id: 2\r\ndata: first\r\ndata: second\r\n\r\n")
    cap.chunk(1, b"id: 3\r\ndata: c\r\n\r\n").last_chunk(1)
    oracle = oracle_from_records(cap.records)
    assert [e.data for e in oracle.events] == ["a", two_lines, "c"]
    received = transcript(
        [
            ReceivedEvent("message", "a", "1", 0.01),
            ReceivedEvent("message", "first", "2", 0.02),
            ReceivedEvent("message", "second", "2", 0.02),
            ReceivedEvent("message", "c", "3", 0.03),
        ]
    )
    r = judge(truth, oracle, received, [], ["no_silent_loss", "all_events_in_order"], None)
    e = r["evidence"]
    assert r["outcome"] == "silent_loss"
    assert e["garbled"] == ["2"] and len(e["extra"]) == 1 and "'second'" in e["extra"][0]
    assert e["oracle_vs_sent"].startswith("the delivered bytes hold all 3 sent events")
    assert e["received_vs_oracle"].startswith(
        "the client parsed the delivered bytes differently from a spec-exact parser"
    )
    assert "1 altered: #2 'first\\nsecond' → 'first'" in e["received_vs_oracle"]
    assert "1 received that were never delivered: received #3 'second'" in e["received_vs_oracle"]
    assert e["summary"].startswith(
        "Silent loss: 1 arrived altered (2), and the client reported success; the delivered "
        "bytes held every event intact: the client's own parsing lost them. The client also "
        "handed over 1 event that the delivered bytes did not hold (received #3 'second')"
    )


def test_a_cut_then_a_correct_resume_is_resumed() -> None:
    cap = Capture().stream(1, [1, 2], clean=False)
    cap.fault(1, "cut", "sse_disconnect", exchange=1, event_index=1).fault_close(1).done(1)
    cap.stream(2, [3, 4, 5], last_event_id="2")
    attempts = [Attempt(1, 0.0, None, 200, "error"), Attempt(2, 0.1, "2", 200, "ended")]
    received = transcript([ev(1), ev(2), ev(3, 2), ev(4, 2), ev(5, 2)], attempts=attempts)
    r = judge(
        sent(5), oracle_from_records(cap.records), received, None, ["resumed", "all_events_in_order"], None
    )
    assert r["outcome"] == "resumed" and r["passed"] is True
    assert r["evidence"]["summary"].startswith(
        "Resumed: the stream broke and the client reconnected with the right "
        "Last-Event-ID; all 5 events arrived exactly once over 2 connections"
    )
    assert (
        "#1.1 GET /events → 200, 2 events, ended no_terminator (noticeable)"
        in r["evidence"]["oracle_vs_sent"]
    )
    # faults from the capture's records when no evidence list is given
    assert (
        r["evidence"]["faults_fired"][0]["fault"] == "cut"
        and r["evidence"]["faults_fired"][0]["fault_type"] == "sse_disconnect"
    )
    assert r["timeline"]["attempts"] == [[0.0, None], [0.1, "2"]]
    assert [row[1:] for row in r["timeline"]["received"]] == [
        ["1", 1],
        ["2", 1],
        ["3", 2],
        ["4", 2],
        ["5", 2],
    ]


def test_a_resume_that_repeats_an_event_is_duplicated() -> None:
    """The client reconnected with the Last-Event-ID of the event *before* its last one: event 2 twice."""
    attempts = [Attempt(1, 0.0, None, 200, "error"), Attempt(2, 0.1, "1", 200, "ended")]
    received = transcript([ev(1), ev(2), ev(2, 2), ev(3, 2), ev(4, 2)], attempts=attempts)
    r = judge(sent(4), None, received, None, ["resumed", "no_duplicates", "no_silent_loss"], None)
    assert r["outcome"] == "duplicated" and r["evidence"]["duplicated"] == ["2"]
    assert r["evidence"]["summary"].startswith(
        "Duplicated: 1 event reached the application more than once (2)"
    )
    assert met(r) == {"resumed": False, "no_duplicates": False, "no_silent_loss": True}
    assert (
        "attempt 2 sent Last-Event-ID '1', but the last event received was '2'"
        in r["expectations"][0]["detail"]
    )
    assert r["evidence"]["oracle_vs_sent"].startswith("unknown: no capture")


def test_an_error_after_every_event_arrived_is_ok_with_the_error_kept() -> None:
    """drop_terminal_chunk: all events, then the body has no last chunk and the client raises. The
    application has all its data; the error is right (the body was broken) and is reported."""
    cap = Capture().stream(1, [1, 2, 3], clean=False).fault(1, "no-end", "drop_terminal_chunk", exchange=1)
    cap.fault_close(1).done(1)
    received = transcript(
        [ev(1), ev(2), ev(3)],
        end="error",
        error=("httpx.RemoteProtocolError", "peer closed connection without sending complete message body"),
    )
    r = judge(sent(3), oracle_from_records(cap.records), received, None, ALL[:3], None)
    assert r["outcome"] == "ok"
    assert r["evidence"]["error"] == {
        "type": "httpx.RemoteProtocolError",
        "message": "peer closed connection without sending complete message body",
    }
    assert "It then raised httpx.RemoteProtocolError (peer closed connection" in r["evidence"]["summary"]
    assert met(r) == {"all_events_in_order": True, "no_silent_loss": True, "error_raised": True}


def test_an_error_with_events_missing_is_error() -> None:
    received = transcript(
        [ev(1), ev(2)], end="error", error=("ConnectionResetError", "[Errno 104] reset by peer")
    )
    r = judge(
        sent(5),
        None,
        received,
        [evidence("rst", "sse_disconnect", event_index=1)],
        ["no_silent_loss", "all_events_in_order", {"name": "error_raised", "type": "Connection*"}],
        None,
    )
    assert r["outcome"] == "error" and r["evidence"]["missing"] == ["3", "4", "5"]
    assert r["evidence"]["summary"].startswith(
        "Error: the client raised ConnectionResetError ([Errno 104] reset by peer) after 2 of 5 events (missing 3, 4, 5)"
    )
    assert met(r) == {"no_silent_loss": True, "all_events_in_order": False, "error_raised": True}
    wrong_type = judge(sent(5), None, received, None, [{"name": "error_raised", "type": "httpx.*"}], None)
    assert wrong_type["expectations"][0] == {
        "name": "error_raised",
        "met": False,
        "detail": "raised 'ConnectionResetError', not matching 'httpx.*'",
    }
    timeout = judge(
        sent(5),
        None,
        transcript([ev(1)], end="timeout", error=("httpx.ReadTimeout", "timed out")),
        None,
        ["error_raised"],
        None,
    )
    assert timeout["outcome"] == "error" and timeout["passed"]


def test_hung_with_partial_events() -> None:
    cap = Capture().stream(1, [1, 2], clean=False)  # still open when the capture ended: a stall
    received = transcript([ev(1), ev(2)], end="hung", duration=3.0)
    r = judge(
        sent(5),
        oracle_from_records(cap.records),
        received,
        [evidence("stall", "sse_stall", event_index=2)],
        ["no_silent_loss", {"name": "completes_within", "ms": 2000}],
        None,
    )
    assert r["outcome"] == "hung" and r["evidence"]["missing"] == ["3", "4", "5"]
    assert r["evidence"]["summary"].startswith(
        "Hung: the harness killed the client after 3.0 s, with 2 of 5 events received"
    )
    assert met(r) == {"no_silent_loss": False, "completes_within": False}
    assert "ended open (noticeable only by a read timeout)" in r["evidence"]["oracle_vs_sent"]
    everything = judge(sent(2), None, transcript([ev(1), ev(2)], end="hung", duration=3.0), None, None, None)
    assert everything["outcome"] == "hung"  # the call never returned, even with every event in hand


def test_reordered() -> None:
    r = judge(sent(4), None, transcript([ev(1), ev(3), ev(2), ev(4)]), None, ["all_events_in_order"], None)
    assert r["outcome"] == "reordered" and r["evidence"]["reordered"] == ["2"]
    assert r["expectations"][0]["detail"] == "1 out of order: 2"


def test_the_client_stopping_early_is_told_apart_from_a_parsing_bug() -> None:
    oracle = oracle_from_records(Capture().stream(1, [1, 2, 3, 4]).records)
    received = transcript([ev(1), ev(2)], end="error", error=("UnicodeDecodeError", "invalid start byte"))
    r = judge(sent(4), oracle, received, None, None, None)
    assert r["outcome"] == "error"
    assert r["evidence"]["received_vs_oracle"].startswith(
        "the client stopped before the last 2 delivered events (#3, #4) -- it ended 'error'"
    )
    dropped_first = judge(sent(4), oracle, transcript([ev(2), ev(3), ev(4)]), None, None, None)
    assert dropped_first["outcome"] == "silent_loss" and dropped_first["evidence"]["missing"] == ["1"]
    assert "1 delivered but not received: #1" in dropped_first["evidence"]["received_vs_oracle"]
    assert dropped_first["evidence"]["oracle_vs_sent"].startswith(
        "the delivered bytes hold all 4 sent events"
    )


def test_without_ids_events_are_matched_by_content_and_a_repeat_is_not_a_reorder() -> None:
    words = ["the", "cat", "the", "end"]
    truth = [Item("delta", w, None, connection=1, index=i) for i, w in enumerate(words)]
    got = [ReceivedEvent("delta", w, None, 0.01 * i) for i, w in enumerate(["cat", "the", "end"])]
    r = judge(truth, None, transcript(got), None, None, None)
    assert (
        r["outcome"] == "silent_loss"
        and r["evidence"]["missing"] == ["#1"]
        and r["evidence"]["reordered"] == []
    )
    assert r["evidence"]["matched_by"] == "content"
    m = match(truth, [Item("delta", w) for w in ["the", "the", "cat", "the", "end"]])
    assert m.complete and m.duplicated and not m.reordered


def test_no_ground_truth_uses_the_oracle_and_no_capture_uses_sent() -> None:
    oracle = oracle_from_records(Capture().stream(1, [1, 2, 3]).records)
    r = judge(None, oracle, transcript([ev(1), ev(3)]), None, None, None)
    assert r["outcome"] == "silent_loss" and r["evidence"]["missing"] == ["2"] and "sent" not in r["evidence"]
    assert r["evidence"]["oracle_vs_sent"].startswith("no ground truth")
    nothing = judge(None, None, transcript([ev(1)]), None, ["no_silent_loss"], None)
    assert nothing["outcome"] == "ok" and nothing["evidence"]["received_vs_oracle"].startswith("unknown")


def test_time_expectations() -> None:
    late = transcript([ev(1, t=0.4)], duration=2.5)
    r = judge(
        sent(1),
        None,
        late,
        None,
        [{"name": "max_time_to_first_event", "ms": 100}, {"name": "completes_within", "ms": 2000}],
        None,
    )
    assert r["expectations"] == [
        {
            "name": "max_time_to_first_event",
            "met": False,
            "detail": "time to first event 400 ms > limit 100 ms",
        },
        {
            "name": "completes_within",
            "met": False,
            "detail": "ended completed after 2,500 ms > limit 2,000 ms",
        },
    ]
    r = judge(
        sent(1),
        None,
        transcript([], end="error", error=("E", "x")),
        None,
        [
            Expectation(name="max_time_to_first_event", params={"ms": 100}),
            Expectation(name="outcome", params={"any_of": ["error"]}),
        ],
        None,
    )
    assert [e["met"] for e in r["expectations"]] == [False, True] and r["expectations"][0][
        "detail"
    ] == "no event arrived (limit 100 ms)"


def test_held_back_first_event_and_event_gaps() -> None:
    """What an intermediary does to arrival times: the first event held, events bunched or spread."""
    batched = transcript([ev(1, t=1.0), ev(2, t=1.0), ev(3, t=2.1)], duration=2.2)
    r = judge(
        sent(3),
        None,
        batched,
        None,
        [{"name": "min_time_to_first_event", "ms": 900}, {"name": "max_event_gap", "ms": 600}],
        None,
    )
    assert r["expectations"] == [
        {
            "name": "min_time_to_first_event",
            "met": True,
            "detail": "time to first event 1,000 ms ≥ at least 900 ms",
        },
        {
            "name": "max_event_gap",
            "met": False,
            "detail": "widest gap between events 1,100 ms > limit 600 ms",
        },
    ]
    streamed = transcript([ev(1, t=0.25), ev(2, t=0.5), ev(3, t=0.75)], duration=0.8)
    r = judge(
        sent(3),
        None,
        streamed,
        None,
        [{"name": "min_time_to_first_event", "ms": 900}, {"name": "max_event_gap", "ms": 600}],
        None,
    )
    assert [e["met"] for e in r["expectations"]] == [False, True]
    r = judge(sent(1), None, transcript([ev(1, t=0.1)]), None, [{"name": "max_event_gap", "ms": 1}], None)
    assert r["expectations"][0] == {
        "name": "max_event_gap",
        "met": True,
        "detail": "fewer than two events: no gap",
    }


def test_sdk_clients_are_compared_in_their_own_vocabulary() -> None:
    """OpenAI chat chunks as the server sent them vs the SDK adapter's delta/finish events."""

    def chunk(content: str | None = None, finish: str | None = None) -> str:
        delta = {"content": content} if content is not None else {}
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return json.dumps({"object": "chat.completion.chunk", "choices": [choice]})

    raw = [
        Item("message", chunk(""), None, connection=1),
        Item("message", chunk("Hello")),
        Item("message", chunk(" world")),
        Item("message", chunk(finish="stop")),
        Item("message", "[DONE]"),
    ]
    raw = [Item(i.type, i.data, None, connection=1, index=n) for n, i in enumerate(raw)]
    assert [(i.type, i.data) for i in project(raw, "openai-chat")] == [
        ("delta", "Hello"),
        ("delta", " world"),
        ("finish", "stop"),
    ]
    got = [ReceivedEvent("delta", "Hello", None, 0.1), ReceivedEvent("finish", "stop", None, 0.2)]
    r = judge(raw, None, transcript(got, client="openai"), None, None, None, protocol="openai-chat")
    assert r["outcome"] == "silent_loss" and r["evidence"]["missing"] == ["#2"]
    assert r["evidence"]["projection"] == "openai-chat"
    # the generic SSE clients see the chunks themselves; [DONE] is left out of the comparison
    sse = judge(
        raw,
        None,
        transcript([ReceivedEvent("message", i.data, None, 0.1) for i in raw[:4]]),
        None,
        None,
        None,
    )
    assert sse["outcome"] == "ok"


def test_an_llm_response_the_server_could_not_finish_counts_its_unwritten_rest() -> None:
    writes = [
        Item("message", "a", None, connection=1, index=0),
        Item("message", "b", None, connection=1, index=1),
    ]
    truth = GroundTruth(writes + [Item(UNSENT, "the rest of response 1 (client_gone)", connection=1)], writes)
    r = judge(
        truth,
        None,
        transcript([ReceivedEvent("message", "a", None, 0.1), ReceivedEvent("message", "b", None, 0.2)]),
        None,
        None,
        None,
    )
    assert r["outcome"] == "silent_loss" and r["evidence"]["missing"] == [
        "the rest of response 1 (client_gone)"
    ]


def test_ground_truth_of_the_reference_server_is_the_whole_intended_stream() -> None:
    server = ReferenceSSEServer(events=4, interval=0.01, event_type="tick")
    truth = ground_truth(server)
    assert [(i.type, i.id, i.data) for i in truth.intended] == [
        ("tick", str(k), server.data(k)) for k in range(1, 5)
    ]
    assert truth.writes == []  # nothing written yet: a cut stream is still judged against all 4


def test_capture_excerpt_falls_back_to_where_a_stream_broke() -> None:
    cap = Capture().request(1).response(1).event(1, 1).closed(1, "upstream").done(1)
    oracle = oracle_from_records(cap.records)
    text = capture_excerpt(cap.records, oracle)
    assert text is not None and "← id: 1\\n" in text and "closed side=upstream how=fin" in text
    assert capture_excerpt(Capture().stream(1, [1]).records, None) is None


# -- end to end: a real server, the proxy with a capture and a fault, the lab client --------------


def run_cell(tmp_path: Path, faults: list[dict], scenario_yaml: str, *, reconnects: int) -> dict:
    from faultproxy.scenarios.events import transcript_from_lab

    (scenario,) = load_text(scenario_yaml, "e2e.yaml")
    path = tmp_path / "capture.jsonl"
    specs = parse_faults(faults)

    async def run():
        t0 = time.monotonic()
        async with (
            ReferenceSSEServer(events=5, interval=0.005) as server,
            Proxy(f"http://127.0.0.1:{server.port}", faults=specs, capture=path) as proxy,
        ):
            lab = await SSEClient(proxy.url + "/events", reconnect_ms=20, max_reconnects=reconnects).run()
            fired = list(proxy.evidence)
        return classify(
            server,
            path,
            transcript_from_lab(lab),
            fired,
            scenario.expectations,
            scenario.known_for("raw"),
            scenario=scenario.name,
            client="raw",
            t0=t0,
        )

    result = asyncio.run(run())
    assert_valid(result)
    return result


def test_end_to_end_sse_drop_is_silent_loss(tmp_path: Path) -> None:
    r = run_cell(
        tmp_path,
        [{"name": "lose-4", "type": "sse_drop", "attributes": {"event_index": 3}}],
        "name: drop\nserver: sse\nclients: [raw]\nexpectations: [no_silent_loss, all_events_in_order]\n",
        reconnects=0,
    )
    assert r["outcome"] == "silent_loss" and r["evidence"]["missing"] == ["4"] and not r["passed"]
    assert r["evidence"]["faults_fired"][0]["fault"] == "lose-4"
    assert r["evidence"]["faults_fired"][0]["event_index"] == 3
    assert "only a gap in the ids shows it" in r["evidence"]["oracle_vs_sent"]
    assert r["evidence"]["received_vs_oracle"].startswith(
        "the client handed the application exactly the 4 events"
    )
    assert [row[1] for row in r["timeline"]["sent"]] == ["1", "2", "3", "4", "5"]
    assert [row[1] for row in r["timeline"]["received"]] == ["1", "2", "3", "5"]
    times = [row[0] for row in r["timeline"]["sent"] + r["timeline"]["received"] + r["timeline"]["faults"]]
    assert all(0 <= x < 5 for x in times)
    assert "fault_type=sse_drop" in r["capture_excerpt"]


def test_end_to_end_disconnect_then_resume(tmp_path: Path) -> None:
    faults = [{"type": "sse_disconnect", "attributes": {"after_events": 2}, "connections": [1]}]
    r = run_cell(
        tmp_path,
        faults,
        "name: resume\nserver: sse\nexpectations: [resumed, all_events_in_order]\n",
        reconnects=3,
    )
    assert r["outcome"] == "resumed" and r["passed"]
    assert [a["last_event_id"] for a in r["evidence"]["attempts"]][:2] == [None, "2"]
    assert [x["end"] for x in r["evidence"]["exchanges"]][:2] == ["no_terminator", "clean"]


@pytest.mark.parametrize("mode", ["fin", "rst"])
def test_end_to_end_disconnect_without_reconnect_is_error(tmp_path: Path, mode: str) -> None:
    faults = [{"type": "sse_disconnect", "attributes": {"after_events": 2, "mode": mode}}]
    r = run_cell(
        tmp_path,
        faults,
        "name: cut\nserver: sse\nexpectations: [no_silent_loss, error_raised, resumed]\n"
        "known:\n  raw: {outcome: error, why: the lab client does not reconnect here}\n",
        reconnects=0,
    )
    assert r["outcome"] == "error" and r["evidence"]["missing"] == ["3", "4", "5"]
    assert r["passed"] and r["known"] == "error: the lab client does not reconnect here"
    assert r["evidence"]["exchanges"][0]["end"] == ("no_terminator" if mode == "fin" else "rst")
    assert "a careful client could notice" in r["evidence"]["oracle_vs_sent"]


def test_end_to_end_early_end_is_silent_loss_that_no_client_could_notice(tmp_path: Path) -> None:
    r = run_cell(
        tmp_path,
        [{"type": "early_end", "attributes": {"after_events": 2}}],
        "name: early\nserver: sse\n",
        reconnects=0,
    )
    assert r["outcome"] == "silent_loss" and r["evidence"]["missing"] == ["3", "4", "5"]
    assert r["evidence"]["exchanges"][0]["end"] == "clean"
    assert "not noticeable at the HTTP level" in r["evidence"]["summary"]
    assert data(3) not in [e["data"] for e in r["transcript"]["events"]]


def test_end_to_end_a_fault_that_strips_every_id_shows_on_the_wire_and_is_a_loss(tmp_path: Path) -> None:
    """sse_rewrite id: strip passed for every client and the wire view said nothing changed: ids were
    judged only when some received event had one."""
    r = run_cell(
        tmp_path,
        [{"type": "sse_rewrite", "attributes": {"id": "strip"}}],
        "name: strip\nserver: sse\n",
        reconnects=0,
    )
    assert (r["outcome"], r["attribution"]) == ("silent_loss", "wire"), r["evidence"]["summary"]
    assert r["evidence"]["garbled"] == ["1", "2", "3", "4", "5"]
    assert "5 altered: 1 id '1' → id None" in r["evidence"]["oracle_vs_sent"]
    assert r["evidence"]["received_vs_oracle"].startswith(
        "the client handed the application exactly the 5 events"
    )


def test_end_to_end_a_reconnect_without_ids_to_send_is_not_a_wrong_resume(tmp_path: Path) -> None:
    """With every id stripped a spec client has no Last-Event-ID to send: reconnecting without one
    is right (it was blamed as a resume from the wrong place), and the loss is the wire's."""
    faults = [
        {"type": "sse_rewrite", "attributes": {"id": "strip"}},
        {"type": "sse_disconnect", "attributes": {"after_events": 2}, "connections": [1]},
    ]
    r = run_cell(tmp_path, faults, "name: strip-cut\nserver: sse\n", reconnects=1)
    assert [a["last_event_id"] for a in r["evidence"]["attempts"]] == [None, None]
    assert (r["outcome"], r["attribution"]) == ("silent_loss", "wire"), r["evidence"]["summary"]
    assert "Last-Event-ID" not in r["evidence"]["summary"]


def test_ids_are_judged_for_clients_that_report_them_and_always_on_the_wire(tmp_path: Path) -> None:
    """naive keeps only data: lines (its registry entry says it reports no ids): a stripped id is not
    its loss, but the wire view still says the ids are gone."""
    from faultproxy.clients import registry

    assert not registry.get("naive").reports_ids and registry.get("httpx-sse").reports_ids
    stripped = Capture().request(1).response(1)
    for k in (1, 2, 3):
        stripped.chunk(1, encode_event(data(k)))
    stripped.last_chunk(1).closed(1, "upstream").closed(1, "client").done(1)
    got = [ev(k, id_=None) for k in (1, 2, 3)]
    naive = classify(sent(3), stripped.records, transcript(got, client="naive"), [], None, client="naive")
    assert naive["outcome"] == "ok" and naive["passed"], naive["evidence"]["summary"]
    assert "3 altered: 1 id '1' → id None" in naive["evidence"]["oracle_vs_sent"]
    spec = classify(
        sent(3), stripped.records, transcript(got, client="httpx-sse"), [], None, client="httpx-sse"
    )
    assert (spec["outcome"], spec["attribution"]) == ("silent_loss", "wire")
    # a client that reports ids and loses them itself, on bytes that hold them, is to blame
    whole = Capture().stream(1, [1, 2, 3])
    lost = classify(sent(3), whole.records, transcript(got, client="httpx-sse"), [], None, client="httpx-sse")
    assert (lost["outcome"], lost["attribution"]) == ("silent_loss", "client")


def test_an_error_with_nothing_to_compare_is_still_an_error_and_done_is_not_an_event() -> None:
    r = judge(None, None, transcript([ev(1)], end="error", error=("E", "boom")), None, None, None)
    assert r["outcome"] == "error"
    done = [
        Item("message", "a", None, connection=1, index=0),
        Item("message", "[DONE]", None, connection=1, index=1),
    ]
    got = [ReceivedEvent("message", "a", None, 0.1), ReceivedEvent("message", "[DONE]", None, 0.2)]
    r = judge(done, None, transcript(got), None, ["all_events_in_order"], None)
    assert r["outcome"] == "ok" and r["passed"] and r["evidence"]["received"] == 1


def test_end_to_end_with_a_harness_client_through_the_scenario(tmp_path: Path) -> None:
    """The runner's call sequence (see faultproxy.scenarios): scenario -> server, proxy, client request
    -> arun_client -> classify. The generic ``raw`` client in its own process, event 2 dropped."""
    from faultproxy.clients import arun_client

    (scenario,) = load_text(
        "name: harness\nserver: {kind: sse, events: 4, interval_ms: 5}\nclients: [raw]\n"
        "faults:\n  - {name: lose, type: sse_drop, attributes: {event_index: 1}}\n"
        "timeouts: {deadline_ms: 20000}\nexpectations: [all_events_in_order]\n",
        "h.yaml",
    )
    path = tmp_path / "capture.jsonl"

    async def run() -> dict:
        t0 = time.monotonic()
        async with (
            scenario.server.build() as server,
            Proxy(f"http://127.0.0.1:{server.port}", faults=list(scenario.faults), capture=path) as proxy,
        ):
            transcript_ = await arun_client("raw", scenario.client_request("raw", proxy.url))
            fired = list(proxy.evidence)
        return classify(
            server,
            path,
            transcript_,
            fired,
            scenario.expectations,
            scenario.known_for("raw"),
            scenario=scenario.name,
            client="raw",
            t0=t0,
        )

    r = asyncio.run(run())
    assert_valid(r)
    assert r["outcome"] == "silent_loss" and r["evidence"]["missing"] == ["2"], r["evidence"]
    assert r["client"] == "raw" and r["client_version"] and r["evidence"]["end"] == "completed"
    assert r["evidence"]["received_vs_oracle"].startswith(
        "the client handed the application exactly the 3 events"
    )
    assert [row[1] for row in r["timeline"]["received"]] == ["1", "3", "4"]
    assert all(0 <= row[0] < 20 for row in r["timeline"]["received"] + r["timeline"]["sent"])


def test_end_to_end_naive_client_on_crlf_stream_is_the_clients_own_bug(tmp_path: Path) -> None:
    """sse-starlette ends lines with CRLF; the tutorial parser keeps the CR in the data. No fault:
    oracle = sent, and the whole difference is received vs oracle."""
    from faultproxy.clients import arun_client

    (scenario,) = load_text(
        "name: crlf\nserver: {kind: starlette, events: 3, interval_ms: 5, ping_ms: 0}\nclients: [naive]\n"
        "known:\n  naive: {outcome: silent_loss, why: keeps the CR of CRLF line endings in the data}\n",
        "c.yaml",
    )
    path = tmp_path / "capture.jsonl"

    async def run() -> dict:
        async with (
            scenario.server.build() as server,
            Proxy(f"http://127.0.0.1:{server.port}", capture=path) as proxy,
        ):
            transcript_ = await arun_client("naive", scenario.client_request("naive", proxy.url))
        return classify(
            server,
            path,
            transcript_,
            [],
            scenario.expectations,
            scenario.known_for("naive"),
            scenario=scenario.name,
            client="naive",
        )

    r = asyncio.run(run())
    assert_valid(r)
    e = r["evidence"]
    assert (
        r["outcome"] == "silent_loss" and r["passed"] and r["known"].startswith("silent_loss: keeps the CR")
    )
    assert (
        e["oracle_vs_sent"]
        == "the delivered bytes hold all 3 sent events, once each, in order; no fault fired"
    )
    assert e["received_vs_oracle"].startswith("the client parsed the delivered bytes differently")
    assert e["garbled"] == ["1", "2", "3"] and e["matched_by"] == "id"
    assert "'{\"n\": 1}\\r'" in e["received_vs_oracle"]


# -- matching -------------------------------------------------------------------------------------


def items(*specs: str, ids: bool = False) -> list[Item]:
    return [Item("message", x, x if ids else None) for x in specs]


def test_match_by_id_lines_up_events_without_ids_by_content() -> None:
    expected = items("1", "2", "3", "4", ids=True)
    m = match(
        expected,
        [Item("message", "1"), Item("message", "2x"), Item("message", "3"), Item("message", "4")],
        judge_ids=False,
    )  # a client that reports no ids
    assert m.by_id and m.missing == [] and m.garbled_labels() == ["2"] and m.pairs == {0: 0, 2: 2, 3: 3}
    m = match(
        expected,
        [Item("message", "1"), Item("message", "3"), Item("message", "2"), Item("message", "4")],
        judge_ids=False,
    )
    assert m.missing == [] and m.reordered_labels() == ["2"] and m.complete and not m.exact
    m = match(
        expected,
        [
            Item("message", "1", "1"),
            Item("message", "1"),
            Item("message", "2", "2"),
            Item("message", "zzz", "2"),
            Item("message", "3", "3"),
            Item("message", "4", "4"),
        ],
    )
    assert (
        m.duplicated_labels() == ["1"]
        and len(m.extra) == 1
        and m.complete
        and not m.exact
        and m.missing == []
    )


def test_match_by_content_explains_every_leftover() -> None:
    m = match(items("a", "b", "c", "d", "e"), items("a", "c", "b", "d", "d", "x", "e"))
    assert not m.by_id and m.missing == [] and m.reordered_labels() == ["#2"]
    assert m.duplicated_labels() == ["#4"] and m.extra_labels() == ["received #6 'x'"]
    m = match(items("a", "b", "c"), items("a", "B", "c"))
    assert m.garbled == [(1, 1)] and m.describe() == ["1 altered: #2 'b' → 'B'"]
    assert match(items("a", "a", "b"), items("a", "b")).missing == [1]
    assert match([], items("a")).extra == [0] and match(items("a"), []).missing == [0]


def test_long_streams_with_many_losses_are_matched_quickly() -> None:
    expected = [Item("message", str(k), None) for k in range(20000)]
    received = [Item("message", str(k), None) for k in range(0, 20000, 2)]
    started = time.monotonic()
    m = match(expected, received)
    assert len(m.missing) == 10000 and not m.extra and not m.reordered
    # a hang guard with a stated margin: 0.24 s measured beside the test suite, 5 s allowed (20x);
    # the quadratic matching this guards against took ~16 s here
    assert time.monotonic() - started < 5.0


def test_extra_events_lose_nothing_but_are_reported_by_who_made_them() -> None:
    """An event a fault put on the wire, handed over, is right; one the client made up (a comment
    turned into an empty event) is its own bug: ok either way, but all_events_in_order tells them apart."""
    cap = Capture().request(1).response(1).event(1, 1)
    cap.fault(1, "inj", "sse_inject", exchange=1, event_index=0)
    cap.chunk(1, b"event: error\ndata: overloaded\n\n").chunk(1, b": keep-alive\n\n").event(1, 2).last_chunk(
        1
    )
    oracle = oracle_from_records(cap.records)
    assert [(e.type, e.data) for e in oracle.events] == [
        ("message", data(1)),
        ("error", "overloaded"),
        ("message", data(2)),
    ]
    faithful = transcript([ev(1), ReceivedEvent("error", "overloaded", "1", 0.015), ev(2)])
    r = judge(sent(2), oracle, faithful, None, ["no_silent_loss", "all_events_in_order"], None)
    assert r["outcome"] == "ok" and r["passed"] and len(r["evidence"]["extra"]) == 1
    assert (
        "1 event the server never sent was on the wire (a fault's doing) and handed over"
        in r["evidence"]["summary"]
    )
    assert r["expectations"][1]["detail"].endswith(
        "(and 1 event a fault put on the wire, rightly handed over)"
    )
    invented = transcript(
        [
            ev(1),
            ReceivedEvent("error", "overloaded", "1", 0.015),
            ReceivedEvent("message", "", "1", 0.02),
            ev(2),
        ]
    )
    r = judge(sent(2), oracle, invented, None, ["no_silent_loss", "all_events_in_order"], None)
    assert r["outcome"] == "ok" and met(r) == {"no_silent_loss": True, "all_events_in_order": False}
    assert (
        "The client also handed over 1 event that the delivered bytes did not hold (received #3 '')"
        in r["evidence"]["summary"]
    )
    assert (
        r["expectations"][1]["detail"]
        == "the client made up 1 event the delivered bytes did not hold: received #3 ''"
    )
    assert "1 received that were never delivered: received #3 ''" in r["evidence"]["received_vs_oracle"]


def test_a_refused_response_is_noticeable_even_with_a_clean_body() -> None:
    cap = (
        Capture()
        .request(1)
        .response(1, status=429, headers={"Content-Type": "text/plain", "Content-Length": "4"})
    )
    cap.body(1, b"slow").end(1).closed(1, "upstream")
    oracle = oracle_from_records(cap.records)
    assert oracle.exchanges[0].trouble == "status 429" and oracle.events == []
    r = judge(sent(3), oracle, transcript([], client="naive"), [evidence("429", "http_status")], None, None)
    assert r["outcome"] == "silent_loss" and r["evidence"]["missing"] == ["1", "2", "3"]
    assert "although the delivered bytes showed something was wrong (status 429)" in r["evidence"]["summary"]
    assert "a careful client could notice (status 429)" in r["evidence"]["oracle_vs_sent"]
    assert r["evidence"]["exchanges"][0]["trouble"] == "status 429"


def test_matches_oracle_checks_the_clients_parsing_alone() -> None:
    """invalid UTF-8 in event 2: a spec-exact parser hands over U+FFFD. The application got altered
    data (silent_loss), but a client doing exactly that parsed correctly: matches_oracle is met."""
    cap = Capture().request(1).response(1).event(1, 1)
    cap.chunk(1, b'id: 2\ndata: {"n": 2}\xff\n\n').event(1, 3).last_chunk(1)
    oracle = oracle_from_records(cap.records)
    assert oracle.events[1].data == '{"n": 2}\ufffd'
    spec_like = transcript([ev(1), ev(2, data_='{"n": 2}\ufffd'), ev(3)])
    r = judge(sent(3), oracle, spec_like, None, ["matches_oracle", "no_silent_loss"], None)
    assert r["outcome"] == "silent_loss" and r["evidence"]["garbled"] == ["2"]
    assert met(r) == {"matches_oracle": True, "no_silent_loss": False}
    strict = transcript([ev(1)], end="error", error=("UnicodeDecodeError", "invalid start byte"))
    r = judge(sent(3), oracle, strict, None, ["matches_oracle"], None)
    assert r["outcome"] == "error" and r["expectations"][0]["met"] is False
    assert r["expectations"][0]["detail"] == "2 delivered but not received: #2, #3"
    assert judge(sent(3), None, spec_like, None, ["matches_oracle"], None)["expectations"][0]["detail"] == (
        "no capture: the delivered bytes are unknown"
    )


def test_an_error_when_nothing_was_meant_to_arrive_is_error() -> None:
    r = judge(
        [],
        None,
        transcript([], end="error", error=("openai.RateLimitError", "429")),
        None,
        ["error_raised"],
        None,
    )
    assert r["outcome"] == "error" and r["passed"]


def test_every_field_is_judged_an_event_whose_id_was_altered_or_lost_is_garbled() -> None:
    expected = items("1", "2", "3", ids=True)
    wrong = match(
        expected,
        [Item("message", "1", "1"), Item("message", "2", "1"), Item("message", "3", "3")],
        by_id=False,
    )
    assert wrong.garbled_labels() == ["#2"] and not wrong.complete
    assert wrong.describe() == ["1 altered: #2 id '2' → id '1'"]
    lost = match(expected, [Item("message", "1", "1"), Item("message", "2"), Item("message", "3", "3")])
    assert lost.garbled_labels() == ["2"] and not lost.complete
    typed = match(expected, [Item("message", "1", "1"), Item("update", "2", "2"), Item("message", "3", "3")])
    assert typed.garbled_labels() == ["2"]
    # a client that declares it reports no ids is not judged on them; nor is a carried-over last event
    # ID. Whether any id arrived decides nothing: every id stripped is every event altered
    assert match(expected, items("1", "2", "3"), judge_ids=False).exact
    assert match(expected, items("1", "2", "3")).garbled_labels() == ["1", "2", "3"]
    carried = [Item("message", "a", "7"), Item("message", "b", "7")]
    assert match(carried, [Item("message", "a", "7"), Item("message", "b", None)], by_id=False).exact


def test_a_client_that_loses_an_id_is_not_ok(tmp_path) -> None:
    cap = Capture().stream(1, [1, 2, 3])
    got = transcript([ev(1), ev(2, id_=None), ev(3)])
    result = classify(sent(3), cap.records, got, [], ["all_events_in_order"], client="httpx-sse")
    assert result["outcome"] == "silent_loss" and result["evidence"]["garbled"] == ["2"]


def test_each_non_ok_cell_says_who_is_to_blame() -> None:
    # a fault dropped event 2 cleanly: every spec client would lose it -> the wire
    dropped = Capture().stream(1, [1, 3])
    wire = classify(sent(3), dropped.records, transcript([ev(1), ev(3)]), [], None, client="httpx-sse")
    assert (wire["outcome"], wire["attribution"]) == ("silent_loss", "wire")
    assert (
        "on the wire" not in wire["evidence"]["summary"]
        or "Attribution: the wire" in wire["evidence"]["summary"]
    )
    # every byte delivered, the client lost one -> the client
    whole = Capture().stream(1, [1, 2, 3])
    client = classify(sent(3), whole.records, transcript([ev(1), ev(3)]), [], None, client="httpx-sse")
    assert (client["outcome"], client["attribution"]) == ("silent_loss", "client")
    # the body was cut without its last chunk (noticeable) and the client said nothing -> the client
    cut = Capture().stream(1, [1, 2], clean=False).closed(1, "upstream").done(1)
    silent = classify(sent(3), cut.records, transcript([ev(1), ev(2)]), [], None, client="httpx-sse")
    assert (silent["outcome"], silent["attribution"]) == ("silent_loss", "client")
    loud = classify(
        sent(3),
        cut.records,
        transcript([ev(1), ev(2)], end="error", error=("x.Cut", "cut")),
        [],
        None,
        client="httpx-sse",
    )
    assert (loud["outcome"], loud["attribution"]) == ("error", "wire")
    ok = classify(sent(3), whole.records, transcript([ev(1), ev(2), ev(3)]), [], None, client="httpx-sse")
    assert ok["attribution"] is None
    assert_valid(client)


def test_an_error_raised_on_clean_bytes_is_the_clients_even_while_the_body_is_still_open() -> None:
    """The client raised on event 2's bytes (a strict UTF-8 decode, say) while the server was still
    streaming: the capture ends with the body open or closed by the client, depending only on when
    the proxy saw the close -- the blame must not. Only a client waiting on an open body (hung, its
    own read timeout: a stall) is the wire's."""
    open_ = Capture().stream(1, [1, 2, 3], clean=False)
    raised = transcript([ev(1)], end="error", error=("UnicodeDecodeError", "invalid start byte"))
    r = classify(sent(3), open_.records, raised, [], None, client="requests-sse")
    assert (r["outcome"], r["evidence"]["exchanges"][0]["end"], r["attribution"]) == (
        "error",
        "open",
        "client",
    )
    timed_out = transcript([ev(1), ev(2), ev(3)][:1], end="timeout", error=("httpx.ReadTimeout", "timed out"))
    stall = classify(
        sent(3), Capture().stream(1, [1], clean=False).records, timed_out, [], None, client="httpx-sse"
    )
    assert (stall["outcome"], stall["attribution"]) == ("error", "wire")


def test_a_refused_response_is_the_wires_doing_whether_or_not_its_body_was_still_open() -> None:
    """wrong-content-type: a client that rightly raised on a text/plain stream was blamed when the
    capture ended with that body still open (a race): a refused head is trouble whatever the body did."""
    for clean in (True, False):
        plain = (
            Capture()
            .request(1)
            .response(1, headers={"Content-Type": "text/plain", "Transfer-Encoding": "chunked"})
        )
        plain.event(1, 1).event(1, 2)
        if clean:
            plain.last_chunk(1).closed(1, "upstream").closed(1, "client").done(1)
        raised = transcript([], end="error", error=("httpx_sse.SSEError", "Content-Type text/plain"))
        r = classify(sent(3), plain.records, raised, [], None, client="httpx-sse")
        assert (r["outcome"], r["attribution"]) == ("error", "wire"), (clean, r["evidence"]["exchanges"])


def test_a_cut_the_client_answered_by_reconnecting_is_not_blamed_for_a_loss_on_the_wire() -> None:
    """Connection 1 is cut (noticeable); the client reconnects with the right Last-Event-ID, as a spec
    EventSource does, and event 4 is then dropped cleanly on connection 2: no client could have it."""
    cap = Capture().stream(1, [1, 2], clean=False).closed(1, "upstream").done(1)
    cap.stream(2, [3, 5], last_event_id="2")
    attempts = [Attempt(1, 0.001, None, 200), Attempt(2, 0.05, "2", 200)]
    got = transcript([ev(1), ev(2), ev(3, connection=2), ev(5, connection=2)], attempts=attempts)
    r = classify(sent(5), cap.records, got, [], None, client="raw")
    assert (r["outcome"], r["attribution"]) == ("silent_loss", "wire"), r["evidence"]["summary"]
    # the same client silent after the cut, with no reconnect: its own silence
    alone = Capture().stream(1, [1, 2], clean=False).closed(1, "upstream").done(1)
    silent = classify(sent(5), alone.records, transcript([ev(1), ev(2)]), [], None, client="raw")
    assert (silent["outcome"], silent["attribution"]) == ("silent_loss", "client")


def test_an_event_the_client_altered_is_not_called_a_faults_doing() -> None:
    whole = Capture().stream(1, [1, 2, 3])
    got = transcript([ev(1), ev(2, data_="altered"), ev(3)])
    result = classify(sent(3), whole.records, got, [], None, client="httpx-sse")
    assert "a fault's doing" not in result["evidence"]["summary"]
    assert result["attribution"] == "client"


def test_a_fault_that_never_fired_fails_the_cell_unless_the_scenario_expects_it() -> None:
    whole = Capture().stream(1, [1, 2, 3])
    got = transcript([ev(1), ev(2), ev(3)])
    silent = classify(
        sent(3), whole.records, got, [], None, client="httpx-sse", faults_configured=["limit_data_1"]
    )
    assert silent["outcome"] == "ok" and not silent["passed"]
    assert any("never fired in this cell: limit_data_1" in e["detail"] for e in silent["expectations"])
    allowed = classify(
        sent(3),
        whole.records,
        got,
        [],
        ["no_silent_loss", {"name": "may_not_fire", "faults": ["limit_data_1"]}],
        client="httpx-sse",
        faults_configured=["limit_data_1"],
    )
    assert allowed["passed"]
    fired = classify(
        sent(3),
        whole.records,
        got,
        [evidence("limit_data_1", "limit_data")],
        None,
        client="httpx-sse",
        faults_configured=["limit_data_1"],
    )
    assert fired["passed"]


def test_a_fault_that_passed_the_traffic_over_says_why_it_never_fired() -> None:
    from faultproxy.faults.base import Evidence

    whole = Capture().stream(1, [1, 2, 3])
    note = Evidence("llm_stall_1", "llm_stall", 1, "downstream", 0.0, detail="not an LLM stream (…)")
    result = classify(
        sent(3),
        whole.records,
        transcript([ev(1), ev(2), ev(3)]),
        [],
        None,
        client="httpx-sse",
        faults_configured=["llm_stall_1"],
        fault_notes=[note, note],
    )
    (unmet,) = [e for e in result["expectations"] if not e["met"]]
    assert unmet["detail"].endswith("expected); llm_stall_1: not an LLM stream (…)")
    assert result["evidence"]["faults_fired"] == []


def test_may_not_fire_names_a_fault_of_the_scenario() -> None:
    from faultproxy.scenarios import ScenarioError, load_text

    text = """
name: s
server: {kind: sse, events: 3}
faults: [{type: sse_drop, attributes: {event_index: 1}}]
expectations: [no_silent_loss, {may_not_fire: [sse_dorp_1]}]
"""
    with pytest.raises(ScenarioError, match="no fault named 'sse_dorp_1'.*sse_drop_1"):
        load_text(text)
    assert load_text(text.replace("sse_dorp_1", "sse_drop_1"))[0].expectations[1].params == {
        "faults": ["sse_drop_1"]
    }


def test_every_default_scenarios_faults_fire_somewhere() -> None:
    """The default suite's byte-limit once set a limit above the whole response: it tested nothing."""
    from faultproxy.scenarios import load_paths
    from faultproxy.scenarios.runner import DEFAULT_SUITE

    limit = next(s for s in load_paths([DEFAULT_SUITE]) if s.name == "byte-limit")
    server_bytes = 20 * 23  # 20 events of ~23 bytes (id, data {"n": k}) in the body
    assert limit.faults[0].attributes.bytes < server_bytes


# -- the retry field ------------------------------------------------------------------------------


def _retry_capture() -> Capture:
    """Events 1..3; event 2's block carries ``retry: -1`` (not digits: the spec ignores it), event 3's
    a valid ``retry: 50``."""
    cap = Capture().request(1).response(1).event(1, 1)
    cap.chunk(1, b"retry: -1\n" + encode_event(data(2), id="2"))
    cap.chunk(1, encode_event(data(3), id="3", retry=50))
    return cap.last_chunk(1).closed(1, "upstream").closed(1, "client").done(1)


def _with_retry(values: list[object], reports: list[str]) -> Transcript:
    t = transcript(
        [ReceivedEvent("message", data(k), str(k), 0.01 * k, retry=v) for k, v in zip((1, 2, 3), values)]
    )
    t.reports = reports
    return t


def test_retry_is_judged_against_the_delivered_block_for_clients_that_report_it() -> None:
    oracle = oracle_from_records(_retry_capture().records)
    right = judge(sent(3), oracle, _with_retry([None, None, 50], ["retry"]), None, ["matches_oracle"], None)
    assert right["passed"] and right["outcome"] == "ok"
    # int("-1") is -1: the client hands over a retry the spec ignores -- its parsing, not the wire's
    wrong = judge(sent(3), oracle, _with_retry([None, -1, 50], ["retry"]), None, ["matches_oracle"], None)
    assert not wrong["passed"]
    assert "1 altered: #2 retry None → retry '-1'" in wrong["expectations"][0]["detail"]
    assert wrong["outcome"] == "ok"  # the application's data arrived: retry is judged as parsing, not as loss
    assert (
        "differently from a spec-exact parser, though: 1 altered: #2 retry None"
        in wrong["evidence"]["summary"]
    )
    # the same values from a client that does not say it reports retry are not judged
    unjudged = judge(sent(3), oracle, _with_retry([None, -1, 50], []), None, ["matches_oracle"], None)
    assert unjudged["passed"]


def test_every_cut_list_says_it_was_cut() -> None:
    """Long lists of event labels are shortened in summaries and details; the cut is always marked."""
    oracle = oracle_from_records(Capture().stream(1, list(range(1, 21))).records)
    r = judge(
        sent(20), oracle, transcript([ev(1), ev(2)]), [], ["no_silent_loss", "all_events_in_order"], None
    )
    assert r["outcome"] == "silent_loss"
    assert "(3, 4, 5, 6, 7, 8 … (+12 more))" in r["evidence"]["summary"]
    details = " ".join(e["detail"] for e in r["expectations"])
    assert "3, 4, 5, 6, 7, 8, 9, 10 … (+10 more)" in details


# -- a known: entry records a client's deviation, never a scenario that tested nothing -------------


def test_a_known_entry_never_passes_a_cell_whose_fault_never_fired() -> None:
    whole = Capture().stream(1, [1, 2, 3])
    got = transcript([ev(1), ev(2), ev(3)])
    known = {"outcome": "ok", "why": "pretend"}
    result = classify(
        sent(3), whole.records, got, [], None, known, client="httpx-sse", faults_configured=["sse_drop_1"]
    )
    assert result["outcome"] == "ok"
    assert not result["passed"], result["evidence"]["summary"]
    assert any(e["name"] == "every fault fired" and not e["met"] for e in result["expectations"])


def test_a_known_entry_never_passes_a_url_server_that_never_streamed() -> None:
    refused = (
        Capture()
        .request(1)
        .response(1, status=404, headers={"Content-Type": "text/plain", "Content-Length": "2"})
    )
    refused.body(1, b"no").end(1).closed(1, "client").done(1)
    refused.records[0]["upstream_side"] = True
    for r in [r for r in refused.records if r.get("dir") == "response"]:  # the server's own answer
        refused.records.append({**r, "dir": "upstream"})
    got = transcript([], end="error", error=("x.HTTPError", "404"))
    result = classify(
        None, refused.records, got, [], None, {"outcome": "error", "why": "pretend"}, client="httpx-sse"
    )
    assert result["outcome"] == "error"
    assert not result["passed"], result["evidence"]["summary"]
    assert any(e["name"] == "the server streamed" and not e["met"] for e in result["expectations"])


def test_an_llm_client_that_swallows_a_refused_request_is_silent_loss() -> None:
    """The mock refused (429, no stream): there is no message to judge, so the event verdict does --
    a client that returned an empty message without an error hid the refusal (review2 item 2)."""
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "faults"))
    from types import SimpleNamespace

    from llm_support import mock_exchange

    _, refused = mock_exchange("chat", error_status=429)
    cap = (
        Capture()
        .request(1, target="/v1/chat/completions")
        .response(1, status=429, headers={"Content-Type": "application/json", "Content-Length": "2"})
    )
    cap.body(1, b"{}").end(1).closed(1, "upstream")
    cap.records[0]["upstream_side"] = True
    cap.records += [{**r, "dir": "upstream"} for r in cap.records if r.get("dir") == "response"]
    got = Transcript(
        client="openai",
        end="completed",
        message={"text": "", "tool_calls": [], "finish_reason": None, "usage": None},
    )
    result = classify(SimpleNamespace(log=[refused]), cap.records, got, [], None, client="openai")
    assert result["outcome"] == "silent_loss" and result["attribution"] == "client"
    assert result["evidence"].get("message") is None and "status 429" in result["evidence"]["summary"]


def test_a_client_that_stops_with_reconnects_left_after_a_clean_end_is_to_blame() -> None:
    """early_end: the body ends cleanly after 2 of 5 events. A spec client given reconnects asks
    again after any end and gets the rest; one that stopped lost them itself (review2 #20: explore
    blamed httpx-sse while the scenario it wrote said the wire)."""
    cap = Capture().stream(1, [1, 2])
    early = transcript([ev(1), ev(2)])
    allowed = classify(sent(5), cap.records, early, [], None, client="httpx-sse", reconnects=3)
    assert (allowed["outcome"], allowed["attribution"]) == ("silent_loss", "client")
    assert "Attribution: the client" in allowed["evidence"]["summary"]
    refused = classify(sent(5), cap.records, early, [], None, client="httpx-sse")  # no reconnect allowed
    assert (refused["outcome"], refused["attribution"]) == ("silent_loss", "wire")


def test_a_hang_is_the_wires_only_on_a_stall_shorter_than_the_clients_read_timeout() -> None:
    hung = transcript([ev(1)], end="hung")
    # the body was cut and the connection closed: nothing was left to wait for
    cut = Capture().stream(1, [1], clean=False).closed(1, "upstream").done(1)
    assert classify(sent(3), cut.records, hung, [], None, client="raw")["attribution"] == "client"
    # a body left open and quiet (a stall) until the harness killed the client 5 s later
    stall = Capture().stream(1, [1], clean=False)
    stall.t += 5.0
    stall.closed(1, "client").done(1)
    assert classify(sent(3), stall.records, hung, [], None, client="raw")["attribution"] == "wire"
    long_quiet = classify(sent(3), stall.records, hung, [], None, client="raw", read_timeout_s=2.0)
    assert long_quiet["attribution"] == "client"  # quiet 5 s, past its 2 s timeout and the 1 s margin
    within = classify(sent(3), stall.records, hung, [], None, client="raw", read_timeout_s=4.5)
    assert within["attribution"] == "wire"
