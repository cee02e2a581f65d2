"""The TLS and routing options of a proxy (issue 14): checked once, with errors that name the
option; the contexts built once per proxy; the Host an https upstream gets. No sockets."""

from __future__ import annotations

import ssl

import pytest
from click.testing import CliRunner

from faultproxy.cli import main
from faultproxy.proxy.routing import make_routing
from faultproxy.tls import LocalCA
from faultproxy.wire.http import parse_request_head


@pytest.fixture(scope="module")
def ca() -> LocalCA:
    return LocalCA.ephemeral()


@pytest.fixture(scope="module")
def ca_file(ca, tmp_path_factory) -> str:
    return str(ca.write_cert(tmp_path_factory.mktemp("ca") / "ca-cert.pem"))


def test_an_https_upstream_is_verified_with_sni_and_gets_its_own_host(ca_file):
    routing = make_routing(
        "https://api.openai.com", resolve=["api.openai.com:443:127.0.0.1"], upstream_ca=ca_file
    )
    assert routing.upstream.tls and routing.upstream_tls.verify_mode == ssl.CERT_REQUIRED
    assert routing.upstream_tls.check_hostname
    assert routing.address(routing.upstream) == ("127.0.0.1", 443)
    assert routing.server_tls is None and not routing.forward
    head = parse_request_head(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n")
    assert (
        routing.head_rule()(head).raw == b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n\r\n"
    )
    assert make_routing("https://api.openai.com", keep_host=True).head_rule() is None
    assert make_routing("http://127.0.0.1:8000").head_rule() is None  # plain HTTP: every byte as sent
    assert routing.describe() == "https://api.openai.com:443 (TLS, verified) via 127.0.0.1"
    assert "NOT verified" in make_routing("https://api.openai.com", insecure=True).describe()


def test_tls_toward_clients_and_forward_mode_mint_from_the_ca(ca):
    served = make_routing("http://127.0.0.1:8000", tls=True, ca=ca, listen_host="0.0.0.0")
    assert served.downstream_tls and served.server_tls.ca is ca and served.tls_name == "localhost"
    assert served.upstream_tls is None
    forward = make_routing(None, forward=True, ca=ca, no_intercept=["*.anthropic.com"])
    assert forward.forward and forward.server_tls is not None and forward.upstream_tls is not None
    assert forward.intercept("api.openai.com") and not forward.intercept("api.anthropic.com")
    tunnels = make_routing(None, forward=True, no_intercept=["*"])
    assert tunnels.server_tls is None  # nothing is intercepted: no CA is needed (or created)


@pytest.mark.parametrize(
    "upstream, options, words",
    [
        (None, {}, "--upstream URL is required"),
        ("http://x:1", {"forward": True}, "--forward: a forward proxy takes its upstream from each request"),
        ("http://x:1", {"intercept": ["a.test"]}, "add --forward"),
        ("https://x", {"insecure": True, "upstream_ca": "/ca.pem"}, "give one"),
        ("http://x:1", {"insecure": True}, "are for https:// upstreams"),
        (
            "https://x",
            {"upstream_ca": "/nonexistent/ca.pem"},
            "--upstream-ca: no such file: /nonexistent/ca.pem",
        ),
        ("https://x", {"resolve": ["x:443:localhost"]}, "is not an IP address"),
        ("https://x", {"handshake_timeout": 0}, "--tls-timeout must be more than 0"),
        ("http://x:1", {"keylog": "/tmp/k.log"}, "--keylog records TLS keys"),
        (
            None,
            {"forward": True, "tls": True},
            "--forward with --tls: clients reach a forward proxy in plain HTTP",
        ),
        (None, {"forward": True, "intercept": ["http://x"]}, "--intercept: 'http://x' is not a host name"),
        ("ftp://x", {}, "scheme must be http or https"),
    ],
)
def test_bad_options_say_which_and_why(upstream, options, words):
    with pytest.raises(ValueError) as error:
        make_routing(upstream, **options)
    assert words in str(error.value)


def test_an_upstream_ca_that_is_no_certificate_is_refused(tmp_path):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(ValueError, match="--upstream-ca: .* holds no usable PEM certificate"):
        make_routing("https://x", upstream_ca=bad)


@pytest.mark.parametrize(
    "args, words",
    [
        (["--preset", "openai", "--upstream", "https://x"], "give --upstream or --preset, not both"),
        (["--preset", "gemini"], "'gemini' is not one of 'anthropic', 'openai'"),
        (["--forward", "--raw"], "--forward reads each client's request"),
        ([], "--upstream URL is required"),
        (["--upstream", "https://x", "--resolve", "x:443"], "--resolve: expected HOST:PORT:ADDR"),
        (["--upstream", "https://x", "--tls-timeout", "0"], "--tls-timeout"),
        (["--upstream", "http://x:1", "--no-intercept", "a.test"], "add --forward"),
    ],
)
def test_the_proxy_command_refuses_bad_tls_flags_before_listening(args, words):
    result = CliRunner().invoke(main, ["proxy", "--listen", "127.0.0.1:0", *args])
    assert result.exit_code == 2, result.output
    assert words in result.output
