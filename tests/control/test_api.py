"""The control API driven by toxiproxy-python unchanged, with real traffic through its proxies.

Timing is asserted only from below (a latency toxic makes a response at least that late);
that a toxic is gone is shown by its evidence (``/metrics``), never by a response being fast.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable

import httpx
import pytest
from httpx_sse import connect_sse
from prometheus_client.parser import text_string_to_metric_families
from proxy_harness import GUARD, ScriptedServer, wait_until
from toxiproxy import Proxy as ToxiProxy
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from faultproxy.control import ControlServer

LATENCY_MS = 300


def through(listen: str, path: str = "/") -> httpx.Response:
    """One GET through a proxy listening on ``listen`` (HOST:PORT), on a fresh connection."""
    with httpx.Client(trust_env=False, timeout=GUARD) as client:
        return client.get(f"http://{listen}{path}")


def refused(listen: str) -> bool:
    try:
        through(listen)
    except httpx.ConnectError:
        return True
    return False


def metrics(api: httpx.Client) -> dict[str, float]:
    """``/metrics`` as ``{'name{label="value",…}': value}``, labels in the order given here, read
    with Prometheus's own parser."""
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    order = ["proxy", "fault", "type"]
    out = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{sample.labels[k]}"' for k in sorted(sample.labels, key=order.index))
            out[f"{sample.name}{{{labels}}}"] = sample.value
    return out


def error_of(exc: pytest.ExceptionInfo[Exception]) -> dict[str, object]:
    """The JSON body toxiproxy-python put in its exception."""
    return json.loads(exc.value.args[0])


# -- proxies ------------------------------------------------------------------------------------


def test_version(toxi: Toxiproxy):
    assert json.loads(toxi.version()) == {"version": "0.1.0"}


def test_create_list_get_destroy(toxi: Toxiproxy, api: httpx.Client, upstream: str):
    assert toxi.proxies() == {}
    proxy = toxi.create(upstream=upstream, name="shop", listen="127.0.0.1:0")
    host, _, port = proxy.listen.rpartition(":")
    assert host == "127.0.0.1" and int(port) > 0  # the real bound address, not the port 0 asked
    assert proxy.enabled is True and proxy.upstream == upstream

    listed = toxi.proxies()
    assert list(listed) == ["shop"] and listed["shop"].listen == proxy.listen
    assert api.get("/proxies/shop").json() == {
        "name": "shop",
        "listen": proxy.listen,
        "upstream": upstream,
        "enabled": True,
        "toxics": [],
        "upstream_tls": False,  # ours: whether the proxy speaks TLS to its upstream (https://)
    }

    assert proxy.destroy() is True
    assert toxi.proxies() == {}
    assert refused(proxy.listen)  # its listener is closed
    assert api.get("/proxies/shop").status_code == 404


def test_a_created_proxy_relays_on_the_port_it_reports(toxi: Toxiproxy, upstream: str):
    proxy = toxi.create(upstream=upstream, name="shop", listen="127.0.0.1:0")
    response = through(proxy.listen)
    assert response.status_code == 200 and response.text == "hello"


def test_disable_refuses_connections_and_enable_restores(toxi: Toxiproxy, upstream: str):
    proxy = toxi.create(upstream=upstream, name="shop", listen="127.0.0.1:0")
    with proxy.down():
        assert refused(proxy.listen)
        assert toxi.get_proxy("shop").enabled is False
    assert toxi.get_proxy("shop").enabled is True
    assert through(proxy.listen).text == "hello"  # the same port again


def test_create_disabled_takes_its_port_and_refuses(toxi: Toxiproxy, upstream: str):
    proxy = toxi.create(upstream=upstream, name="shop", listen="127.0.0.1:0", enabled=False)
    assert proxy.enabled is False and not proxy.listen.endswith(":0")
    assert refused(proxy.listen)
    proxy.enable()
    assert through(proxy.listen).text == "hello"


def test_update_moves_a_proxy_to_another_upstream_and_port_keeping_its_toxics(
    toxi: Toxiproxy, api: httpx.Client, upstream: str, serve: Callable[..., ScriptedServer]
):
    async def world(conn):
        await conn.read_request()
        await conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nworld")

    other = serve(world).url.removeprefix("http://")
    proxy = toxi.create(upstream=upstream, name="shop", listen="127.0.0.1:0")
    proxy.add_toxic(type="latency", attributes={"latency": 1})

    moved = api.post("/proxies/shop", json={"upstream": other})
    assert moved.status_code == 200 and moved.json()["upstream"] == other
    assert moved.json()["listen"] == proxy.listen  # same port
    assert through(proxy.listen).text == "world"

    relisted = api.patch("/proxies/shop", json={"listen": "127.0.0.1:0"}).json()
    assert relisted["listen"] != proxy.listen and refused(proxy.listen)
    assert through(relisted["listen"]).text == "world"
    assert [t["name"] for t in relisted["toxics"]] == ["latency_downstream"]

    port = relisted["listen"].rpartition(":")[2]
    respelled = api.post(
        "/proxies/shop", json={"listen": f"localhost:{port}"}
    )  # its own port, named otherwise
    assert respelled.status_code == 200, respelled.text
    assert through(respelled.json()["listen"]).text == "world"

    assert api.post("/proxies/shop", json={"enabled": "no"}).status_code == 400
    assert api.post("/proxies/nope", json={"enabled": False}).status_code == 404


def test_reset_enables_every_proxy_and_removes_every_toxic(toxi: Toxiproxy, upstream: str):
    one = toxi.create(upstream=upstream, name="one", listen="127.0.0.1:0")
    two = toxi.create(upstream=upstream, name="two", listen="127.0.0.1:0")
    one.add_toxic(type="latency", attributes={"latency": LATENCY_MS})
    two.add_toxic(type="http_status", attributes={"status": 503})
    two.disable()

    assert toxi.reset() is True
    assert one.toxics() == {} and two.toxics() == {}
    assert all(p.enabled for p in toxi.proxies().values())
    assert through(two.listen).text == "hello"


def test_populate_creates_keeps_and_replaces(
    toxi: Toxiproxy, api: httpx.Client, upstream: str, serve: Callable[..., ScriptedServer]
):
    created = api.post(
        "/populate",
        json=[
            {"name": "one", "upstream": upstream, "listen": "127.0.0.1:0"},
            {"name": "two", "upstream": upstream},  # no listen: loopback, any port
        ],
    )
    assert created.status_code == 201
    one, two = created.json()["proxies"]
    assert [one["name"], two["name"]] == ["one", "two"] and two["listen"].startswith("127.0.0.1:")
    assert through(two["listen"]).text == "hello"
    toxi.get_proxy("one").add_toxic(type="latency", attributes={"latency": 1})

    other = serve(lambda conn: conn.read_request()).url.removeprefix("http://")
    again = api.post(
        "/populate",
        json=[
            {"name": "one", "upstream": upstream, "listen": one["listen"]},  # unchanged: kept, with its toxic
            {"name": "two", "upstream": other, "listen": two["listen"]},  # changed: replaced
        ],
    ).json()["proxies"]
    assert [t["name"] for t in again[0]["toxics"]] == ["latency_downstream"]
    assert again[1]["upstream"] == other and again[1]["listen"] == two["listen"]

    # toxiproxy-python's own populate (it creates through POST /proxies)
    [three] = toxi.populate([{"name": "three", "upstream": upstream, "listen": "127.0.0.1:0"}])
    assert through(three.listen).text == "hello"


def test_populate_checks_every_proxy_before_creating_any(toxi: Toxiproxy, api: httpx.Client, upstream: str):
    response = api.post("/populate", json=[{"name": "one", "upstream": upstream}, {"name": "two"}])
    assert response.status_code == 400
    assert response.json() == {
        "error": "missing required field: upstream at proxy 2",
        "status": 400,
        "proxies": [],
    }
    assert toxi.proxies() == {}
    duplicate = api.post("/populate", json=[{"name": "one", "upstream": upstream}] * 2)
    assert duplicate.status_code == 400 and "duplicate proxy name: one" in duplicate.json()["error"]


# -- toxics -------------------------------------------------------------------------------------


def test_latency_toxic_delays_a_response_and_removing_it_restores(
    toxi: Toxiproxy, api: httpx.Client, upstream: str
):
    proxy = toxi.create(upstream=upstream, name="shop", listen="127.0.0.1:0")
    proxy.add_toxic(type="latency", attributes={"latency": LATENCY_MS})
    [toxic] = proxy.toxics().values()
    assert (toxic.name, toxic.type, toxic.stream, toxic.toxicity) == (
        "latency_downstream",
        "latency",
        "downstream",
        1.0,
    )
    assert toxic.attributes["latency"] == LATENCY_MS

    start = time.monotonic()
    assert through(proxy.listen).text == "hello"
    assert time.monotonic() - start >= LATENCY_MS / 1000
    fired = 'faultproxy_fault_fired_total{proxy="shop",fault="latency_downstream",type="latency"}'
    assert metrics(api)[fired] == 1

    assert proxy.destroy_toxic("latency_downstream") is True
    assert proxy.toxics() == {}
    assert through(proxy.listen).text == "hello"
    assert metrics(api)[fired] == 1  # that response was not delayed: the toxic did not fire again


def test_toxic_show_and_update_merge_attributes(toxi: Toxiproxy, api: httpx.Client, upstream: str):
    proxy = toxi.create(upstream=upstream, name="shop", listen="127.0.0.1:0")
    proxy.add_toxic(name="slow", type="latency", attributes={"latency": 10})
    updated = api.post("/proxies/shop/toxics/slow", json={"attributes": {"jitter": 5}, "toxicity": 0.5})
    assert updated.status_code == 200
    assert updated.json() == {
        "name": "slow",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 0.5,
        "attributes": {"latency": 10, "jitter": 5},
    }
    assert api.get("/proxies/shop/toxics/slow").json() == updated.json()
    changed_type = api.patch("/proxies/shop/toxics/slow", json={"type": "slicer"})
    assert changed_type.status_code == 400 and "type cannot be changed" in changed_type.json()["error"]
    assert api.post("/proxies/shop/toxics/nope", json={}).status_code == 404


def test_an_sse_toxic_drops_an_event_for_a_real_sse_client(toxi: Toxiproxy, lab_sse):
    server = lab_sse(events=5, interval=0.001)
    proxy = toxi.create(upstream=f"127.0.0.1:{server.port}", name="llm", listen="127.0.0.1:0")
    proxy.add_toxic(type="sse_drop", attributes={"event_index": 2})
    with (
        httpx.Client(trust_env=False, timeout=GUARD) as client,
        connect_sse(client, "GET", f"http://{proxy.listen}/events") as source,
    ):
        ids = [event.id for event in source.iter_sse()]
    assert [str(e.id) for e in server.sent] == ["1", "2", "3", "4", "5"]  # the server sent all five
    assert ids == ["1", "2", "4", "5"]


def test_an_llm_toxic_makes_the_anthropic_sdk_raise_mid_stream(toxi: Toxiproxy):
    """An ``llm_*`` fault is a toxic type like the others: the in-stream overloaded_error after a 200."""
    import anthropic

    from faultproxy.net.stream_server import running_in_thread
    from faultproxy.servers.anthropic import AnthropicServer

    with running_in_thread(AnthropicServer(seed=2, tokens=8)) as server:
        proxy = toxi.create(upstream=f"127.0.0.1:{server.port}", name="claude", listen="127.0.0.1:0")
        proxy.add_toxic(type="llm_error_event", attributes={"after_deltas": 2})
        client = anthropic.Anthropic(
            base_url=f"http://{proxy.listen}",
            api_key="k",
            max_retries=0,
            http_client=anthropic.DefaultHttpxClient(trust_env=False),
        )
        text = []
        with client, pytest.raises(anthropic.APIStatusError, match="Overloaded"):
            for event in client.messages.create(
                model="m", max_tokens=64, stream=True, messages=[{"role": "user", "content": "hi"}]
            ):
                if event.type == "content_block_delta":
                    text.append(event.delta.text)
        assert len(text) == 2 and server.log[-1].completed  # the server sent it all; the proxy cut it


# -- errors -------------------------------------------------------------------------------------


def test_duplicates_are_409_proxy_exists(toxi: Toxiproxy, upstream: str):
    proxy = toxi.create(upstream=upstream, name="shop", listen="127.0.0.1:0")
    with pytest.raises(ProxyExists) as exc:  # the server's 409 (the client's create checks first)
        APIConsumer.post("/proxies", json={"name": "shop", "upstream": upstream})
    assert error_of(exc) == {"error": "proxy already exists: shop", "status": 409}

    proxy.add_toxic(type="latency", attributes={"latency": 1})
    with pytest.raises(ProxyExists) as exc:
        proxy.add_toxic(type="latency", attributes={"latency": 2})
    assert error_of(exc) == {"error": "toxic already exists: latency_downstream", "status": 409}


def test_unknown_proxy_or_toxic_is_404_not_found(toxi: Toxiproxy, upstream: str):
    with pytest.raises(NotFound) as exc:
        ToxiProxy(name="ghost", upstream=upstream, enabled=True, listen="127.0.0.1:1").destroy()
    assert error_of(exc) == {"error": "proxy not found: ghost", "status": 404}
    with pytest.raises(NotFound):
        ToxiProxy(name="ghost", upstream=upstream, enabled=True, listen="127.0.0.1:1").toxics()

    proxy = toxi.create(upstream=upstream, name="shop", listen="127.0.0.1:0")
    with pytest.raises(NotFound) as exc:
        proxy.destroy_toxic("nope")
    assert error_of(exc) == {"error": "toxic not found: nope", "status": 404}


@pytest.mark.parametrize(
    ("toxic", "names"),
    [
        ({"type": "latencyy"}, ["unknown type 'latencyy'", "latency"]),
        (
            {"type": "latency", "attributes": {"latency": -1}},
            ["attributes.latency", "greater than or equal to 0"],
        ),
        ({"type": "latency", "attributes": {"latencyy": 1}}, ["attributes.latencyy", "unknown field"]),
        (
            {"type": "sse_drop", "stream": "upstream", "attributes": {"event_index": 1}},
            ["stream", "downstream"],
        ),
        ({"type": "latency", "stream": "sideways"}, ["stream", "'downstream'", "'upstream'"]),
        ({"type": "latency", "toxicity": 2}, ["toxicity", "less than or equal to 1"]),
    ],
)
def test_a_bad_toxic_is_400_invalid_toxic_naming_the_field(toxi: Toxiproxy, upstream: str, toxic, names):
    proxy = toxi.create(upstream=upstream, name="shop", listen="127.0.0.1:0")
    with pytest.raises(InvalidToxic) as exc:
        proxy.add_toxic(**toxic)
    error = error_of(exc)
    assert error["status"] == 400
    for name in names:
        assert name in error["error"]
    assert proxy.toxics() == {}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "shop"}, "missing required field: upstream"),
        ({"upstream": "127.0.0.1:1"}, "missing required field: name"),
        ({"name": "shop", "upstream": "ftp://127.0.0.1:1"}, "scheme must be http or https"),
        ({"name": "shop", "upstream": "127.0.0.1:1", "listen": "127.0.0.1:99999"}, "port must be a number"),
        ([1], "expected a JSON object"),
    ],
)
def test_a_bad_proxy_is_400(toxi: Toxiproxy, body, message):
    with pytest.raises(InvalidToxic) as exc:  # toxiproxy-python raises InvalidToxic for every 400
        APIConsumer.post("/proxies", json=body)
    assert message in error_of(exc)["error"]


def test_a_body_that_is_not_json_is_400(api: httpx.Client):
    response = api.post("/proxies", content=b"{nope")
    assert response.status_code == 400 and response.json()["error"].startswith("bad request body: ")


def test_browsers_are_refused(api: httpx.Client):
    response = api.get("/proxies", headers={"User-Agent": "Mozilla/5.0"})
    assert response.status_code == 403


# -- metrics ------------------------------------------------------------------------------------


def test_metrics_count_connections_and_faults(toxi: Toxiproxy, api: httpx.Client, upstream: str):
    proxy = toxi.create(upstream=upstream, name="shop", listen="127.0.0.1:0")
    proxy.add_toxic(name="teapot", type="http_status", attributes={"status": 418})
    for _ in range(3):
        assert through(proxy.listen).status_code == 418
    host, _, port = proxy.listen.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=GUARD):  # one connection held open
        active = 'faultproxy_proxy_active_connections{proxy="shop"}'
        wait_until(lambda: metrics(api)[active] == 1, "the held connection counted as active")
        seen = metrics(api)
        assert seen['faultproxy_proxy_connections_accepted_total{proxy="shop"}'] == 4
        assert seen['faultproxy_proxy_enabled{proxy="shop"}'] == 1
        assert seen['faultproxy_fault_fired_total{proxy="shop",fault="teapot",type="http_status"}'] == 3
    proxy.disable()
    assert metrics(api)['faultproxy_proxy_enabled{proxy="shop"}'] == 0


def test_metrics_speak_openmetrics_when_the_scraper_asks(toxi: Toxiproxy, api: httpx.Client, upstream: str):
    toxi.create(upstream=upstream, name="shop", listen="127.0.0.1:0")
    response = api.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert 'faultproxy_proxy_enabled{proxy="shop"} 1' in response.text and response.text.endswith("# EOF\n")


def test_toxics_with_an_empty_name_or_stream_get_toxiproxys_defaults(
    toxi: Toxiproxy, api: httpx.Client, upstream: str
):
    """Toxiproxy's Go client always sends ``"name": ""``: each toxic still gets its own name."""
    toxi.create(upstream=upstream, name="go", listen="127.0.0.1:0")
    for kind in ("latency", "timeout"):
        body = {"name": "", "type": kind, "stream": "", "toxicity": 1, "attributes": {}}
        assert api.post("/proxies/go/toxics", json=body).json()["name"] == f"{kind}_downstream"
    assert api.delete("/proxies/go/toxics/latency_downstream").status_code == 204
    assert [t["name"] for t in api.get("/proxies/go/toxics").json()] == ["timeout_downstream"]


def test_an_sse_toxic_fires_on_a_proxy_whose_upstream_speaks_tls(aio, tmp_path):
    """Issue 14: a Toxiproxy client creates a proxy to an ``https://`` upstream (the OpenAI mock
    posing as api.openai.com, reached through --resolve, verified against --upstream-ca); the
    API says the upstream speaks TLS, and an SSE toxic added through toxiproxy-python fires on
    the decrypted stream."""
    import openai

    from faultproxy.net.stream_server import running_in_thread
    from faultproxy.servers.openai import OpenAIServer
    from faultproxy.tls import LocalCA, server_context

    ca = LocalCA.ephemeral()
    ca_file = ca.write_cert(tmp_path / "ca.pem")
    with running_in_thread(OpenAIServer(tls=server_context(ca.mint("api.openai.com")), tokens=8)) as server:
        tls = {"upstream_ca": ca_file, "resolve": [f"api.openai.com:{server.port}:127.0.0.1"]}
        control = aio.call(ControlServer(port=0, tls=tls).start())
        try:
            toxi = Toxiproxy()
            toxi.update_api_consumer("127.0.0.1", control.port)
            proxy = toxi.create(
                upstream=f"https://api.openai.com:{server.port}", name="openai", listen="127.0.0.1:0"
            )
            assert APIConsumer.get("/proxies/openai").json()["upstream_tls"] is True
            proxy.add_toxic(type="sse_disconnect", attributes={"after_events": 3})
            client = openai.OpenAI(
                base_url=f"http://{proxy.listen}/v1",
                api_key="sk-x",
                max_retries=0,
                http_client=openai.DefaultHttpxClient(trust_env=False),
            )
            deltas = []
            with client, pytest.raises(openai.APIConnectionError):
                for chunk in client.chat.completions.create(
                    model="m", stream=True, messages=[{"role": "user", "content": "hi"}]
                ):
                    deltas.append(chunk)
            assert (
                len(deltas) == 3 and server.log[-1].completed
            )  # the server sent it all over TLS; the toxic cut it
        finally:
            aio.call(control.stop())
