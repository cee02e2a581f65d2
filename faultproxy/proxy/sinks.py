"""Where a relayed connection tells what happens to it: the proxy's activity log always
(``faultproxy proxy -v``, :mod:`faultproxy.proxy.activity`), and its capture while one is
written (:mod:`faultproxy.proxy.capture`).

A relay knows only the :class:`CaptureSink` interface: it never sees the proxy. ``active``
tells it whether to hand over the bytes it relays at all (only a capture wants them), so a
proxy writing no capture pays nothing per read.
"""

from __future__ import annotations

import logging
from typing import Any

from faultproxy.faults.base import Evidence
from faultproxy.proxy.activity import ActivityLog
from faultproxy.proxy.capture import CaptureWriter
from faultproxy.wire.http import Request

log = logging.getLogger(__name__)


class CaptureSink:
    """What a connection tells: :class:`ProxySink` for a proxy's connections, :data:`NO_CAPTURE`
    (does nothing) where nobody listens."""

    active = False  # whether it wants the bytes (data, upstream)

    def open(self, conn: int, client: Any) -> None:
        pass

    def data(self, conn: int, direction: str, data: bytes) -> None:
        """Bytes written to a side: ``request`` (to the upstream) or ``response`` (to the client)."""

    def upstream(self, conn: int, data: bytes, changed: bool) -> None:
        """Bytes read from the upstream; ``changed``: a fault may change them on their way to the
        client (see :meth:`CaptureWriter.upstream`)."""

    def answered(self, conn: int, request: Request, exchange: int) -> None:
        """A request the proxy answered itself (a fault's answer, a 502)."""

    def note(self, conn: int, kind: str, **fields: Any) -> None:
        pass

    def end_response(self, conn: int) -> None:
        """The FIN toward the client went out after every byte before it (see :class:`CaptureWriter`)."""

    def fault(self, evidence: Evidence) -> None:
        pass

    def detach(self) -> None:
        """The capture is closing: relays still open (aborted, their sockets not yet gone) tell
        nothing more to it, never to a closed file."""


NO_CAPTURE = CaptureSink()


class ProxySink(CaptureSink):
    """A proxy's activity log, and its :class:`CaptureWriter` while it writes one.

    The capture is called from inside the relay's socket callbacks, where an exception would
    make asyncio close the connection: a stream cut short, looking like the upstream's doing.
    Whatever goes wrong in the capture is logged, that connection is no longer decoded, and
    the relay goes on."""

    def __init__(self, activity: ActivityLog, writer: CaptureWriter | None = None):
        self.activity = activity
        self.writer = writer
        self.active = writer is not None

    def open(self, conn: int, client: Any) -> None:
        self.activity.open(conn, client)
        self._capture(conn, "open", conn, client=client)

    def data(self, conn: int, direction: str, data: bytes) -> None:
        self._capture(conn, "data", conn, direction, data)

    def upstream(self, conn: int, data: bytes, changed: bool) -> None:
        self._capture(conn, "upstream", conn, data, changed)

    def answered(self, conn: int, request: Request, exchange: int) -> None:
        self._capture(conn, "answered", conn, request, exchange)

    def note(self, conn: int, kind: str, **fields: Any) -> None:
        self.activity.note(conn, kind, **fields)
        self._capture(conn, "note", conn, kind, **fields)

    def end_response(self, conn: int) -> None:
        self._capture(conn, "end_response", conn)

    def fault(self, evidence: Evidence) -> None:
        self.activity.fault(evidence)
        if self.writer is not None:
            self.writer.fault(evidence.as_dict())

    def detach(self) -> None:
        self.writer = None  # the log still hears them

    def _capture(self, conn: int, method: str, *args: Any, **kwargs: Any) -> None:
        if self.writer is None:
            return
        try:
            getattr(self.writer, method)(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 -- any failure: logged, and the relay goes on (see above)
            # one line per connection, what and why; the traceback only with -vv (a bug to report)
            log.error(
                "capture of connection #%d failed (%s: %s); it is still relayed, no longer decoded",
                conn,
                type(error).__name__,
                error,
            )
            log.debug("the capture's traceback", exc_info=True)
            self.writer.forget(conn)
