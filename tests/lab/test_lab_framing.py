"""Content-Length vs chunked vs close-delimited, complete and cut short, seen by three clients."""

from __future__ import annotations

import http.client

import pytest
from click.testing import CliRunner

from faultproxy.lab.cli import lab
from faultproxy.lab.framing import FramingServer, compare
from faultproxy.net.addresses import parse_http_url
from faultproxy.net.stream_server import running_in_thread

FULL = sum(len(f"line {n} of 4: the same body, framed three ways\n") for n in range(1, 5))
HALF = sum(len(f"line {n} of 4: the same body, framed three ways\n") for n in range(1, 3))


@pytest.fixture
def server():
    with running_in_thread(FramingServer(pieces=4, interval=0.01)) as srv:
        yield srv


def test_compare_tells_truncation_apart_except_for_close_delimited(server):
    results = {r.path: r for r in compare(parse_http_url(server.url))}
    assert {p: (r.framing, r.body_bytes, r.verdict) for p, r in results.items()} == {
        "/length": ("Content-Length", FULL, "complete"),
        "/length-truncated": ("Content-Length", HALF, "truncated"),
        "/chunked": ("chunked", FULL, "complete"),
        "/chunked-truncated": ("chunked", HALF, "truncated"),
        "/close": ("close-delimited", FULL, "cannot tell"),
        "/close-truncated": ("close-delimited", HALF, "cannot tell"),
    }
    assert results["/length-truncated"].declared == FULL


@pytest.mark.parametrize(
    "path, truncated",
    [("/length-truncated", True), ("/chunked-truncated", True), ("/length", False), ("/chunked", False)],
)
def test_http_client_raises_incomplete_read_on_a_cut(server, path, truncated):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        if truncated:
            with pytest.raises(http.client.IncompleteRead):
                response.read()
        else:
            assert len(response.read()) == FULL
    finally:
        conn.close()


def test_curl_exit_codes(server, curl):
    codes = {
        path: curl("-N", "--raw", server.url.rstrip("/") + path).returncode
        for path in (
            "/length",
            "/length-truncated",
            "/chunked",
            "/chunked-truncated",
            "/close",
            "/close-truncated",
        )
    }
    # 18 = CURLE_PARTIAL_FILE: curl knows the body is short. A cut close-delimited body is a success to it.
    assert codes == {
        "/length": 0,
        "/length-truncated": 18,
        "/chunked": 0,
        "/chunked-truncated": 18,
        "/close": 0,
        "/close-truncated": 0,
    }


def test_unknown_path_lists_the_variants(server, curl):
    result = curl("-i", server.url.rstrip("/") + "/nope")
    assert result.stdout.startswith(b"HTTP/1.1 404 Not Found\r\n")
    assert b"/chunked-truncated" in result.stdout


def test_cli_compare_prints_a_table(server):
    result = CliRunner().invoke(lab, ["framing", "compare", server.url])
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split()[:3] == ["variant", "framing", "first"]
    assert [row.split()[0] for row in rows] == [
        "/length",
        "/length-truncated",
        "/chunked",
        "/chunked-truncated",
        "/close",
        "/close-truncated",
    ]
    assert "cannot tell" in rows[-1] and "truncated" in rows[1]
