"""The TCP echo server and client: bytes come back unchanged, several clients at once."""

from __future__ import annotations

import socket

from click.testing import CliRunner

from faultproxy.lab.cli import lab
from faultproxy.lab.echo import EchoServer, echo


def test_round_trip_returns_every_byte():
    messages = [b"hello\n", b"\x00\xff binary \r\n", b"x" * 100_000]
    with EchoServer() as server:
        assert echo(server.host, server.port, messages) == messages


def test_two_clients_are_served_at_the_same_time():
    with (
        EchoServer() as server,
        socket.create_connection((server.host, server.port), timeout=5) as a,
        socket.create_connection((server.host, server.port), timeout=5) as b,
    ):
        # b is answered while a's connection is still open and idle
        b.sendall(b"second\n")
        assert b.recv(100) == b"second\n"
        a.sendall(b"first\n")
        assert a.recv(100) == b"first\n"


def test_cli_send():
    with EchoServer() as server:
        result = CliRunner().invoke(lab, ["echo", "send", f"127.0.0.1:{server.port}", "hi", "two words"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "sent 'hi'  got back 'hi'",
        "sent 'two words'  got back 'two words'",
    ]
