"""The minimal HTTP/1.1 server against curl and http.client: keep-alive, HEAD, 400."""

from __future__ import annotations

import http.client
import socket

from faultproxy.lab.http_server import HTTPServer
from faultproxy.net.stream_server import running_in_thread


def test_http_client_keeps_the_connection_for_a_second_request():
    with running_in_thread(HTTPServer("hello\n")) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            conn.request("GET", "/")
            first = conn.getresponse()
            assert (first.status, first.read()) == (200, b"hello\n")
            sock = conn.sock
            conn.request("GET", "/again")
            second = conn.getresponse()
            assert (second.status, second.read()) == (200, b"hello\n")
            assert conn.sock is sock  # no new connection was made
        finally:
            conn.close()


def test_head_has_the_get_headers_and_no_body():
    with running_in_thread(HTTPServer("hello\n")) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            conn.request("HEAD", "/")
            response = conn.getresponse()
            assert response.status == 200
            assert response.getheader("Content-Length") == "6"
            assert response.read() == b""
            conn.request("GET", "/")  # the connection is still in sync: no stray body bytes
            assert conn.getresponse().read() == b"hello\n"
        finally:
            conn.close()


def test_malformed_request_gets_400_with_a_reason():
    with running_in_thread(HTTPServer()) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            conn.request("GE@T", "/")  # '@' is not allowed in a method token
            response = conn.getresponse()
            assert response.status == 400
            assert response.getheader("Content-Type").startswith("text/plain")
            assert b"invalid method" in response.read()
            assert response.will_close
        finally:
            conn.close()


def exchange(request: bytes) -> bytes:
    """Send raw request bytes and read until the server closes (the socket timeout bounds the wait)."""
    with (
        running_in_thread(HTTPServer("x")) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock,
    ):
        sock.sendall(request)
        received = b""
        while data := sock.recv(4096):
            received += data
    return received


def test_connection_close_is_honoured():
    received = exchange(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nConnection: close\r\n" in received
    assert received.endswith(b"\r\n\r\nx")


def test_pipelined_requests_are_answered_in_order():
    received = exchange(
        b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    )
    assert received.count(b"HTTP/1.1 200 OK\r\n") == 2
    assert received.endswith(b"\r\n\r\nx")  # only the GET carries the body


def test_garbage_gets_400_and_the_connection_closes():
    received = exchange(b"HELLO?\r\n\r\n")
    assert received.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"request line is not" in received


def test_curl_reuses_the_connection(cli_server, curl):
    url = cli_server("http", "--body", "from the cli\n")
    result = curl("-w", "[connects=%{num_connects}]", url, url + "again")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"from the cli\n[connects=1]from the cli\n[connects=0]"


def test_curl_head_and_bad_method(cli_server, curl):
    url = cli_server("http")
    head = curl("-I", url)
    assert head.stdout.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Length: 31\r\n" in head.stdout
    bad = curl("-i", "-X", "B(AD", url)
    assert bad.stdout.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"invalid method" in bad.stdout
