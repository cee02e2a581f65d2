"""``faultproxy server`` as a user runs it: a real process, its first line, Ctrl-C, exit codes."""

from __future__ import annotations

import json
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from proxy_harness import GUARD
from toxiproxy import Toxiproxy


def faultproxy_server(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "faultproxy", "server", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def first_line(process: subprocess.Popen[str]) -> str:
    """The first line on stdout, or a failure (not a hang) when none comes."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], GUARD)
    assert ready, "faultproxy server printed nothing"
    return process.stdout.readline()


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes the test started; each is interrupted (Ctrl-C) and must end with exit code 0."""
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        process.send_signal(signal.SIGINT)
        assert process.wait(GUARD) == 0


def test_server_with_a_config_listens_where_it_says(tmp_path: Path, upstream: str, started):
    config = tmp_path / "toxiproxy.json"
    config.write_text(json.dumps([{"name": "shop", "upstream": upstream, "listen": "127.0.0.1:0"}]))
    process = faultproxy_server("--port", "0", "--config", str(config))
    started.append(process)
    line = first_line(process)
    assert line.startswith("listening on http://127.0.0.1:") and "1 proxies" in line
    port = int(line.split()[2].rpartition(":")[2])

    client = Toxiproxy()
    client.update_api_consumer("127.0.0.1", port)
    [shop] = client.proxies().values()
    assert shop.upstream == upstream
    with httpx.Client(trust_env=False, timeout=GUARD) as http:
        assert http.get(f"http://{shop.listen}/").text == "hello"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot read: No such file or directory"),
        ("[{", "invalid JSON"),
        ('{"name": "shop"}', "expected a JSON list of proxies"),
        ('[{"name": "shop"}]', "missing required field: upstream at proxy 1"),
        ('[{"name": "shop", "upstream": "127.0.0.1:1", "listen": "nowhere"}]', "expected HOST:PORT or PORT"),
    ],
)
def test_a_bad_config_is_one_line_naming_the_file_and_exit_2(tmp_path: Path, content, problem):
    config = tmp_path / "toxiproxy.json"
    if content is not None:
        config.write_text(content)
    process = faultproxy_server("--port", "0", "--config", str(config))
    _, err = process.communicate(timeout=GUARD)
    assert process.returncode == 2
    assert err.startswith(f"Error: {config}: ") and problem in err
    assert len(err.splitlines()) == 1


def test_a_busy_port_is_exit_2():
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        process = faultproxy_server("--port", str(port))
        _, err = process.communicate(timeout=GUARD)
    assert process.returncode == 2
    assert err.startswith(f"Error: cannot listen on 127.0.0.1:{port}: Address already in use")
