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
        return ids, type(error).__name__
    return ids, None


@pytest.mark.faultproxy_server(events=6, interval_ms=2)
def test_healthy(faultproxy):
    ids, problem = read_events(faultproxy.url)
    assert ids == [str(e.id) for e in faultproxy.sent] == ["1", "2", "3", "4", "5", "6"]
    assert problem is None
    assert [e["id"] for e in faultproxy.delivered()] == ids


@pytest.mark.faultproxy_server(events=6, interval_ms=2)
def test_cut_is_noticed(faultproxy):
    with faultproxy.fault("sse_disconnect", after_events=2) as cut:
        ids, problem = read_events(faultproxy.url)
    assert ids == ["1", "2"]
    assert problem == "RemoteProtocolError"
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
    result.stdout.fnmatch_lines([
        "*test_healthy PASSED*",
        "*test_cut_is_noticed PASSED*",
        "*test_each_fault*sse_split:mode=byte* PASSED*",
        "*test_each_fault*sse_drop:event_index=1* FAILED*",
        "*test_each_fault*latency:latency=20* PASSED*",
    ])


def test_a_bad_fault_in_the_marker_is_a_clear_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bad='''
import pytest

@pytest.mark.faultproxy_faults("sse_drop:event_index=-1")
def test_x(faultproxy):
    pass
''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*faultproxy_faults*event_index*greater than or equal to 0*"])
