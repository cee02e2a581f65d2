"""``faultproxy proxy -v`` says what the proxy does: connections, faults fired, upstream failures."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys

import httpx

from faultproxy.lab.sse_server import SSEServer
from faultproxy.net.stream_server import running_in_thread

GUARD = 30


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "faultproxy", "proxy", "--listen", "127.0.0.1:0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    banner = process.stderr.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+) -> ", banner)
    assert match, banner
    return process, match.group(1)


def stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=GUARD)
    return err


def test_verbose_says_connections_and_faults_and_the_summary() -> None:
    with running_in_thread(SSEServer(events=5, interval=0.002)) as server:
        process, url = start(
            "--upstream",
            f"http://127.0.0.1:{server.port}",
            "-v",
            "--fault",
            "sse_disconnect:after_events=2,mode=rst,name=cut",
        )
        try:
            with httpx.stream("GET", f"{url}/events", timeout=10) as response:
                try:
                    response.read()
                except httpx.HTTPError:
                    pass  # the fault cut it
        finally:
            err = stop(process)
    assert process.returncode == 0, err
    assert re.search(r"#1 open from 127\.0\.0\.1:\d+", err), err
    assert "#1 fault sse_disconnect 'cut' fired:" in err
    assert "#1 a fault closed the connection (RST)" in err
    assert re.search(r"#1 done after \d+\.\d{3} s", err)
    assert "stopped: 1 connection, 1 fault fired, 0 upstream failures, 0 requests refused" in err


def test_upstream_failures_are_said_without_v() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    process, url = start("--upstream", f"http://127.0.0.1:{port}")
    try:
        assert httpx.get(f"{url}/events", timeout=10).status_code == 502
    finally:
        err = stop(process)
    assert re.search(r"#1 upstream failed: .*refused", err, re.IGNORECASE), err
    assert "open from" not in err  # connections need -v
    assert "1 upstream failure" in err
