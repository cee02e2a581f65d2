"""Every reference client over HTTPS, trusting a CA the way its users would tell it to.

The reference servers serve TLS with a certificate from a throw-away :class:`LocalCA`
(posing as ``api.openai.com`` / ``api.anthropic.com``, also valid for 127.0.0.1); the
harness's ``ca_file`` hands each client that CA by the setting its library reads
(``SSL_CERT_FILE``, ``REQUESTS_CA_BUNDLE``, ``NODE_EXTRA_CA_CERTS``, Chromium's SPKI list).
Each client must get every event; with another CA's certificate it must fail verification --
so trust really comes from the CA setting, not from a check switched off. No proxy yet: this
is the ground the TLS proxy tests stand on.

The official SDKs are also driven in-process, sync and async, as a user sets them up: the
environment (``SSL_CERT_FILE``) or their ``http_client`` with an SSL context.
"""

from __future__ import annotations

import asyncio
import ssl

import pytest
from clients_support import check, require_available, run_cells

from faultproxy.clients import ClientRequest, arun_client, registry
from faultproxy.lab.sse_server import SSEServer
from faultproxy.net.stream_server import running_in_thread
from faultproxy.servers.anthropic import AnthropicServer
from faultproxy.servers.openai import OpenAIServer
from faultproxy.tls import LocalCA, server_context

SSE_CLIENTS = [
    "raw",
    "httpx-sse",
    "sseclient-py",
    "requests-sse",
    "aiohttp-sse-client2",
    "launchdarkly-eventsource",
    "naive",
    "node-eventsource",
    "fetch-event-source",
    "chromium",
]
SDK_CLIENTS = {
    "openai": "openai",
    "openai-responses": "openai",
    "anthropic": "anthropic",
    "langchain-openai": "openai",
    "pydantic-ai": "anthropic",
    "node-openai": "openai",
    "node-anthropic": "anthropic",
    "vercel-ai-openai": "openai",
    "vercel-ai-anthropic": "anthropic",
}
# With a certificate from a CA they were not told to trust: how each says no (none goes on silently).
UNTRUSTED = {
    "raw": ("faultproxy.failed", "TLS: certificate verify failed"),
    "httpx-sse": ("httpx.ConnectError", "certificate verify failed"),
    "sseclient-py": ("requests.SSLError", "CERTIFICATE_VERIFY_FAILED"),
    "aiohttp-sse-client2": ("aiohttp.ClientConnectorCertificateError", "CERTIFICATE_VERIFY_FAILED"),
    "launchdarkly-eventsource": ("urllib3.SSLError", "certificate verify failed"),
    "requests-sse": ("requests.SSLError", "CERTIFICATE_VERIFY_FAILED"),
    "naive": ("requests.SSLError", "CERTIFICATE_VERIFY_FAILED"),
    "openai": ("openai.APIConnectionError", "Connection error"),
    "openai-responses": ("openai.APIConnectionError", "Connection error"),
    "anthropic": ("anthropic.APIConnectionError", "Connection error"),
    "fetch-event-source": ("TypeError", "fetch failed"),  # the reason is only in its cause
    "node-eventsource": ("eventsource.ErrorEvent", "self-signed certificate in certificate chain"),
    "chromium": ("net.ERR_CERT_AUTHORITY_INVALID", "net::ERR_CERT_AUTHORITY_INVALID"),
    "langchain-openai": ("langchain_openai.OpenAIConnectionError", "Connection error"),
    "pydantic-ai": ("pydantic_ai.ModelConnectionError", "Connection error"),
    "node-openai": ("APIConnectionError", "Connection error"),  # the reason is only in its cause
    "node-anthropic": ("APIConnectionError", "Connection error"),
    "vercel-ai-openai": ("APICallError", "self-signed certificate in certificate chain"),
    "vercel-ai-anthropic": ("APICallError", "self-signed certificate in certificate chain"),
}
MODEL = "claude-haiku-4-5"
HOSTS = ("api.openai.com", "api.anthropic.com", "127.0.0.1", "localhost")


@pytest.fixture(scope="module")
def ca() -> LocalCA:
    return LocalCA.ephemeral()


@pytest.fixture(scope="module")
def ca_file(ca, tmp_path_factory):
    return ca.write_cert(tmp_path_factory.mktemp("tls") / "ca.pem")


@pytest.fixture(scope="module")
def runs(ca, ca_file, tmp_path_factory):
    """Each client once against its own TLS server, trusting ``ca``; and some against a server
    whose certificate comes from another CA."""
    context = server_context(ca.mint(*HOSTS))
    stranger = server_context(LocalCA.ephemeral().mint(*HOSTS))

    def cell(name: str, tls: ssl.SSLContext):
        async def run():
            kind = SDK_CLIENTS.get(name)
            server = (
                OpenAIServer(tls=tls, tokens=6)
                if kind == "openai"
                else AnthropicServer(tls=tls, tokens=6)
                if kind == "anthropic"
                else SSEServer(events=3, interval=0.01, tls=tls)
            )
            async with server:
                url = server.base_url if kind == "openai" else server.url.rstrip("/") if kind else server.url
                transcript = await arun_client(name, ClientRequest(url, deadline_s=30), ca_file=ca_file)
            return transcript, server

        return run

    cells = {("trusted", name): cell(name, context) for name in [*SSE_CLIENTS, *SDK_CLIENTS]}
    cells.update({("untrusted", name): cell(name, stranger) for name in UNTRUSTED})
    return run_cells(cells)


@pytest.mark.parametrize("client", SSE_CLIENTS)
def test_sse_clients_get_every_event_over_tls(runs, client):
    require_available(client)
    transcript, server = check(runs["trusted", client])
    assert transcript.end == "completed", transcript.error_message
    assert [e.data for e in transcript.events] == [s.data for s in server.sent]
    assert server.url.startswith("https://")


@pytest.mark.parametrize("client", sorted(SDK_CLIENTS))
def test_sdk_clients_get_the_whole_answer_over_tls(runs, client):
    require_available(client)
    transcript, server = check(runs["trusted", client])
    assert transcript.end == "completed", transcript.error_message
    text = "".join(e.data for e in transcript.events if e.type == "delta")
    assert text == server.responses[-1].text and text


@pytest.mark.parametrize("client", sorted(UNTRUSTED))
def test_a_certificate_from_another_ca_is_refused(runs, client):
    require_available(client)
    transcript, server = check(runs["untrusted", client])
    error_type, message = UNTRUSTED[client]
    assert transcript.end == "error"
    assert transcript.error_type == error_type
    assert message in (transcript.error_message or "")
    assert transcript.events == []
    assert not server.log if hasattr(server, "responses") else not server.sent


# -- the SDKs in-process, as a user sets them up ---------------------------------------------------


def test_sync_sdks_with_an_http_client_that_trusts_the_ca(ca):
    import anthropic
    import openai

    trusted = ssl.create_default_context()
    ca.trust(trusted)
    context = server_context(ca.mint(*HOSTS))
    with running_in_thread(OpenAIServer(tls=context, tokens=5)) as server:
        with openai.OpenAI(
            base_url=server.base_url,
            api_key="sk-test",
            max_retries=0,
            http_client=openai.DefaultHttpxClient(verify=trusted),
        ) as client:
            stream = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text == server.responses[-1].text
    with running_in_thread(AnthropicServer(tls=context, tokens=5)) as server:
        with anthropic.Anthropic(
            base_url=server.url.rstrip("/"),
            api_key="sk-test",
            max_retries=0,
            http_client=anthropic.DefaultHttpxClient(verify=trusted),
        ) as client:
            with client.messages.stream(
                model=MODEL, max_tokens=50, messages=[{"role": "user", "content": "hi"}]
            ) as stream:
                text = "".join(stream.text_stream)
        assert text == server.responses[-1].text


def test_async_sdks_with_ssl_cert_file(ca, ca_file, monkeypatch):
    import anthropic
    import openai

    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    context = server_context(ca.mint(*HOSTS))

    async def main() -> None:
        async with OpenAIServer(tls=context, tokens=5) as server:
            client = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0)
            stream = await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
            )
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            assert text == server.responses[-1].text
            await client.close()
        async with AnthropicServer(tls=context, tokens=5) as server:
            client = anthropic.AsyncAnthropic(
                base_url=server.url.rstrip("/"), api_key="sk-test", max_retries=0
            )
            async with client.messages.stream(
                model=MODEL, max_tokens=50, messages=[{"role": "user", "content": "hi"}]
            ) as stream:
                text = "".join([t async for t in stream.text_stream])
            assert text == server.responses[-1].text
            await client.close()

    asyncio.run(main())


def test_the_registry_covers_every_client_here():
    """A client added to the registry gets a TLS row here too."""
    assert set(registry.names()) == set(SSE_CLIENTS) | set(SDK_CLIENTS) == set(UNTRUSTED)
