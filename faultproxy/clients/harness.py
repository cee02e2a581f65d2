"""The parent side: run one client in its own process group, under a hard deadline.

``run_client("httpx-sse", ClientRequest(url))`` (or ``await arun_client(...)``) starts the
client's child process (its registry entry says how), writes the request on its stdin, and
reads its protocol lines (:mod:`faultproxy.clients.protocol`) as they arrive, so everything
received before a hang or a crash is kept. It returns a
:class:`~faultproxy.clients.transcript.Transcript`; a client that hangs or crashes is
reported as such and never takes the caller with it:

- no ``hello`` within ``startup_s`` of the start, or no ``end`` within ``request.deadline_s``
  of the hello (simple protocol: of the start): the whole process group is killed (SIGKILL)
  -> ``hung``;
- the child exits without an ``end`` line -> ``crashed``, with the tail of its stderr (simple
  protocol: the exit status says how it ended);
- a command that cannot be started at all (not found, not executable) -> ``crashed``, saying so;
- after ``end`` the child gets ``END_GRACE_S`` to exit before it is killed (noted; the
  transcript keeps what it reported);
- whatever the child leaves behind in its process group (a grandchild still holding the
  pipes) is killed when the child is gone, so a run always ends.

The child's environment is the caller's minus proxy variables (``HTTP_PROXY``,
``https_proxy``, ``ALL_PROXY``, ``NO_PROXY``, ...): a client connects to the URL it is given
unless the caller passes proxy variables in ``env`` explicitly.

``ca_file=PATH`` makes the client trust the CA certificate in PATH for ``https://`` URLs, the
way a user would tell that client (see ``docs/tls.md``): ``SSL_CERT_FILE`` (OpenSSL's
default store: Python's ``ssl``, httpx, aiohttp, the SDKs), ``REQUESTS_CA_BUNDLE``
(requests), ``NODE_EXTRA_CA_CERTS`` (Node), and ``FAULTPROXY_CA_FILE`` for adapters whose
library has no such variable (they pass it to the library's own CA setting).
"""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping

from faultproxy.clients import registry
from faultproxy.clients.protocol import Collector, SimpleCollector
from faultproxy.clients.registry import SIMPLE, ClientInfo, UnsupportedRequest
from faultproxy.clients.transcript import CRASHED, HUNG, ClientRequest, Transcript

STARTUP_S = 30.0  # a generous allowance for interpreter start and library imports
END_GRACE_S = 5.0  # time a child has to exit after its end line
STDERR_TAIL = 4000  # characters of stderr kept in the transcript
READ_SIZE = 65536
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ws_proxy", "wss_proxy")
CA_FILE_ENV = "FAULTPROXY_CA_FILE"
CA_VARIABLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", CA_FILE_ENV)

__all__ = ["run_client", "arun_client", "UnsupportedRequest", "STARTUP_S", "END_GRACE_S"]


def child_env(
    env: Mapping[str, str] | None = None,
    ca_file: str | os.PathLike | None = None,
    info: ClientInfo | None = None,
) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARIABLES}
    if ca_file is not None:
        out.update(dict.fromkeys(CA_VARIABLES, os.fspath(ca_file)))
    if info is not None:
        out.update(info.environment())
    out.update(env or {})
    return out


def _resolve(name: str, request: ClientRequest, info: ClientInfo | None) -> ClientInfo:
    info = info or registry.get(name)
    ok, why = info.supports(request)
    if not ok:
        raise UnsupportedRequest(why)
    return info


def _kill_group(proc: subprocess.Popen | asyncio.subprocess.Process) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the child is its group's leader (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass


class _Run:
    """Deadline bookkeeping and the final verdict, shared by the sync and async loops."""

    def __init__(self, info: ClientInfo, request: ClientRequest, startup_s: float):
        self.info = info
        self.request = request
        self.startup_s = startup_s
        self.started = time.monotonic()
        self.collector: Collector | SimpleCollector
        self.hello_at: float | None = None
        if info.output == SIMPLE:  # no hello: the deadline runs from the start
            self.collector = SimpleCollector(info.name, info.version(), self.started)
            self.hello_at = self.started
        else:
            self.collector = Collector(info.name)
        self.ended_at: float | None = None
        self.killed: str | None = None  # why the harness killed the child
        self._why = "startup"
        self.stderr = bytearray()
        self._partial = b""

    def feed_stdout(self, data: bytes) -> None:
        self._partial += data
        *lines, self._partial = self._partial.split(b"\n")
        for line in lines:
            self.feed_line(line)

    def feed_line(self, line: bytes) -> None:
        self.collector.feed_line(line.decode("utf-8", "replace"))
        now = time.monotonic()
        if self.hello_at is None and self.collector.hello:
            self.hello_at = now
        if self.ended_at is None and self.collector.ended:
            self.ended_at = now

    def stdout_eof(self) -> None:
        if self._partial:
            self.feed_line(self._partial)
            self._partial = b""

    def feed_stderr(self, data: bytes) -> None:
        self.stderr += data
        if len(self.stderr) > 4 * STDERR_TAIL:
            del self.stderr[: -2 * STDERR_TAIL]

    def time_left(self) -> float:
        """Seconds until the harness must act; the reason is set in :attr:`_why`."""
        now = time.monotonic()
        if self.ended_at is not None:
            self._why = "after-end"
            return self.ended_at + END_GRACE_S - now
        if self.hello_at is None:
            self._why = "startup"
            return self.started + self.startup_s - now
        self._why = "deadline"
        return self.hello_at + self.request.deadline_s - now

    def expire(self) -> None:
        self.killed = self._why

    def _zero(self, child_t0: float | None) -> float:
        """Where the transcript's clock starts: the child's own t=0 when it said (its events count from
        there, and the same system-wide monotonic clock puts the end after them), else its hello."""
        zero = self.hello_at or self.started
        if isinstance(child_t0, (int, float)) and self.started - 1.0 <= child_t0 <= zero:
            return float(child_t0)
        return zero

    def cannot_start(self, argv: list[str], error: OSError) -> Transcript:
        t = self.collector.transcript
        t.end, t.error_type = CRASHED, "crashed"
        where = f" in {self.info.cwd}" if self.info.cwd else ""
        t.error_message = f"cannot start {argv[0]!r}{where}: {error.strerror or error}"
        return t

    def finish(self, returncode: int | None) -> Transcript:
        t = self.collector.transcript
        finished = self.ended_at or time.monotonic()
        t.duration_s = round(finished - self._zero(t.t0_monotonic), 6)
        t.exit_code = returncode
        t.stderr_tail = self.stderr.decode("utf-8", "replace")[-STDERR_TAIL:]
        if not self.collector.hello or t.version is None:
            try:
                t.version = self.info.version()
            except Exception:  # noqa: BLE001 -- a version lookup must not lose the transcript
                t.version = None
            if not self.collector.hello:
                t.notes.append("the child never said hello: version from the installed package")
        if self.collector.ended:
            if self.killed == "after-end":
                t.notes.append(f"the child did not exit within {END_GRACE_S}s of its end line; killed")
            return t
        if self.killed == "deadline":
            t.end = HUNG
            t.error_type = "hung"
            t.error_message = (
                f"no end within the {self.request.deadline_s}s deadline; the process group was killed"
            )
        elif self.killed is None and self.collector.exited(returncode, t.stderr_tail):
            pass
        elif self.killed == "startup":
            t.end = HUNG
            t.error_type = "hung"
            t.error_message = f"no hello within {self.startup_s}s of starting; the process group was killed"
        else:
            t.end = CRASHED
            t.error_type = "crashed"
            signalled = returncode is not None and returncode < 0
            how = f"signal {-returncode}" if signalled else f"code {returncode}"
            t.error_message = f"the child exited ({how}) without an end line"
        return t


def run_client(
    name: str,
    request: ClientRequest,
    *,
    info: ClientInfo | None = None,
    startup_s: float = STARTUP_S,
    env: Mapping[str, str] | None = None,
    ca_file: str | os.PathLike | None = None,
) -> Transcript:
    """Run client ``name`` for ``request`` in a subprocess and return its transcript (blocking)."""
    info = _resolve(name, request, info)
    run = _Run(info, request, startup_s)
    argv = info.argv(request)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=child_env(env, ca_file, info),
            cwd=info.cwd,
        )
    except OSError as error:
        return run.cannot_start(argv, error)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        try:
            proc.stdin.write((_request_json(request) + "\n").encode())
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # it died already; its output says why
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ, "out")
            selector.register(proc.stderr, selectors.EVENT_READ, "err")
            while selector.get_map():
                left = run.time_left()
                if left <= 0:
                    run.expire()
                    _kill_group(proc)
                    break
                for key, _ in selector.select(min(left, 0.5)):
                    _pump(key, selector, run)
                if proc.poll() is not None and selector.get_map():
                    # the child is gone; anything still holding the pipes is a descendant of it
                    _kill_group(proc)
                    break
        _drain(proc, run)
        try:
            returncode = proc.wait(END_GRACE_S)
        except subprocess.TimeoutExpired:
            run.killed = run.killed or "after-end"
            _kill_group(proc)
            returncode = proc.wait()
        return run.finish(returncode)
    finally:
        _kill_group(proc)  # sweep descendants the child left behind
        if proc.poll() is None:
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            stream.close()


def _pump(key: selectors.SelectorKey, selector: selectors.BaseSelector, run: _Run) -> None:
    data = os.read(key.fd, READ_SIZE)
    if not data:
        selector.unregister(key.fileobj)
        if key.data == "out":
            run.stdout_eof()
    elif key.data == "out":
        run.feed_stdout(data)
    else:
        run.feed_stderr(data)


def _drain(proc: subprocess.Popen, run: _Run, timeout: float = 2.0) -> None:
    """What is still in the pipes (lines written just before a kill or an exit) is kept."""
    with selectors.DefaultSelector() as selector:
        for stream, tag in ((proc.stdout, "out"), (proc.stderr, "err")):
            if not stream.closed:
                selector.register(stream, selectors.EVENT_READ, tag)
        stop = time.monotonic() + timeout
        while selector.get_map() and time.monotonic() < stop:
            for key, _ in selector.select(0.1):
                _pump(key, selector, run)
    run.stdout_eof()


def _request_json(request: ClientRequest) -> str:
    return json.dumps(request.to_dict())


async def arun_client(
    name: str,
    request: ClientRequest,
    *,
    info: ClientInfo | None = None,
    startup_s: float = STARTUP_S,
    env: Mapping[str, str] | None = None,
    ca_file: str | os.PathLike | None = None,
) -> Transcript:
    """:func:`run_client` for asyncio: many clients can run at once on one loop."""
    info = _resolve(name, request, info)
    run = _Run(info, request, startup_s)
    argv = info.argv(request)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            env=child_env(env, ca_file, info),
            cwd=info.cwd,
        )
    except OSError as error:
        return run.cannot_start(argv, error)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None

    async def pump_stderr() -> None:
        while data := await proc.stderr.read(READ_SIZE):
            run.feed_stderr(data)

    async def pump_stdout() -> None:
        while data := await proc.stdout.read(READ_SIZE):
            run.feed_stdout(data)
        run.stdout_eof()

    stderr_task = asyncio.ensure_future(pump_stderr())
    stdout_task = asyncio.ensure_future(pump_stdout())
    exit_task = asyncio.ensure_future(proc.wait())
    try:
        try:
            proc.stdin.write((_request_json(request) + "\n").encode())
            await proc.stdin.drain()
            proc.stdin.close()
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
        while not stdout_task.done():
            left = run.time_left()
            if left <= 0:
                run.expire()
                _kill_group(proc)
                break
            await asyncio.wait({stdout_task}, timeout=min(left, 0.25))
            # (proc.wait() only returns once the pipes close too; returncode is set at the exit)
            if proc.returncode is not None and not stdout_task.done():
                _kill_group(proc)  # the child is gone; whatever still holds its pipes descends from it
                break
        # what was written before a kill or an exit is still in the pipes: keep it
        await asyncio.wait({stdout_task, stderr_task}, timeout=2.0)
        await asyncio.wait({exit_task}, timeout=END_GRACE_S)
        if not exit_task.done():
            run.killed = run.killed or "after-end"
            _kill_group(proc)
            await exit_task
        return run.finish(exit_task.result())
    finally:
        _kill_group(proc)  # sweep descendants the child left behind
        if not exit_task.done():
            await exit_task
        for task in (stdout_task, stderr_task):
            task.cancel()
        await asyncio.gather(stdout_task, stderr_task, return_exceptions=True)
