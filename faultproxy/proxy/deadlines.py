"""The header and idle timers of one connection: part of the connection core, sans-IO
(docs/connection-core.md, "Limits"; the values are :class:`~faultproxy.proxy.limits.ProxyLimits`).

HTTP only: a TCP connection has no heads, and may idle as its protocol likes.

- The header timer runs while a request head is incomplete: from the connection's start for
  the first request, from its first byte for each later one; it stops once the head is whole.
  When it fires :meth:`Answers.header_timeout <faultproxy.proxy.answers.Answers.header_timeout>`
  answers 408, or closes a client that has sent nothing.
- The idle timer looks every quarter of the idle timeout whether the connection is idle: both
  readers between messages with nothing buffered, no response due, nothing queued; any message
  read since the last look is activity. The first look that finds it idle starts the count, so
  it is closed between one and 1.25 timeouts after it went idle — never sooner, never while a
  response is in progress however long it stalls, and no clock is read per byte relayed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from faultproxy.proxy.states import CLIENT, UPSTREAM, Phase, Timer, Trigger

if TYPE_CHECKING:
    from faultproxy.proxy.core import ConnectionCore


class Deadlines:
    """The header and idle timers of one connection (see the module docstring)."""

    __slots__ = ("_core", "idle_mark", "idle_since")

    def __init__(self, core: ConnectionCore):
        self._core = core
        self.idle_since = 0.0  # since when the looks have found the connection idle …
        self.idle_mark = -1  # … and the messages read both ways by then (-1: not idle)

    def start(self) -> None:
        """An HTTP connection starts: its first request head is due within the header timeout,
        and the idle timer starts looking."""
        core = self._core
        limits, now = core.config.limits, core.clock()
        if limits.header_timeout is not None:
            core.timers.arm(Timer.HEADER, now + limits.header_timeout)
        if limits.idle_timeout is not None:
            core.timers.arm(Timer.IDLE, now + limits.idle_timeout / 4)

    def head_read(self) -> None:
        """Client bytes were read: the header timer runs while a request head is incomplete."""
        core = self._core
        timeout = core.config.limits.header_timeout
        reader = core.request.pipeline.reader
        if timeout is None or reader is None:
            return
        if core.phase is not Phase.RELAYING and core.phase is not Phase.UPSTREAM_DOWN:
            return  # refused or answered meanwhile: no head is awaited any more
        if reader.between_messages and not reader.idle:
            if Timer.HEADER not in core.timers:
                core.timers.arm(Timer.HEADER, core.clock() + timeout)
        else:
            core.timers.disarm(Timer.HEADER)

    def look_idle(self) -> None:
        """The idle timer fired: close the connection if the looks found it idle for the whole
        timeout, else look again in a quarter of it."""
        core = self._core
        timeout = core.config.limits.idle_timeout
        assert timeout is not None, "the idle timer is armed only with an idle timeout"
        if core.phase is Phase.CONNECTING:
            core.timers.arm(Timer.IDLE, core.clock() + timeout / 4)
            return
        if core.phase is not Phase.RELAYING:
            return  # answering, refusing, closing: other timers bound those
        request, response, now = core.request, core.response, core.clock()
        asked, answered = request.pipeline.reader, response.pipeline.reader
        if asked is None or answered is None:
            return  # TCP after all
        mark = asked.messages + answered.messages
        idle = (
            asked.idle
            and not response.pipeline.responses_due_before()
            and request.outbox.idle
            and response.outbox.idle
        )
        if not idle or mark != self.idle_mark:
            self.idle_since, self.idle_mark = now, (mark if idle else -1)
        elif now >= self.idle_since + timeout:
            self.end_quietly("idle_timeout", timeout)
            return
        core.timers.arm(Timer.IDLE, now + timeout / 4)

    def end_quietly(self, limit: str, seconds: float) -> None:
        """A timeout ends a connection no request is in progress on: both sides get a FIN, the
        client no answer (there is nothing to answer; a 408 to a client that asked nothing may be
        taken for the answer to its next request)."""
        core = self._core
        core.port.note("timeout", limit=limit, seconds=seconds)
        core.enter(Trigger.END)
        core.timers.disarm(Timer.HEADER)
        core.timers.disarm(Timer.IDLE)
        core.close(CLIENT, "fin")
        core.close(UPSTREAM, "fin")
