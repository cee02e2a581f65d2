"""The command line: bad input is one line and exit code 2; the installed entry point works."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from faultproxy.cli import main
from faultproxy.lab.http_server import HTTPServer
from faultproxy.lab.sse_server import SSEServer
from faultproxy.net.stream_server import running_in_thread


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (it did a moment ago)."""
    with running_in_thread(SSEServer()) as srv:
        return srv.port


@pytest.mark.parametrize(
    "args",
    [
        ["http", "--listen", "nonsense"],
        ["echo", "serve", "--listen", "127.0.0.1:99999"],
        ["sse", "serve", "--listen", ":8080"],
        ["chunked", "get", "ftp://example/"],
        ["sse", "listen", "not a url"],
        ["echo", "send", "localhost", "hi"],
        ["sse", "serve", "--listen", "127.0.0.1:0", "--log", "/nonexistent-dir/sent.jsonl"],
        ["sse", "serve", "--listen", "127.0.0.1:0", "--event-type", "two\nlines"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(args):
    result = CliRunner().invoke(main, ["lab", *args])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("Error: ")
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "command",
    [
        ["chunked", "get", "http://127.0.0.1:{port}/"],
        ["framing", "compare", "http://127.0.0.1:{port}/"],
        ["sse", "listen", "http://127.0.0.1:{port}/events"],
        ["echo", "send", "127.0.0.1:{port}", "hi"],
    ],
)
def test_unreachable_server_is_exit_2(closed_port, command):
    result = CliRunner().invoke(main, ["lab", *(part.format(port=closed_port) for part in command)])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and "Connection refused" in result.stderr
    assert "Traceback" not in result.output


def test_port_in_use_is_exit_2():
    with running_in_thread(HTTPServer()) as busy:
        result = CliRunner().invoke(main, ["lab", "http", "--listen", f"127.0.0.1:{busy.port}"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: cannot listen on 127.0.0.1:{busy.port}")


def test_installed_entry_point_announces_its_url_and_lists_the_lab_commands(cli_server):
    assert cli_server("sse", "serve").endswith(
        "/events"
    )  # started as `faultproxy lab sse serve --listen 127.0.0.1:0`
    help_text = CliRunner().invoke(main, ["lab", "--help"]).output
    for name in ("chunked", "echo", "framing", "http", "sse"):
        assert f"  {name} " in help_text
