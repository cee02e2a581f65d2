"""The adapter itself: transcripts, the line protocol, deadlines, crashes, the registry and the CLI.

Children here are tiny scripts (``python -c``) registered as clients with their own
command, so every way a child can misbehave is exercised without a client library; one
real client (``raw``) hangs against a real loopback server.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import sys
import textwrap

import pytest
from click.testing import CliRunner
from clients_support import StallServer

from faultproxy.cli import main as cli_main
from faultproxy.clients import harness, registry
from faultproxy.clients.child import classify, is_timeout
from faultproxy.clients.harness import arun_client, child_env, run_client
from faultproxy.clients.protocol import Collector, error_name
from faultproxy.clients.registry import PYTHON, ClientInfo, UnsupportedRequest
from faultproxy.clients.transcript import (
    Attempt,
    ClientRequest,
    ReceivedEvent,
    Transcript,
)
from faultproxy.net.stream_server import running_in_thread


def script_client(name: str, *parts: str) -> ClientInfo:
    """A client whose child is ``python -c`` the parts (each dedented); the request arrives on stdin."""
    code = "import json, os, sys, time\n" + "".join(textwrap.dedent(part) for part in parts)
    return ClientInfo(
        name=name,
        kind=PYTHON,
        description="test child",
        command=(sys.executable, "-c", code),
        version_from="9.9",
    )


def line(**message) -> str:
    return json.dumps(message)


HELLO = 'print(json.dumps({"kind": "hello", "client": "fake", "version": "1.2.3"}), flush=True)\n'
EVENT = (
    'print(json.dumps({"kind": "event", "type": "message", "data": "x", "id": "1", "t": 0.1,'
    ' "connection": 1}), flush=True)\n'
)


@pytest.fixture(params=["sync", "async"])
def run(request):
    """Both entry points: ``run_client`` and ``arun_client`` under ``asyncio.run``."""
    if request.param == "sync":
        return run_client
    return lambda name, req, **kw: asyncio.run(arun_client(name, req, **kw))


# -- data ------------------------------------------------------------------------------------


def test_transcript_and_request_round_trip_through_json():
    transcript = Transcript(
        client="x",
        version="1",
        events=[
            ReceivedEvent("message", "d", "7", 0.5, 2),
            ReceivedEvent("message", "e", "8", 0.6, 2, retry="-1"),
        ],
        attempts=[
            Attempt(1, 0.0, None, 200, "error", 0.4, "httpx.ReadError", "boom"),
            Attempt(2, 0.45, "7", 200),
        ],
        end="error",
        error_type="httpx.ReadError",
        error_message="boom",
        duration_s=1.5,
        notes=["n"],
        t0_monotonic=123.0,
        exit_code=0,
        reports=["retry"],
    )
    again = Transcript.from_dict(json.loads(json.dumps(transcript.to_dict())))
    assert again == transcript
    request = ClientRequest("http://h/e", "POST", {"A": "b"}, "{}", 1.5, True, 3, 50, 9.0)
    assert ClientRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request
    assert ClientRequest.from_dict({"url": "u", "future_field": 1}).url == "u"  # newer writers may add fields
    assert (request.reconnects_allowed, ClientRequest("u", max_reconnects=3).reconnects_allowed) == (3, 0)


def test_collector_applies_lines_updates_attempts_and_ignores_junk():
    c = Collector("fake")
    for text in [
        line(kind="hello", client="fake", version="1.0", t0_monotonic=5.0, reports=["retry"]),
        line(kind="attempt", number=1, t=0.01, last_event_id=None, status=None),
        line(kind="attempt", number=1, status=200),  # an update, not a new attempt
        line(kind="event", type="tick", data="a", id="1", t=0.02, connection=1, retry=50),
        "not json at all",
        line(kind="mystery"),
        line(kind="disconnect", number=1, t=0.03, ended="error", error_type="X", error_message="cut"),
        line(kind="attempt", number=2, t=0.1, last_event_id="1", status=204),
        line(kind="note", text="hello there"),
        line(kind="end", end="error", error_type="X", error_message="cut"),
        line(kind="end", end="completed"),  # a second end is ignored
    ]:
        c.feed_line(text)
    t = c.transcript
    assert (t.version, t.t0_monotonic, t.end, t.error_type) == ("1.0", 5.0, "error", "X")
    assert [(a.number, a.last_event_id, a.status, a.ended) for a in t.attempts] == [
        (1, None, 200, "error"),
        (2, "1", 204, None),
    ]
    assert [(e.type, e.data, e.id, e.retry) for e in t.events] == [("tick", "a", "1", 50)] and t.reports == [
        "retry"
    ]
    assert "hello there" in t.notes and sum("ignored" in n for n in t.notes) == 2


def test_an_unknown_end_value_counts_as_a_crash():
    c = Collector("fake")
    c.feed_line(line(kind="end", end="exploded"))
    assert c.transcript.end == "crashed"


def test_error_names_and_timeout_detection():
    import requests
    import urllib3

    assert error_name(ConnectionResetError("x")) == "ConnectionResetError"
    assert error_name(requests.exceptions.ChunkedEncodingError("x")) == "requests.ChunkedEncodingError"
    read_timeout = urllib3.exceptions.ReadTimeoutError(None, "/", "Read timed out.")
    wrapped = requests.exceptions.ConnectionError(read_timeout)  # how requests reports it mid-body
    assert is_timeout(wrapped) and classify(wrapped) == "timeout"
    assert classify(requests.exceptions.ChunkedEncodingError("Response ended prematurely")) == "error"
    try:
        try:
            raise TimeoutError("inner")
        except TimeoutError as inner:
            raise RuntimeError("outer") from inner
    except RuntimeError as outer:
        assert classify(outer) == "timeout"


def test_child_env_drops_proxy_variables_unless_given(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy:1")
    monkeypatch.setenv("no_proxy", "x")
    env = child_env()
    assert "HTTP_PROXY" not in env and "no_proxy" not in env and "PATH" in env
    assert child_env({"HTTPS_PROXY": "http://p:2"})["HTTPS_PROXY"] == "http://p:2"


# -- children that misbehave -----------------------------------------------------------------------


def test_the_child_gets_the_request_on_stdin(run):
    info = script_client(
        "echo",
        HELLO,
        """
        request = json.loads(sys.stdin.read())
        print(json.dumps({"kind": "event", "type": "echo", "data": json.dumps(request), "id": None,
                          "t": 0.0, "connection": 1}), flush=True)
        print(json.dumps({"kind": "end", "end": "completed"}), flush=True)
    """,
    )
    request = ClientRequest("http://127.0.0.1:9/x", "POST", {"K": "v"}, "body", 2.0, True, 1, 10, 5.0)
    t = run("echo", request, info=info)
    assert t.end == "completed" and t.version == "1.2.3" and t.exit_code == 0
    assert ClientRequest.from_dict(json.loads(t.events[0].data)) == request


def test_a_child_that_dies_without_an_end_line_is_crashed_and_keeps_its_events(run):
    info = script_client(
        "crash",
        HELLO,
        EVENT,
        """
        sys.stderr.write("Traceback: something went badly wrong\\n")
        sys.stderr.flush()
        os._exit(3)
    """,
    )
    t = run("crash", ClientRequest("http://127.0.0.1:9/", deadline_s=20), info=info)
    assert t.end == "crashed" and t.exit_code == 3
    assert [e.data for e in t.events] == ["x"]
    assert "something went badly wrong" in t.stderr_tail and "code 3" in t.error_message


def test_a_child_killed_by_a_signal_is_crashed(run):
    info = script_client("segv", HELLO, "import signal; os.kill(os.getpid(), signal.SIGSEGV)\n")
    t = run("segv", ClientRequest("http://127.0.0.1:9/", deadline_s=20), info=info)
    assert t.end == "crashed" and t.exit_code < 0 and "signal" in t.error_message


def test_the_duration_counts_from_the_childs_own_zero_so_it_ends_after_its_events(run):
    """A child whose hello reaches the harness late (a slow start, a busy machine): its events count
    from its own t=0, and so does the duration, so the run's end is never before its last event."""
    info = script_client(
        "late-hello",
        """
        t0 = time.monotonic()
        time.sleep(0.3)  # the hello is written (and read) 0.3 s after the child's zero
        print(json.dumps({"kind": "hello", "client": "x", "version": "1", "t0_monotonic": t0}), flush=True)
        print(json.dumps({"kind": "event", "type": "message", "data": "x", "id": "1",
                          "t": time.monotonic() - t0, "connection": 1}), flush=True)
        print(json.dumps({"kind": "end", "end": "completed"}), flush=True)
    """,
    )
    t = run(info.name, ClientRequest("http://127.0.0.1:9/"), info=info)
    assert t.end == "completed" and t.events[0].t >= 0.3
    assert t.duration_s >= t.events[0].t


def test_a_child_that_hangs_is_killed_at_the_deadline_with_its_events_kept(run):
    info = script_client("hang", HELLO, EVENT, "time.sleep(600)\n")
    t = run("hang", ClientRequest("http://127.0.0.1:9/", deadline_s=1.0), info=info)
    assert t.end == "hung" and t.exit_code == -9
    assert [e.data for e in t.events] == ["x"]


def test_a_hang_in_a_grandchild_holding_the_pipes_is_killed_too(run):
    # the grandchild inherits stdout: only killing the whole process group ends the run
    info = script_client(
        "family",
        HELLO,
        EVENT,
        """
        import subprocess
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        time.sleep(600)
    """,
    )
    t = run("family", ClientRequest("http://127.0.0.1:9/", deadline_s=1.0), info=info)
    assert t.end == "hung" and [e.data for e in t.events] == ["x"]


def test_a_crash_that_leaves_a_grandchild_holding_the_pipes_is_still_a_crash(run):
    info = script_client(
        "orphan",
        HELLO,
        EVENT,
        """
        import subprocess
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        os._exit(4)
    """,
    )
    t = run("orphan", ClientRequest("http://127.0.0.1:9/", deadline_s=30), info=info)
    assert (t.end, t.exit_code) == ("crashed", 4) and [e.data for e in t.events] == ["x"]


def test_a_child_that_never_says_hello_is_hung_after_the_startup_allowance(run):
    info = script_client("mute", "time.sleep(600)\n")
    t = run("mute", ClientRequest("http://127.0.0.1:9/", deadline_s=30), info=info, startup_s=1.0)
    assert t.end == "hung" and "no hello" in t.error_message
    assert t.version == "9.9" and any("never said hello" in n for n in t.notes)  # from the registry


def test_a_child_that_ends_but_does_not_exit_keeps_its_end(run, monkeypatch):
    monkeypatch.setattr(harness, "END_GRACE_S", 0.5)
    info = script_client(
        "linger",
        HELLO,
        """
        end = {"kind": "end", "end": "timeout", "error_type": "T", "error_message": "slow"}
        print(json.dumps(end), flush=True)
        time.sleep(600)
    """,
    )
    t = run("linger", ClientRequest("http://127.0.0.1:9/", deadline_s=30), info=info)
    assert (t.end, t.error_type) == ("timeout", "T")
    assert any("did not exit" in n for n in t.notes)


def test_stray_stdout_lines_are_noted_not_fatal(run):
    info = script_client(
        "chatty",
        HELLO,
        """
        print("some library printing to stdout", flush=True)
        print(json.dumps({"kind": "end", "end": "completed"}), flush=True)
    """,
    )
    t = run("chatty", ClientRequest("http://127.0.0.1:9/"), info=info)
    assert t.end == "completed" and any("not JSON" in n for n in t.notes)


def test_a_real_client_hanging_on_a_silent_stream_is_hung_with_its_events():
    with running_in_thread(StallServer(events=2)) as server:
        t = run_client("raw", ClientRequest(server.url, deadline_s=2.0))
    assert t.end == "hung" and t.client == "raw"
    assert [(e.data, e.id) for e in t.events] == [('{"n": 1}', "1"), ('{"n": 2}', "2")]
    assert [(a.number, a.status) for a in t.attempts] == [(1, 200)]


def test_python_child_output_from_libraries_cannot_corrupt_the_protocol():
    # the raw client prints nothing, but the child must have moved fd 1 away from the protocol:
    # a run's stdout lines are all protocol lines (no notes about junk)
    with running_in_thread(StallServer(events=1)) as server:
        t = run_client("raw", ClientRequest(server.url, deadline_s=1.0, timeout_s=1.0))
    assert not any("ignored" in n for n in t.notes)
    assert any("timeout_s not applied" in n for n in t.notes)


# -- registry and CLI -----------------------------------------------------------------------------


PYTHON_CLIENTS = [
    "raw",
    "httpx-sse",
    "sseclient-py",
    "requests-sse",
    "aiohttp-sse-client2",
    "launchdarkly-eventsource",
    "openai",
    "openai-responses",
    "anthropic",
    "naive",
]


def test_every_python_client_is_registered_available_and_versioned():
    assert set(PYTHON_CLIENTS) <= set(registry.names(PYTHON))
    for name in PYTHON_CLIENTS:
        info = registry.get(name)
        assert info.available().ok, (name, info.available())
        assert info.version()
    assert registry.get("httpx-sse").version() == importlib.metadata.version("httpx-sse")
    assert registry.get("openai-responses").version() == importlib.metadata.version("openai")
    with pytest.raises(KeyError, match="unknown client"):
        registry.get("no-such-client")


def test_a_request_a_client_cannot_make_is_refused_before_starting_it():
    with pytest.raises(UnsupportedRequest, match="GET"):
        run_client("launchdarkly-eventsource", ClientRequest("http://127.0.0.1:9/", method="POST"))
    with pytest.raises(UnsupportedRequest, match="headers"):
        run_client("raw", ClientRequest("http://127.0.0.1:9/", headers={"X": "y"}))
    assert registry.get("openai").supports(ClientRequest("http://x/v1", method="POST"))[0]


def test_cli_lists_clients_with_versions_and_install_hints_for_missing_ones(monkeypatch):
    missing = ClientInfo(
        name="zz-missing",
        kind=PYTHON,
        description="not here",
        install_hint="pip install zz-missing",
        command=("{python}", "-m", "faultproxy.clients.child", "zz-missing"),
        module="faultproxy.clients.py_zz",
        version_from=registry.VersionFrom(distribution="zz-missing"),
        requires=registry.Requires(imports=("zz_missing_module",)),
    )
    monkeypatch.setitem(registry.REGISTRY, missing.name, missing)
    runner = CliRunner()
    result = runner.invoke(cli_main, ["clients", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert set(PYTHON_CLIENTS) <= set(rows)
    assert rows["sseclient-py"]["version"] == importlib.metadata.version("sseclient-py")
    assert rows["sseclient-py"]["available"] is True
    assert rows["zz-missing"] == {
        **rows["zz-missing"],
        "available": False,
        "version": None,
        "install": "pip install zz-missing",
    }
    text = runner.invoke(cli_main, ["clients"]).output
    assert "pip install zz-missing" in text and "requests-sse" in text
