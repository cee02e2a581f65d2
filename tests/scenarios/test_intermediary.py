"""Real nginx in a cell's path (``intermediary:``), end to end through ``faultproxy run``.

Arrival is judged against the server's send times in the same cell (the report's timeline), never
against a fixed number of milliseconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from faultproxy.bench.peers import NginxPeer
from faultproxy.intermediaries.nginx import upstream_hop

NGINX = NginxPeer()
pytestmark = pytest.mark.skipif(NGINX.available() is not None, reason=str(NGINX.available()))
SCHEMA = json.loads((Path(__file__).parents[2] / "faultproxy" / "report" / "schema.json").read_text())

SUITE = """
scenarios:
  - name: behind
    server: {kind: sse, events: 6, interval_ms: 150}
    intermediary: {kind: nginx, config: defaults}
    clients: [raw]
    expectations: [all_events_in_order]
    timeouts: {deadline_ms: 15000}
  - name: plain
    server: {kind: sse, events: 6, interval_ms: 150}
    clients: [raw]
    expectations: [all_events_in_order]
    timeouts: {deadline_ms: 15000}
  - name: in-front
    server: {kind: sse, events: 6, interval_ms: 20}
    faults:
      - {type: sse_disconnect, attributes: {after_events: 2}}
    intermediary: {kind: nginx, config: http11, position: in_front}
    clients: [raw]
    expectations: [error_raised]
    timeouts: {deadline_ms: 15000}
  - name: in-front-http10
    server: {kind: sse, events: 6, interval_ms: 20}
    faults:
      - {type: sse_disconnect, attributes: {after_events: 2}}
    intermediary: {kind: nginx, config: unbuffered-http10, position: in_front}
    clients: [raw]
    expectations: [{outcome: silent_loss}]
    timeouts: {deadline_ms: 15000}
  - name: in-front-tutorial
    server: {kind: sse, events: 6, interval_ms: 20}
    faults:
      - {type: sse_disconnect, attributes: {after_events: 2}}
    intermediary: {kind: nginx, config: tutorial, position: in_front}
    clients: [raw]
    expectations: [{outcome: silent_loss}]
    timeouts: {deadline_ms: 15000}
  - name: in-front-url
    server: {url: "http://127.0.0.1:PORT/events"}
    faults:
      - {type: sse_disconnect, attributes: {after_events: 2}}
    intermediary: {kind: nginx, config: tutorial, position: in_front}
    clients: [raw]
    expectations: [{outcome: silent_loss}]
    timeouts: {deadline_ms: 15000}
"""


@pytest.fixture(scope="module")
def url_server():
    """A server of the user's own (no log of what it sent) for the ``url:`` cell."""
    from proxy_harness import LoopThread

    from faultproxy.servers.sse import ReferenceSSEServer

    loop = LoopThread("url-server")
    server = ReferenceSSEServer(events=6, interval=0.02)
    loop.call(server.start())
    yield server
    loop.call(server.stop())
    loop.stop()


@pytest.fixture(scope="module")
def report(tmp_path_factory, url_server) -> tuple[dict, Path]:
    tmp = tmp_path_factory.mktemp("nginx-run")
    (tmp / "suite.yaml").write_text(SUITE.replace("PORT", str(url_server.port)))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "faultproxy",
            "run",
            str(tmp / "suite.yaml"),
            "--out",
            str(tmp / "reports"),
            "-j",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    latest = tmp / "reports" / "latest"
    return json.loads((latest / "report.json").read_text()), latest


def cell(report: dict, scenario: str) -> dict:
    return next(r for r in report["results"] if r["scenario"] == scenario)


def test_nginx_behind_the_proxy_holds_the_stream_that_streams_without_it(report):
    data, _ = report
    version = NGINX.version()
    behind, plain = cell(data, "behind"), cell(data, "plain")
    assert behind["path"] == f"client → faultproxy → nginx {version} (defaults) → sse server"
    assert plain["path"] == "client → faultproxy → sse server"
    assert behind["outcome"] == plain["outcome"] == "ok"
    first_received = min(t for t, *_ in behind["timeline"]["received"])
    last_sent = max(t for t, _ in behind["timeline"]["sent"])
    if upstream_hop(version) == "HTTP/1.0":  # before 1.29.7: held to the end
        assert first_received >= last_sent
    sent = dict((i, t) for t, i in plain["timeline"]["sent"])
    assert min(t for t, *_ in plain["timeline"]["received"]) < sent["2"]  # without nginx: streamed


def test_nginx_in_front_passes_a_cut_on_only_when_the_upstream_body_was_chunked(report):
    """The proxy cuts the stream after 2 events. Over HTTP/1.1 nginx got a chunked body, sees it
    broken and cuts the client's body too; over HTTP/1.0 (its old default) the body was
    close-delimited, the cut looks like its end, and nginx ends the client's body cleanly."""
    data, _ = report
    front, old = cell(data, "in-front"), cell(data, "in-front-http10")
    assert (
        front["path"]
        == f"client → faultproxy (no fault) → nginx {NGINX.version()} (http11) → faultproxy → sse server"
    )
    assert front["outcome"] == "error" and front["passed"] and front["evidence"]["received"] == 2
    assert old["outcome"] == "silent_loss" and old["evidence"]["received"] == 2  # proxy_http_version 1.0


def test_nginx_in_front_is_never_taken_for_the_client(report):
    """The proxy behind nginx cuts the stream; nginx's tutorial block turns the body close-delimited,
    so the client gets a clean-looking end. The cell judges what the client got (recorded by a
    proxy with no fault in front of nginx): a silent loss the wire caused, not the client's doing
    (judged on nginx's input, the cut looked noticeable and the client was blamed)."""
    data, latest = report
    tutorial = cell(data, "in-front-tutorial")
    assert tutorial["outcome"] == "silent_loss" and tutorial["attribution"] == "wire"
    (delivered,) = tutorial["evidence"]["exchanges"]
    assert delivered["framing"] == "close" and delivered["end"] == "close" and delivered["events"] == 2
    assert [f["fault"] for f in tutorial["evidence"]["faults_fired"]] == ["sse_disconnect_1"]
    behind = next((latest / "cells" / "in-front-tutorial").glob("raw-*")) / "capture-behind-nginx.jsonl"
    assert b'"dir":"response"' in behind.read_bytes()  # what nginx was given, kept beside the cell's
    # a server that keeps no log: what it sent is read behind nginx, where the cut shows
    url = cell(data, "in-front-url")
    assert (
        url["outcome"] == "silent_loss" and url["attribution"] == "wire" and url["evidence"]["received"] == 2
    )


def test_the_report_says_where_each_cell_went(report):
    data, latest = report
    jsonschema.validate(data, SCHEMA)
    scenarios = {s["name"]: s for s in data["scenarios"]}
    assert scenarios["behind"]["intermediary"] == {
        "kind": "nginx",
        "config": "defaults",
        "position": "behind_proxy",
    }
    assert "intermediary" not in scenarios["plain"]
    page = (latest / "index.html").read_text()
    assert '<p class="path">path: client → faultproxy → nginx ' in page
    assert "(http11) → faultproxy → sse server</p>" in page


def test_a_url_server_without_a_port_is_reached_on_its_schemes_port():
    """``server: {url: http://localhost/events}`` behind nginx: proxied to localhost:80."""
    import asyncio

    from faultproxy.scenarios.intermediary import _nginx

    async def start() -> tuple[str, str]:
        peer, label = await _nginx("unbuffered", "http://localhost")
        try:
            return (Path(peer._tmp.name) / "nginx.conf").read_text(), label
        finally:
            await asyncio.to_thread(peer.stop)

    conf, label = asyncio.run(start())
    assert "proxy_pass http://localhost:80/;" in conf and label == f"nginx {NGINX.version()} (unbuffered)"


def test_nginx_that_will_not_start_says_why():
    """nginx writes why it would not start to its error log, not to stderr: the error says it."""
    from faultproxy.bench.peers import PeerError
    from faultproxy.intermediaries import nginx

    with pytest.raises(PeerError, match=r'nginx exited with 1.* invalid port in upstream "localhost:None'):
        nginx.start([nginx.Location("/", "defaults", "localhost:None")])


def test_the_suites_old_hop_scenarios_set_the_hop_themselves():
    """What nginx's defaults did before 1.29.7 (batches of a close-delimited body, a cut that ends
    cleanly) holds on a newer nginx only where the route asks for HTTP/1.0 itself."""
    from faultproxy.intermediaries.nginx import ROUTES_DIR
    from faultproxy.scenarios import load_file
    from faultproxy.scenarios.runner import DEFAULT_SUITE

    suite = {s.name: s for s in load_file(DEFAULT_SUITE / "10-nginx.yaml")}
    for name in ("nginx-old-defaults", "nginx-old-defaults-1k", "nginx-old-hop-hides-a-cut"):
        route = (ROUTES_DIR / f"{suite[name].intermediary.config}.conf").read_text()
        assert "proxy_http_version 1.0;" in route, name
