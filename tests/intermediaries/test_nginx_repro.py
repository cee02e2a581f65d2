"""The nginx reproduction against real nginx (Debian's, on loopback), and the emulation beside it.

One run measures every case at once (about 5 s): each route through real nginx and through
faultproxy with the case's emulating faults, all streams concurrently. Every assertion is about
the *shape* of the arrival relative to the server's own send times in that run -- which send let
each event out -- never a fixed number of milliseconds. The margin: events are sent 250 ms
apart, and a "streaming" event may be late by up to one more interval before it counts as held.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from faultproxy.bench.peers import NginxPeer
from faultproxy.intermediaries import nginx
from faultproxy.intermediaries.probe import CLEAN, CLOSED, CUT
from faultproxy.intermediaries.repro import CASES, IDLE, READ_TIMEOUT_MS, run_native

NGINX = NginxPeer()
pytestmark = pytest.mark.skipif(NGINX.available() is not None, reason=str(NGINX.available()))
FAULTPROXY = Path(sys.executable).with_name("faultproxy")


@pytest.fixture(scope="module")
def report() -> dict:
    return asyncio.run(asyncio.wait_for(run_native(), 60))


def rows(report: dict, case: str) -> dict[str, dict]:
    """The case's rows by kind: ``nginx`` and ``emulation`` (one each natively)."""
    found = next(c for c in report["cases"] if c["case"] == case)
    return {r["kind"]: r for r in found["rows"]}


def streams(row: dict) -> bool:
    """Every event arrived before the send after next: none waited for a batch."""
    return row["events"] > 0 and all(release - k <= 1 for k, release in enumerate(row["releases"], start=1))


def held_to_the_end(row: dict) -> bool:
    n = row["events"]
    return n > 1 and row["releases"] == [n] * n


def hop(report: dict) -> str:
    return report["nginx"][0]["upstream_hop"]


def test_the_defaults_hold_small_events_until_the_stream_ends(report):
    real = rows(report, "defaults")["nginx"]
    if hop(report) == "HTTP/1.1":
        pytest.skip(f"nginx {report['nginx'][0]['version']} speaks HTTP/1.1 upstream by default: it streams")
    assert real["events"] == 8 and held_to_the_end(real) and real["end"] == CLEAN
    assert real["events_per_read_max"] == 8  # one read with every event


def test_the_defaults_let_1k_events_out_four_at_a_time(report):
    real = rows(report, "defaults-1k")["nginx"]
    if hop(report) == "HTTP/1.1":
        pytest.skip("a chunked upstream streams through nginx's new defaults")
    releases = real["releases"]
    assert real["events"] == 12 and real["end"] == CLEAN
    assert releases[0] >= 4  # the first event waited for the 4th send (a 4 KiB page)
    assert not held_to_the_end(real) and len(set(releases)) >= 3  # pages went out before the end
    assert max(real["batches"]) <= 5


@pytest.mark.parametrize("case", ["x-accel", "unbuffered", "http11", "gzip-unbuffered", "tutorial"])
def test_the_fixes_deliver_each_event_when_it_is_sent(report, case):
    real = rows(report, case)["nginx"]
    assert real["events"] == 8 and streams(real), real["releases"]


def test_gzip_holds_everything_to_the_end_and_streams_without_buffering(report):
    held, fixed = rows(report, "gzip")["nginx"], rows(report, "gzip-unbuffered")["nginx"]
    assert held["encoding"] == fixed["encoding"] == "gzip"
    assert held_to_the_end(held) and streams(fixed)


def test_a_short_read_timeout_cuts_an_idle_stream_and_keepalive_comments_save_it(report):
    cut, saved = rows(report, "read-timeout")["nginx"], rows(report, "keep-alive")["nginx"]
    assert cut["end"] == CUT and cut["events"] == 0
    # cut before the first event was due: the route allows 1.5 s of silence, the server waits 2 s
    assert cut["ended_after_ms"] < IDLE["interval"] * 1000
    assert any(
        "upstream timed out" in line and "/read-timeout/" in line for line in report["nginx"][0]["errors"]
    )
    assert saved["end"] == CLEAN and saved["events"] == IDLE["events"]
    route = (nginx.ROUTES_DIR / "short-timeout.conf").read_text()
    assert f"proxy_read_timeout {READ_TIMEOUT_MS}ms;" in route  # what the read_timeout emulation is given


def test_the_tutorial_block_sends_a_close_delimited_body(report):
    real = rows(report, "tutorial")["nginx"]
    assert real["framing"] == "close" and real["end"] == CLOSED


def test_an_upstream_that_dies_is_hidden_by_the_old_hop_and_passed_on_by_the_new(report):
    """The upstream dies after 3 events. Over HTTP/1.0 its body was close-delimited, so nginx takes
    the close for the end and ends the client's body cleanly; over HTTP/1.1 it cuts it too. The
    emulation of each hop does the same."""
    real, emulated = rows(report, "upstream-cut")["nginx"], rows(report, "upstream-cut")["emulation"]
    assert real["events"] == emulated["events"] == 3
    assert real["end"] == emulated["end"] == (CLEAN if hop(report) == "HTTP/1.0" else CUT)


def test_the_emulation_arrives_like_real_nginx(report):
    """Each case's faults in faultproxy against real nginx, in the same run: the same events, the
    same kind of end, and every event let out by the same send give or take one."""
    compared = [(c["case"], m) for c in report["cases"] for m in c["emulation_matches"]]
    assert {case for case, _ in compared} == {c.name for c in CASES if c.emulation is not None}
    assert all(m["same"] for _, m in compared), [(case, m["detail"]) for case, m in compared if not m["same"]]
    emulated = rows(report, "defaults-1k")["emulation"]
    assert emulated["path"] == (
        "faultproxy: buffer nginx-http10 + upstream_http10"
        if hop(report) == "HTTP/1.0"
        else "faultproxy: buffer nginx-http11"
    )


def test_every_case_has_the_shape_its_route_is_about(report):
    for case in CASES:
        real = rows(report, case.name)["nginx"]
        expected = case.expected_shape(hop(report))
        shape = (
            "cut"
            if real["end"] == CUT
            else "held to the end"
            if held_to_the_end(real)
            else "streams"
            if streams(real)
            else "batches"
        )
        assert shape == expected, (case.name, real["releases"], real["end"])
        assert real["end"] == case.expected_end(hop(report)), case.name


def test_repro_nginx_on_the_command_line(tmp_path):
    done = subprocess.run(
        [str(FAULTPROXY), "repro", "nginx", "--json", "--case", "unbuffered", "--no-emulation"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert [c["case"] for c in out["cases"]] == ["unbuffered"] and out["nginx"][0][
        "version"
    ] == NGINX.version()
    assert [r["kind"] for r in out["cases"][0]["rows"]] == ["nginx"]
    table = subprocess.run(
        [str(FAULTPROXY), "repro", "nginx", "--case", "x-accel"], capture_output=True, text=True, timeout=60
    )
    emulation = "≈ upstream_http10" if nginx.upstream_hop(NGINX.version()) == "HTTP/1.0" else "≈ no fault"
    assert table.returncode == 0 and emulation in table.stdout and "same" in table.stdout
    bad = subprocess.run(
        [str(FAULTPROXY), "repro", "nginx", "--case", "nope"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "the cases are: defaults" in bad.stderr
    missing = subprocess.run(
        [str(FAULTPROXY), "repro", "nginx", "--nginx", str(tmp_path / "nginx")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and missing.stderr.strip().splitlines()[
        -1
    ] == (  # bad input, as everywhere
        f"Error: cannot start nginx: {tmp_path / 'nginx'} is not an executable nginx"
    )
    for target in ("nginx-old:8080", "1.28=ftp://x", "old=http://x:1"):
        probe = subprocess.run(
            [str(FAULTPROXY), "repro", "probe", "--upstream", "x", "--nginx", target],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert probe.returncode == 2 and "expected VERSION=http://HOST:PORT" in probe.stderr


@pytest.fixture(scope="module")
def elsewhere():
    """An upstream for the ``unbuffered`` case and an nginx in front of it, already running on
    their own loop (as the compose file's containers are): ``(upstream port, nginx URL)``."""
    from proxy_harness import LoopThread

    from faultproxy.intermediaries.repro import case, serve_upstreams

    loop = LoopThread("elsewhere")
    (server,) = loop.call(serve_upstreams([case("unbuffered")]))
    peer = nginx.start([nginx.Location("/unbuffered/", "unbuffered", f"127.0.0.1:{server.port}")])
    yield server.port, f"http://127.0.0.1:{peer.port}"
    peer.stop()
    loop.call(server.stop())
    loop.stop()


def test_the_compose_probe_measures_nginx_started_elsewhere(elsewhere):
    """``repro probe``'s half: upstreams and nginx already running, waited for."""
    from faultproxy.intermediaries.repro import case, run_external

    port, url = elsewhere
    version = NGINX.version()
    out = asyncio.run(
        asyncio.wait_for(
            run_external(
                [case("unbuffered")], [(version, url)], {"unbuffered": f"http://127.0.0.1:{port}"}, wait=10
            ),
            60,
        )
    )
    assert out["nginx"] == [
        {
            "version": version,
            "url": url,
            "upstream_hop": nginx.upstream_hop(version),
            "server": [f"nginx/{version}"],
            "label_problem": None,
        }
    ]
    (row,) = [r for r in out["cases"][0]["rows"] if r["kind"] == "nginx"]
    assert row["path"] == f"nginx {version}" and row["server"] == f"nginx/{version}" and streams(row)
    assert out["cases"][0]["emulation_matches"][0]["same"]


def test_an_nginx_labelled_with_another_version_is_caught(elsewhere):
    """``--nginx 1.30.3=URL`` for a URL where another nginx answers: its Server header says which
    it is, and the probe says the comparisons were chosen for the wrong upstream hop."""
    from faultproxy.intermediaries.repro import CASES

    port, url = elsewhere
    version = NGINX.version()
    wrong = "1.30.3" if version != "1.30.3" else "1.22.1"
    base = port - [c.name for c in CASES].index("unbuffered")
    done = subprocess.run(
        [
            str(FAULTPROXY),
            "repro",
            "probe",
            "--upstream",
            "127.0.0.1",
            "--base-port",
            str(base),
            "--nginx",
            f"{wrong}={url}",
            "--case",
            "unbuffered",
            "--no-emulation",
            "--wait",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert f"labelled {wrong} but says it is nginx {version} (Server header)" in done.stdout
    assert done.stderr.strip() == (
        f"Error: --nginx {wrong}={url}: labelled {wrong} but says it is nginx {version} "
        f"(Server header): its upstream hop is {nginx.upstream_hop(version)}, "
        f"the comparisons assumed {nginx.upstream_hop(wrong)}"
    )


def test_routes_are_checked_and_the_hop_follows_the_version():
    assert "defaults" in nginx.routes() and "tutorial" in nginx.routes()
    with pytest.raises(ValueError, match="the routes are: "):
        nginx.check_route("../etc/passwd")
    assert nginx.upstream_hop("1.22.1") == nginx.upstream_hop("1.29.6") == "HTTP/1.0"
    assert nginx.upstream_hop("1.29.7") == nginx.upstream_hop("1.30.3") == "HTTP/1.1"
