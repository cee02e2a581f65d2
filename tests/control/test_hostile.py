"""Hostile requests to the control API: bad names, deep or huge bodies, DNS rebinding, and a fuzzer.

Each answer is a clear 4xx with Toxiproxy's ``{"error", "status"}`` body, never a 500 with a
traceback, and the server goes on serving; every proxy or toxic it creates can be read and
deleted by its name afterwards. The fuzzer tries 100 request sequences in CI;
``FAULTPROXY_FUZZ_EXAMPLES=5000`` for a longer hunt.
"""

from __future__ import annotations

import json
import os
import socket
import string
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proxy_harness import GUARD, LoopThread

from faultproxy.control import ControlServer
from faultproxy.control.guard import MAX_BODY, MAX_DEPTH


def create(api: httpx.Client, name: object, **fields: object) -> httpx.Response:
    return api.post(
        "/proxies", json={"name": name, "upstream": "127.0.0.1:9", "listen": "127.0.0.1:0", **fields}
    )


def at(name: str) -> str:
    return f"/proxies/{quote(name, safe='')}"


def assert_error(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status and all(w in body["error"] for w in words), body


@pytest.mark.parametrize(
    "name",
    [
        "a/b",
        "..",
        ".",
        "x" * 100_000,
        "a%2Fb",
        "what?",
        "#1",
        "a\\b",
        " lead",
        "trail ",
        "tab\there",
        "new\nline",
        "x" * 129,
        "\u200b",
    ],
)
def test_a_name_the_url_cannot_reach_is_a_400_naming_the_rule(api: httpx.Client, name: str) -> None:
    response = create(api, name)
    assert_error(response, 400, "proxy name", "not allowed", "printable characters")
    assert len(response.text) < 1000  # an over-long name is not echoed whole
    assert api.get("/proxies").json() == {}
    ok = create(api, "ok")
    assert ok.status_code == 201
    toxic = api.post(
        at("ok") + "/toxics", json={"name": name, "type": "latency", "attributes": {"latency": 1}}
    )
    assert_error(toxic, 400, "toxic name", "not allowed")
    populate = api.post(
        "/populate",
        json=[{"name": "fine", "upstream": "127.0.0.1:9"}, {"name": name, "upstream": "127.0.0.1:9"}],
    )
    assert_error(populate, 400, "proxy name", "at proxy 2")
    assert list(api.get("/proxies").json()) == ["ok"]  # populate created nothing


@pytest.mark.parametrize("name", ["with space", "ünïcödé-名前", "a:b@c!$&'()*+,;=", "x" * 128, "-_.~"])
def test_every_allowed_name_can_be_read_changed_and_deleted(api: httpx.Client, name: str) -> None:
    assert create(api, name).status_code == 201
    assert api.get(at(name)).json()["name"] == name
    assert (
        api.post(
            at(name) + "/toxics", json={"name": name, "type": "latency", "attributes": {"latency": 1}}
        ).status_code
        == 200
    )
    assert api.get(at(name) + "/toxics/" + quote(name, safe="")).json()["name"] == name
    assert api.delete(at(name) + "/toxics/" + quote(name, safe="")).status_code == 204
    assert api.post(at(name), json={"enabled": False}).json()["enabled"] is False
    assert api.delete(at(name)).status_code == 204
    assert api.get("/proxies").json() == {}


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 500, 100_000])
def test_deep_json_is_a_400_and_the_connection_goes_on(api: httpx.Client, depth: int) -> None:
    response = api.post("/proxies", content="[" * depth + "]" * depth)
    assert_error(response, 400, f"nested deeper than {MAX_DEPTH} levels")
    assert api.get("/version").status_code == 200  # same connection, still served


def test_json_constants_that_are_not_json_are_refused(api: httpx.Client) -> None:
    assert create(api, "p").status_code == 201
    response = api.post(at("p") + "/toxics", content=b'{"type": "latency", "attributes": {"latency": NaN}}')
    assert_error(response, 400, "NaN is not JSON")


def test_a_body_over_the_limit_is_a_413_declared_or_streamed(api: httpx.Client) -> None:
    big = b'{"name": "big", "upstream": "127.0.0.1:9", "pad": "' + b"x" * MAX_BODY + b'"}'
    assert_error(api.post("/proxies", content=big), 413, f"over {MAX_BODY} bytes")

    def chunked():  # no Content-Length: the limit holds while reading
        for i in range(0, len(big), 65536):
            yield big[i : i + 65536]

    with httpx.Client(base_url=str(api.base_url), trust_env=False, timeout=GUARD) as fresh:
        assert_error(fresh.post("/proxies", content=chunked()), 413, f"over {MAX_BODY} bytes")
    assert api.get("/proxies").json() == {}
    within = b'{"name": "p", "upstream": "127.0.0.1:9", "pad": "' + b"x" * (MAX_BODY - 100) + b'"}'
    assert create(api, "p").status_code == 201 and api.post("/proxies", content=within).status_code == 409


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8474", "attacker.localhost.evil.example", "127.0.0.1.nip.io"]
)
def test_a_foreign_host_name_is_refused_against_dns_rebinding(api: httpx.Client, host: str) -> None:
    response = api.get("/proxies", headers={"Host": host})
    assert_error(response, 403, "DNS rebinding", "--allow-host")
    assert create(api, "x").status_code == 201  # the next honest request is served


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.0.0.1:8474",
        "localhost",
        "LOCALHOST:1",
        "[::1]:8474",
        "app.localhost",
        "10.1.2.3:8474",
        "localhost.",
    ],
)
def test_addresses_and_loopback_names_are_served(api: httpx.Client, host: str) -> None:
    assert api.get("/proxies", headers={"Host": host}).status_code == 200


def test_a_request_without_host_is_served(control: ControlServer) -> None:
    with socket.create_connection(("127.0.0.1", control.port), timeout=GUARD) as sock:
        sock.sendall(b"GET /version HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_an_allowed_host_name_is_served(aio: LoopThread) -> None:
    """``faultproxy server --allow-host toxiproxy``: a compose service reaching the API by its name."""
    server = aio.call(ControlServer(port=0, allow_hosts=["toxiproxy"]).start())
    try:
        with httpx.Client(base_url=server.url, trust_env=False, timeout=GUARD) as api:
            assert api.get("/version", headers={"Host": "toxiproxy:8474"}).status_code == 200
            assert api.get("/version", headers={"Host": "toxiproxy.evil.example"}).status_code == 403
    finally:
        aio.call(server.stop())


# -- fuzzing ----------------------------------------------------------------------------------

names = st.one_of(
    st.text(min_size=0, max_size=12),
    st.sampled_from(["a/b", "..", ".", "p", "q", "%2F", "x" * 200, " ", "latency_downstream"]),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
toxic_types = st.sampled_from(
    [
        "latency",
        "bandwidth",
        "slicer",
        "timeout",
        "reset_peer",
        "limit_data",
        "slow_close",
        "http_status",
        "sse_drop",
        "sse_delay",
        "nope",
        "",
    ]
)
proxy_bodies = st.fixed_dictionaries(
    {"name": names, "upstream": st.one_of(st.just("127.0.0.1:9"), st.text(max_size=20))},
    optional={"listen": st.one_of(st.just("127.0.0.1:0"), st.text(max_size=20)), "enabled": scalars},
)
toxic_bodies = st.fixed_dictionaries(
    {"type": toxic_types},
    optional={
        "name": names,
        "stream": st.sampled_from(["upstream", "downstream", "sideways", ""]),
        "toxicity": scalars,
        "attributes": st.dictionaries(
            st.sampled_from(["latency", "jitter", "rate", "status", "bytes", "delay_ms", "event_index", "x"]),
            scalars,
            max_size=3,
        ),
    },
)
raw_bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    proxy_bodies.map(lambda v: json.dumps(v).encode()),
    toxic_bodies.map(lambda v: json.dumps(v).encode()),
    st.lists(proxy_bodies, max_size=3).map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
    st.integers(1, 3000).map(lambda n: b"{" * n),
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
)
segments = st.one_of(
    names.map(lambda n: quote(n, safe="")), st.sampled_from(["p", "q", "toxics", "%2e%2e", ""])
)
paths = st.one_of(
    st.sampled_from(["/version", "/metrics", "/reset", "/populate", "/proxies"]),
    segments.map(lambda s: f"/proxies/{s}"),
    st.tuples(segments, segments).map(lambda t: f"/proxies/{t[0]}/toxics/{t[1]}"),
    segments.map(lambda s: f"/proxies/{s}/toxics"),
    st.text(alphabet=string.printable, max_size=30).map(lambda t: "/" + quote(t)),
)
requests = st.tuples(st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT"]), paths, raw_bodies)


@settings(
    max_examples=int(os.environ.get("FAULTPROXY_FUZZ_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(requests, min_size=1, max_size=6))
def test_fuzzed_requests_never_break_the_api(
    api: httpx.Client, sequence: list[tuple[str, str, bytes]]
) -> None:
    api.post("/populate", json=[{"name": "p", "upstream": "127.0.0.1:9"}])  # something to hit
    for method, path, body in sequence:
        response = api.request(method, path, content=body)
        assert response.status_code < 500 or "cannot listen" in response.text, (
            method,
            path,
            body,
            response.text,
        )
        if response.status_code >= 400 and response.headers.get("content-type") == "application/json":
            assert response.json()["status"] == response.status_code
    # whatever was made can be found and removed by its name
    listed = api.get("/proxies")
    assert listed.status_code == 200
    for name, proxy in listed.json().items():
        assert api.get(at(name)).json()["name"] == name
        for toxic in proxy["toxics"]:
            assert api.get(f"{at(name)}/toxics/{quote(toxic['name'], safe='')}").status_code == 200
        assert api.delete(at(name)).status_code == 204
    assert api.get("/proxies").json() == {}
