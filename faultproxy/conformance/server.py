"""The server of a conformance cell: a replay server that sends a case's exact bytes, piece by piece.

It is :class:`~faultproxy.servers.replay.ReplayServer` (answers in order, one recording per
request, the last repeating; each piece written on its own at its time; ground truth of every
write) given recordings made from a case, plus the one thing a case needs that a replay does
not keep: the ``Last-Event-ID`` header of every request, read here on the server so that it is
what the client really sent.

Each response is ``HTTP/1.1`` with ``Connection: close`` and no framing: the body is exactly the
case's bytes, and the close ends it, so what the client reads is what the case says, cut the way
the chunking says, with nothing of chunked encoding in between.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus

from faultproxy.conformance.cases import Case, Response
from faultproxy.conformance.chunking import cut
from faultproxy.lab.asyncio_server import first_request
from faultproxy.servers.replay import Recording, ReplayServer

GAP_S = 0.003  # between two pieces: enough for a client to read each on its own on loopback


def response_head(response: Response) -> bytes:
    reason = HTTPStatus(response.status).phrase if response.status in HTTPStatus._value2member_map_ else "Status"
    lines = [f"HTTP/1.1 {response.status} {reason}", f"Content-Type: {response.content_type}",
             "Cache-Control: no-store", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def recording(response: Response, chunking: str, gap: float = GAP_S) -> Recording:
    """One response: the head, then the body's pieces ``gap`` apart, then the close."""
    pieces = [(0.0, response_head(response))]
    pieces += [(gap * (n + 1), piece) for n, piece in enumerate(cut(response.body, chunking))]
    return Recording(tuple(pieces), complete=True, source=f"response {response.status}")


class CaseServer(ReplayServer):
    """``async with CaseServer(case, "bytes") as srv:`` -- ``srv.url`` serves the case to any request."""

    def __init__(self, case: Case, chunking: str, bodies: tuple[bytes, ...] | None = None):
        responses = case.responses
        if bodies is not None:  # the same responses carrying other bodies (an SDK's envelope)
            responses = tuple(Response(body, r.status, r.content_type) for r, body in zip(responses, bodies))
        super().__init__([recording(r, chunking) for r in responses], match="any")
        self.case = case
        self.last_event_ids: list[str | None] = []  # one per request, in order

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await first_request(reader, writer)
        if request is None:
            return
        header = request.headers.get("last-event-id")
        self.last_event_ids.append(None if header is None else header.decode("utf-8", "replace"))
        self._connection_count += 1
        method, target = request.method.decode("latin-1"), request.target.decode("latin-1")
        chosen = self.pick(method, target)
        assert chosen is not None  # match="any" always has one
        await self.play(writer, chosen, self._connection_count, f"{method} {target}")

    @property
    def requests(self) -> int:
        return len(self.last_event_ids)
