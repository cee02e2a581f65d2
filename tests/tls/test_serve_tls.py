"""``faultproxy serve KIND --tls``: the reference servers over HTTPS from the command line, with a
certificate from the user's local CA, valid for the names given (a local ``api.openai.com``)."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

FAULTPROXY = Path(sys.executable).with_name("faultproxy")


@pytest.mark.parametrize(
    "args, path",
    [
        (["openai", "--tls-name", "api.openai.com"], "/v1/models"),
        (["sse", "--tls", "--events", "1", "--interval-ms", "0"], "/events"),
    ],
)
def test_serve_with_tls_is_trusted_through_the_local_ca(tmp_path, args, path):
    env = {**os.environ, "FAULTPROXY_CONFIG_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [str(FAULTPROXY), "serve", *args, "--listen", "127.0.0.1:0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        found = re.match(r"listening on https://127\.0\.0\.1:(\d+)/\S* .*TLS, trust (\S+)\)", line)
        assert found, (line, proc.stderr.read() if proc.poll() is not None else "")
        port, ca_file = int(found.group(1)), found.group(2)
        assert ca_file == str(tmp_path / "ca-cert.pem")
        context = ssl.create_default_context(cafile=ca_file)
        name = "api.openai.com" if "openai" in args else "localhost"
        # connect to 127.0.0.1, ask for the name: SNI and certificate check as for the real host
        connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=20)
        connection.sock = context.wrap_socket(
            socket.create_connection(("127.0.0.1", port), 20), server_hostname=name
        )
        connection.request("GET", path, headers={"Authorization": "Bearer sk-test", "Host": name})
        response = connection.getresponse()
        assert response.status == 200
        body = response.read()
        if "openai" in args:
            assert json.loads(body)["object"] == "list"
        else:
            assert b"data: " in body
    finally:
        proc.terminate()
        proc.wait(20)
        proc.stdout.close()
        proc.stderr.close()
