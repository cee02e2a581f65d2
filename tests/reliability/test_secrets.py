"""Secrets planted in every place a request carries them never reach an artefact faultproxy writes.

The end-to-end test runs ``faultproxy run`` for real (an LLM mock, a ``url:`` server, a fault that
quotes the request) with keys in headers, cookies, query strings (Gemini's ``?key=``), JSON body
fields, then reads every byte it left behind — captures (their base64 payloads decoded), report.json,
index.html, summary.md, junit.xml — and what it printed. The unit tests pin which names are secret
and show the streamed body masking holds under every split.
"""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from proxy_harness import GUARD, Conn, LoopThread, wait_until

from faultproxy.redact import BodyMasker, is_secret_name, redact_target, redact_text
from faultproxy.servers.sse import ReferenceSSEServer

SECRETS = {
    "query key (Gemini)": "AIza-QUERY-SECRET-01",
    "query api_key": "QUERY-SECRET-02",
    "query access_token": "QUERY-SECRET-03",
    "authorization bearer": "sk-HEADER-SECRET-04",
    "x-api-key": "XAPI-SECRET-05",
    "cookie": "COOKIE-SECRET-06",
    "x-amz-security-token": "AMZ-SECRET-07",
    "x-goog-api-key": "GOOG-SECRET-08",
    "json api_key": "BODY-SECRET-09",
    "json nested password": "BODY-SECRET-10",
    "json apiKey (camelCase)": "BODY-SECRET-11",
    "url: server query token": "URL-SECRET-12",
    "url: server query key": "URL-SECRET-13",
}
S = SECRETS

REQUEST = f"""
    request:
      path: /v1/chat/completions?alt=sse&key={S["query key (Gemini)"]}&api_key={S["query api_key"]}&access_token={S["query access_token"]}
      headers:
        Authorization: Bearer {S["authorization bearer"]}
        X-Api-Key: {S["x-api-key"]}
        Cookie: session={S["cookie"]}; theme=dark
        X-Amz-Security-Token: {S["x-amz-security-token"]}
        X-Goog-Api-Key: {S["x-goog-api-key"]}
      json:
        model: gpt-4o-mini
        stream: true
        messages: [{{role: user, content: hi}}]
        api_key: {S["json api_key"]}
        auth: {{user: me, password: {S["json nested password"]}}}
        apiKey: {S["json apiKey (camelCase)"]}
"""

SUITE = f"""
scenarios:
  - name: llm-healthy
    clients: [httpx-sse]
    server: {{kind: openai, seed: 1, tokens: 8}}
{REQUEST}
    expectations: [all_events_in_order]
  - name: llm-refused
    clients: [httpx-sse]
    server: {{kind: openai, seed: 1, tokens: 8}}
{REQUEST}
    faults:
      - {{type: http_status, attributes: {{status: 401}}}}
    expectations: [no_silent_loss]
  - name: url-server
    clients: [httpx-sse]
    server: {{url: "http://127.0.0.1:PORT/events?token={S["url: server query token"]}&key={S["url: server query key"]}"}}
    faults:
      - {{type: sse_disconnect, attributes: {{after_events: 2}}}}
    expectations: [no_silent_loss]
"""


def _every_payload(path: Path) -> list[bytes]:
    """A file's bytes, and for a JSON Lines capture the base64 payloads of its records decoded."""
    data = path.read_bytes()
    out = [data]
    if path.suffix == ".jsonl":
        for line in data.splitlines():
            record = json.loads(line)
            if "b64" in record:
                out.append(base64.b64decode(record["b64"]))
    return out


@pytest.fixture
def url_server() -> ReferenceSSEServer:
    loop = LoopThread("url-server")
    server = ReferenceSSEServer(events=6, interval=0.002)
    loop.call(server.start())
    yield server
    loop.call(server.stop())
    loop.stop()


def test_no_secret_reaches_any_artefact_of_a_run(tmp_path: Path, url_server: ReferenceSSEServer) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.replace("PORT", str(url_server.port)))
    out = tmp_path / "reports"
    done = subprocess.run(
        [sys.executable, "-m", "faultproxy", "run", str(suite), "--out", str(out), "-j", "3"],
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0, (done.stdout + done.stderr).decode()
    run_dir = (out / "latest").resolve()
    files = sorted(p for p in run_dir.rglob("*") if p.is_file())
    names = {p.name for p in files}
    assert {"report.json", "index.html", "summary.md", "junit.xml", "capture.jsonl"} <= names
    # the secrets were sent: the url: server got its query, the fault quoted the request
    assert url_server.requests and url_server.sent
    leaks = []
    for path in files:
        for payload in _every_payload(path):
            leaks += [
                (what, path.relative_to(run_dir)) for what, secret in S.items() if secret.encode() in payload
            ]
    for stream, text in (("stdout", done.stdout), ("stderr", done.stderr)):
        leaks += [(what, stream) for what, secret in S.items() if secret.encode() in text]
    assert not leaks, leaks
    # what a reader needs is still there: the request, with its secrets marked
    report = (run_dir / "report.json").read_text()
    assert "token=REDACTED&key=REDACTED" in report
    capture = b"".join(b for p in files if p.name == "capture.jsonl" for b in _every_payload(p))
    assert b"?alt=sse&key=REDACTED&api_key=REDACTED&access_token=REDACTED HTTP/1.1" in capture
    assert b"X-Amz-Security-Token: [redacted]" in capture and b"Cookie: [redacted]" in capture
    assert b'"api_key": "' + b"*" * len(S["json api_key"]) + b'"' in capture
    # and none of it is for other users of the machine
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    for path in [*files, *(p for p in run_dir.rglob("*") if p.is_dir())]:
        expected = 0o600 if path.is_file() else 0o700
        assert stat.S_IMODE(path.stat().st_mode) == expected, path


# -- what is secret ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "key",
        "api_key",
        "apikey",
        "apiKey",
        "API_KEY",
        "access_token",
        "token",
        "refresh_token",
        "id_token",
        "client_secret",
        "password",
        "X-Amz-Security-Token",
        "X-Amz-Signature",
        "X-Amz-Credential",
        "sig",
        "Authorization",
        "Proxy-Authorization",
        "Cookie",
        "Set-Cookie",
        "x-api-key",
        "x-goog-api-key",
        "api-key",
        "x-auth-token",
        "Ocp-Apim-Subscription-Key",
        "openai-organization",
        "session_id",
        "sessionId",
    ],
)
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "max_tokens",
        "max_output_tokens",
        "promptTokenCount",
        "x-ratelimit-remaining-tokens",
        "token_type",
        "monkey",
        "keyword",
        "model",
        "stream",
        "alt",
        "Content-Type",
        "www-authenticate",
        "Last-Event-ID",
    ],
)
def test_ordinary_names_stay_readable(name: str) -> None:
    assert not is_secret_name(name)


def test_redact_target_changes_only_secret_values() -> None:
    target = "/v1beta/models/gemini:streamGenerateContent?alt=sse&key=AIza%2Fx&maxTokens=5&pageToken="
    assert (
        redact_target(target)
        == "/v1beta/models/gemini:streamGenerateContent?alt=sse&key=REDACTED&maxTokens=5&pageToken="
    )


def test_redact_text_finds_urls_and_header_lines() -> None:
    text = "401 for url 'http://me:pw-123@h:1/x?api_key=sk-1&n=2'; line 'X-Api-Key: sk-2'"
    assert (
        redact_text(text)
        == "401 for url 'http://me:[redacted]@h:1/x?api_key=REDACTED&n=2'; line 'X-Api-Key: [redacted]'"
    )


# -- bodies, streamed ----------------------------------------------------------------------

json_scalars = st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.none())
names = st.sampled_from(
    ["model", "stream", "max_tokens", "n", "key_id", "api_key", "apiKey", "token", "password", "key"]
)
documents = st.recursive(
    st.dictionaries(names, json_scalars, max_size=3),
    lambda inner: st.dictionaries(names, st.one_of(inner, st.lists(inner, max_size=2)), max_size=3),
    max_leaves=8,
)


@given(documents, st.lists(st.integers(1, 40), max_size=30), st.booleans())
def test_json_bodies_are_masked_under_every_split(document: dict, cuts: list[int], ascii_only: bool) -> None:
    body = json.dumps(document, ensure_ascii=ascii_only).encode()
    masker, pieces, pos = BodyMasker("json"), [], 0
    for cut in cuts:
        pieces.append(masker.feed(body[pos : pos + cut]))
        pos += cut
    pieces.append(masker.feed(body[pos:]))
    masked = b"".join(pieces)
    assert len(masked) == len(body) and [len(p) for p in pieces] == [len(p) for p in _split(body, cuts)]
    assert masked == BodyMasker("json").feed(body)  # the split changes nothing
    assert json.loads(masked) == _masked_copy(document, ascii_only)  # still JSON, only secrets changed


def _split(body: bytes, cuts: list[int]) -> list[bytes]:
    out, pos = [], 0
    for cut in cuts:
        out.append(body[pos : pos + cut])
        pos += cut
    return [*out, body[pos:]]


def _masked_copy(value: object, ascii_only: bool) -> object:
    """What masking must give: a secret string's encoded bytes as ``*``, a secret number's digits
    as 1000…; everything else (true, false, null, other fields) unchanged."""
    if isinstance(value, dict):
        return {
            k: _masked_value(v, ascii_only) if is_secret_name(k) else _masked_copy(v, ascii_only)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_masked_copy(v, ascii_only) for v in value]
    return value


def _masked_value(value: object, ascii_only: bool) -> object:
    if isinstance(value, str):
        return "*" * (len(json.dumps(value, ensure_ascii=ascii_only).encode()) - 2)
    if isinstance(value, int) and not isinstance(value, bool):
        digits = str(abs(value))
        return int("1" + "0" * (len(digits) - 1)) * (-1 if value < 0 else 1)
    return _masked_copy(value, ascii_only)


def test_masked_numbers_and_literals() -> None:
    body = b'{"token": 12345, "password": -9.5e3, "key": true, "api_key": null, "n": 7}'
    assert (
        BodyMasker("json").feed(body)
        == b'{"token": 10000, "password": -1.0e0, "key": true, "api_key": null, "n": 7}'
    )


def test_form_bodies_are_masked() -> None:
    masker = BodyMasker.for_content_type(b"application/x-www-form-urlencoded; charset=utf-8")
    body = b"grant_type=refresh&refresh_token=RT-SECRET&client%5Fsecret=CS&scope=a+b"
    out = b"".join(masker.feed(body[i : i + 3]) for i in range(0, len(body), 3))
    assert out == b"grant_type=refresh&refresh_token=*********&client%5Fsecret=**&scope=a+b"
    assert BodyMasker.for_content_type("text/plain") is None


def test_a_capture_masks_a_body_secret_split_byte_by_byte(make_proxy, serve, raw_client, tmp_path) -> None:
    """Through a real proxy: the body arrives a byte at a time; the upstream gets it whole, the
    capture never holds a piece of the key, and its sizes still add up."""

    async def ok(conn: Conn) -> None:
        await conn.read_request()
        await conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    capture = tmp_path / "c.jsonl"
    upstream = serve(ok)
    proxy = make_proxy(upstream.url, capture=capture)
    body = b'{"model": "m", "api_key": "sk-BODY-SPLIT-SECRET", "max_tokens": 5}'
    head = (
        b"POST /v1/x?key=AIza-SPLIT-SECRET HTTP/1.1\r\nHost: u\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    sock = raw_client(proxy.port)
    sock.send(head + body, [1] * (len(head) + len(body)))
    assert sock.recv_until(b"ok").endswith(b"ok")
    sock.close()
    wait_until(lambda: proxy.active == 0, "the connection to be done", GUARD)
    assert upstream.conn(1).received == head + body  # redaction is for the capture only
    records = [json.loads(line) for line in capture.read_text().splitlines()]
    sent = b"".join(
        base64.b64decode(r["b64"]) for r in records if r.get("dir") == "request" and r["type"] == "body"
    )
    assert sent == body.replace(b"sk-BODY-SPLIT-SECRET", b"*" * 20)
    assert b"SPLIT-SECRET" not in capture.read_bytes()
    assert all(b"SPLIT-SECRET" not in base64.b64decode(r["b64"]) for r in records if "b64" in r)
    assert stat.S_IMODE(capture.stat().st_mode) == 0o600
