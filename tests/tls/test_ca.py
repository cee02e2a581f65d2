"""The local CA on disk: made once with a private key file, reloaded, never overwritten; leaves cached.
And the contexts built on it: the key log, the upstream CA option."""

from __future__ import annotations

import multiprocessing
import os
import ssl
import stat
from pathlib import Path

import pytest

from faultproxy.tls import (
    CAError,
    LocalCA,
    ServerContexts,
    TLSConfigError,
    TLSLayer,
    config_dir,
    upstream_context,
)
from faultproxy.tls.ca import CA_FILE, CERT_FILE


def test_the_config_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FAULTPROXY_CONFIG_DIR", str(tmp_path / "cfg"))
    assert config_dir() == tmp_path / "cfg"
    monkeypatch.delenv("FAULTPROXY_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_dir() == tmp_path / "xdg" / "faultproxy"


def test_created_on_first_use_with_a_private_key_file_then_reloaded(tmp_path):
    directory = tmp_path / "faultproxy"
    first = LocalCA.load_or_create(directory)
    key_file, cert_file = directory / CA_FILE, directory / CERT_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert b"PRIVATE KEY" in key_file.read_bytes()
    assert cert_file.read_bytes() == first.cert_pem and b"PRIVATE" not in cert_file.read_bytes()
    assert first.cert_path == cert_file
    assert "O=faultproxy" in first.subject

    again = LocalCA.load_or_create(directory)
    assert again.cert_pem == first.cert_pem  # the same CA: trusting it once is enough
    # a leaf the reloaded CA mints verifies against the first one's certificate
    client = ssl.create_default_context(cadata=first.cert_pem.decode())
    wire_client = TLSLayer.client(client, "api.example.test")
    server = TLSLayer.server(ServerContexts(again), "api.example.test")
    out = server.receive(wire_client.start().send)
    out = wire_client.receive(out.send)
    assert out.handshake is not None and out.failure is None


def test_a_missing_certificate_file_is_written_again(tmp_path):
    ca = LocalCA.load_or_create(tmp_path)
    (tmp_path / CERT_FILE).unlink()
    LocalCA.load_or_create(tmp_path)
    assert (tmp_path / CERT_FILE).read_bytes() == ca.cert_pem


def _make(directory: str, queue) -> None:
    queue.put(LocalCA.load_or_create(Path(directory)).cert_pem)


def test_processes_starting_at_once_share_one_ca(tmp_path):
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_make, args=(str(tmp_path), queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    pems = {queue.get(timeout=60) for _ in workers}
    for worker in workers:
        worker.join(60)
    assert len(pems) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [CERT_FILE, CA_FILE]  # no temporary file left


def test_a_key_file_others_can_read_is_refused_not_used(tmp_path):
    LocalCA.load_or_create(tmp_path)
    os.chmod(tmp_path / CA_FILE, 0o644)
    with pytest.raises(CAError, match=r"readable by other users \(mode 0644\): run 'chmod 600 "):
        LocalCA.load_or_create(tmp_path)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not a pem file\n", "has no certificate"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "has no private key"),
    ],
)
def test_a_broken_ca_file_is_an_error_and_stays_as_it_was(tmp_path, content, message):
    path = tmp_path / CA_FILE
    path.write_bytes(content)
    os.chmod(path, 0o600)
    with pytest.raises(CAError, match=message):
        LocalCA.load_or_create(tmp_path)
    assert path.read_bytes() == content


def test_a_key_of_another_certificate_is_refused(tmp_path):
    one, two = LocalCA.load_or_create(tmp_path / "one"), LocalCA.ephemeral()
    mixed = (tmp_path / "one" / CA_FILE).read_bytes().split(b"-----BEGIN CERTIFICATE-----")[0] + two.cert_pem
    (tmp_path / "one" / CA_FILE).write_bytes(mixed)
    with pytest.raises(CAError, match="does not belong to the certificate"):
        LocalCA.load_or_create(tmp_path / "one")
    assert one.cert_pem != two.cert_pem


def test_leaves_are_minted_once_per_host():
    ca = LocalCA.ephemeral()
    leaf = ca.leaf("API.Example.TEST.")
    assert ca.leaf("api.example.test") is leaf
    assert ca.leaf("[::1]").host == "::1"
    assert ca.leaf("10.0.0.1").subject.startswith("OU=faultproxy interception")  # no CN for an address
    with pytest.raises(ValueError, match="cannot make a certificate for"):
        ca.leaf("bad host name")


def test_the_leaf_cache_is_bounded():
    ca = LocalCA(LocalCA.ephemeral()._ca, cache_size=2)
    first = ca.leaf("a.test")
    ca.leaf("b.test")
    ca.leaf("c.test")
    assert ca.leaf("a.test") is not first


def handshake(client: TLSLayer, server: TLSLayer) -> None:
    to_server = client.start().send
    while to_server:
        out = server.receive(to_server)
        back = client.receive(out.send)
        to_server = back.send
    assert client.state == server.state == "open"


def test_the_key_log_is_private_and_has_both_sides_keys(tmp_path):
    keylog = tmp_path / "keys.log"
    ca = LocalCA.ephemeral()
    client_context = upstream_context(keylog=keylog)
    ca.trust(client_context)
    assert stat.S_IMODE(keylog.stat().st_mode) == 0o600
    contexts = ServerContexts(ca, keylog=keylog)
    # the client's SNI switches the server to another host's context: its keys are logged too
    handshake(TLSLayer.client(client_context, "other.test"), TLSLayer.server(contexts, "first.test"))
    lines = [line.split() for line in keylog.read_text().splitlines() if not line.startswith("#")]
    labels = [line[0] for line in lines]
    # TLS 1.3: each side logs five secrets of the one session (same client random)
    assert (
        labels.count("CLIENT_TRAFFIC_SECRET_0") == 2 and labels.count("SERVER_HANDSHAKE_TRAFFIC_SECRET") == 2
    )
    assert len({line[1] for line in lines}) == 1


def test_an_unwritable_key_log_and_a_missing_upstream_ca_are_named(tmp_path):
    with pytest.raises(TLSConfigError, match=r"--keylog: cannot write .*nowhere/keys.log"):
        upstream_context(keylog=tmp_path / "nowhere" / "keys.log")
    with pytest.raises(TLSConfigError, match="--upstream-ca: no such file: .*missing.pem"):
        upstream_context(ca_file=tmp_path / "missing.pem")
    (tmp_path / "empty.pem").write_text("nothing here\n")
    with pytest.raises(TLSConfigError, match="--upstream-ca: .*empty.pem holds no usable PEM certificate"):
        upstream_context(ca_file=tmp_path / "empty.pem")


def test_upstream_ca_replaces_the_system_store(tmp_path):
    ca = LocalCA.ephemeral()
    path = ca.write_cert(tmp_path / "ca.pem")
    context = upstream_context(ca_file=path)
    assert len(context.get_ca_certs()) == 1  # only this CA, as curl's --cacert
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
