"""The proxies under test, each started as its own process on a loopback port.

- ``faultproxy``: ``python -m faultproxy proxy --listen 127.0.0.1:0 --upstream …``; the port is
  read from its banner. ``faultproxy-capture``: the same writing a capture to a temporary file.
  ``faultproxy-sse`` and ``faultproxy-mix``: the same with faults that change nothing
  (:data:`FAULTS`), to show what the fault path costs.
- ``nginx``: a generated config in a temporary prefix (``daemon off``, ``master_process off``,
  so the one process is the worker whose memory is measured), ``proxy_buffering off`` as one
  sets it up for SSE.
- ``mitmproxy``: ``mitmdump`` in reverse mode with ``stream_large_bodies=1`` (without it an SSE
  response is held until it ends), found on PATH or in ``.venv-mitm/bin`` of the repository.
- ``direct``: no proxy; the load talks to the upstream.

With TLS (``faultproxy bench --tls``, certificates from :mod:`faultproxy.bench.tls`) nginx and
faultproxy (``--tls --upstream https://… --upstream-ca``, minting from the bench CA) terminate TLS
and re-originate it to the upstream, verifying it against the bench CA: the same work.

Every process is stopped by :meth:`Peer.stop` (SIGTERM, then SIGKILL), by its own pid.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import faultproxy
from faultproxy.bench.tls import BenchTLS
from faultproxy.provenance import REPO


class PeerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc/PID/status (VmRSS, in KiB)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise PeerError(f"no VmRSS for pid {pid}")


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _all_cpu() -> dict[int, float]:
    """CPU seconds used so far by every process of the machine, by pid."""
    out = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                out[int(entry.name)] = cpu_seconds(int(entry.name))
            except (OSError, ValueError, IndexError):
                pass  # gone meanwhile
    return out


class CPUWatch:
    """CPU used over an interval by some processes of ours, and by all the others together.

    "Others" is every other process of the machine (other people's tests, say): when they
    take a core, a 2-core benchmark is not measuring what it says. Kernel time spent on
    loopback packets is not charged to any process and is counted nowhere.
    """

    def __init__(self, pids: dict[str, int | None]):
        self.pids = {name: pid for name, pid in pids.items() if pid}
        self.t0 = time.monotonic()
        self.cpu0 = _all_cpu()

    def stop(self) -> dict[str, float]:
        """Percent of one core for each of our processes, and ``other`` for the rest."""
        cpu1 = _all_cpu()
        wall = max(time.monotonic() - self.t0, 1e-9)
        ours = set(self.pids.values())
        out = {
            name: round(100 * (cpu1.get(pid, 0.0) - self.cpu0.get(pid, 0.0)) / wall, 1)
            for name, pid in self.pids.items()
        }
        other = sum(cpu - self.cpu0.get(pid, 0.0) for pid, cpu in cpu1.items() if pid not in ours)
        out["other"] = round(max(0.0, 100 * other / wall), 1)
        return out


def _wait_listening(
    port: int, proc: subprocess.Popen | None, timeout: float, what: str, log: collections.deque
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise PeerError(f"{what} exited with {proc.returncode}: " + " | ".join(log))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise PeerError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:g}s: " + " | ".join(log))


class Peer:
    """One target: where the load connects (``port``) and which process to measure (``pid``)."""

    name = "?"

    def __init__(self) -> None:
        self.tls: BenchTLS | None = None  # with TLS: HTTPS toward the load and toward the upstream
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.log: collections.deque[str] = collections.deque(maxlen=20)
        self._tmp: tempfile.TemporaryDirectory | None = None

    # what a subclass provides
    def available(self) -> str | None:
        """None when this peer can run here; otherwise why not."""
        return None

    def version(self) -> str:
        return ""

    def _launch(self, upstream_port: int) -> None:
        raise NotImplementedError

    # the common part
    def capture_bytes(self) -> int | None:
        """The size of the capture the target writes (None: it writes none)."""
        return None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self, upstream_port: int) -> int:
        self._launch(upstream_port)
        assert self.port is not None
        return self.port

    def _spawn(
        self,
        argv: list[str],
        *,
        banner: re.Pattern | None = None,
        timeout: float = 20.0,
        env: dict[str, str] | None = None,
    ) -> None:
        """Run ``argv``; with ``banner``, the port is group 1 of the first stderr line matching it."""
        found = threading.Event()

        def drain(stream) -> None:
            for raw in stream:
                line = raw.decode("utf-8", "replace").rstrip()
                self.log.append(line)
                if banner is not None and not found.is_set():
                    match = banner.search(line)
                    if match:
                        self.port = int(match.group(1))
                        found.set()

        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self._tmp.name if self._tmp else None,
            env={**os.environ, **env} if env else None,
        )
        threading.Thread(target=drain, args=(self.proc.stdout,), daemon=True).start()
        if banner is not None:
            deadline = time.monotonic() + timeout
            while not found.wait(0.05):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise PeerError(f"{self.name} did not start: " + " | ".join(self.log))
        try:
            _wait_listening(self.port, self.proc, timeout, self.name, self.log)
        except PeerError:
            self.stop()
            raise

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


class Direct(Peer):
    name = "direct"

    def _launch(self, upstream_port: int) -> None:
        self.port = upstream_port


# Faults that act on every stream of the benchmark and change nothing a client sees, so that what
# is measured is the cost of the fault path itself: every event parsed and re-framed by an SSE
# fault; and with it an http fault that follows every chunk (a cut after more bytes than any
# stream has: every body event through the http layer) and a delay of 0 ms (every piece through
# the bytes layer and the outbox's wait).
NEVER_SENT = "event_type=faultproxy-bench-never-sent"
FAULTS: dict[str, tuple[str, ...]] = {
    "faultproxy": (),
    "faultproxy-sse": (f"sse_drop:{NEVER_SENT}",),
    "faultproxy-mix": (
        f"sse_drop:{NEVER_SENT}",
        "truncate_chunk:after_bytes=1000000000000",
        "latency:latency=0",
    ),
}


class FaultproxyPeer(Peer):
    name = "faultproxy"

    def __init__(self, name: str = "faultproxy", capture: bool = False) -> None:
        super().__init__()
        self.name = name
        self.faults = FAULTS[name]
        self.capture = capture
        if capture:
            self.name = "faultproxy-capture"

    def capture_bytes(self) -> int | None:
        """How large the capture file is now (None: no capture). The proxy writes it through a
        1 MiB buffer: a stream of many MiB is all but whole in it when the stream has ended."""
        if not self.capture or self._tmp is None:
            return None
        path = Path(self._tmp.name) / "capture.jsonl"
        return path.stat().st_size if path.exists() else 0

    def version(self) -> str:
        return faultproxy.__version__ + (
            f" ({', '.join(f.split(':')[0] for f in self.faults)})" if self.faults else ""
        )

    def _launch(self, upstream_port: int) -> None:
        scheme = "https" if self.tls is not None else "http"
        argv = [
            sys.executable,
            "-m",
            "faultproxy",
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            f"{scheme}://127.0.0.1:{upstream_port}",
        ]
        env = None
        if self.tls is not None:  # as nginx here: terminate, re-originate verified against the bench CA
            argv += ["--tls", "--upstream-ca", str(self.tls.ca_file)]
            env = {"FAULTPROXY_CONFIG_DIR": str(self.tls.directory)}  # mint from the bench CA
        if self.capture:
            self._tmp = tempfile.TemporaryDirectory(prefix="faultproxy-bench-capture-")
            argv += ["--capture", str(Path(self._tmp.name) / "capture.jsonl")]
        for fault in self.faults:
            argv += ["--fault", fault]
        self._spawn(argv, banner=re.compile(r"faultproxy: https?://127\.0\.0\.1:(\d+) "), env=env)


NGINX_MAIN = """\
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile {nofile};
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{
    worker_connections {connections};
    multi_accept on;
}}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{servers}
}}
"""

BENCH_SERVER = """\
    server {{
        listen 127.0.0.1:{port}{listen_tls} backlog=4096;{server_tls}
        location / {{
            proxy_pass {scheme}://127.0.0.1:{upstream};{upstream_tls}
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;{buffers}
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }}
    }}"""


class NginxPeer(Peer):
    name = "nginx"

    def __init__(self, binary: str | None = None, buffer_size: int | None = None) -> None:
        super().__init__()
        self.buffer_size = buffer_size  # proxy_buffer_size; None: nginx's default (one page)
        self.last_log = ""  # the error log as it was when nginx was stopped
        self.binary = (
            binary
            or shutil.which("nginx")
            or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
        )

    def available(self) -> str | None:
        if not self.binary:
            return "nginx not installed (apt-get install nginx-light)"
        return None if os.access(self.binary, os.X_OK) else f"{self.binary} is not an executable nginx"

    def version(self) -> str:
        out = subprocess.run([self.binary, "-v"], capture_output=True, text=True, timeout=10)
        match = re.search(r"nginx/(\S+)", out.stderr + out.stdout)
        return match.group(1) if match else "?"

    def _tls_conf(self) -> dict[str, str]:
        """TLS termination toward the load and re-origination toward the upstream, verified
        against the bench CA with SNI, as faultproxy does it (certificates: :mod:`.tls`)."""
        tls = self.tls
        if tls is None:
            return {"listen_tls": "", "server_tls": "", "scheme": "http", "upstream_tls": ""}
        return {
            "listen_tls": " ssl",
            "server_tls": (
                f"\n        ssl_certificate {tls.proxy_cert};\n        ssl_certificate_key {tls.proxy_key};"
                "\n        ssl_protocols TLSv1.2 TLSv1.3;"
            ),
            "scheme": "https",
            "upstream_tls": (
                f"\n            proxy_ssl_verify on;\n            proxy_ssl_trusted_certificate {tls.ca_file};"
                "\n            proxy_ssl_name localhost;\n            proxy_ssl_server_name on;"
            ),
        }

    def _launch(self, upstream_port: int) -> None:
        port = free_port()
        buffers = ""
        if self.buffer_size:
            size = self.buffer_size
            buffers = (
                f"\n            proxy_buffer_size {size}; proxy_buffers 8 {size};"
                f" proxy_busy_buffers_size {2 * size};"
            )
        self.run_config(
            BENCH_SERVER.format(port=port, upstream=upstream_port, buffers=buffers, **self._tls_conf()), port
        )

    def run_config(self, servers: str, port: int, *, connections: int = 32768) -> None:
        """Start nginx in a fresh temporary prefix with these ``server`` blocks (the inside of
        ``http {}``), and wait until it listens on 127.0.0.1:``port``, one of theirs.

        The one way faultproxy starts nginx: the benchmark's proxy, ``faultproxy repro nginx``
        and a scenario's ``intermediary`` all come through here.
        """
        self._tmp = tempfile.TemporaryDirectory(prefix=f"faultproxy-{self.name}-")
        tmp = self._tmp.name
        self.port = port
        conf = Path(tmp, "nginx.conf")
        conf.write_text(
            NGINX_MAIN.format(tmp=tmp, nofile=2 * connections, connections=connections, servers=servers)
        )
        try:
            self._spawn([self.binary, "-p", tmp, "-c", str(conf), "-e", f"{tmp}/error.log"])
        except PeerError as error:
            # Why nginx would not start is in its error log; stderr may say it too, or may not
            # have been read yet when the exit was seen.
            text = str(error)
            said = [
                m[1] for m in re.finditer(r"\[emerg\] (?:\d+#\d+: )?(.*)", self.last_log) if m[1] not in text
            ]
            raise PeerError("; ".join([text.rstrip(": "), *said])) from None

    def error_log(self) -> str:
        """What nginx wrote to its error log so far (upstream timeouts, say); once stopped, what
        it had written by then (:attr:`last_log`)."""
        if self._tmp is None:
            return self.last_log
        path = Path(self._tmp.name, "error.log")
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self._tmp is not None:
            self.last_log = self.error_log()  # the prefix, and the log in it, go with the stop
        super().stop()


def find_mitmdump() -> str | None:
    found = shutil.which("mitmdump")
    if found:
        return found
    for base in (REPO, Path.cwd()):
        candidate = base / ".venv-mitm" / "bin" / "mitmdump"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return None


class MitmproxyPeer(Peer):
    name = "mitmproxy"

    def __init__(self, binary: str | None = None) -> None:
        super().__init__()
        self.binary = binary or find_mitmdump()

    def available(self) -> str | None:
        if self.tls is not None:
            return "not set up for the TLS benchmark yet"
        if self.binary:
            return None
        return "mitmdump not found on PATH or in .venv-mitm/bin (FAULTPROXY_BENCH_PEERS=1 scripts/bootstrap)"

    def version(self) -> str:
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True, timeout=60)
        match = re.search(r"Mitmproxy:\s*(\S+)", out.stdout)
        return match.group(1) if match else "?"

    def _launch(self, upstream_port: int) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="faultproxy-bench-mitm-")
        self.port = free_port()
        argv = [
            self.binary,
            "--mode",
            f"reverse:http://127.0.0.1:{upstream_port}",
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            str(self.port),
            "--set",
            "stream_large_bodies=1",  # stream, or SSE is held until the body ends
            "--set",
            f"confdir={self._tmp.name}",  # its CA files, not in ~/.mitmproxy
            "--set",
            "termlog_verbosity=error",
            "--set",
            "flow_detail=0",
            "-q",
        ]
        self._spawn(argv, timeout=60.0)


def make_peer(
    name: str,
    *,
    nginx: str | None = None,
    mitmdump: str | None = None,
    nginx_buffer: int | None = None,
    tls: BenchTLS | None = None,
) -> Peer:
    peers = {
        "direct": Direct,
        "faultproxy-capture": lambda: FaultproxyPeer(capture=True),
        "nginx": lambda: NginxPeer(nginx, nginx_buffer),
        "mitmproxy": lambda: MitmproxyPeer(mitmdump),
    }
    peers.update({fault: (lambda fault=fault: FaultproxyPeer(fault)) for fault in FAULTS})
    if name not in peers:
        raise ValueError(name)
    peer = peers[name]()
    peer.tls = tls
    return peer
