"""When the proxy answers a client itself: a malformed request (400), an unreachable upstream
(502), and the lingering close after either. Part of the connection core, sans-IO.

The 400 waits its turn. A client may pipeline requests while a response streams; answering at
once would put the 400's head where the next chunk-size line of that response belongs. Like a
server reading pipelined requests in order, the proxy reads nothing more from the client and
answers after the last response due before the refused request has ended, or as soon as the
upstream has closed (no response can come). If the refused request's head went upstream and
its own response has begun, no place is left for a 400 at all: the connection just ends, as if
the server had closed it.

After its answer the proxy closes the upstream and sends the client a FIN — never an RST while
the client may still be sending (a request body the answer made moot): closing a socket with
unread data makes the kernel reset it, and a client that is still writing then gets
``ECONNRESET`` and never reads the answer. So what the client still sends is read and dropped
until it closes its side too, or for ``linger`` seconds after the FIN at most.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from faultproxy.proxy.states import CLIENT, UPSTREAM, Mode, Phase, SideEvent, SideState, Timer, Trigger
from faultproxy.redact import redact_text
from faultproxy.upstream import TargetError
from faultproxy.wire.errors import WireError
from faultproxy.wire.http import Request, encode_response

if TYPE_CHECKING:
    from faultproxy.proxy.core import ConnectionCore


# How long a client over the connection cap is drained after its 503: a client that sent its
# request reads the answer and closes at once (and frees the place at once), one that sends
# nothing must not hold one of the few places over the cap (connections.OVER_CAP) for long.
FULL_LINGER = 1.0

# The reason phrases of the proxy's own answers, as RFC 9110 §15 names them (http.HTTPStatus's
# differ between Python versions: 414 is "Request-URI Too Long" before 3.13).
REASONS = {
    400: "Bad Request",
    405: "Method Not Allowed",
    408: "Request Timeout",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    502: "Bad Gateway",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}


def plain_response(status: int, text: str) -> bytes:
    """A short plain-text answer from the proxy itself, closing the connection."""
    body = text.encode("utf-8")
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
        ("X-Faultproxy", "proxy-generated"),
    ]
    return encode_response(status, REASONS[status], headers, body)


class Answers:
    """The proxy's own answers on one connection (see the module docstring)."""

    __slots__ = ("_core", "full", "malformed_seen", "refused", "requests", "upstream_error", "upstream_said")

    def __init__(self, core: ConnectionCore):
        self._core = core
        self.requests = (
            0  # request heads read from the client so far, forwarded or not (the latest one's exchange)
        )
        self.malformed_seen = False  # upstream down: what the client sent is no valid request
        self.upstream_error: str | None = None  # why the upstream connection could not be made
        self.upstream_said = False  # upstream_error is a whole sentence naming the upstream (a TLS failure)
        self.full: int | None = None  # the proxy's connection cap, when this client came over it
        # a refusal (400, 414, 431, 505) waiting for the responses before it: its text, the
        # refused request (if its head went upstream), and its status
        self.refused: tuple[str, Request | None, int] | None = None

    # -- requests --------------------------------------------------------------------------

    def forward(self, data: bytes) -> None:
        """Client bytes to the upstream, through the faults; a malformed request is refused."""
        core = self._core
        try:
            if core.heads is not None:
                data = core.heads.feed(data)  # Host toward a TLS upstream; origin form (forward mode)
            core.request.feed(data)
        except TargetError as error:  # forward mode: a request this connection cannot take
            self.refuse(f"faultproxy: {redact_text(str(error))}\n")
        except WireError as error:
            # Nothing of this read goes out, not even a valid request before the malformed one
            # (the reader raises before handing over its events). The error may quote a header
            # line: never echo a credential (it would be captured too).
            what = "malformed request" if error.status == 400 else "request over a limit"
            self.refuse(f"faultproxy: {what}: {redact_text(str(error))}\n", error.status)

    def finish(self) -> None:
        """The client's FIN reaches the request flow (after a head it cut short, as it came)."""
        core = self._core
        if core.heads is not None:
            self.forward(core.heads.eof())
        core.request.finish()

    def request_seen(self, request: Request) -> bool:
        """A request head came from the client (the request pipeline says so). True when a fault
        answers it (``http_status``): the request pipeline then keeps it, and all after it, from
        the upstream, and the fault's answer goes to the client after the responses before it.

        A request the proxy answers itself (a fault's answer; a 502 when the upstream is down)
        never reaches the upstream: the capture still records it (:meth:`Port.answered`), or the
        answer would look like the server's (docs/outcomes.md)."""
        self.requests += 1
        core = self._core
        response, now = core.response, core.clock()
        started = response.pipeline.sync(now)  # the faults may not have started: no upstream yet
        if started:
            response.push(started)
        answer = response.pipeline.expect(request, now)
        if answer is not None or self.upstream_error is not None:
            core.port.answered(request, self.requests)
        response.push(
            answer or []
        )  # the answer; or none, but an alarm a fault set on the request (read_timeout)
        return answer is not None

    def check_request(self, data: bytes) -> None:
        """With no upstream, still read the client's bytes: to know a request came, or that
        what came is no request (either way the 502 says what matters)."""
        core = self._core
        try:
            core.request.pipeline.feed(data, core.clock())
        except WireError:
            self.malformed_seen = True

    def refuse(self, text: str, status: int = 400) -> None:
        """Answer ``status`` (a malformed request, one over a limit) once its turn has come (see
        the module docstring), reading nothing more from the client meanwhile."""
        core = self._core
        if core.phase is not Phase.RELAYING:
            return  # more of what was refused already
        request = core.request.pipeline.open_request  # its head went upstream
        if request is not None and not core.response.pipeline.awaits(request):
            core.port.note("refused", reason=text.strip(), answer="close")
            self.end()  # its own response has begun: no place for a 400
            return
        self.refused = (text, request, status)
        waits = self._waits()
        core.port.note(
            "refused",
            reason=text.strip(),
            answer=f"{status} after the responses due" if waits else str(status),
        )
        core.enter(Trigger.REQUEST_MALFORMED)
        core.timers.disarm(Timer.HEADER)  # nothing more is read: no head is awaited
        core.sides.hold(CLIENT, "refused")
        self.answer_refusal()

    def _waits(self) -> bool:
        """Whether the 400 must still wait: a response due before the refused request may come."""
        assert self.refused is not None
        upstream = self._core.sides.state[UPSTREAM]
        if upstream is not SideState.OPEN and upstream is not SideState.WRITE_DONE:
            return False  # the upstream sent its FIN, or is gone: no response can come
        return self._core.response.pipeline.responses_due_before(self.refused[1])

    def answer_refusal(self) -> None:
        """The 400, if one waits and its turn has come."""
        if self.refused is None or self._core.phase is not Phase.REFUSING or self._waits():
            return
        text, _, status = self.refused
        self.refused = None
        self.answer(status, text)

    def header_timeout(self) -> None:
        """The header timer fired: a request head begun and not whole gets a 408 (in its turn,
        like a 400); a client that has sent nothing of one is closed, as an idle one is."""
        core = self._core
        if core.phase not in (Phase.CONNECTING, Phase.RELAYING, Phase.UPSTREAM_DOWN):
            return
        seconds = core.config.limits.header_timeout
        reader = core.request.pipeline.reader
        if not core.early and (reader is None or reader.idle):
            core.deadlines.end_quietly("header_timeout", seconds)
            return
        text = f"faultproxy: request head not complete after {seconds:g}s\n"
        if core.phase is Phase.RELAYING:
            self.refuse(text, 408)
        else:
            core.port.note("refused", reason=text.strip(), answer="408")
            self.answer(408, text)

    # -- no upstream: it cannot be reached, or the proxy is at its cap -----------------------

    def at_capacity(self, cap: int) -> None:
        """The proxy relays ``cap`` connections already: this client gets no upstream connection,
        and a 503 — at once for HTTP, whose client sends its request unasked (the lingering close
        then reads it); a close under TCP; under ``raw=None`` once it has shown which it is."""
        core = self._core
        self.full = cap
        core.port.note("refused", reason=self._too_many(), answer="503", limit="connections")
        core.sides.move(UPSTREAM, SideEvent.FAILED)  # never connected
        core.enter(Trigger.OVER_CAPACITY)
        self.upstream_down()

    def upstream_failed(self, reason: str, kind: str | None = None) -> None:
        """The connect failed (or the upstream's TLS handshake, ``kind`` naming how: a sentence
        that names the upstream): the client gets a 502 once it shows a request, or a close."""
        core = self._core
        self.upstream_error = reason
        self.upstream_said = kind is not None
        if kind is not None:
            core.port.note("upstream_error", reason=reason, tls=kind)
        else:
            core.port.note("upstream_error", reason=reason)
        core.enter(Trigger.UPSTREAM_FAILED)
        early, core.early = core.early, []
        for data in early:
            if core.mode is Mode.HTTP:
                self.check_request(data)
        core.sides.release(CLIENT, "connecting")
        self.upstream_down()

    def _too_many(self) -> str:
        return f"faultproxy: too many connections: the proxy relays at most {self.full} at once"

    def upstream_down(self, *, silent: bool = False) -> None:
        """Decide what a client gets with the upstream down, once that can be told: a 502 for an
        HTTP client that has sent a request (or something, then its FIN), a close otherwise.

        ``raw=None`` and a client that has said nothing: it may be an HTTP client about to send
        its request, or one waiting for a server that speaks first (MySQL, SMTP). It gets
        ``sniff_wait`` seconds to speak (``silent``: they are up) before it is closed as TCP."""
        core = self._core
        if core.phase is not Phase.UPSTREAM_DOWN:
            return
        if core.targets.tunnel is not None:  # a CONNECT that could not be made: its answer is due now
            self.answer(502, self._unreachable())
            return
        if core.mode is Mode.UNDECIDED:
            if not silent and core.sides.state[CLIENT] is not SideState.READ_DONE:
                if Timer.SNIFF not in core.timers:
                    core.timers.arm(Timer.SNIFF, core.clock() + core.config.sniff_wait)
                return
            core.decide(Mode.TCP)
        if core.mode is Mode.TCP:
            core.enter(Trigger.END)
            core.close(CLIENT, "fin")
        elif self.full is not None:
            self.answer(503, self._too_many() + "\n")
        elif self.requests or self.malformed_seen or core.sides.state[CLIENT] is SideState.READ_DONE:
            self.answer(502, self._unreachable())

    def _unreachable(self) -> str:
        """The 502's text: which upstream, and why (``TLS handshake with api.openai.com:443 failed: …``)."""
        if self.upstream_said:
            return f"faultproxy: {self.upstream_error}\n"
        return f"faultproxy: upstream {self._core.target.address} unreachable: {self.upstream_error}\n"

    # -- answering -------------------------------------------------------------------------

    def answer(self, status: int, text: str) -> None:
        """Answer the client from the proxy itself, then end the connection (:meth:`end`). The
        answer goes out behind whatever is still queued for the client (a fault's delay),
        never into the middle of it."""
        self._core.response.outbox.write(plain_response(status, text))
        self.end()

    def end(self) -> None:
        """Relaying is over: close the upstream, send the client a FIN after what is queued for
        it, and drain what it still sends (the lingering close; see the module docstring)."""
        core = self._core
        core.enter(Trigger.ANSWER)
        for timer in (Timer.CONNECT, Timer.HEADER, Timer.IDLE):
            core.timers.disarm(timer)
        core.request.cancel()
        core.close(UPSTREAM, "fin")
        state = core.sides.state[CLIENT]
        if state is SideState.CLOSING or state is SideState.GONE:
            return
        core.sides.release_all(CLIENT, "draining after the answer")
        core.response.outbox.finish()  # the FIN, or a close if the client has sent its own already
        if core.sides.state[CLIENT] is SideState.WRITE_DONE:
            self.linger()

    def linger(self) -> None:
        core = self._core
        if Timer.LINGER not in core.timers:
            seconds = core.config.linger if self.full is None else min(core.config.linger, FULL_LINGER)
            core.timers.arm(Timer.LINGER, core.clock() + seconds)
