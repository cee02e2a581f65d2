"""``faultproxy ca path|export|info``: the CA a user trusts, from the command line."""

from __future__ import annotations

import os
import ssl
import stat
import subprocess
import sys

from click.testing import CliRunner

from faultproxy.cli import main


def test_path_creates_the_ca_and_prints_the_file_to_trust(tmp_path):
    env = {**os.environ, "FAULTPROXY_CONFIG_DIR": str(tmp_path / "cfg")}
    out = subprocess.run(
        [sys.executable, "-m", "faultproxy", "ca", "path"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    path = out.stdout.strip()
    assert path == str(tmp_path / "cfg" / "ca-cert.pem")
    assert ssl.create_default_context(cafile=path).get_ca_certs()[0]["subject"]
    assert stat.S_IMODE((tmp_path / "cfg" / "ca.pem").stat().st_mode) == 0o600


def test_export_writes_the_certificate_never_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("FAULTPROXY_CONFIG_DIR", str(tmp_path))
    runner = CliRunner()
    pem = runner.invoke(main, ["ca", "export"])
    assert pem.exit_code == 0 and pem.stdout.startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE" not in pem.stdout
    assert pem.stdout.encode() == (tmp_path / "ca-cert.pem").read_bytes()
    der = runner.invoke(main, ["ca", "export", "--der", "-o", str(tmp_path / "ca.der")])
    assert der.exit_code == 0
    assert (tmp_path / "ca.der").read_bytes() == ssl.PEM_cert_to_DER_cert(pem.stdout)


def test_info_says_how_to_trust_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FAULTPROXY_CONFIG_DIR", str(tmp_path))
    out = CliRunner().invoke(main, ["ca", "info"])
    assert out.exit_code == 0
    cert = tmp_path / "ca-cert.pem"
    for line in (
        f"export SSL_CERT_FILE={cert}",
        f"export REQUESTS_CA_BUNDLE={cert}",
        f"export NODE_EXTRA_CA_CERTS={cert}",
        "--ignore-certificate-errors-spki-list=",
    ):
        assert line in out.stdout


def test_a_ca_readable_by_others_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FAULTPROXY_CONFIG_DIR", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(main, ["ca", "path"]).exit_code == 0
    os.chmod(tmp_path / "ca.pem", 0o640)
    out = runner.invoke(main, ["ca", "path"])
    assert out.exit_code == 2  # a file that cannot be used: bad input, as for every command
    assert "Error: the local CA's private key" in out.output and "chmod 600" in out.output
    assert "Traceback" not in out.output
