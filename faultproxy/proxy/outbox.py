"""Carrying out what a fault pipeline asks for, in order, on one direction of a connection.

Sans-IO, like the rest of the core: it writes through a callable and waits through a timer
it asks its owner to arm (:meth:`Outbox.wake` when it fires), reading the time from a clock.

Bytes are written at once unless an earlier :class:`Wait` or :class:`Until` is still
running; then they queue behind it, in order. The queue is bounded: past its limit
(:data:`QUEUE_LIMIT` bytes unless a fault sets another, see :meth:`Outbox.set_limit`),
reading from the source pauses until the queue is down to half the limit, so a stalled stream
pushes back on the sender as a real stalled network would, instead of filling the proxy's
memory. A limit of 0 means "read nothing while anything waits" (queued bytes or a running
wait): the source is then read only as fast as the faults let bytes out, and the sender's
writes block as they would on a slow reader (``slow_reader``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Literal

from faultproxy.faults.base import Close, Hold, Until, Wait
from faultproxy.faults.pipeline import Output

QUEUE_LIMIT = 1 << 20
_EMPTY: deque[object] = deque()  # shared by every idle outbox, never written to (see _enqueue)
EOF = object()  # queued after the last output of a direction: pass the FIN on


def discard(data: bytes) -> None:
    """What writing to a socket that takes no bytes (connecting, closing, after our FIN) does."""


class Sink:
    """The writing end of one socket: ``write`` sends bytes straight to it while it takes them
    (the port's writer) and drops them otherwise. :class:`~faultproxy.proxy.flow.Sides` switches it
    with the side's state."""

    __slots__ = ("write",)

    def __init__(self) -> None:
        self.write: Callable[[bytes], None] = discard


class Outbox:
    """One direction's queue of bytes and actions; ``done`` once its FIN went out or it was cancelled."""

    __slots__ = (
        "_arm",
        "_clock",
        "_close",
        "_disarm",
        "_pause_source",
        "_paused",
        "_queue",
        "_queued_bytes",
        "_resume_source",
        "_sink",
        "_waiting_timer",
        "_write_eof",
        "done",
        "limit",
    )

    def __init__(
        self,
        *,
        sink: Sink,
        write_eof: Callable[[], None],
        close: Callable[[Literal["fin", "rst"]], None],
        pause_source: Callable[[], None],
        resume_source: Callable[[], None],
        arm: Callable[[float], None],
        disarm: Callable[[], None],
        clock: Callable[[], float],
    ):
        """``sink``: where bytes go (its ``write``: straight to the socket); ``write_eof``: its FIN; ``close``: a fault ends the connection;
        ``pause_source``/``resume_source``: flow control on the socket read from; ``arm(at)``:
        call :meth:`wake` at time ``at`` (``disarm``: not any more)."""
        self._sink = sink
        self._write_eof = write_eof
        self._close = close
        self._pause_source = pause_source
        self._resume_source = resume_source
        self._arm = arm
        self._disarm = disarm
        self._clock = clock
        self._queue: deque[object] = _EMPTY  # a real deque only once something has to wait
        self._queued_bytes = 0
        self._waiting_timer = False  # a Wait or Until is running
        self._paused = False
        self.limit = QUEUE_LIMIT
        self.done = False

    @property
    def idle(self) -> bool:
        return not self._queue and not self._waiting_timer

    @property
    def queued_bytes(self) -> int:
        """Bytes read from the source and not yet written: what the proxy holds back."""
        return self._queued_bytes

    def push(self, items: list[Output]) -> None:
        if self.done:
            return
        if self.idle:
            # The common case: nothing waiting, so bytes go straight out.
            for i, item in enumerate(items):
                if isinstance(item, bytes):
                    self._sink.write(item)
                else:
                    self._enqueue(items[i:])
                    break
        else:
            self._enqueue(items)
        self._run()

    def write(self, data: bytes) -> None:
        """:meth:`push` of one piece of bytes: written at once when nothing waits (the core's
        fast path), queued behind what waits otherwise."""
        if not self._queue and not self._waiting_timer and not self.done:
            self._sink.write(data)
        else:
            self.push([data])

    def set_limit(self, limit: int | None) -> None:
        """Queued bytes past which reading from the source pauses (``None``: :data:`QUEUE_LIMIT`;
        0: whenever anything waits). The core sets it from the active faults before each push."""
        limit = QUEUE_LIMIT if limit is None else limit
        if limit != self.limit:
            self.limit = limit
            self._flow()

    def finish(self) -> None:
        """The source is done: pass its FIN on once everything before it has gone out."""
        if self.done:
            return
        self._enqueue([EOF])
        self._run()

    def cancel(self) -> None:
        """Nothing more goes out (the connection ends): drop what waits, and its timer."""
        self.done = True
        self._queue.clear()
        if self._waiting_timer:
            self._waiting_timer = False
            self._disarm()

    def wake(self) -> None:
        """The timer of the running wait fired: go on with what queued behind it."""
        self._waiting_timer = False
        self._run()

    def _enqueue(self, items: list[object]) -> None:
        if self._queue is _EMPTY:
            self._queue = deque()
        self._queue.extend(items)
        self._queued_bytes += sum(len(i) for i in items if isinstance(i, bytes))

    def _flow(self) -> None:
        """Pause reading from the source past the limit; resume once down to half of it."""
        if self.limit == 0:
            full = not self.idle  # read nothing while anything waits
            empty = not full
        else:
            full = self._queued_bytes > self.limit
            empty = self._queued_bytes <= self.limit // 2
        if full and not self._paused and not self.done:
            self._paused = True
            self._pause_source()
        elif empty and self._paused:
            self._paused = False
            self._resume_source()

    def _run(self) -> None:
        queue = self._queue
        while queue and not self._waiting_timer and not self.done:
            item = queue.popleft()
            if isinstance(item, bytes):
                self._queued_bytes -= len(item)
                self._sink.write(item)
            elif isinstance(item, Wait):
                if item.seconds > 0:
                    self._waiting_timer = True
                    self._arm(self._clock() + item.seconds)
            elif isinstance(item, Until):
                if item.at > self._clock():
                    self._waiting_timer = True
                    self._arm(item.at)
            elif isinstance(item, Close):
                self.cancel()
                self._close(item.how)
            elif isinstance(item, Hold):
                continue  # the pipeline drops what follows; the connection stays open
            elif item is EOF:
                self.done = True
                self._write_eof()
        self._flow()
