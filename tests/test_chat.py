"""``faultproxy.chat`` without a terminal: the raw streamed request, its state, how it ended; over TLS too."""

from __future__ import annotations

import asyncio
import ssl
import sys
import threading
from pathlib import Path

import pytest
import trustme

sys.path.insert(0, str(Path(__file__).parent / "faults"))
from llm_support import mock_exchange  # noqa: E402

from faultproxy.chat import ChatError, ChatState, request_for, stream  # noqa: E402
from faultproxy.tls.contexts import upstream_context  # noqa: E402


class CannedTLSServer:
    """Answers every connection with the same bytes over TLS (a mock's recorded response)."""

    def __init__(self, response: bytes, ca: trustme.CA):
        self.response = response
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("localhost").configure_cert(self.context)
        self.loop = asyncio.new_event_loop()
        self.port = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(self.response)
        await writer.drain()
        writer.close()

    def __enter__(self) -> CannedTLSServer:
        server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.context)
        )
        self.port = server.sockets[0].getsockname()[1]
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def run(api: str, url: str, tls: ssl.SSLContext | None = None) -> ChatState:
    state = ChatState(api=api, url="", model="m")  # type: ignore[arg-type]
    host, port, request, state.url = request_for(api, url, "m", "hi", "sk-secret-key")
    return asyncio.run(stream(state, host, port, request, 10, tls))


def test_a_stream_over_https_is_read_token_by_token(ca, tmp_path):
    raw, truth = mock_exchange("anthropic", tokens=6)
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    with CannedTLSServer(raw, ca) as server:
        state = run("anthropic", f"https://localhost:{server.port}", upstream_context(ca_file=pem))
    assert state.end == "complete" and "message_stop seen" in state.end_detail
    assert state.message.text == truth.text and state.tokens == 6 and state.ttft is not None
    assert state.url.startswith("https://localhost:") and "sk-secret-key" not in repr(state)


def test_an_untrusted_certificate_ends_in_a_clear_error(ca):
    raw, _ = mock_exchange("anthropic", tokens=2)
    with CannedTLSServer(raw, ca) as server:
        state = run("anthropic", f"https://localhost:{server.port}", upstream_context())
    assert (
        state.end == "error"
        and "TLS with localhost" in state.end_detail
        and "CERTIFICATE_VERIFY_FAILED" in state.end_detail
    )


def test_a_body_cut_before_the_sentinel_is_truncated(ca, tmp_path):
    raw, _ = mock_exchange("chat", tokens=6)
    cut = raw[: raw.index(b"[DONE]") - 40]  # inside the usage chunk, before data: [DONE]
    pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    with CannedTLSServer(cut, ca) as server:
        state = run("openai", f"https://localhost:{server.port}/v1", upstream_context(ca_file=pem))
    assert state.end == "truncated" and "before data: [DONE]" in state.end_detail


def test_bad_base_urls_are_refused_with_the_reason():
    with pytest.raises(ChatError, match="http"):
        request_for("openai", "ftp://x/v1", "m", "hi", None)


def test_a_base_url_query_goes_on_the_target_and_its_secrets_stay_off_screen():
    host, port, request, url = request_for(
        "openai", "https://example.test/openai/v1?api-version=2024-10-21&key=sk-Q", "m", "hi", "sk-K"
    )
    head = request.split(b"\r\n\r\n")[0].decode()
    assert head.startswith("POST /openai/v1/chat/completions?api-version=2024-10-21&key=sk-Q HTTP/1.1")
    assert url == "https://example.test/openai/v1/chat/completions?api-version=2024-10-21&key=REDACTED"
    assert (host, port) == ("example.test", 443)


def test_credentials_in_the_base_url_are_refused_before_anything_is_sent():
    with pytest.raises(ChatError, match="ANTHROPIC_API_KEY") as refused:
        request_for("anthropic", "https://user:sk-ant-SECRET@example.test", "m", "hi", None)
    assert "SECRET" not in str(refused.value)
