"""One benchmark run: the worker, then each phase for each target, each proxy a fresh process.

Processes during a run (2 cores):

- this one: starts and stops everything; during throughput it is also the reading client;
- the worker (:mod:`faultproxy.bench.worker`): the upstream, and the latency and idle clients;
- the proxy under test, started anew for every phase so that one phase's heap does not
  become the next one's baseline.
"""

from __future__ import annotations

import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from faultproxy.bench import CAPTURE_TARGETS, FAULT_TARGETS, PHASES, TARGETS
from faultproxy.bench.load import hist_percentile, read_stream
from faultproxy.bench.peers import CPUWatch, Peer, PeerError, make_peer, rss_kib
from faultproxy.bench.tls import BenchTLS
from faultproxy.bench.upstream import BLOCK_SIZE, throughput_block
from faultproxy.bench.worker import raise_fd_limit
from faultproxy.provenance import event_loop, revision

MiB = 1 << 20


@dataclass
class Config:
    throughput_bytes: int = 1 << 30
    reps: int = 3
    rep_time_limit: float = 10.0  # a slower proxy is measured on what it relayed in this time
    target_time_budget: float = 30.0  # no more repetitions for a target once this is spent
    latency_streams: int = 1000
    latency_seconds: float = 10.0
    latency_rounds: int = 2  # each target this many times, interleaved; the samples are pooled
    rate: float = 20.0
    event_size: int = 200
    idle_streams: int = 5000
    idle_interval: float = 5.0
    setup_timeout: float = 90.0  # to open all streams of a latency or concurrency phase
    phases: tuple[str, ...] = PHASES
    targets: tuple[str, ...] = TARGETS
    quick: bool = False
    nginx: str | None = None
    mitmdump: str | None = None
    nginx_buffer: int | None = None  # nginx's proxy_buffer_size; None keeps its default
    wait_quiet: float = 0.0  # before each measurement, wait up to this long for other processes to calm down
    quiet_below: float = 20.0  # "calm": other processes use less than this % of one core
    noisy_above: float = 50.0  # with wait_quiet: a measurement during which others used more is done again…
    noisy_retries: int = 2  # …at most this many times
    tls: bool = False  # every hop over TLS: the load to the proxy, the proxy to the upstream

    @classmethod
    def quick_defaults(cls, **overrides: object) -> Config:
        base = dict(
            throughput_bytes=64 * MiB,
            latency_streams=100,
            latency_seconds=3.0,
            latency_rounds=1,
            idle_streams=500,
            idle_interval=1.0,
            rep_time_limit=5.0,
            target_time_budget=12.0,
            quick=True,
        )
        base.update(overrides)
        return cls(**base)


class WorkerError(RuntimeError):
    pass


class Worker:
    """The worker process and its JSON-lines conversation."""

    def __init__(self, tls: BenchTLS | None = None) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "faultproxy.bench.worker",
                *(["--tls", str(tls.directory)] if tls else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            text=True,
            bufsize=1,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        hello = self._next(30.0)
        self.port: int = hello["port"]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _next(self, timeout: float) -> dict:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise WorkerError(f"the bench worker did not answer within {timeout:g}s") from None
        if line is None:
            raise WorkerError(f"the bench worker exited ({self.proc.poll()})")
        return json.loads(line)

    def call(self, wait: float, **cmd: object) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        answer = self._next(wait)
        if "error" in answer:
            raise WorkerError(f"{cmd.get('cmd')}: {answer['error']}")
        return answer

    @property
    def pid(self) -> int:
        return self.proc.pid

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.call(10.0, cmd="quit")
            except (WorkerError, OSError, ValueError):
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


class Run:
    def __init__(self, config: Config, say: Callable[[str], None]):
        self.config = config
        self.say = say
        self.results: dict = {"throughput": {}, "latency": {}, "concurrency": {}}
        self.errors: list[str] = []
        self.targets: dict[str, dict] = {}
        self.t0 = time.monotonic()
        self._tls_dir = tempfile.TemporaryDirectory(prefix="faultproxy-bench-tls-") if config.tls else None
        self.tls = BenchTLS.create(self._tls_dir.name) if self._tls_dir is not None else None
        self.client_tls = self.tls.client_context() if self.tls is not None else None

    # -- the whole run --------------------------------------------------------------------------

    def execute(self) -> dict:
        cfg = self.config
        fds = raise_fd_limit()  # the proxies inherit it; nginx sets its own
        peers: dict[str, Peer] = {}
        for name in cfg.targets:
            peer = make_peer(
                name, nginx=cfg.nginx, mitmdump=cfg.mitmdump, nginx_buffer=cfg.nginx_buffer, tls=self.tls
            )
            why = peer.available()
            if why:
                self.targets[name] = {"available": False, "reason": why}
                self.say(f"{name}: skipped, {why}")
                continue
            try:
                version = peer.version()
            except (OSError, subprocess.SubprocessError) as error:
                version = f"? ({error})"
            self.targets[name] = {"available": True, "version": version}
            if name == "nginx":
                self.targets[name]["proxy_buffer_size"] = cfg.nginx_buffer or "default"
            peers[name] = peer
        self.say(
            "targets: "
            + ", ".join(
                f"{n} {t.get('version', '')}".strip() for n, t in self.targets.items() if t["available"]
            )
        )
        worker = Worker(self.tls)
        self.say(
            f"upstream (bench worker, pid {worker.pid}) on 127.0.0.1:{worker.port}"
            + (", every hop over TLS" if self.tls else "")
        )
        try:
            for phase in cfg.phases:
                rounds = cfg.latency_rounds if phase == "latency" else 1
                for round_ in range(rounds):
                    for name, peer in peers.items():
                        if phase == "concurrency" and (name == "direct" or name in FAULT_TARGETS):
                            continue  # no proxy process to measure; faults do not change idle memory
                        if phase != "throughput" and name in CAPTURE_TARGETS:
                            continue  # the capture's cost is measured on the one large stream
                        if "error" in self.results[phase].get(name, {}):
                            continue
                        try:
                            getattr(self, f"_{phase}")(worker, peer, round_)
                        except (PeerError, WorkerError, OSError) as error:
                            message = f"{phase} {name}: {error}"
                            self.errors.append(message)
                            self.results[phase][name] = {"error": str(error)}
                            self.say("ERROR " + message)
                        finally:
                            peer.stop()
                if phase == "latency":
                    self._latency_pool()
        finally:
            worker.close()
            if self._tls_dir is not None:
                self._tls_dir.cleanup()
        return {
            "version": 1,
            "machine": machine_notes(fds),
            "config": {k: v for k, v in asdict(cfg).items() if k not in ("nginx", "mitmdump")},
            "targets": self.targets,
            **{phase: self.results[phase] for phase in cfg.phases},
            "errors": self.errors,
            "seconds": round(time.monotonic() - self.t0, 1),
        }

    def _start(self, worker: Worker, peer: Peer) -> int:
        port = peer.start(worker.port)
        if peer.pid is not None:
            self.say(f"  {peer.name} started (pid {peer.pid}) on 127.0.0.1:{port}")
        return port

    @staticmethod
    def _watch(worker: Worker, peer: Peer) -> CPUWatch:
        """CPU of the proxy, the worker (upstream, asyncio clients), this process, and the rest."""
        return CPUWatch({"proxy": peer.pid, "worker": worker.pid, "bench": os.getpid()})

    def _settle(self, worker: Worker, peer: Peer) -> None:
        """With ``wait_quiet``, wait until the rest of the machine leaves the cores to us."""
        cfg = self.config
        if cfg.wait_quiet <= 0:
            return
        deadline = time.monotonic() + cfg.wait_quiet
        told = False
        while True:
            watch = self._watch(worker, peer)
            time.sleep(0.5)
            other = watch.stop()["other"]
            if other < cfg.quiet_below:
                return
            if time.monotonic() > deadline:
                self.say(f"  other processes still use {other:.0f}% of a core; measuring anyway")
                return
            if not told:
                self.say(
                    f"  waiting for the machine to calm down: other processes use {other:.0f}% of a core"
                )
                told = True

    def _noisy(self, cpu: dict, attempt: int, got: str) -> bool:
        """With ``wait_quiet``: whether other processes disturbed a measurement so that it is done again."""
        cfg = self.config
        if cfg.wait_quiet <= 0 or cpu["other"] <= cfg.noisy_above or attempt >= cfg.noisy_retries:
            return False
        self.say(
            f"  ({got}, but other processes used {cpu['other']:.0f}% of a core meanwhile: measuring again)"
        )
        return True

    # -- phases -----------------------------------------------------------------------------------

    def _throughput(self, worker: Worker, peer: Peer, round_: int) -> None:
        cfg = self.config
        _, block_payload = throughput_block()
        blocks = max(1, -(-cfg.throughput_bytes // BLOCK_SIZE))
        self.say(f"throughput: {peer.name}, {blocks} MiB of ~1 KiB SSE events, up to {cfg.reps} runs")
        port = self._start(worker, peer)
        warm = read_stream(port, "/throughput?blocks=4", time_limit=10.0, tls=self.client_tls)
        if warm.status != 200 or not warm.complete:
            raise PeerError(f"warm-up stream failed (status {warm.status}, complete={warm.complete})")
        reps = []
        spent = 0.0
        for rep in range(cfg.reps):
            attempt = 0
            while True:
                self._settle(worker, peer)
                watch = self._watch(worker, peer)
                written = peer.capture_bytes()
                got = read_stream(
                    port, f"/throughput?blocks={blocks}", time_limit=cfg.rep_time_limit, tls=self.client_tls
                )
                cpu = watch.stop()
                if got.status != 200:
                    raise PeerError(f"status {got.status}")
                spent += got.seconds
                if not self._noisy(cpu, attempt, f"{got.mb_s:,.0f} MB/s"):
                    break
                attempt += 1
            entry = {
                "mb_s": round(got.mb_s, 1),
                "bytes": got.bytes,
                "seconds": round(got.seconds, 3),
                "complete": got.complete,
                "cpu_pct": cpu,
                "noisy_retries": attempt,
            }
            if written is not None:  # the capture file's growth over the stream, per byte streamed
                entry["capture_per_byte"] = round((peer.capture_bytes() - written) / max(got.bytes, 1), 2)
            reps.append(entry)
            note = "" if got.complete else f" (stopped after {cfg.rep_time_limit:g}s)"
            self.say(
                f"  run {rep + 1}: {got.mb_s:,.0f} MB/s, {got.bytes / MiB:,.0f} MiB in {got.seconds:.2f}s{note}"
            )
            if spent > cfg.target_time_budget and rep + 1 < cfg.reps:
                self.say(f"  {spent:.0f}s spent on {peer.name}: no more runs")
                break
        rates = [r["mb_s"] for r in reps]
        self.results["throughput"][peer.name] = {
            "mb_s": round(_median(rates), 1),
            "best_mb_s": max(rates),
            "runs": reps,
            "payload_fraction": round(block_payload / len(throughput_block()[0]), 4),
        }
        if all("capture_per_byte" in r for r in reps):
            self.results["throughput"][peer.name]["capture_per_byte"] = _median(
                [r["capture_per_byte"] for r in reps]
            )

    def _latency(self, worker: Worker, peer: Peer, round_: int) -> None:
        cfg = self.config
        of = f", round {round_ + 1} of {cfg.latency_rounds}" if cfg.latency_rounds > 1 else ""
        self.say(
            f"latency: {peer.name}, {cfg.latency_streams} streams x {cfg.rate:g} events/s x "
            f"{cfg.latency_seconds:g}s{of}"
        )
        attempt = 0
        while True:
            port = self._start(worker, peer)
            self._settle(worker, peer)
            watch = self._watch(worker, peer)
            result = worker.call(
                cfg.setup_timeout + cfg.latency_seconds + 60,
                cmd="latency",
                port=port,
                streams=cfg.latency_streams,
                seconds=cfg.latency_seconds,
                rate=cfg.rate,
                event_size=cfg.event_size,
                timeout=cfg.setup_timeout,
            )
            result["cpu_pct"] = watch.stop()
            if peer.pid:
                result["proxy_rss_kib"] = rss_kib(peer.pid)
            if not self._noisy(result["cpu_pct"], attempt, f"p99 {result['p99_ms']:.2f} ms"):
                break
            attempt += 1
            peer.stop()  # a fresh process for the next try, as for the first
        result["noisy_retries"] = attempt
        self.results["latency"].setdefault(peer.name, {"rounds": []})["rounds"].append(result)
        lost = result["expected"] - result["events"]
        self.say(
            f"  p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, max {result['max_ms']:.1f} ms; "
            f"{result['events']:,} events ({result['ready']} streams ready in {result['setup_s']:.1f}s"
            + (f", {lost:,} events missing" if lost else "")
            + (", TIMED OUT" if result["timed_out"] else "")
            + ")"
        )
        if result["ready"] < cfg.latency_streams:
            raise PeerError(f"only {result['ready']} of {cfg.latency_streams} paced streams opened")

    def _latency_pool(self) -> None:
        """All rounds of a target as one distribution: the samples of every round, pooled."""
        for entry in self.results["latency"].values():
            rounds = entry.get("rounds")
            if not rounds or "error" in entry:
                continue
            hist: dict[int, int] = {}
            for result in rounds:
                for k, count in result.pop("hist").items():
                    hist[int(k)] = hist.get(int(k), 0) + count
            cpu = {
                key: round(statistics.mean(r["cpu_pct"].get(key, 0.0) for r in rounds), 1)
                for key in rounds[0]["cpu_pct"]
            }
            ms = 1e6
            entry.update(
                {
                    "streams": rounds[0]["streams"],
                    "events": sum(r["events"] for r in rounds),
                    "expected": sum(r["expected"] for r in rounds),
                    "p50_ms": round(hist_percentile(hist, 0.50) / ms, 3),
                    "p90_ms": round(hist_percentile(hist, 0.90) / ms, 3),
                    "p99_ms": round(hist_percentile(hist, 0.99) / ms, 3),
                    "p999_ms": round(hist_percentile(hist, 0.999) / ms, 3),
                    "max_ms": round(max(r["max_ms"] for r in rounds), 3),
                    "round_p99_ms": [round(r["p99_ms"], 3) for r in rounds],
                    "cpu_pct": cpu,
                }
            )

    def _concurrency(self, worker: Worker, peer: Peer, round_: int) -> None:
        cfg = self.config
        n = cfg.idle_streams
        self.say(f"concurrency: {peer.name}, {n} idle SSE streams (keep-alive every {cfg.idle_interval:g}s)")
        self._start(worker, peer)
        # a proxy that has served some streams, none open: its steady idle state
        worker.call(60, cmd="idle_open", port=peer.port, streams=20, interval=cfg.idle_interval, timeout=30)
        worker.call(30, cmd="idle_close")
        time.sleep(0.5)
        self._settle(worker, peer)
        before = rss_kib(peer.pid)
        opened = worker.call(
            cfg.setup_timeout + 30,
            cmd="idle_open",
            port=peer.port,
            streams=n,
            interval=cfg.idle_interval,
            timeout=cfg.setup_timeout,
        )
        self.say(
            f"  {opened['opened']:,} of {n:,} open in {opened['open_s']:.1f}s; waiting one keep-alive round"
        )
        time.sleep(cfg.idle_interval + 1.0)
        status = worker.call(30, cmd="idle_status")
        with_streams = rss_kib(peer.pid)
        worker.call(60, cmd="idle_close")
        per_stream = (with_streams - before) / max(1, opened["opened"])
        self.results["concurrency"][peer.name] = {
            "streams": n,
            "opened": opened["opened"],
            "alive": status["alive"],
            "keep_alives": status["keep_alives"],
            "open_s": opened["open_s"],
            "rss_before_kib": before,
            "rss_with_kib": with_streams,
            "per_stream_kib": round(per_stream, 2),
        }
        self.say(
            f"  RSS {before / 1024:.1f} MiB -> {with_streams / 1024:.1f} MiB: {per_stream:.2f} KiB per stream"
            f" ({status['alive']:,} alive, {status['keep_alives']:,} keep-alives relayed)"
        )
        if opened["opened"] < n:
            raise PeerError(f"only {opened['opened']} of {n} idle streams opened")


def machine_notes(fds: int) -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo") as info:
            model = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), ""
            )
    except OSError:
        pass
    return {
        "faultproxy_revision": revision(),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "loop": event_loop(),
        "kernel": platform.release(),
        "fd_limit": fds,
        "shared": "upstream, load client and proxy share these cores",
    }
