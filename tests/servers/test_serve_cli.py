"""``faultproxy serve ...`` and ``faultproxy record`` as a user runs them: real processes, real clients.

Servers print ``listening on URL`` first; bad input is one ``Error:`` line and exit code 2.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from faultproxy.cli import main
from faultproxy.lab.sse_client import NO_CONTENT, SSEClient, listen
from faultproxy.net.stream_server import running_in_thread
from faultproxy.servers.sse import ReferenceSSEServer, read_durable_log

FAULTPROXY = Path(sys.executable).with_name("faultproxy")
GUARD = 20.0  # seconds: a hang guard, never a measurement


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, GUARD))


@pytest.fixture
def cli() -> Iterator[Callable[..., tuple[subprocess.Popen[str], str]]]:
    """Start ``faultproxy ARGS...`` in a subprocess; return it and the URL it announces."""
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str) -> tuple[subprocess.Popen[str], str]:
        proc = subprocess.Popen(
            [str(FAULTPROXY), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        processes.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()  # EOF if it failed to start
        found = re.match(r"listening on (\S+)", line)
        assert found, f"did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}"
        return proc, found.group(1)

    yield start
    for proc in processes:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(GUARD)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_serve_sse_prints_its_url_and_serves(cli, tmp_path):
    _, url = cli(
        "serve",
        "sse",
        "--listen",
        "127.0.0.1:0",
        "--events",
        "3",
        "--interval-ms",
        "1",
        "--size",
        "64",
        "--log",
        str(tmp_path / "sent.jsonl"),
    )
    assert url.startswith("http://127.0.0.1:") and url.endswith("/events")
    transcript = run(listen(url, reconnect_ms=0, max_reconnects=2))
    assert transcript.ids == ["1", "2", "3"] and transcript.end == NO_CONTENT
    assert all(len(r.event.data) == 64 for r in transcript.events)
    logged = (tmp_path / "sent.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in logged] == [1, 2, 3]


def test_serve_sse_close_delimited_with_an_extra_header(cli):
    import socket

    _, url = cli(
        "serve",
        "sse",
        "--listen",
        "127.0.0.1:0",
        "--events",
        "2",
        "--interval-ms",
        "1",
        "--framing",
        "close",
        "--header",
        "X-Accel-Buffering: no",
    )
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=GUARD) as sock:
        sock.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b"".join(iter(lambda: sock.recv(65536), b""))
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"X-Accel-Buffering: no" in head and b"Transfer-Encoding" not in head
    assert body == b'id: 1\ndata: {"n": 1}\n\nid: 2\ndata: {"n": 2}\n\n'


def test_serve_starlette_prints_its_url_and_serves(cli):
    _, url = cli(
        "serve",
        "starlette",
        "--listen",
        "127.0.0.1:0",
        "--events",
        "2",
        "--interval-ms",
        "1",
        "--ping-ms",
        "0",
        "--event-type",
        "tick",
    )
    transcript = run(listen(url, reconnect_ms=0, max_reconnects=2))
    assert [(r.event.id, r.event.type) for r in transcript.events] == [("1", "tick"), ("2", "tick")]
    assert transcript.end == NO_CONTENT


def test_a_killed_durable_server_process_is_resumed_by_a_new_one_exactly_once(cli, tmp_path):
    """SIGKILL mid-stream -- a real crash -- then a new process on the same port and log."""
    log = tmp_path / "events.jsonl"
    args = ["serve", "sse", "--events", "8", "--interval-ms", "20", "--retry", "20", "--durable", str(log)]
    first, url = cli(*args, "--listen", "127.0.0.1:0")
    port = url.split(":")[2].split("/")[0]

    async def scenario():
        killed = asyncio.Event()

        def on_event(r):
            if len(client.transcript.events) == 3 and not killed.is_set():
                first.send_signal(signal.SIGKILL)
                killed.set()

        client = SSEClient(url, reconnect_ms=20, max_reconnects=1000, on_event=on_event)
        listening = asyncio.ensure_future(client.run())
        await killed.wait()
        await asyncio.to_thread(first.wait, GUARD)
        at_restart = list(client.transcript.ids)
        await asyncio.to_thread(cli, *args, "--listen", f"127.0.0.1:{port}")
        return await listening, at_restart

    transcript, at_restart = run(scenario())
    assert transcript.ids == [str(n) for n in range(1, 9)] and transcript.end == NO_CONTENT
    book = read_durable_log(log)
    assert [e["id"] for e in book["event"]] == list(range(1, 9))
    assert [(r.event.id, r.event.data) for r in transcript.events] == [
        (str(e["id"]), e["data"]) for e in book["event"]
    ]
    assert len(book["start"]) == 2 and book["start"][0]["pid"] != book["start"][1]["pid"]
    assert 3 <= len(at_restart) < 8


def test_record_then_serve_replay_from_the_command_line(cli, tmp_path):
    out = tmp_path / "rec"
    with running_in_thread(ReferenceSSEServer(events=3, interval=0.005)) as srv:
        recorder, proxy_url = cli(
            "record",
            "--upstream",
            f"http://127.0.0.1:{srv.port}",
            "--out",
            str(out),
            "--listen",
            "127.0.0.1:0",
        )
        original = run(listen(proxy_url + "/events", reconnect_ms=0, max_reconnects=1))
        recorder.send_signal(signal.SIGINT)
        assert recorder.wait(GUARD) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "001-GET-events.http",
        "001-GET-events.jsonl",
        "002-GET-events.http",
        "002-GET-events.jsonl",
    ]
    _, url = cli("serve", "replay", str(out), "--listen", "127.0.0.1:0", "--fast")
    replayed = run(listen(url.rstrip("/") + "/events", reconnect_ms=0, max_reconnects=1))
    assert replayed.ids == original.ids == ["1", "2", "3"] and replayed.end == NO_CONTENT
    _, raw_url = cli("serve", "replay", str(out / "001-GET-events.http"), "--listen", "127.0.0.1:0")
    assert run(listen(raw_url + "anything", reconnect_ms=0, max_reconnects=0)).ids == ["1", "2", "3"]


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_serve_the_llm_mocks(cli, kind):
    if importlib.util.find_spec(f"faultproxy.servers.{kind}") is None:
        pytest.skip(f"the {kind} mock is not there")
    proc, url = cli("serve", kind, "--listen", "127.0.0.1:0", "--tokens", "3")
    assert url.startswith("http://127.0.0.1:")
    help_text = CliRunner().invoke(main, ["serve", kind, "--help"]).output
    assert "--tokens" in help_text and "--listen" in help_text and "--port" not in help_text


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "sse", "--bogus"],
        ["serve", "sse", "--listen", "nonsense"],
        ["serve", "sse", "--events", "many"],
        ["serve", "sse", "--listen", "127.0.0.1:0", "--event-type", "two\nlines"],
        ["serve", "starlette", "--ping-ms", "-5"],
        ["serve", "sse", "--framing", "sometimes"],
        ["serve", "sse", "--header", "no-colon-here"],
        ["serve", "sse", "--listen", "127.0.0.1:0", "--header", "Bad Name: 1"],
        ["serve", "replay"],
        ["serve", "replay", "/nonexistent/capture.jsonl", "--listen", "127.0.0.1:0"],
        ["serve", "replay", "--speed", "-1", "x"],
        ["serve", "nothing-like-this"],
        ["serve", "openai", "--tokens", "lots"],
        ["record", "--out", "/tmp/x"],
        ["record", "--upstream", "ftp://example", "--out", "/tmp/x"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("Error: "), result.output
    assert "Traceback" not in result.output


def test_a_busy_port_and_a_foreign_durable_log_are_exit_2(tmp_path):
    log = tmp_path / "events.jsonl"
    with running_in_thread(ReferenceSSEServer(events=3, durable=log)) as busy:
        result = CliRunner().invoke(main, ["serve", "sse", "--listen", f"127.0.0.1:{busy.port}"])
        assert result.exit_code == 2
        assert result.output.startswith(f"Error: cannot listen on 127.0.0.1:{busy.port}")
    result = CliRunner().invoke(
        main, ["serve", "sse", "--listen", "127.0.0.1:0", "--events", "5", "--durable", str(log)]
    )
    assert result.exit_code == 2 and "another stream: events=3" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_serve_and_record_are_listed():
    help_text = CliRunner().invoke(main, ["--help"]).output
    assert "  serve " in help_text and "  record " in help_text
    serve_help = CliRunner().invoke(main, ["serve", "--help"]).output
    for kind in ("sse", "starlette", "replay", "openai", "anthropic"):
        assert f"  {kind} " in serve_help
