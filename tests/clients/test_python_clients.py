"""Every Python client against real loopback servers: healthy, clean end, mid-way drop, hang, timeout.

The lab ``SSEServer`` (and, for the SDKs, the OpenAI / Anthropic mocks) is the ground truth:
each transcript's events are compared with what the server sent and each recorded attempt
with the requests the server saw. The per-client outcomes asserted here are *observations*
of the pinned library versions -- the evidence table of how each one behaves -- so a change
in a library shows up as a failing row, not as silence.

All cells of a table run concurrently, once per module (see ``clients_support.run_cells``).
"""

from __future__ import annotations

import importlib.metadata

import pytest
from clients_scenarios import SDK_CLIENTS, SDK_SCENARIOS, SSE_CLIENTS, SSE_SCENARIOS, all_cells
from clients_support import check, run_cells

from faultproxy.clients import registry
from faultproxy.lab.sse_server import SSEServer

RECONNECTING = {"raw", "requests-sse", "aiohttp-sse-client2", "launchdarkly-eventsource"}

# How each client's run ends with the connection cut after event 2 (no reconnect allowed).
DROP_ERRORS = {
    "raw": "faultproxy.network-error",
    "httpx-sse": "httpx.RemoteProtocolError",
    "sseclient-py": "requests.ChunkedEncodingError",
    "requests-sse": "requests.ChunkedEncodingError",
    "aiohttp-sse-client2": "aiohttp.ClientPayloadError",
    "launchdarkly-eventsource": "urllib3.ProtocolError",
    "naive": "requests.ChunkedEncodingError",
}
# ... and when the proxy resets the connection (RST) after event 2: only httpx tells them apart.
RST_ERRORS = {**DROP_ERRORS, "httpx-sse": "httpx.ReadError"}
# The client's own read timeout (0.5 s) on a stream gone silent; raw has none, so it hangs.
TIMEOUT_ERRORS = {
    "httpx-sse": "httpx.ReadTimeout",
    "sseclient-py": "requests.ConnectionError",
    "requests-sse": "requests.ConnectionError",
    "aiohttp-sse-client2": "aiohttp.SocketTimeoutError",
    "launchdarkly-eventsource": "urllib3.ReadTimeoutError",
    "naive": "requests.ConnectionError",
}
# After a clean end with reconnects allowed: the reconnect (Last-Event-ID 3) gets 204 from the server.
CLEAN_END_RECONNECT = {
    "raw": ("completed", None, [(None, 200), ("3", 204)]),  # 204 means stop, as the spec says
    "requests-sse": ("error", "requests_sse.InvalidStatusCodeError", [(None, 200), ("3", 204)]),
    "aiohttp-sse-client2": ("error", "ConnectionAbortedError", [(None, 200), ("3", 204)]),
    # ld-eventsource retries a 204 like any failure, until its budget is spent
    "launchdarkly-eventsource": (
        "error",
        "ld_eventsource.HTTPStatusError",
        [(None, 200), ("3", 204), ("3", 204)],
    ),
    "httpx-sse": ("completed", None, [(None, 200)]),
    "sseclient-py": ("completed", None, [(None, 200)]),
    "naive": ("completed", None, [(None, 200)]),
}
# After a cut with 2 reconnects allowed.
DROP_RECONNECT = {
    "raw": ("completed", None, 5),
    "requests-sse": ("error", "requests_sse.InvalidStatusCodeError", 5),  # resumed, then the 204 is an error
    # resumed, then retried the 204 until the budget was spent
    "launchdarkly-eventsource": ("error", "ld_eventsource.HTTPStatusError", 5),
    "aiohttp-sse-client2": ("error", "aiohttp.ClientPayloadError", 2),  # reconnects only after a clean end
    "httpx-sse": ("error", "httpx.RemoteProtocolError", 2),
    "sseclient-py": ("error", "requests.ChunkedEncodingError", 2),
    "naive": ("error", "requests.ChunkedEncodingError", 2),
}


@pytest.fixture(scope="module")
def sse():
    return run_cells(all_cells(SSE_CLIENTS, SSE_SCENARIOS))


@pytest.fixture(scope="module")
def sdk():
    return run_cells(all_cells(SDK_CLIENTS, SDK_SCENARIOS))


def expected_ids(client: str, ids: list[str]) -> list[str | None]:
    return [None] * len(ids) if client == "naive" else ids  # naive keeps only the data lines


def attempts_match_server(transcript, server: SSEServer) -> None:
    """What the client says it sent == what the server saw (Last-Event-ID and status, in order)."""
    assert [(a.last_event_id, a.status) for a in transcript.attempts] == [
        (r.last_event_id, r.status) for r in server.requests
    ]


def events_match_server(transcript, server: SSEServer, client: str) -> None:
    """Every event the server wrote, once, in order (the lab server's data is unique per id)."""
    sent = [s for s in server.sent]
    assert [e.data for e in transcript.events] == [s.data for s in sent]
    assert [e.id for e in transcript.events] == expected_ids(client, [str(s.id) for s in sent])
    assert all(e.type == "message" for e in transcript.events)
    times = [e.t for e in transcript.events]
    assert times == sorted(times) and all(t >= 0 for t in times)


# -- generic SSE clients -------------------------------------------------------------------------


@pytest.mark.parametrize("client", SSE_CLIENTS)
def test_healthy_stream_every_event_in_order(sse, client):
    transcript, server = check(sse["healthy", client])
    assert transcript.end == "completed", transcript
    assert len(server.sent) == 5
    events_match_server(transcript, server, client)
    attempts_match_server(transcript, server)
    assert transcript.attempts[0].ended == "ended"
    assert (transcript.client, transcript.version) == (client, registry.get(client).version())
    assert transcript.t0_monotonic is not None and transcript.exit_code == 0


@pytest.mark.parametrize("client", SSE_CLIENTS)
def test_clean_end_with_reconnects_allowed(sse, client):
    transcript, server = check(sse["clean_end_reconnect", client])
    end, error_type, attempts = CLEAN_END_RECONNECT[client]
    assert (transcript.end, transcript.error_type) == (end, error_type), transcript
    assert [(a.last_event_id, a.status) for a in transcript.attempts] == attempts
    attempts_match_server(transcript, server)
    events_match_server(transcript, server, client)  # nothing lost, nothing twice
    if client not in RECONNECTING:
        assert any("reconnect policy not applied" in n for n in transcript.notes)


@pytest.mark.parametrize("client", SSE_CLIENTS)
def test_mid_way_drop_without_reconnect(sse, client):
    transcript, server = check(sse["drop", client])
    assert (transcript.end, transcript.error_type) == ("error", DROP_ERRORS[client]), transcript
    events_match_server(transcript, server, client)
    assert len(transcript.events) == 2
    attempts_match_server(transcript, server)
    assert transcript.attempts[0].ended == "error"


@pytest.mark.parametrize("client", SSE_CLIENTS)
def test_mid_way_drop_with_reconnects_allowed(sse, client):
    transcript, server = check(sse["drop_reconnect", client])
    end, error_type, count = DROP_RECONNECT[client]
    assert (transcript.end, transcript.error_type) == (end, error_type), transcript
    assert len(transcript.events) == count
    events_match_server(transcript, server, client)
    attempts_match_server(transcript, server)
    if count == 5:  # resumed after event 2 with Last-Event-ID, events on the second connection
        assert transcript.attempts[1].last_event_id == "2"
        assert [e.connection for e in transcript.events] == [1, 1, 2, 2, 2]


@pytest.mark.parametrize("client", SSE_CLIENTS)
def test_connection_reset_by_the_proxy(sse, client):
    transcript, server = check(sse["drop_proxy_rst", client])
    assert (transcript.end, transcript.error_type) == ("error", RST_ERRORS[client]), transcript
    assert [e.data for e in transcript.events] == [s.data for s in server.sent[:2]]


@pytest.mark.parametrize("client", SSE_CLIENTS)
def test_silent_stream_is_reported_hung_with_the_events_before_it(sse, client):
    transcript, server = check(sse["hang", client])
    assert transcript.end == "hung", transcript
    assert [e.data for e in transcript.events] == server.sent == ['{"n": 1}', '{"n": 2}']
    assert [a.status for a in transcript.attempts] == [200]


@pytest.mark.parametrize("client", SSE_CLIENTS)
def test_the_clients_own_read_timeout(sse, client):
    transcript, server = check(sse["timeout", client])
    if client == "raw":
        assert transcript.end == "hung" and any("timeout_s not applied" in n for n in transcript.notes)
    else:
        assert (transcript.end, transcript.error_type) == ("timeout", TIMEOUT_ERRORS[client]), transcript
    assert [e.data for e in transcript.events] == server.sent


def test_naive_parser_loses_events_split_across_reads():
    """The baseline is wrong on purpose: an event split over two chunks is dropped."""
    import asyncio

    from faultproxy.clients import ClientRequest, arun_client
    from faultproxy.net.stream_server import StreamServer, first_request
    from faultproxy.wire.chunked import encode_chunk, encode_last_chunk
    from faultproxy.wire.http import encode_response

    class SplitServer(StreamServer):
        async def handle(self, reader, writer):
            if await first_request(reader, writer) is None:
                return
            writer.write(
                encode_response(
                    200,
                    "OK",
                    [
                        ("Content-Type", "text/event-stream"),
                        ("Transfer-Encoding", "chunked"),
                        ("Connection", "close"),
                    ],
                )
            )
            for piece in (b"data: one\n\ndata: t", b"wo\n\ndata: three\n\n"):
                writer.write(encode_chunk(piece))
                await writer.drain()
                # separate reads: a margin, not a guarantee. For the two pieces to merge in one read the
                # client must stay off the CPU 250 ms after the first arrived; a woken reader is
                # scheduled within milliseconds even beside CPU hogs (0.05 s was the margin before)
                await asyncio.sleep(0.25)
            writer.write(encode_last_chunk())
            await writer.drain()

    async def main():
        async with SplitServer() as server:
            return await asyncio.gather(
                *(
                    arun_client(name, ClientRequest(server.url, deadline_s=30))
                    for name in ("naive", "httpx-sse")
                )
            )

    naive, httpx_sse = asyncio.run(main())
    assert [e.data for e in httpx_sse.events] == ["one", "two", "three"]
    assert [e.data for e in naive.events] == ["one", "t", "three"]  # "two" mangled: "t" then "wo" ignored


# -- the official SDKs against the mocks -------------------------------------------------------------


def deltas(transcript) -> str:
    return "".join(e.data for e in transcript.events if e.type == "delta")


FINISH = {"openai": "stop", "openai-responses": "completed", "anthropic": "end_turn"}
STREAM_ERRORS = {
    "openai": "openai.APIError",
    "openai-responses": "openai.APIError",
    "anthropic": "anthropic.APIStatusError",
}
DROP_SDK_ERRORS = {
    "openai": "openai.APIConnectionError",
    "openai-responses": "openai.APIConnectionError",
    "anthropic": "httpx2.RemoteProtocolError",
}


@pytest.mark.parametrize("client", SDK_CLIENTS)
def test_sdk_healthy_stream(sdk, client):
    transcript, server = check(sdk["healthy", client])
    exchange = server.responses[-1]
    assert transcript.end == "completed", transcript
    assert deltas(transcript) == exchange.sent_text == exchange.text
    finishes = [e.data for e in transcript.events if e.type == "finish"]
    assert finishes == [FINISH[client]] == [exchange.finish_reason]
    if client == "anthropic":
        assert transcript.events[-1].type == "stop"  # message_stop
    assert [(a.status, a.ended) for a in transcript.attempts] == [(200, "ended")]
    dist = "anthropic" if client == "anthropic" else "openai"
    assert transcript.version == importlib.metadata.version(dist)


@pytest.mark.parametrize("client", SDK_CLIENTS)
def test_sdk_in_stream_error_event(sdk, client):
    transcript, server = check(sdk["stream_error", client])
    exchange = server.responses[-1]
    assert (transcript.end, transcript.error_type) == ("error", STREAM_ERRORS[client]), transcript
    assert deltas(transcript) == exchange.sent_text and len(transcript.events) == 2
    assert not any(e.type == "finish" for e in transcript.events)


@pytest.mark.parametrize("client", SDK_CLIENTS)
def test_sdk_mid_way_drop(sdk, client):
    transcript, server = check(sdk["drop", client])
    exchange = server.responses[-1]
    assert (transcript.end, transcript.error_type) == ("error", DROP_SDK_ERRORS[client]), transcript
    received = deltas(transcript)
    assert exchange.sent_text.startswith(received) and received != exchange.text
    assert len(server.responses) == 1  # a broken stream is never retried
    assert transcript.attempts[-1].ended == "error"


@pytest.mark.parametrize("client", SDK_CLIENTS)
def test_sdk_retries_a_429_before_the_stream_and_records_both_attempts(sdk, client):
    transcript, server = check(sdk["retry_429", client])
    assert transcript.end == "completed", transcript
    assert [a.status for a in transcript.attempts] == [429, 200]
    assert [x.retry_count for x in server.responses] == [0, 1]
    assert deltas(transcript) == server.responses[-1].sent_text


@pytest.mark.parametrize("client", SDK_CLIENTS)
def test_sdk_stalled_stream_is_hung_with_the_first_delta_kept(sdk, client):
    transcript, server = check(sdk["hang", client])
    assert transcript.end == "hung", transcript
    received = deltas(transcript)
    assert received and received == server.responses[-1].sent_text
