"""Issue 14's "done when": real clients through the proxy to HTTPS servers posing as the real APIs.

Local HTTPS servers (the OpenAI and Anthropic mocks, the SSE server) present certificates for
``api.openai.com`` / ``api.anthropic.com`` from a throw-away CA, and the proxy reaches them
through ``--resolve``, so SNI, verification and ``Host`` are exactly what the real APIs get.
Each client runs as its users run it:

- **reverse**: pointed at the proxy, which serves HTTPS itself (``--tls``) and re-originates
  TLS to the upstream (``--upstream https://api.openai.com:PORT``);
- **forward**: ``HTTPS_PROXY`` names the proxy; the client asks for ``https://api.openai.com:PORT``
  and the proxy intercepts the ``CONNECT`` with a certificate minted for that host.

Without a fault each gets the server's text; with an SSE fault (``llm_error_event`` for the
LLM clients, ``sse_drop`` for the SSE ones) the right error, or the events the fault left.
Every capture and log line written here is then searched for the keys the clients sent, in
headers and in the query string: none may be there. The in-process SDK tests (sync and async)
and the 502 for a certificate that does not verify are at the end.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from clients_support import check, require_available, run_cells

from faultproxy.clients import ClientRequest, arun_client
from faultproxy.lab.sse_server import SSEServer
from faultproxy.proxy.server import Proxy
from faultproxy.servers.anthropic import AnthropicServer
from faultproxy.servers.openai import OpenAIServer
from faultproxy.tls import LocalCA, server_context

LLM = {"openai": "openai", "anthropic": "anthropic", "node-openai": "openai", "node-anthropic": "anthropic"}
SSE = ["httpx-sse", "node-eventsource", "fetch-event-source", "chromium"]
HOST = {"openai": "api.openai.com", "anthropic": "api.anthropic.com", None: "api.openai.com"}
# the keys the clients send: the SDKs' own (faultproxy/clients/_sdk.py, llm_child.mjs), and ours
SDK_KEY = "sk-faultproxy-test"
HEADER_KEY = "sk-header-4f1c9e2b"
QUERY_KEY = "qk-7b3e5a90d1"
SECRETS = (SDK_KEY, HEADER_KEY, QUERY_KEY)
FAULTS = {
    "llm": {"type": "llm_error_event", "attributes": {"after_deltas": 2}},
    "sse": {"type": "sse_drop", "attributes": {"event_index": 1}},
}
MODES = ("reverse", "forward")


@pytest.fixture(scope="module")
def ca() -> LocalCA:
    return LocalCA.ephemeral()


@pytest.fixture(scope="module")
def ca_file(ca, tmp_path_factory) -> Path:
    return ca.write_cert(tmp_path_factory.mktemp("tls-proxy") / "ca.pem")


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    """Where the TLS tests' captures and the proxy's log go (searched for keys at the end)."""
    return tmp_path_factory.mktemp("tls-proxy-out")


@pytest.fixture(scope="module")
def proxy_log(written):
    """The proxy's log, every line (-vv), to a file for the secret search."""
    handler = logging.FileHandler(written / "proxy.log")
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("faultproxy")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield written / "proxy.log"
    logger.removeHandler(handler)
    logger.setLevel(level)
    handler.close()


def make_proxy(mode: str, host: str, port: int, ca: LocalCA, ca_file: Path, capture: Path, faults) -> Proxy:
    resolve = [f"{host}:{port}:127.0.0.1"]
    if mode == "reverse":
        return Proxy(
            f"https://{host}:{port}",
            resolve=resolve,
            upstream_ca=ca_file,
            tls=True,
            ca=ca,
            capture=capture,
            faults=faults,
        )
    return Proxy(forward=True, resolve=resolve, upstream_ca=ca_file, ca=ca, capture=capture, faults=faults)


@pytest.fixture(scope="module")
def runs(ca, ca_file, written, proxy_log):
    from faultproxy.faults import parse_fault

    context = server_context(ca.mint("api.openai.com", "api.anthropic.com", "127.0.0.1"))

    def cell(mode: str, name: str, fault: bool):
        async def run():
            kind = LLM.get(name)
            server = (
                OpenAIServer(tls=context, tokens=6)
                if kind == "openai"
                else AnthropicServer(tls=context, tokens=6)
                if kind == "anthropic"
                else SSEServer(events=3, interval=0.01, tls=context)
            )
            specs = [parse_fault(FAULTS["llm" if kind else "sse"], index=0)] if fault else []
            capture = written / f"{mode}-{name}-{'fault' if fault else 'clean'}.jsonl"
            async with server:
                host = HOST[kind]
                proxy = make_proxy(mode, host, server.port, ca, ca_file, capture, specs)
                async with proxy:
                    origin = proxy.url if mode == "reverse" else f"https://{host}:{server.port}"
                    if kind == "openai":
                        request = ClientRequest(origin + "/v1", deadline_s=30)
                    elif kind == "anthropic":
                        request = ClientRequest(origin, deadline_s=30)
                    else:
                        path = urlsplit(server.url).path
                        headers = {} if name == "chromium" else {"Authorization": f"Bearer {HEADER_KEY}"}
                        request = ClientRequest(
                            f"{origin}{path}?key={QUERY_KEY}", deadline_s=30, headers=headers
                        )
                    env = {"HTTPS_PROXY": proxy.url} if mode == "forward" else None
                    transcript = await arun_client(name, request, ca_file=ca_file, env=env)
                    fired = len(proxy.evidence)
            return transcript, server, fired

        return run

    cells = {(f"{mode}-clean", name): cell(mode, name, False) for mode in MODES for name in [*LLM, *SSE]}
    cells.update(
        {
            (f"{mode}-fault", name): cell(mode, name, True)
            for mode in MODES
            for name in ["openai", "anthropic", "node-openai", "httpx-sse"]
        }
    )
    return run_cells(cells)


def text_of(transcript) -> str:
    return "".join(e.data for e in transcript.events if e.type == "delta")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("client", [*LLM, *SSE])
def test_every_client_gets_the_whole_stream_through_the_tls_proxy(runs, mode, client):
    require_available(client)
    transcript, server, _ = check(runs[f"{mode}-clean", client])
    assert transcript.end == "completed", transcript.error_message
    if client in LLM:
        assert text_of(transcript) == server.responses[-1].text and text_of(transcript)
        request = server.log[-1]
        assert request.headers.get("host") == f"{HOST[LLM[client]]}:{server.port}"  # its own Host
    else:
        assert [e.data for e in transcript.events] == [s.data for s in server.sent]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("client", ["openai", "anthropic", "node-openai", "httpx-sse"])
def test_an_sse_fault_inside_tls_gives_each_client_the_right_error_or_events(runs, mode, client):
    require_available(client)
    transcript, server, fired = check(runs[f"{mode}-fault", client])
    assert fired >= 1
    if client in LLM:  # the API's in-stream error event: each SDK raises it
        assert transcript.end == "error", (transcript.end, text_of(transcript))
        assert "error" in (transcript.error_message or "").lower() or transcript.error_type
    else:  # the second event never reached the client: what it got is exactly what was left
        assert transcript.end == "completed"
        assert [e.data for e in transcript.events] == [s.data for i, s in enumerate(server.sent) if i != 1]


SCENARIOS = f"""
scenarios:
  - name: tls-sse-with-keys
    server: {{kind: sse, events: 3, interval_ms: 5}}
    request: {{path: "/events?key={QUERY_KEY}", headers: {{Authorization: "Bearer {HEADER_KEY}"}}}}
    tls: true
    clients: [httpx-sse]
  - name: tls-openai-sdk
    server: {{kind: openai, tokens: 4}}
    faults: [{{type: llm_error_event, attributes: {{after_deltas: 1}}}}]
    tls: true
    clients: [openai]
    expectations: [{{outcome: [error]}}]
"""


def test_no_key_reaches_a_capture_a_report_or_a_log(runs, written, proxy_log):
    """Every capture and log line of the runs above, and a whole scenario run over TLS (its report
    in every format, its cells' captures), searched for the keys the clients sent."""
    import subprocess
    import sys

    for result in runs.values():
        check(result)
    (written / "tls.yaml").write_text(SCENARIOS, encoding="utf-8")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "faultproxy",
            "run",
            str(written / "tls.yaml"),
            "--out",
            str(written / "reports"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    reports = [p for p in (written / "reports").rglob("*") if p.is_file() and not p.is_symlink()]
    assert {p.name for p in reports} >= {
        "index.html",
        "report.json",
        "junit.xml",
        "summary.md",
        "capture.jsonl",
    }
    files = sorted(written.glob("*.jsonl")) + [proxy_log] + reports
    text = "\n".join(f.read_text(encoding="utf-8", errors="replace") for f in files) + run.stdout + run.stderr
    assert '"type":"tls"' in text and "TLS with the upstream" in text  # the handshakes are there
    for secret in SECRETS:
        assert secret not in text, (
            f"{secret!r} leaked into {[f.name for f in files if secret in f.read_text()]}"
        )


# -- in-process: the SDKs sync and async, and the 502 for a certificate that does not verify ----


def serve_and_proxy(ca, ca_file, server, **options):
    """An async context: the server, and a proxy in front of it posing as the real API."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def both():
        async with server:
            host = "api.anthropic.com" if isinstance(server, AnthropicServer) else "api.openai.com"
            options.setdefault("upstream_ca", ca_file)
            async with Proxy(
                f"https://{host}:{server.port}", resolve=[f"{host}:{server.port}:127.0.0.1"], **options
            ) as proxy:
                yield server, proxy

    return both()


def test_the_sdks_sync_and_async_in_reverse_and_forward_mode(ca, ca_file):
    import anthropic
    import openai

    context = server_context(ca.mint("api.openai.com", "api.anthropic.com"))
    trusted = ssl.create_default_context(cafile=str(ca_file))
    messages = [{"role": "user", "content": "hi"}]

    def sync_openai(base: str, client: object) -> str:
        with openai.OpenAI(base_url=base, api_key=HEADER_KEY, max_retries=0, http_client=client) as sdk:
            stream = sdk.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)
            return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    async def async_anthropic(base: str, client: object) -> str:
        sdk = anthropic.AsyncAnthropic(base_url=base, api_key=HEADER_KEY, max_retries=0, http_client=client)
        async with sdk.messages.stream(model="claude-haiku-4-5", max_tokens=50, messages=messages) as stream:
            text = "".join([t async for t in stream.text_stream])
        await sdk.close()
        return text

    async def main() -> None:
        async with serve_and_proxy(ca, ca_file, OpenAIServer(tls=context, tokens=5)) as (server, proxy):
            text = await asyncio.to_thread(sync_openai, proxy.url + "/v1", None)
            assert text == server.responses[-1].text and text
        async with serve_and_proxy(ca, ca_file, AnthropicServer(tls=context, tokens=5)) as (server, proxy):
            assert await async_anthropic(proxy.url, None) == server.responses[-1].text
        async with OpenAIServer(tls=context, tokens=5) as server:
            async with Proxy(
                forward=True, resolve=[f"api.openai.com:{server.port}:127.0.0.1"], upstream_ca=ca_file, ca=ca
            ) as proxy:
                client = openai.DefaultHttpxClient(proxy=proxy.url, verify=trusted)
                text = await asyncio.to_thread(
                    sync_openai, f"https://api.openai.com:{server.port}/v1", client
                )
                assert text == server.responses[-1].text
        async with AnthropicServer(tls=context, tokens=5) as server:
            async with Proxy(
                forward=True,
                resolve=[f"api.anthropic.com:{server.port}:127.0.0.1"],
                upstream_ca=ca_file,
                ca=ca,
            ) as proxy:
                client = anthropic.DefaultAsyncHttpxClient(proxy=proxy.url, verify=trusted)
                text = await async_anthropic(f"https://api.anthropic.com:{server.port}", client)
                assert text == server.responses[-1].text

    asyncio.run(main())


def test_a_certificate_that_does_not_verify_is_a_502_with_the_reason(ca, ca_file):
    import openai

    stranger = server_context(LocalCA.ephemeral().mint("api.openai.com"))

    async def main() -> None:
        async with serve_and_proxy(ca, ca_file, OpenAIServer(tls=stranger, tokens=5)) as (_, proxy):
            sdk = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key=HEADER_KEY, max_retries=0)
            with pytest.raises(openai.InternalServerError) as error:
                await sdk.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "hi"}], stream=True
                )
            await sdk.close()
        assert error.value.status_code == 502
        body = error.value.response.text
        assert body.startswith("faultproxy: TLS handshake with api.openai.com:")
        assert "certificate verify failed: self-signed certificate in certificate chain" in body

    asyncio.run(main())
