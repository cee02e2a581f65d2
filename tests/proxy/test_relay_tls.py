"""TLS through the real relay, on asyncio and on uvloop (the ``aio`` fixture runs both): the
adapter's part of TLS (reads switched to the core's decryption, encrypted writes) over sockets.

The core's rules are the playbooks' (test_core_tls.py); here they meet real sockets and a
real HTTPS server posing as api.openai.com."""

from __future__ import annotations

import ssl

import httpx
import pytest

from faultproxy.servers.openai import OpenAIServer
from faultproxy.tls import LocalCA, server_context

BODY = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def ca() -> LocalCA:
    return LocalCA.ephemeral()


@pytest.fixture
def api(aio, ca):
    server = OpenAIServer(tls=server_context(ca.mint("api.openai.com")), tokens=5)
    aio.call(server.start())
    yield server
    aio.call(server.stop())


def test_reverse_and_forward_mode_relay_tls_on_every_loop(aio, make_proxy, api, ca, tmp_path):
    ca_file = ca.write_cert(tmp_path / "ca.pem")
    trusted = ssl.create_default_context(cafile=str(ca_file))
    resolve = [f"api.openai.com:{api.port}:127.0.0.1"]
    reverse = make_proxy(
        f"https://api.openai.com:{api.port}",
        resolve=resolve,
        upstream_ca=ca_file,
        tls=True,
        ca=ca,
        faults=[{"type": "sse_drop", "attributes": {"event_index": 1}}],
    )
    with httpx.Client(verify=trusted, trust_env=False, timeout=10) as client:
        response = client.post(
            f"{reverse.url}/v1/chat/completions", json=BODY, headers={"Authorization": "Bearer k"}
        )
    assert reverse.url.startswith("https://") and response.status_code == 200
    assert response.text.count("data: ") == len(api.responses[-1].events) - 1  # one dropped, inside TLS
    assert api.log[-1].headers["host"] == f"api.openai.com:{api.port}"

    forward = make_proxy(None, forward=True, resolve=resolve, upstream_ca=ca_file, ca=ca)
    with httpx.Client(proxy=forward.url, verify=trusted, trust_env=False, timeout=10) as client:
        response = client.post(
            f"https://api.openai.com:{api.port}/v1/chat/completions",
            json=BODY,
            headers={"Authorization": "Bearer k"},
        )
    assert response.status_code == 200 and response.text.endswith("data: [DONE]\n\n")


def test_keylog_holds_both_sides_sessions_and_only_its_owner_reads_it(aio, make_proxy, api, ca, tmp_path):
    ca_file = ca.write_cert(tmp_path / "ca.pem")
    keylog = tmp_path / "keys.log"
    proxy = make_proxy(
        f"https://api.openai.com:{api.port}",
        resolve=[f"api.openai.com:{api.port}:127.0.0.1"],
        upstream_ca=ca_file,
        tls=True,
        ca=ca,
        keylog=keylog,
    )
    trusted = ssl.create_default_context(cafile=str(ca_file))
    with httpx.Client(verify=trusted, trust_env=False, timeout=10) as client:
        assert client.get(f"{proxy.url}/v1/models", headers={"Authorization": "Bearer k"}).status_code == 200
    lines = keylog.read_text().splitlines()
    randoms = {line.split()[1] for line in lines if line.startswith("CLIENT_HANDSHAKE_TRAFFIC_SECRET ")}
    assert len(randoms) == 2  # two sessions: the client's with the proxy, the proxy's with the upstream
    assert keylog.stat().st_mode & 0o777 == 0o600
