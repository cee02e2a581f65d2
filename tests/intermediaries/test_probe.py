"""The probe without nginx: the reference server read directly and through faultproxy's faults.

The probe decodes nothing itself (the capture's decoder and the oracle do), so these check what
it adds -- the reads' times, the send stamps, the end -- and that one path it cannot read is a row
that says so, not the end of the table.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from faultproxy.faults import parse_fault
from faultproxy.intermediaries.probe import CLEAN, CLOSED, CUT, FAILED, Arrival, Reading, probe
from faultproxy.intermediaries.repro import case, measure, same_shape
from faultproxy.proxy.server import Proxy
from faultproxy.servers.sse import ReferenceSSEServer


async def _read(faults: list[dict[str, Any]], **upstream: Any) -> Reading:
    server = ReferenceSSEServer(stamp=True, **{"events": 4, "interval": 0.02, **upstream})
    await server.start()
    try:
        async with Proxy(
            f"http://127.0.0.1:{server.port}", faults=[parse_fault(f, index=i) for i, f in enumerate(faults)]
        ) as proxy:
            return await probe(f"{proxy.url}/events", time_limit=10)
    finally:
        await server.stop()


def test_a_stream_read_whole_with_every_event_against_its_send_stamp():
    reading = asyncio.run(_read([]))
    assert reading.status == 200 and reading.framing == "chunked" and reading.end == CLEAN
    assert [e.id for e in reading.events] == ["1", "2", "3", "4"]
    assert all(e.sent is not None and e.sent <= e.t for e in reading.events)
    assert reading.shape() == "streams" and reading.releases == [1, 2, 3, 4]
    assert reading.t_request <= reading.t_headers <= reading.events[0].t <= reading.t_end


def test_gzip_a_close_delimited_body_and_a_cut_are_read_as_the_oracle_reads_them():
    gzipped = asyncio.run(_read([{"type": "gzip", "attributes": {"flush": "sync"}}]))
    assert gzipped.encoding == "gzip" and len(gzipped.events) == 4 and gzipped.end == CLEAN
    closed = asyncio.run(_read([{"type": "close_delimited"}]))
    assert closed.framing == "close" and len(closed.events) == 4 and closed.end == CLOSED
    cut = asyncio.run(_read([], drop_after=2))
    assert len(cut.events) == 2 and cut.end == CUT and "last chunk" in cut.end_detail


def test_the_nginx_version_comes_from_the_server_header():
    assert Reading("", 0, server="nginx/1.22.1").nginx_version == "1.22.1"
    assert Reading("", 0, server="nginx").nginx_version is None  # server_tokens off
    assert Reading("", 0, server="uvicorn").nginx_version is None


def test_a_path_that_cannot_be_read_is_a_row_that_says_so():
    """The nginx to measure refuses connections: its row says so, and the emulation's row is
    measured all the same (one refused probe used to abort the whole table)."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]

    async def run() -> list:
        c = case("unbuffered")
        server = ReferenceSSEServer(stamp=True, events=3, interval=0.02)
        await server.start()
        try:
            return await measure(
                [c], [("1.22.1", f"http://127.0.0.1:{dead}")], {c.name: f"http://127.0.0.1:{server.port}"}
            )
        finally:
            await server.stop()

    (result,) = asyncio.run(run())
    rows = {row.kind: row.reading for row in result.rows}
    assert rows["nginx"].end == FAILED and rows["nginx"].end_detail == "Connection refused"
    assert rows["emulation"].end == CLEAN and len(rows["emulation"].events) == 3


def _reading(head: float, events: list[tuple[float, float]], end: str, t_end: float) -> Reading:
    """A reading requested at 0: the head at ``head``, events (sent, arrived), the end."""
    return Reading(
        "",
        0.0,
        status=200,
        t_headers=head,
        events=[Arrival(str(k), arrived, sent, k) for k, (sent, arrived) in enumerate(events, start=1)],
        end=end,
        t_end=t_end,
    )


def test_same_also_means_the_head_and_the_end_at_the_same_time():
    """Events released alike are not enough: a head sent at once instead of with the first batch,
    or a timeout cutting at 0.1 s instead of 1.5 s, is what a client with a timeout sees."""
    held = _reading(2.0, [(0.25 * k, 2.0) for k in range(1, 9)], CLEAN, 2.0)
    early_head = _reading(0.01, [(0.25 * k, 2.0) for k in range(1, 9)], CLEAN, 2.0)
    assert same_shape(held, held, 0.25)["same"]
    verdict = same_shape(held, early_head, 0.25)
    assert not verdict["same"] and verdict["detail"] == "head at 8.0 vs 0.0 send intervals"
    cut_late, cut_early = _reading(0.01, [], CUT, 1.517), _reading(0.01, [], CUT, 0.124)
    verdict = same_shape(cut_late, cut_early, 2.0)
    assert not verdict["same"] and verdict["detail"] == "end at 0.8 vs 0.1 send intervals"
    assert same_shape(cut_late, _reading(0.02, [], CUT, 1.6), 2.0)["same"]  # within half an interval
