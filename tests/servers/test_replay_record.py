"""Record real traffic through the proxy, replay it byte for byte with its timing shape, never keep secrets.

Timing is checked only as shape: the replay's writes never come before their recorded
offset scaled by the speed, and a slower replay takes longer than a faster one. There is
no upper bound on any wall-clock time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from faultproxy.faults import parse_fault
from faultproxy.lab.sse_client import NETWORK_ERROR, NO_CONTENT, listen
from faultproxy.net.stream_server import StreamServer, first_request
from faultproxy.redact import redact_target
from faultproxy.servers.record import Recorder
from faultproxy.servers.replay import ReplayError, ReplayServer, load_capture, load_raw, load_recordings
from faultproxy.servers.sse import ReferenceSSEServer
from faultproxy.wire.http import encode_response

GUARD = 20.0  # seconds: a hang guard, never a measurement
SECRETS = ("sk-secret", "sk-xapi-secret", "cookie-secret-value", "sk-query-secret")


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, GUARD))


async def fetch(url: str, *headers: str, method: str = "GET") -> tuple[bytes, list[tuple[float, int]]]:
    """One request on a raw socket; every byte of the answer until EOF, and when each read came."""
    rest = url.removeprefix("http://")
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = f"{method} /{path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\n"
    writer.write((head + "".join(h + "\r\n" for h in headers) + "\r\n").encode())
    await writer.drain()
    data, reads = b"", []
    try:
        while piece := await reader.read(65536):
            data += piece
            reads.append((time.monotonic(), len(piece)))
    except ConnectionResetError:
        reads.append((time.monotonic(), -1))  # reset: marked, not hidden
    writer.close()
    return data, reads


async def wait_for_files(recorder: Recorder, count: int) -> None:
    for _ in range(2000):  # bounded
        if len(recorder.written) >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"only {recorder.written} written")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> dict:
    """A real lab-server stream (6 events, 30 ms apart) fetched through `record`, and the resume's 204."""
    out = tmp_path_factory.mktemp("recorded")

    async def scenario():
        async with ReferenceSSEServer(events=6, interval=0.03, retry=50) as srv:
            async with Recorder(f"http://127.0.0.1:{srv.port}", out) as recorder:
                original, reads = await fetch(recorder.url + "/events", "Authorization: Bearer sk-secret")
                ended, _ = await fetch(
                    recorder.url + "/events?api_key=sk-query-secret",
                    "Last-Event-ID: 6",
                    "x-api-key: sk-xapi-secret",
                    "Cookie: session=cookie-secret-value",
                )
                await wait_for_files(recorder, 4)
        return original, ended, [Path(p) for p in recorder.written]

    original, ended, written = run(scenario())
    return {"dir": out, "original": original, "ended": ended, "written": written}


# -- record ---------------------------------------------------------------------------------------


def test_record_writes_each_exchange_as_a_capture_and_raw_bytes(recorded):
    names = sorted(p.name for p in recorded["dir"].iterdir())
    assert names == [
        "001-GET-events.http",
        "001-GET-events.jsonl",
        "002-GET-events.http",
        "002-GET-events.jsonl",
    ]
    assert (recorded["dir"] / "001-GET-events.http").read_bytes() == recorded["original"]
    assert (recorded["dir"] / "002-GET-events.http").read_bytes() == recorded["ended"]
    assert recorded["ended"].startswith(b"HTTP/1.1 204 No Content\r\n")
    lines = (recorded["dir"] / "001-GET-events.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert records[0]["type"] == "meta"
    assert records[0]["recorded"] == {"conn": 1, "exchange": 1, "complete": True}
    assert [r["event"]["id"] for r in records if r["type"] == "event"] == ["1", "2", "3", "4", "5", "6"]
    response = b"".join(
        base64.b64decode(r["b64"]) for r in records if r.get("dir") == "response" and "b64" in r
    )
    assert response == recorded["original"]


def test_nothing_recorded_holds_a_secret(recorded):
    for path in recorded["dir"].iterdir():
        text = path.read_bytes()
        decoded = (
            b"".join(base64.b64decode(r["b64"]) for r in map(json.loads, text.splitlines()) if "b64" in r)
            if path.suffix == ".jsonl"
            else b""
        )
        for secret in SECRETS:
            assert secret.encode() not in text + decoded, (secret, path.name)
    heads = [json.loads(line) for line in (recorded["dir"] / "002-GET-events.jsonl").read_text().splitlines()]
    request = next(r for r in heads if r["type"] == "head" and r["dir"] == "request")
    assert request["target"] == "/events?api_key=REDACTED"
    assert b"x-api-key: [redacted]\r\n" in base64.b64decode(request["b64"])


class EchoingUpstream(StreamServer):
    """A careless server that puts the request head into its response body (and a cookie in a header)."""

    async def handle(self, reader, writer):
        request = await first_request(reader, writer)
        if request is not None:
            body = request.raw
            response = encode_response(
                200,
                "OK",
                [("Content-Length", str(len(body))), ("Set-Cookie", "id=cookie-secret-value")],
                body,
            )
            cut = response.index(b"sk-sec") + 3  # two writes, the secret split between them
            writer.write(response[:cut])
            await writer.drain()
            await asyncio.sleep(0.02)
            writer.write(response[cut:])
            await writer.drain()


def test_secrets_echoed_by_the_upstream_are_masked_even_split_without_breaking_the_framing(tmp_path):
    async def scenario():
        async with EchoingUpstream() as upstream:
            async with Recorder(f"http://127.0.0.1:{upstream.port}", tmp_path) as recorder:
                original, _ = await fetch(
                    recorder.url + "/echo", "Authorization: Bearer sk-secret", "Cookie: a=cookie-secret-value"
                )
                await wait_for_files(recorder, 2)
        return original

    original = run(scenario())
    assert b"sk-secret" in original  # the client got the echo; the recording must not keep it
    raw = (tmp_path / "001-GET-echo.http").read_bytes()
    assert all(secret.encode() not in raw for secret in SECRETS)
    body = raw.partition(b"\r\n\r\n")[2]
    assert len(body) == len(original.partition(b"\r\n\r\n")[2])  # Content-Length still true
    assert b"Authorization: " + b"*" * len("Bearer sk-secret") + b"\r\n" in body
    for path in tmp_path.iterdir():
        assert b"secret" not in path.read_bytes().replace(b"[redacted]", b""), path.name
    capture = [json.loads(line) for line in (tmp_path / "001-GET-echo.jsonl").read_text().splitlines()]
    payloads = [base64.b64decode(r["b64"]) for r in capture if "b64" in r]
    assert all(b"sk-sec" not in p and b"ret\r\n" not in p for p in payloads)  # neither half survives
    response = [base64.b64decode(r["b64"]) for r in capture if r.get("dir") == "response" and "b64" in r]
    assert b"".join(response) == raw


def test_redact_target_keeps_ordinary_parameters():
    assert redact_target("/v1/x?model=m&api_key=sk-1&n=2") == "/v1/x?model=m&api_key=REDACTED&n=2"
    assert redact_target("/events?token=t&page=3") == "/events?token=REDACTED&page=3"
    assert redact_target("/plain?a=1") == "/plain?a=1" and redact_target("/") == "/"


# -- replay -----------------------------------------------------------------------------------------


def test_replay_of_a_recording_is_byte_for_byte_and_matches_by_method_and_path(recorded):
    async def scenario():
        async with ReplayServer(recorded["dir"], speed=0) as replay:
            first, _ = await fetch(replay.url + "events")
            second, _ = await fetch(replay.url + "events?whatever=1")  # the recorded sequence: then 204
            third, _ = await fetch(replay.url + "events")  # the last one repeats
            missing, _ = await fetch(replay.url + "other")
            posted, _ = await fetch(replay.url + "events", method="POST")
        return first, second, third, missing, posted, replay

    first, second, third, missing, posted, replay = run(scenario())
    assert first == recorded["original"]
    assert second == third == recorded["ended"]
    for miss in (missing, posted):
        assert miss.startswith(b"HTTP/1.1 404 ") and b"X-Faultproxy: replay-miss" in miss
        assert b"recorded: GET /events" in miss
    assert [e.id for e in replay.sent if e.response == 0] == ["1", "2", "3", "4", "5", "6"]
    assert [p.ended for p in replay.played] == ["complete"] * 3
    assert replay.played[0].bytes == len(recorded["original"])


def test_the_lab_client_resumes_on_a_replay_as_it_did_on_the_original(recorded):
    async def scenario():
        async with ReplayServer(recorded["dir"], speed=0) as replay:
            return await listen(replay.url + "events", reconnect_ms=0, max_reconnects=3)

    transcript = run(scenario())
    assert transcript.ids == ["1", "2", "3", "4", "5", "6"] and transcript.end == NO_CONTENT
    assert transcript.attempts[1].last_event_id == "6"


def test_replay_keeps_the_timing_shape_scaled_by_speed(recorded):
    [recording] = [r for r in load_capture(recorded["dir"] / "001-GET-events.jsonl")]
    offsets = [at for at, _ in recording.pieces]
    assert len(offsets) >= 7 and offsets == sorted(offsets) and offsets[-1] > offsets[1]

    async def replay_at(speed: float):
        async with ReplayServer([recording], speed=speed) as replay:
            data, reads = await fetch(replay.url + "events")
            start = replay.played[0].started
            return data, [w.time - start for w in replay.writes], reads

    async def scenario():
        return {speed: await replay_at(speed) for speed in (0.0, 2.0, 1.0, 0.5)}

    results = run(scenario())
    for speed, (data, written_at, _reads) in results.items():
        assert data == recorded["original"]
        assert len(written_at) == len(offsets)
        if speed:
            # never early: each write at or after its recorded offset / speed (1 ms for clock granularity)
            assert all(w >= at / speed - 0.001 for w, at in zip(written_at, offsets, strict=True))
    span = {speed: r[1][-1] for speed, r in results.items()}
    assert span[0.0] < span[0.5]  # the slowest replay takes longer than the one without waits
    for speed in (2.0, 1.0, 0.5):  # and the whole stream is stretched or squeezed by the speed
        assert span[speed] >= offsets[-1] / speed - 0.001


def test_a_recorded_cut_is_replayed_as_a_cut(tmp_path):
    fault = parse_fault(
        {"type": "sse_disconnect", "attributes": {"after_events": 2, "mode": "rst"}, "connections": [1]}
    )

    async def scenario():
        async with ReferenceSSEServer(events=5, interval=0.002) as srv:
            async with Recorder(f"http://127.0.0.1:{srv.port}", tmp_path, faults=[fault]) as recorder:
                original, _ = await fetch(recorder.url + "/events")
                await wait_for_files(recorder, 2)
        async with ReplayServer(tmp_path, speed=0) as replay:
            replayed, reads = await fetch(replay.url + "events")
            transcript = await listen(replay.url + "events", max_reconnects=0)
        return original, replayed, reads, transcript, replay

    original, replayed, reads, transcript, replay = run(scenario())
    [recording] = load_recordings(tmp_path)
    assert not recording.complete and recording.ending == "rst"
    assert replayed == original and not replayed.endswith(b"0\r\n\r\n")
    assert reads[-1][1] == -1  # reset, as the original was
    assert transcript.ids == ["1", "2"] and transcript.attempts[0].outcome == NETWORK_ERROR
    assert [p.ended for p in replay.played] == ["rst", "rst"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_a_curl_raw_file_replays_identically(tmp_path):
    saved = tmp_path / "stream.http"

    def curl(url: str) -> bytes:
        result = subprocess.run(
            ["curl", "-sS", "-N", "--raw", "-i", "--max-time", str(GUARD), url],
            capture_output=True,
            timeout=GUARD + 5,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    async def serve_and_curl(server, path: str) -> bytes:
        async with server:
            return await asyncio.to_thread(curl, server.url.rstrip("/") + path)

    async def scenario():
        original = await serve_and_curl(ReferenceSSEServer(events=4, interval=0.002, retry=100), "")
        saved.write_bytes(original)
        replayed = await serve_and_curl(ReplayServer(saved), "/anything?at=all")
        return original, replayed

    original, replayed = run(scenario())
    assert original.startswith(b"HTTP/1.1 200 OK\r\n") and original.endswith(b"\r\n0\r\n\r\n")
    assert replayed == original
    recording = load_raw(saved)
    assert recording.complete and recording.method is None and recording.pieces == ((0.0, original),)


def test_unreplayable_sources_are_clear_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "bad.jsonl").write_text('{"type": "open"}\n')
    (tmp_path / "empty").mkdir()
    for path, message in [
        (tmp_path / "notes.txt", "not an HTTP response"),
        (tmp_path / "bad.jsonl", "no meta record first"),
        (tmp_path / "empty", "no recordings"),
        (tmp_path / "missing.http", "no such file"),
    ]:
        with pytest.raises(ReplayError, match=message):
            load_recordings(path)
    (tmp_path / "head.http").write_bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    with pytest.raises(ValueError, match="match='path' needs"):
        ReplayServer(tmp_path / "head.http", match="path")
    with pytest.raises(ValueError, match="speed"):
        ReplayServer(tmp_path / "head.http", speed=-1)


def test_record_an_https_upstream_then_replay_it(tmp_path):
    """``faultproxy record --upstream https://…`` (issue 14): the recorder speaks TLS to a server
    posing as api.openai.com (reached through --resolve, verified against its CA), records the
    decrypted exchange with no secret in it, and the recording replays."""
    from faultproxy.servers.openai import OpenAIServer
    from faultproxy.tls import LocalCA, server_context

    ca = LocalCA.ephemeral()
    ca_file = ca.write_cert(tmp_path / "ca.pem")
    out = tmp_path / "rec"
    body = '{"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'

    async def scenario():
        async with OpenAIServer(tls=server_context(ca.mint("api.openai.com")), tokens=4) as server:
            resolve = [f"api.openai.com:{server.port}:127.0.0.1"]
            async with Recorder(
                f"https://api.openai.com:{server.port}", out, resolve=resolve, upstream_ca=ca_file
            ) as recorder:
                reader, writer = await asyncio.open_connection("127.0.0.1", recorder.port)
                writer.write(
                    f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    f"Authorization: Bearer sk-secret\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n{body}".encode()
                )
                answer = await reader.read(-1)
                writer.close()
                await wait_for_files(recorder, 2)
            return answer, server.log[-1]

    answer, seen = run(scenario())
    assert answer.startswith(b"HTTP/1.1 200 OK") and b"data: [DONE]" in answer
    assert seen.headers["host"].startswith("api.openai.com:")  # the upstream's own Host
    recorded = (out / "001-POST-v1-chat-completions.http").read_bytes()
    assert (
        recorded.partition(b"\r\n\r\n")[2] == answer.partition(b"\r\n\r\n")[2]
    )  # (its head: secrets masked)
    capture = (out / "001-POST-v1-chat-completions.jsonl").read_text()
    assert json.loads(capture.splitlines()[0])["upstream"].startswith("https://api.openai.com:")
    assert "sk-secret" not in capture and b"sk-secret" not in recorded
