"""Faults in the harness itself — a client that crashes, a server that crashes, a port taken by
something else, a disk that fills — each reported clearly in its own cell while the run goes on.

Every fault is real: a client process killed by SIGKILL mid-stream, a server process that kills
itself mid-stream, a port held by a listening socket, a filesystem that is really full (a tiny
tmpfs when this machine lets us mount one, else a file size limit, RLIMIT_FSIZE, on the run).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from proxy_harness import GUARD, LoopThread

from faultproxy.clients import registry
from faultproxy.clients.registry import ClientInfo
from faultproxy.control import ControlServer
from faultproxy.scenarios import load_text
from faultproxy.scenarios.runner import plan, run_cells

CRASHER = textwrap.dedent("""
    import json, os, signal, socket, sys
    from urllib.parse import urlsplit
    request = json.loads(sys.stdin.readline())
    print(json.dumps({"kind": "hello", "client": "crasher", "version": "1"}), flush=True)
    url = urlsplit(request["url"])
    sock = socket.create_connection((url.hostname, url.port))
    sock.sendall(f"GET {url.path} HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n".encode())
    received = b""
    while b"id: 2" not in received:
        received += sock.recv(65536)
    os.kill(os.getpid(), signal.SIGKILL)  # mid-stream, as the OOM killer would
""")

# A server that streams two events and then dies (SIGKILL, no FIN of its own making), and says
# on stdout where it listens.
DYING_SERVER = textwrap.dedent("""
    import os, signal, socket
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    conn, _ = listener.accept()
    while b"\\r\\n\\r\\n" not in conn.recv(65536):
        pass
    conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Type: text/event-stream\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n")
    for n in (1, 2):
        event = f"id: {n}\\ndata: event {n}\\n\\n".encode()
        conn.sendall(b"%x\\r\\n%s\\r\\n" % (len(event), event))
    os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.fixture
def crasher() -> Iterator[str]:
    info = ClientInfo(
        name="crasher",
        command=(sys.executable, "-c", CRASHER),
        description="dies mid-stream",
        version_from="1",
        methods=("GET",),
        body=False,
    )
    registry.register(info)
    yield info.name
    registry.REGISTRY.pop(info.name, None)


def run_suite(text: str, tmp_path: Path, jobs: int = 1) -> dict[tuple[str, str], dict]:
    cells, _ = plan(load_text(text, "suite.yaml"), None)
    results = asyncio.run(asyncio.wait_for(run_cells(cells, 0, tmp_path / "run", jobs), GUARD * 4))
    assert len(results) == len(cells)  # every cell has its result: the run went on
    return {(r.scenario, r.client): r.to_dict() for r in results}


def test_a_client_that_crashes_mid_stream_is_its_own_cells_error(tmp_path: Path, crasher: str) -> None:
    results = run_suite(
        f"""
scenarios:
  - name: stream
    server: {{kind: sse, events: 50, interval_ms: 20}}
    clients: [{crasher}, raw]
    expectations: [all_events_in_order]
    timeouts: {{deadline_ms: 60000}}
""",
        tmp_path,
    )
    crashed = results[("stream", crasher)]
    assert crashed["outcome"] == "error" and not crashed["passed"]
    assert crashed["evidence"]["error"] == {
        "type": "crashed",
        "message": "the child exited (signal 9) without an end line",
    }
    assert "crashed (the child exited (signal 9) without an end line)" in crashed["evidence"]["summary"]
    assert results[("stream", "raw")]["outcome"] == "ok"  # the next cell ran as if nothing happened


def test_a_server_that_crashes_mid_stream_then_stays_down(tmp_path: Path) -> None:
    server = subprocess.Popen([sys.executable, "-c", DYING_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        results = run_suite(
            f"""
scenarios:
  - name: dies
    server: {{url: "http://127.0.0.1:{port}/events"}}
    clients: [raw]
    expectations: [no_silent_loss, error_raised]
    timeouts: {{deadline_ms: 60000}}
  - name: dead
    server: {{url: "http://127.0.0.1:{port}/events"}}
    clients: [raw]
    expectations: [no_silent_loss, error_raised]
    timeouts: {{deadline_ms: 60000}}
  - name: healthy
    server: {{kind: sse, events: 3, interval_ms: 2}}
    clients: [raw]
""",
            tmp_path,
        )
    finally:
        server.kill()
        server.wait(GUARD)
    assert server.returncode == -9  # it really died, by the signal it sent itself
    dies, dead = results[("dies", "raw")], results[("dead", "raw")]
    # the client said the body was cut, and the verdict says the server did not finish it
    assert dies["outcome"] == "error" and dies["passed"], dies["evidence"]["summary"]
    assert "connection closed before the last chunk" in dies["evidence"]["summary"]
    assert "before the server finished it" in dies["evidence"]["summary"]
    assert dead["outcome"] == "error" and dead["passed"]
    assert "502" in dead["evidence"]["summary"]
    capture = (tmp_path / "run" / "cells" / "dead" / "raw-0" / "capture.jsonl").read_text()
    notes = [json.loads(line) for line in capture.splitlines()]
    assert any(
        n["type"] == "upstream_error" and n["reason"] == "connection refused" for n in notes
    )  # it is gone
    assert results[("healthy", "raw")]["outcome"] == "ok"


def test_a_port_taken_by_another_program(tmp_path: Path) -> None:
    """The scenario's server port answers, but with another protocol (an SSH banner): the cell
    says what came instead of events; the next cell runs."""
    squatter = socket.create_server(("127.0.0.1", 0))
    port = squatter.getsockname()[1]
    loop = LoopThread("squatter")

    async def banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(
            b"\r\n\r\n"
        )  # read whole, so the close is a FIN, not an RST that eats the banner
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")
        await writer.drain()
        writer.close()

    async def serve() -> asyncio.Server:
        return await asyncio.start_server(banner, sock=squatter)

    squat = loop.call(serve())
    try:
        results = run_suite(
            f"""
scenarios:
  - name: squatted
    server: {{url: "http://127.0.0.1:{port}/events"}}
    clients: [raw, httpx-sse]
    expectations: [no_silent_loss]
    timeouts: {{deadline_ms: 60000}}
  - name: healthy
    server: {{kind: sse, events: 3, interval_ms: 2}}
    clients: [raw]
""",
            tmp_path,
            jobs=3,
        )
    finally:
        squat.close()
        loop.stop()
    for client in ("raw", "httpx-sse"):
        result = results[("squatted", client)]
        assert result["outcome"] == "error" and result["passed"], result["evidence"]["summary"]
        assert "SSH-2.0" in result["capture_excerpt"]  # the capture shows what answered instead
    assert results[("healthy", "raw")]["outcome"] == "ok"


def test_a_control_api_proxy_on_a_taken_port_is_refused_and_the_rest_goes_on() -> None:
    loop = LoopThread("control")
    server = loop.call(ControlServer(port=0).start())
    taken = socket.create_server(("127.0.0.1", 0))
    try:
        with httpx.Client(base_url=server.url, trust_env=False, timeout=GUARD) as api:
            listen = f"127.0.0.1:{taken.getsockname()[1]}"
            response = api.post("/proxies", json={"name": "p", "upstream": "127.0.0.1:9", "listen": listen})
            assert response.status_code == 500
            assert response.json()["error"].lower() == f"cannot listen on {listen}: address already in use"
            assert api.get("/proxies").json() == {}  # nothing half-made
            assert api.post("/proxies", json={"name": "p", "upstream": "127.0.0.1:9"}).status_code == 201
    finally:
        taken.close()
        loop.call(server.stop())
        loop.stop()


# -- a full disk --------------------------------------------------------------------------------

FULL_DISK_SUITE = """
scenarios:
  - name: small
    server: {kind: sse, events: 3, interval_ms: 2}
    clients: [raw, httpx-sse]
  - name: big
    server: {kind: sse, events: 40, interval_ms: 1, size: 8000}
    clients: [raw]
"""


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[tuple[Path, int | None]]:
    """A folder on a 160 KiB tmpfs when one can be mounted here (root), with no file size limit;
    else a plain folder and a 40 KiB limit per file (RLIMIT_FSIZE) for the run."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = (
        os.geteuid() == 0
        and shutil.which("mount")
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=160k,mode=700", "tmpfs", str(folder)], capture_output=True
        ).returncode
        == 0
    )
    try:
        yield folder, None if mounted else 40 << 10
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_fails_the_cells_it_cuts_and_the_report_but_never_the_run(
    tmp_path: Path, small_disk
) -> None:
    folder, file_limit = small_disk
    suite = tmp_path / "suite.yaml"
    suite.write_text(FULL_DISK_SUITE)

    def limit() -> None:
        if file_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    done = subprocess.run(
        [sys.executable, "-m", "faultproxy", "run", str(suite), "-j", "1", "--out", str(folder)],
        capture_output=True,
        text=True,
        timeout=GUARD * 4,
        preexec_fn=limit,
    )
    why = "No space left on device" if file_limit is None else "File too large"
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert [line for line in lines if "cells done" in line or "did not pass" in line] == [
        "1/3 cells done, 0 failed",
        "2/3 cells done, 0 failed",
        "big/raw: error, did not pass",
        "3/3 cells done, 1 failed",
    ]
    assert any(
        line.startswith("capture ")
        and line.endswith(f"{why}; the proxy goes on relaying, the capture stops here")
        for line in lines
    )
    assert f"error: cannot write the report to {folder}/" in done.stderr and why in done.stderr
    assert "✗ big / raw: error — cell ran: CaptureError: the capture" in done.stdout
    assert "the harness could not run this cell: CaptureError: the capture" in done.stdout
    assert f"is incomplete: {why}" in done.stdout
    assert "2 of 3 runs passed; no report written" in done.stdout


def test_faultproxy_proxy_with_a_capture_on_a_full_device_relays_and_says_so(lab_sse) -> None:
    """``--capture /dev/full``: every write is ENOSPC. The stream still flows whole; one line says
    the capture stopped, one more at exit that it is incomplete; the device keeps its mode."""
    import re
    import signal

    server = lab_sse(events=5, interval=0.001)
    before = os.stat("/dev/full").st_mode
    proxy = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "faultproxy",
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            f"http://127.0.0.1:{server.port}",
            "--capture",
            "/dev/full",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proxy.stderr is not None
        banner = proxy.stderr.readline()
        port = re.search(r"http://127\.0\.0\.1:(\d+) ->", banner)
        assert port, banner
        with httpx.Client(trust_env=False, timeout=GUARD) as http:
            body = http.get(f"http://127.0.0.1:{port[1]}/events").text
        assert body.count("data: ") == 5  # relayed whole
    finally:
        proxy.send_signal(signal.SIGINT)
        _, err = proxy.communicate(timeout=GUARD)
    assert "Traceback" not in err, err
    assert (
        "capture /dev/full: No space left on device; the proxy goes on relaying, the capture stops here"
        in err
    )
    assert "faultproxy: the capture /dev/full is incomplete: No space left on device" in err
    assert os.stat("/dev/full").st_mode == before
