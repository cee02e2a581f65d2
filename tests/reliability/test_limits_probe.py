"""The issue's measurements, small: a real ``faultproxy proxy`` at a low descriptor limit held by
idle clients, and inputs that never end their head (faultproxy.bench.limits). Healthy clients
get an answer, never a silent EOF; the header timeout ends every held connection and input.

Before the limits (main at 921f82d), at 1,024 descriptors 700 idle clients made 19 of 20 healthy
requests end in an EOF and 1 in a reset, and all 300 inputs stayed open
(docs/reliability.md, "Limits")."""

from __future__ import annotations

import asyncio
import resource

import pytest

from faultproxy.bench.limits import probe, proxy_at_limit

DESCRIPTORS = 256  # the proxy's limit: (256 - 64 kept) / 2 = 96 connections
IDLE = 175  # the 700 idle clients at 1,024 descriptors, scaled


@pytest.fixture(autouse=True)
def descriptors_for_the_clients() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < IDLE + 100:
        pytest.skip(f"this process may open {hard} files, the probe's clients need {IDLE + 100}")
    if soft != resource.RLIM_INFINITY and soft < IDLE + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (IDLE + 100, hard))


def test_idle_clients_at_the_descriptor_limit_leave_healthy_ones_an_answer_and_time_out() -> None:
    figures = asyncio.run(
        probe(DESCRIPTORS, IDLE, healthy_count=10, inputs=60, header_timeout=2.0, progress=lambda line: None)
    )
    report = "\n".join(figures.lines() + figures.proxy_log)
    assert figures.cap == 96, report
    # while 96 idle clients hold the proxy, a healthy request is answered 503 (or served, if
    # the header timeout has freed a place already) — never an EOF or a reset
    assert set(figures.healthy_while_held) <= {"200", "503"}, report
    # every idle client ended: held ones by the header timeout (a 408 for a head begun, a close
    # for one that sent nothing), those over the cap at once (a 503, or dropped on accept)
    assert not [end for end in figures.idle if "open" in end], report
    assert figures.idle["408 (held)"] + figures.idle["eof (held)"] == 96, report
    assert figures.healthy_after == {"200": 10}, report
    # inputs with no blank line: none left open, each a 408, a 4xx for what is no request, or a close
    assert "open" not in figures.inputs and sum(figures.inputs.values()) == 60, report
    assert set(figures.inputs) <= {"408", "400", "414", "431", "505", "eof"}, report


def test_the_descriptor_limit_is_raised_to_the_hard_limit_at_start() -> None:
    async def started() -> list[str]:
        async with proxy_at_limit(512, soft=256) as (_, figures):
            return figures.proxy_log

    log = "".join(asyncio.run(started()))
    assert "224 connections (descriptor limit 512, raised from 256)" in log, log
