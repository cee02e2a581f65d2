"""``faultproxy decode``: CLI behaviour through CliRunner, a real process, and a real curl capture."""

from __future__ import annotations

import json
import os
import queue
import shutil
import socketserver
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from faultproxy.decode import READ_SIZE, decode
from faultproxy.wire.chunked import encode_chunk, encode_chunked, encode_last_chunk
from faultproxy.wire.sse import MAX_LINE

FAULTPROXY = Path(sys.executable).with_name("faultproxy")

NOT_HTTP_HINT = "not a status line (capture with curl -i, or leave out --http for a bare event stream)"
STREAM = b"event: greet\nid: 1\ndata: hello\ndata: world\n\n: keep-alive\n\nretry: 2500\ndata: second\n\n"


def run(args: list[str], input: bytes | None = None):
    return CliRunner().invoke(decode, args, input=input)


def json_events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def http_response(
    body: bytes, *, chunked: bool = True, sizes: list[int] | None = None, status: bytes = b"200 OK"
):
    if chunked:
        return (
            b"HTTP/1.1 " + status + b"\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            + encode_chunked(body, sizes)
        )  # fmt: skip
    return b"HTTP/1.1 %s\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n%s" % (
        status,
        len(body),
        body,
    )


def read_lines_in_background(stream) -> queue.Queue[bytes]:
    """Lines of a child's output as they come, so a test can wait for one with a timeout."""
    lines: queue.Queue[bytes] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    return lines


def assert_clean_error(result, message: str):
    """Exit 2, exactly one line on stderr naming the problem, no traceback."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert lines[-1] == message
    assert "Traceback" not in result.output + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


# -- bare event streams ---------------------------------------------------------------------------


def test_text_view(tmp_path):
    path = tmp_path / "stream.txt"
    path.write_bytes(STREAM)
    result = run([str(path)])
    assert result.exit_code == 0
    assert result.stdout == (
        "event: greet  id: 1  retry: -\n"
        "    hello\n"
        "    world\n"
        "\n"
        "event: message  id: 1  retry: 2500\n"
        "    second\n"
        "\n"
    )
    assert result.stderr == ""


def test_json_is_one_object_per_line_with_exactly_four_keys(tmp_path):
    path = tmp_path / "stream.txt"
    path.write_bytes(STREAM)
    result = run([str(path), "--json"])
    assert result.exit_code == 0
    assert json_events(result.stdout) == [
        {"type": "greet", "data": "hello\nworld", "id": "1", "retry": None},
        {"type": "message", "data": "second", "id": "1", "retry": 2500},
    ]


@pytest.mark.parametrize("args", [[], ["-"]])
def test_reads_stdin(args):
    result = run([*args, "--json"], input=b"data: from stdin\r\n\r\n")
    assert json_events(result.stdout) == [{"type": "message", "data": "from stdin", "id": "", "retry": None}]


def test_text_view_shows_control_characters_escaped_and_utf8_as_is():
    result = run([], input="data: caf\u00e9 \x1b[2J\ndata:\n\n".encode())
    assert result.stdout == "event: message  id: -  retry: -\n    caf\u00e9 \\x1b[2J\n    \n\n"
    data = json_events(run(["--json"], input="data: caf\u00e9 \x1b[2J\n\n".encode()).stdout)[0]["data"]
    assert data == "caf\u00e9 \x1b[2J"


def test_unfinished_last_event_is_not_printed_but_warned_about():
    result = run(["--json"], input=b"data: one\n\ndata: cut off")
    assert result.exit_code == 0
    assert [e["data"] for e in json_events(result.stdout)] == ["one"]
    assert result.stderr == (
        "warning: stream ended inside an event block (no blank line after it): 13 bytes not dispatched (at byte 11)\n"
    )


def test_empty_input_is_no_events():
    result = run([], input=b"")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_many_events_across_read_blocks(tmp_path):
    events = b"".join(b"id: %d\ndata: %s\n\n" % (i, b"x" * (i % 97)) for i in range(20_000))
    assert len(events) > 10 * READ_SIZE
    path = tmp_path / "big.txt"
    path.write_bytes(events)
    decoded = json_events(run([str(path), "--json"]).stdout)
    assert len(decoded) == 20_000
    assert decoded[12345] == {"type": "message", "data": "x" * (12345 % 97), "id": "12345", "retry": None}


def test_overlong_sse_line_is_an_error_at_its_offset():
    data = b"data: ok\n\ndata: " + b"y" * (MAX_LINE + 10)
    result = run(["--json"], input=data)
    assert json_events(result.stdout) == [{"type": "message", "data": "ok", "id": "", "retry": None}]
    assert_clean_error(
        result, f"error: malformed event stream: SSE line longer than {MAX_LINE} bytes (at byte 10)"
    )


# -- --http ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [True, False])
def test_http_response_is_unframed(chunked):
    capture = http_response(STREAM, chunked=chunked, sizes=[5, 1, 30, 2])
    result = run(["--http", "--json"], input=capture)
    assert result.exit_code == 0, result.stderr
    assert [e["data"] for e in json_events(result.stdout)] == ["hello\nworld", "second"]
    assert result.stderr == ""


def test_http_close_delimited_body():
    capture = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n" + STREAM
    result = run(["--http", "--json"], input=capture)
    assert (result.exit_code, result.stderr) == (0, "")
    assert len(json_events(result.stdout)) == 2


def test_http_multibyte_character_split_between_chunks():
    body = "data: \u00e9t\u00e9 \u2603\n\n".encode()
    split = body.index(b"\xe2") + 1  # inside the snowman
    capture = http_response(body, sizes=[split])
    assert json_events(run(["--http", "--json"], input=capture).stdout)[0]["data"] == "\u00e9t\u00e9 \u2603"


def test_http_interim_heads_and_keepalive_responses():
    capture = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        + http_response(b"id: a\ndata: first\n\n")
        + b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
        + http_response(b"data: second\n\n", chunked=False)
        + http_response(b"data: third\n\n")
    )
    result = run(["--http", "--json"], input=capture)
    assert (result.exit_code, result.stderr) == (0, "")
    assert json_events(result.stdout) == [
        {"type": "message", "data": "first", "id": "a", "retry": None},
        {"type": "message", "data": "second", "id": "", "retry": None},  # each response is its own stream
        {"type": "message", "data": "third", "id": "", "retry": None},
    ]


def test_http_head_with_bare_lf_line_ends_is_accepted():
    capture = b"HTTP/1.1 200 OK\nContent-Length: 15\n\ndata: bare-lf\n\n"
    assert [e["data"] for e in json_events(run(["--http", "--json"], input=capture).stdout)] == ["bare-lf"]


def test_http_warns_about_an_error_status_and_a_wrong_content_type():
    capture = b"HTTP/1.1 500 Oops\r\nContent-Type: text/html\r\nContent-Length: 10\r\n\r\ndata: x\n\n\n"
    result = run(["--http"], input=capture)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "warning: response 1 is HTTP 500 Oops; decoding its body as an event stream anyway",
        "warning: response 1 has Content-Type text/html, not text/event-stream",
    ]


def test_http_malformed_chunked_framing_stops_after_the_events_before_it():
    good = encode_chunk(b"data: one\n\n") + encode_chunk(b"data: two\n\n")
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    capture = head + good + b"zz\r\ndata: three\n\n\r\n0\r\n\r\n"
    result = run(["--http", "--json"], input=capture)
    assert [e["data"] for e in json_events(result.stdout)] == ["one", "two"]
    at = len(head + good)
    assert_clean_error(
        result, f"error: malformed HTTP response: chunk size is not hexadecimal: b'zz' (at byte {at})"
    )


def test_http_missing_crlf_after_chunk_data():
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    capture = head + b"b\r\ndata: one\n\nXX"
    result = run(["--http"], input=capture)
    at = len(head) + 3 + 11
    assert_clean_error(
        result,
        f"error: malformed HTTP response: chunk data not followed by CRLF: b'X' where CR belongs (at byte {at})",
    )
    assert "    one" in result.stdout


@pytest.mark.parametrize(
    "capture, message",
    [
        (
            b"HTTP/1.1 2x0 OK\r\n\r\n",
            "error: malformed HTTP response: status code is not three digits: b'2x0' (at byte 9)",
        ),
        (
            b"HTTP/1.1 200 OK\r\nBad Name: v\r\n\r\n",
            "error: malformed HTTP response: invalid header name b'Bad Name' (at byte 17)",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "error: malformed HTTP response: conflicting Content-Length values [b'1', b'2'] (at byte 0)",
        ),
        (
            b"data: x\n\n",
            f"error: not an HTTP response: the input starts with b'data: x\\n\\n', {NOT_HTTP_HINT} (at byte 0)",
        ),
        (
            b"\r\nHTTX/1.1 200 OK\r\n\r\n",
            f"error: not an HTTP response: the input starts with b'HTTX/1.1 200 OK\\r\\n\\r\\n', {NOT_HTTP_HINT} (at byte 2)",
        ),
        (b"", "error: no HTTP response in the input (at byte 0)"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Le",
            "error: not a complete HTTP response: connection closed inside a response head (at byte 27)",
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00",
            "error: HTTP 101 Switching Protocols: what follows is another protocol, not an event stream (at byte 0)",
        ),
    ],
)
def test_http_bad_input(capture, message):
    assert_clean_error(run(["--http"], input=capture), message)


def test_http_not_http_is_reported_before_the_input_ends():
    """A pipe that never sends a blank line still gets an answer as soon as 5 bytes are in."""
    with subprocess.Popen(
        [str(FAULTPROXY), "decode", "--http"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        try:
            proc.stdin.write(b"data: no head")
            proc.stdin.flush()
            assert proc.wait(timeout=20) == 2
            assert b"not an HTTP response" in proc.stderr.read()
        finally:
            proc.kill()


@pytest.mark.parametrize(
    "capture, warning",
    [
        (
            http_response(b"data: one\n\ndata: two\n\n", sizes=[11])[:-5],
            "body truncated: connection closed before the last chunk (no 0-size chunk)",
        ),
        (
            http_response(b"data: one\n\ndata: two\n\n", sizes=[11])[:-12],
            "body truncated: connection closed inside chunk data, 5 bytes missing",
        ),
        (
            http_response(b"data: one\n\ndata: two\n\n", chunked=False)[:-3],
            "body truncated: connection closed with 3 of the declared body bytes missing",
        ),
    ],
)
def test_http_truncated_body_is_a_warning(capture, warning):
    result = run(["--http", "--json"], input=capture)
    assert result.exit_code == 0
    assert json_events(result.stdout)[0]["data"] == "one"
    assert result.stderr.splitlines() == [f"warning: {warning} (at byte {len(capture)})"]


def test_http_truncated_second_head_is_a_warning():
    capture = http_response(b"data: one\n\n") + b"HTTP/1.1 200 OK\r\nContent-"
    result = run(["--http", "--json"], input=capture)
    assert result.exit_code == 0
    assert [e["data"] for e in json_events(result.stdout)] == ["one"]
    at = len(capture)
    assert (
        result.stderr
        == f"warning: response truncated: connection closed inside a response head (at byte {at})\n"
    )


def test_http_overlong_sse_line_in_a_chunked_body_is_reported_at_its_input_offset():
    body = b"data: ok\n\n" + b"data: " + b"z" * (MAX_LINE + 100) + b"\n\n"
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    capture = head + encode_chunk(body[:4]) + encode_chunk(body[4:9]) + encode_chunk(body[9:20])
    line_start = len(head) + len(encode_chunk(body[:4]) + encode_chunk(body[4:9])) + len(b"b\r\n") + 1
    assert capture[line_start : line_start + 5] == b"data:"
    for start in range(20, len(body), 7000):
        capture += encode_chunk(body[start : start + 7000])
    capture += encode_last_chunk()
    result = run(["--http", "--json"], input=capture)
    assert [e["data"] for e in json_events(result.stdout)] == ["ok"]
    assert_clean_error(
        result, f"error: malformed event stream: SSE line longer than {MAX_LINE} bytes (at byte {line_start})"
    )


# -- files and processes --------------------------------------------------------------------------


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.sse"
    assert_clean_error(run([str(missing)]), f"error: cannot read {missing}: No such file or directory")


def test_directory_instead_of_a_file(tmp_path):
    assert_clean_error(run([str(tmp_path)]), f"error: cannot read {tmp_path}: Is a directory")


def test_subprocess_prints_each_event_as_it_arrives():
    """Nothing is held back until the input ends: a live pipe shows events as they complete."""
    with subprocess.Popen(
        [str(FAULTPROXY), "decode", "--json"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        lines = read_lines_in_background(proc.stdout)
        try:
            for i in range(3):
                proc.stdin.write(b"data: live %d\n\n" % i)
                proc.stdin.flush()
                assert json.loads(lines.get(timeout=20))["data"] == f"live {i}"
            proc.stdin.close()
            assert proc.wait(timeout=20) == 0
        finally:
            proc.kill()


def test_subprocess_bad_file_has_no_traceback(tmp_path):
    missing = tmp_path / "absent"
    proc = subprocess.run(
        [str(FAULTPROXY), "decode", str(missing)], capture_output=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert proc.stderr.decode() == f"error: cannot read {missing}: No such file or directory\n"
    assert proc.stdout == b""


def test_subprocess_closed_stdout_is_quiet(tmp_path):
    path = tmp_path / "many.sse"
    path.write_bytes(b"data: x\n\n" * 200_000)
    proc = subprocess.run(
        f"'{FAULTPROXY}' decode --json '{path}' | head -n 1",
        shell=True,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.stdout == b'{"type": "message", "data": "x", "id": "", "retry": null}\n'
    assert b"Traceback" not in proc.stderr
    assert proc.stderr == b""


# -- a real curl capture --------------------------------------------------------------------------


class _SSEHandler(socketserver.StreamRequestHandler):
    """A chunked text/event-stream response. It stops halfway until the test lets it go on."""

    def handle(self) -> None:
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # the request head
        server: _SSEServer = self.server  # type: ignore[assignment]
        self.wfile.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        self.wfile.write(encode_chunk(b"retry: 1500\nid: 1\nevent: tick\ndata: first\n\n"))
        self.wfile.write(encode_chunk(b": comment\n\nid: 2\ndata: multi\ndata: line\n\ndata: split"))
        self.wfile.flush()
        server.go_on.wait(timeout=30)
        self.wfile.write(encode_chunk(" across chunks \u2603\n\n".encode()))
        self.wfile.write(encode_chunk(b"data: last\n\n") + encode_last_chunk())
        self.wfile.flush()


class _SSEServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SSEHandler)
        self.go_on = threading.Event()


@pytest.fixture
def sse_server():
    server = _SSEServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.go_on.set()
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_real_curl_capture_piped_into_decode(sse_server):
    port = sse_server.server_address[1]
    env = {**os.environ, "NO_PROXY": "*", "no_proxy": "*"}
    with (
        subprocess.Popen(
            ["curl", "-sS", "-N", "--raw", "-i", f"http://127.0.0.1:{port}/events"],
            stdout=subprocess.PIPE,
            env=env,
        ) as curl,
        subprocess.Popen(
            [str(FAULTPROXY), "decode", "--http", "--json"],
            stdin=curl.stdout,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ) as proc,
    ):
        curl.stdout.close()  # decode owns the read end now
        lines = read_lines_in_background(proc.stdout)
        try:
            check_curl_capture(sse_server, curl, proc, lines)
        finally:
            curl.kill()
            proc.kill()


def check_curl_capture(sse_server, curl, proc, lines) -> None:
    # the first two events come through while the server is still holding the rest back
    first = [json.loads(lines.get(timeout=30)) for _ in range(2)]
    assert first == [
        {"type": "tick", "data": "first", "id": "1", "retry": 1500},
        {"type": "message", "data": "multi\nline", "id": "2", "retry": 1500},
    ]
    sse_server.go_on.set()
    assert curl.wait(timeout=30) == 0
    assert proc.wait(timeout=30) == 0
    rest = [json.loads(lines.get(timeout=30)) for _ in range(2)]
    assert rest == [
        {"type": "message", "data": "split across chunks \u2603", "id": "2", "retry": 1500},
        {"type": "message", "data": "last", "id": "2", "retry": 1500},
    ]
    assert lines.empty()
    assert proc.stderr.read() == b""
