"""The server of a conformance cell: a replay server that sends a case's exact bytes, piece by piece.

It is :class:`~faultproxy.servers.replay.ReplayServer` (answers in order, one recording per
request, the last repeating; each piece written on its own at its time; ground truth of every
write) given recordings made from a case, plus the one thing a case needs that a replay does
not keep: the ``Last-Event-ID`` header of every request, read here on the server so that it is
what the client really sent.

Each response is ``HTTP/1.1`` with ``Transfer-Encoding: chunked`` and ``Connection: close``, as SSE
servers answer: every piece of the chunking is one HTTP chunk, written on its own. Chunked framing
matters here: many HTTP stacks hand a close-delimited body to the application only when it ends,
or in reads of their own size, whatever the server wrote; a chunked body they hand over chunk by
chunk, so the client's parser really sees the cuts. Once decoded, the body is exactly the case's
bytes. A ``204`` has no body and no framing.
"""

from __future__ import annotations

import asyncio
import time
from http import HTTPStatus

from faultproxy.conformance.cases import Case, Response
from faultproxy.conformance.chunking import cut
from faultproxy.net.stream_server import first_request
from faultproxy.servers.replay import Recording, ReplayServer

GAP_S = 0.003  # between two pieces: enough for a client to read each on its own on loopback


def response_head(response: Response) -> bytes:
    reason = (
        HTTPStatus(response.status).phrase if response.status in HTTPStatus._value2member_map_ else "Status"
    )
    lines = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Content-Type: {response.content_type}",
        "Cache-Control: no-store",
        "Connection: close",
    ]
    if response.status != 204:
        lines.append("Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def recording(
    response: Response, chunking: str, gap: float = GAP_S, cuts: list[bytes] | None = None
) -> Recording:
    """One response: the head, then each of the body's pieces (``cuts``, or the body cut as ``chunking``
    says) as a chunk, ``gap`` apart, then the last chunk."""
    pieces = [(0.0, response_head(response))]
    if response.status != 204:
        body = cut(response.body, chunking) if cuts is None else cuts
        pieces += [(gap * (n + 1), b"%x\r\n%s\r\n" % (len(piece), piece)) for n, piece in enumerate(body)]
        pieces.append((gap * (len(body) + 1), b"0\r\n\r\n"))
    return Recording(tuple(pieces), complete=True, source=f"response {response.status}")


class CaseServer(ReplayServer):
    """``async with CaseServer(case, "bytes") as srv:`` -- ``srv.url`` serves the case to any request.

    Each piece is written ``gap`` seconds after the previous write *ended*, not at a time fixed
    from the response's start as a replay is: on a busy machine a late piece would otherwise be
    followed at once by every piece that fell due meanwhile, written back to back, and the client
    would read them as one. :attr:`min_gap` is the closest two writes of a response really came.
    """

    def __init__(
        self, case: Case, chunking: str, bodies: tuple[list[bytes], ...] | None = None, gap: float = GAP_S
    ):
        """``bodies``: each response's body as the pieces to write, instead of the case's own body
        cut as ``chunking`` says (an SDK's envelope: :mod:`faultproxy.conformance.sdk`)."""
        pieces = bodies or (None,) * len(case.responses)
        super().__init__(
            [recording(r, chunking, gap, p) for r, p in zip(case.responses, pieces)], match="any"
        )
        self.case = case
        self.gap = gap
        self.last_event_ids: list[str | None] = []  # one per request, in order

    async def _until(self, start: float, at: float) -> None:
        if not self.writes or at <= 0:
            return
        # on the real clock, not the loop's: uvloop's timers may fire up to a millisecond early
        while (delay := self.writes[-1].time + self.gap - time.monotonic()) > 0:
            await asyncio.sleep(delay)

    @property
    def min_gap(self) -> float | None:
        """The shortest time between two writes of one response (None: no response had two)."""
        gaps = [b.time - a.time for a, b in zip(self.writes, self.writes[1:]) if a.connection == b.connection]
        return min(gaps, default=None)

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
