"""TCP echo: the smallest server there is, on plain blocking sockets.

The server sends back every byte it receives. It shows the socket life cycle
(``bind``/``listen``/``accept``, then ``recv``/``sendall`` until the peer closes) and one way
to serve several clients at once: a thread per connection, since a blocking ``recv`` holds
up the thread that calls it. Try it with ``nc 127.0.0.1 7007``.

The client shows the first lesson of TCP: it is a byte stream, not a message stream. One
``send`` may arrive as several ``recv`` results (or several sends as one), so the client
reads until it has as many bytes back as it sent.
"""

from __future__ import annotations

import socket
import threading
from contextlib import suppress

ACCEPT_POLL = 0.1  # how often accept() wakes up to notice stop()


class EchoServer:
    """A threaded echo server. The socket is bound in the constructor, so :attr:`port` is known."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._listener = socket.create_server((host, port))
        self.host, self.port = self._listener.getsockname()[:2]
        self._stopping = threading.Event()
        self._clients: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        """Accept connections until :meth:`stop`; each one is echoed on its own thread."""
        self._listener.settimeout(ACCEPT_POLL)
        with self._listener:
            while not self._stopping.is_set():
                try:
                    conn, _ = self._listener.accept()
                except TimeoutError:
                    continue
                conn.settimeout(None)
                with self._lock:
                    self._clients.add(conn)
                threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        try:
            with conn:
                while data := conn.recv(4096):  # b"" means the peer closed its side
                    conn.sendall(data)
        except OSError:
            pass  # reset by the peer, or closed by stop()
        finally:
            with self._lock:
                self._clients.discard(conn)

    def start(self) -> EchoServer:
        """Serve on a background thread (for tests and embedding)."""
        self._thread = threading.Thread(target=self.serve_forever, name="echo-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting and cut every client off (``shutdown`` wakes a thread blocked in recv)."""
        self._stopping.set()
        with self._lock:
            clients = list(self._clients)
        for conn in clients:
            with suppress(OSError):  # it may have closed already
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> EchoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def echo(host: str, port: int, messages: list[bytes], timeout: float = 5.0) -> list[bytes]:
    """Send each message and read back exactly as many bytes; return what came back, per message."""
    replies = []
    with socket.create_connection((host, port), timeout=timeout) as sock:
        for message in messages:
            sock.sendall(message)
            reply = b""
            while len(reply) < len(message):
                data = sock.recv(len(message) - len(reply))
                if not data:
                    raise ConnectionError(
                        f"the server closed after echoing {len(reply)} of {len(message)} bytes"
                    )
                reply += data
            replies.append(reply)
        sock.shutdown(socket.SHUT_WR)  # "I'm done sending": the server sees EOF and closes too
    return replies
