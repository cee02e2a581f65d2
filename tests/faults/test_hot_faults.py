"""Faults added and removed while a stream is flowing take effect on that live stream."""

from __future__ import annotations

import httpx

from faultproxy.wire.sse import SSEParser


def test_a_fault_added_then_removed_mid_stream_acts_only_in_between(lab_sse, make_proxy):
    server = lab_sse(events=12, interval=0.2)
    proxy = make_proxy(f"http://127.0.0.1:{server.port}")
    ids: list[str] = []
    handle = None
    parser = SSEParser()
    with httpx.stream("GET", f"{proxy.url}/events", timeout=30) as response:
        for chunk in response.iter_raw():
            for event in parser.feed(chunk):
                ids.append(event.id)
                if event.id == "3" and handle is None:
                    handle = proxy.add_fault("sse_duplicate", {})  # every event twice, from now on
                elif event.id == "7" and handle is not None and proxy.faults.get(handle.name):
                    handle.remove()
    assert ids[:3] == ["1", "2", "3"]  # before the fault: untouched
    assert [i for n, i in enumerate(ids) if n == 0 or ids[n - 1] != i] == [str(n) for n in range(1, 13)]
    doubled = sorted({i for i in ids if ids.count(i) == 2}, key=int)
    assert doubled[0] == "4" and "6" in doubled  # the live stream picked the fault up at its next event
    assert all(ids.count(str(n)) == 1 for n in range(9, 13))  # and dropped it once it was removed
    # a fault that joins a body midway counts events from where it joined (the 4th event is its #0)
    fired = [e.event_index for e in proxy.evidence if e.fault_type == "sse_duplicate"]
    assert fired[0] == 0 and len(fired) == len(doubled)
