"""The fault fixtures compose: lab server → proxy with a fault → raw client sees the effect."""

from __future__ import annotations

from faultproxy.wire.http import HTTPReader
from faultproxy.wire.sse import SSEParser


def _events_through(raw_client, proxy) -> list[str]:
    client = raw_client(proxy.port)
    client.send(b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
    data, _ = client.recv_to_end()
    reader, parser = HTTPReader("response", strict=False), SSEParser()
    reader.expect_response_to(b"GET")
    ids = []
    for event in reader.feed(data) + reader.close():
        payload = getattr(event, "data", None)
        if isinstance(payload, bytes):
            ids += [e.id for e in parser.feed(payload)]
    return ids


def test_sse_drop_removes_exactly_the_indexed_event(lab_sse, make_proxy, raw_client):
    server = lab_sse(events=5, interval=0.001)
    proxy = make_proxy(
        f"http://127.0.0.1:{server.port}", faults=[{"type": "sse_drop", "attributes": {"event_index": 1}}]
    )
    assert _events_through(raw_client, proxy) == ["1", "3", "4", "5"]
    assert [e.event_index for e in proxy.evidence] == [1]
