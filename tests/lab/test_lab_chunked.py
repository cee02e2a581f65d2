"""The slow chunked server and the raw-socket chunked client, against curl and http.client."""

from __future__ import annotations

import http.client

import pytest
from click.testing import CliRunner

from faultproxy.lab.chunked import ChunkedServer, fetch_chunked
from faultproxy.lab.cli import lab
from faultproxy.lab.framing import FramingServer
from faultproxy.net.addresses import parse_http_url
from faultproxy.net.stream_server import running_in_thread
from faultproxy.wire.chunked import ChunkData, ChunkedEnd, ChunkEnd, ChunkHeader
from faultproxy.wire.errors import WireError
from faultproxy.wire.http import Response

WIRE = b"d\r\nchunk 1 of 3\n\r\nd\r\nchunk 2 of 3\n\r\nd\r\nchunk 3 of 3\n\r\n0\r\n\r\n"


def test_curl_raw_shows_the_chunk_framing(cli_server, curl):
    url = cli_server("chunked", "serve", "--chunks", "3", "--interval-ms", "10")
    result = curl("-N", "--raw", "-i", url)
    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    assert b"\r\nTransfer-Encoding: chunked" in head
    assert body == WIRE


def test_http_client_reassembles_the_body():
    with running_in_thread(ChunkedServer(chunks=3, interval=0.01)) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            conn.request("GET", "/")
            response = conn.getresponse()
            assert response.chunked
            assert response.read() == b"chunk 1 of 3\nchunk 2 of 3\nchunk 3 of 3\n"
        finally:
            conn.close()


def test_fetch_chunked_reports_every_piece_of_the_wire_in_order():
    with running_in_thread(ChunkedServer(chunks=3, interval=0.01)) as server:
        events = [event for _, event in fetch_chunked(parse_http_url(server.url))]
    assert isinstance(events[0], Response) and events[0].status == 200
    body = events[1:]
    assert b"".join(e.raw for e in body) == WIRE  # nothing lost, nothing added
    assert [type(e) for e in body if not isinstance(e, ChunkData)] == [ChunkHeader, ChunkEnd] * 3 + [
        ChunkHeader,
        ChunkedEnd,
    ]
    assert [e.size for e in body if isinstance(e, ChunkHeader)] == [13, 13, 13, 0]


def test_fetch_chunked_detects_a_missing_last_chunk():
    with running_in_thread(FramingServer(pieces=4, interval=0.0)) as server:
        url = parse_http_url(server.url.rstrip("/") + "/chunked-truncated")
        with pytest.raises(WireError, match="no 0-size chunk"):
            list(fetch_chunked(url))


def test_cli_get_prints_each_chunk_and_the_wire():
    with running_in_thread(ChunkedServer(chunks=2, interval=0.01)) as server:
        plain = CliRunner().invoke(lab, ["chunked", "get", server.url])
        wire = CliRunner().invoke(lab, ["chunked", "get", "--show-wire", server.url])
    assert plain.exit_code == 0, plain.output
    assert [line.split("ms  ", 1)[1] for line in plain.stdout.splitlines()] == [
        "HTTP/1.1 200 OK",
        "chunk 1 (13 bytes): 'chunk 1 of 2\\n'",
        "chunk 2 (13 bytes): 'chunk 2 of 2\\n'",
        "end of body: 2 chunks, 26 bytes",
    ]
    assert wire.exit_code == 0, wire.output
    shown = [line.split("ms  ", 1)[1] for line in wire.stdout.splitlines() if " ms  " in line]
    assert shown[1:] == [
        'size   "d\\r\\n"  chunk of 13 bytes follows',
        'data   "chunk 1 of 2\\n"',
        'crlf   "\\r\\n"  end of chunk data',
        'size   "d\\r\\n"  chunk of 13 bytes follows',
        'data   "chunk 2 of 2\\n"',
        'crlf   "\\r\\n"  end of chunk data',
        'size   "0\\r\\n"  last chunk (size 0)',
        'end    "\\r\\n"  trailers: 0; the body is complete',
    ]
