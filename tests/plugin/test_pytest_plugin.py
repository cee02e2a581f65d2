"""The pytest plugin, tested the way a user meets it: pytest run on a sample test file."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

SAMPLE = '''
import httpx
import pytest


def read_events(url):
    """A user's own little SSE client: ids of the events it saw, and whether it noticed a problem."""
    ids, data = [], []
    try:
        with httpx.stream("GET", url, timeout=10) as response:
            for line in response.iter_lines():
                if line.startswith("id:"):
                    ids.append(line[3:].strip())
    except httpx.HTTPError as error:
        return ids, error
    return ids, None


@pytest.mark.faultproxy_server(events=6, interval_ms=2)
def test_healthy(faultproxy):
    ids, problem = read_events(faultproxy.url)
    assert ids == [e.id for e in faultproxy.sent] == ["1", "2", "3", "4", "5", "6"]
    assert problem is None
    assert [e["id"] for e in faultproxy.delivered()] == ids
    received = [{"id": e.id, "data": e.data} for e in faultproxy.sent]
    assert faultproxy.assert_no_silent_loss(received)["outcome"] == "ok"


@pytest.mark.faultproxy_server(events=6, interval_ms=2)
def test_cut_is_noticed(faultproxy):
    with faultproxy.fault("sse_disconnect", after_events=2) as cut:
        ids, problem = read_events(faultproxy.url)
    assert ids == ["1", "2"]
    assert type(problem).__name__ == "RemoteProtocolError"
    assert [e.fault_type for e in cut.fired] == ["sse_disconnect"]


@pytest.mark.faultproxy_server(events=5, interval_ms=2)
@pytest.mark.faultproxy_faults("sse_split:mode=byte", "sse_drop:event_index=1", "latency:latency=20")
def test_each_fault(faultproxy, faultproxy_fault):
    ids, problem = read_events(faultproxy.url)
    assert problem is None
    assert ids == ["1", "2", "3", "4", "5"], faultproxy_fault   # the drop must fail here
'''


def test_the_plugin_runs_a_users_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sample=SAMPLE)
    result = pytester.runpytest_subprocess("-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_healthy PASSED*",
            "*test_cut_is_noticed PASSED*",
            "*test_each_fault*sse_split:mode=byte* PASSED*",
            "*test_each_fault*sse_drop:event_index=1* FAILED*",
            "*test_each_fault*latency:latency=20* PASSED*",
        ]
    )


# The README's example: the ground-truth assertion catches the silent loss of a clean early end, and
# passes when the client raised.
README = """
import httpx
import pytest


def my_client_read(url):
    events = []
    with httpx.stream("GET", url, timeout=10) as response:
        event = {}
        for line in response.iter_lines():
            if line.startswith(("id:", "data:")):
                key, _, value = line.partition(":")
                event[key] = value.strip()
            elif not line and event:
                events.append(event)
                event = {}
    return events


@pytest.mark.faultproxy_server(events=8, interval_ms=2)
@pytest.mark.faultproxy_faults("early_end:after_events=3", "sse_disconnect:after_events=3", "sse_split:mode=byte")
def test_my_client(faultproxy):
    try:
        events, error = my_client_read(faultproxy.url), None
    except httpx.HTTPError as exc:
        events, error = [], exc
    faultproxy.assert_no_silent_loss(events, error=error)

"""


def test_the_ground_truth_assertion_catches_a_silent_early_end(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_readme=README)
    result = pytester.runpytest_subprocess("-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_my_client?early_end:after_events=3? FAILED*",
            "*test_my_client?sse_disconnect:after_events=3? PASSED*",  # it raised: the loss was not silent
            "*test_my_client?sse_split:mode=byte? PASSED*",
            "*AssertionError: Silent loss: 5 of 8 events never reached the application (4, 5, 6, 7, 8)*",
        ]
    )


MORE_SERVERS = """
import openai
import pytest


@pytest.mark.faultproxy_server(kind="openai", tokens=6)
@pytest.mark.faultproxy_faults("latency:latency=5", "sse_disconnect:after_events=3")
def test_the_openai_mock(faultproxy, faultproxy_fault):
    client = openai.OpenAI(base_url=faultproxy.base_url, api_key="sk-test", max_retries=0)
    deltas, error = [], None
    try:
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                                                stream=True)
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                deltas.append(chunk.choices[0].delta.content)  # a string: a text delta
            if chunk.choices and chunk.choices[0].finish_reason:
                deltas.append({"type": "finish", "data": chunk.choices[0].finish_reason})
    except openai.APIError as exc:
        error = exc
    verdict = faultproxy.verdict(deltas, error=error, protocol="openai-chat")
    expected = "ok" if faultproxy_fault.startswith("latency") else "error"
    assert verdict["outcome"] == expected, verdict["evidence"]["summary"]
    assert faultproxy.server.log[-1].model == "gpt-4o-mini"
"""

OWN_SERVER = """
import httpx
import pytest

from faultproxy.net.stream_server import running_in_thread
from faultproxy.lab.sse_server import SSEServer


@pytest.fixture(scope="module")
def my_server():
    with running_in_thread(SSEServer(events=4, interval=0.002)) as server:
        yield server


@pytest.fixture
def faultproxy_upstream(my_server):
    return f"http://127.0.0.1:{my_server.port}/events"


@pytest.mark.faultproxy_faults("sse_drop:event_index=1")
def test_a_server_the_test_started(faultproxy, my_server):
    assert faultproxy.server is None and faultproxy.url.endswith("/events")
    with httpx.stream("GET", faultproxy.url, timeout=10) as response:
        body = response.read().decode()
    assert body.count("data:") == 3 and [e["id"] for e in faultproxy.delivered()] == ["1", "3", "4"]
    assert [f.fault_type for f in faultproxy.fired()] == ["sse_drop"]
"""

URL_SERVER = """
import httpx
import pytest

URL = "http://127.0.0.1:{port}/events"


@pytest.mark.faultproxy_server(url=URL)
def test_a_url(faultproxy):
    assert faultproxy.url == faultproxy.proxy.url + "/events"
    with httpx.stream("GET", faultproxy.url, timeout=10) as response:
        assert response.read().decode().count("data:") == 3
    assert faultproxy.settle()
"""


def test_the_fixture_fronts_the_llm_mocks_and_your_own_server(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_servers=MORE_SERVERS, test_own_server=OWN_SERVER)
    result = pytester.runpytest_subprocess("-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_the_fixture_fronts_a_url(pytester: pytest.Pytester) -> None:
    from faultproxy.lab.sse_server import SSEServer
    from faultproxy.net.stream_server import running_in_thread

    with running_in_thread(SSEServer(events=3, interval=0.002)) as server:
        pytester.makepyfile(test_url=URL_SERVER.replace("{port}", str(server.port)))
        result = pytester.runpytest_subprocess("-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_bad_markers_are_clear_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_bad="""
import pytest

@pytest.mark.faultproxy_faults("sse_drop:event_index=-1")
def test_x(faultproxy):
    pass
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*faultproxy_faults*event_index*greater than or equal to 0*"])
    pytester.makepyfile(
        test_bad="""
import pytest

@pytest.mark.faultproxy_server(kind="openai", tokenz=3)
def test_y(faultproxy):
    pass
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        ["*faultproxy_server: tokenz: unknown option; the openai server takes: seed, tokens*"]
    )


SCENARIO_FILE = """
scenarios:
  - name: healthy
    server: {kind: sse, events: 4, interval_ms: 2}
    clients: [raw, httpx-sse]
    timeouts: {deadline_ms: 20000}
  - name: early-end
    server: {kind: sse, events: 6, interval_ms: 2}
    faults: [{type: early_end, attributes: {after_events: 2}}]
    clients: [raw, httpx-sse]
    timeouts: {deadline_ms: 20000}
"""


def test_scenario_cells_are_pytest_items_that_xdist_spreads(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", suite=SCENARIO_FILE)
    plain = pytester.runpytest_subprocess("--collect-only", "-p", "no:cacheprovider")
    assert plain.ret == pytest.ExitCode.NO_TESTS_COLLECTED  # YAML is left alone unless asked
    result = pytester.runpytest_subprocess(
        "--faultproxy-scenarios", "-n", "2", "-v", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*created: 2/2 workers*",
        ]
    )
    result.stdout.fnmatch_lines(["*PASSED suite.yaml::healthy?raw?*"], consecutive=False)
    result.stdout.fnmatch_lines(["*FAILED suite.yaml::early-end?httpx-sse?*"], consecutive=False)
    result.stdout.fnmatch_lines(
        ["*early-end/raw: silent_loss*", "*✗ no_silent_loss: events were lost*", "*the cell's capture: *"]
    )


def test_a_bad_scenario_file_is_a_collection_error_naming_the_line(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", bad="name: x\nserver: {kind: sse}\nclients: [nope]\n")
    result = pytester.runpytest_subprocess("--faultproxy-scenarios", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*bad.yaml:3: scenario 'x': clients: unknown client 'nope'*"])
