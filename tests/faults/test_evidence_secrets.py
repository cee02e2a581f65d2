"""Fault evidence never quotes a secret: a header value a fault removed or replaced, a key in the
query of the request it describes. Evidence goes into the capture's fault records, report.json
and the HTML report; secrets are planted in a real run and every one of those files is searched.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from proxy_harness import LoopThread

from faultproxy.faults import FaultSet, Pipeline, parse_fault
from faultproxy.servers.sse import ReferenceSSEServer
from faultproxy.wire.http import parse_request_head

COOKIE, HEADER, KEY = "COOKIESECRET1", "HEADERSECRET2", "QUERYSECRET3"

# The secrets come from the server (a server of the user's own, so the scenario names none of
# them) and from the URL: what a scenario file itself holds is the report's own matter.
SUITE = """
scenarios:
  - name: secrets-in-evidence
    clients: [raw]
    server: {url: "http://127.0.0.1:PORT/events?stream=1&api_key=KEY"}
    faults:
      - {type: remove_header, attributes: {header: Set-Cookie}}
      - {type: set_header, attributes: {header: X-Api-Key, value: other}}
      - {type: close_delimited}
    timeouts: {deadline_ms: 10000}
"""


@pytest.fixture
def server():
    loop = LoopThread("secrets")
    server = ReferenceSSEServer(
        events=3, interval=0.01, headers={"Set-Cookie": f"sid={COOKIE}; HttpOnly", "X-Api-Key": HEADER}
    )
    loop.call(server.start())
    yield server
    loop.call(server.stop())
    loop.stop()


def _payloads(path: Path) -> bytes:
    """A file's bytes, with a capture's base64 payloads decoded beside them."""
    data = path.read_bytes()
    if path.suffix != ".jsonl":
        return data
    return data + b"".join(base64.b64decode(json.loads(line).get("b64", "")) for line in data.splitlines())


def test_no_secret_reaches_a_capture_or_a_report_through_fault_evidence(tmp_path, server):
    (tmp_path / "suite.yaml").write_text(SUITE.replace("PORT", str(server.port)).replace("KEY", KEY))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "faultproxy",
            "run",
            str(tmp_path / "suite.yaml"),
            "--out",
            str(tmp_path / "reports"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    latest = (tmp_path / "reports" / "latest").resolve()
    report = json.loads((latest / "report.json").read_text())
    (result,) = report["results"]
    fired: dict[str, list[str]] = {}
    for f in result["evidence"]["faults_fired"]:
        fired.setdefault(f["fault"], []).append(f["detail"])
    assert set(fired) == {"remove_header_1", "set_header_2", "close_delimited_3"}, done.stdout + done.stderr
    # the evidence still says what happened, with the secrets marked
    assert fired["remove_header_1"] == ["removed Set-Cookie ([redacted])"]
    assert fired["set_header_2"] == ["X-Api-Key: [redacted] (was [redacted])"]
    assert (
        "re-framed the chunked 200 response to GET /events?stream=1&api_key=REDACTED as close-delimited"
        in fired["close_delimited_3"]
    )
    (capture,) = latest.rglob("capture.jsonl")
    faults = [line for line in capture.read_text().splitlines() if '"type":"fault"' in line]
    assert len(faults) == len(result["evidence"]["faults_fired"])
    for secret in (COOKIE, HEADER):  # header values: nowhere at all
        for path in (capture, latest / "report.json", latest / "index.html"):
            assert secret.encode() not in _payloads(path), (secret, path.name)
    # a key in the query: in no evidence (the capture's request line is the capture's own matter)
    for text in (*faults, json.dumps(result["evidence"]["faults_fired"])):
        assert KEY not in text


def test_a_request_header_replaced_on_its_way_upstream_is_not_quoted():
    faults = FaultSet(
        [
            parse_fault(
                {
                    "type": "set_header",
                    "stream": "upstream",
                    "attributes": {"header": "Authorization", "value": "Bearer other"},
                }
            )
        ]
    )
    pipeline = Pipeline(faults, 1, "request")
    pipeline.sync(0.0)
    pipeline.feed(b"GET /v1?key=K HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer AUTHSECRET\r\n\r\n", 0.0)
    assert [e.detail for e in faults.evidence] == ["Authorization: [redacted] (was [redacted])"]


def test_evidence_keeps_ordinary_header_values():
    faults = FaultSet(
        [parse_fault({"type": "set_header", "attributes": {"header": "Content-Type", "value": "text/plain"}})]
    )
    pipeline = Pipeline(faults, 1, "response")
    pipeline.sync(0.0)
    pipeline.expect(parse_request_head(b"GET /events?page=2 HTTP/1.1\r\nHost: x\r\n\r\n"))
    pipeline.feed(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 0\r\n\r\n", 0.0)
    assert [e.detail for e in faults.evidence] == ["Content-Type: 'text/plain' (was 'text/event-stream')"]
