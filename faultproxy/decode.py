"""``faultproxy decode``: turn a raw event stream, or a whole HTTP response capture, into events.

Input is read in 64 KiB blocks with ``read1``, so a pipe from ``curl -N --raw -i`` is decoded
while it streams and each event is printed as soon as it is complete, and a capture of any
size runs in constant memory.

Everything that goes wrong is reported with the offset of the byte *in the input*, also
for a problem the SSE parser finds inside a chunked body, so the spot can be found in a
hexdump of the capture. Events decoded before the problem are printed first.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections import deque
from collections.abc import Callable
from typing import BinaryIO

import click

from faultproxy.wire.chunked import ChunkData, Malformed
from faultproxy.wire.errors import WireError
from faultproxy.wire.http import BodyData, EndOfMessage, HTTPEvent, HTTPReader, Response, is_event_stream
from faultproxy.wire.sse import Event, SSEParser

READ_SIZE = 64 * 1024
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


class DecodeError(Exception):
    """Input that cannot be decoded: what is wrong, and the input offset where it is."""

    def __init__(self, reason: str, offset: int):
        self.reason = reason
        self.offset = offset
        super().__init__(f"{reason} (at byte {offset})")


class StreamDecoder:
    """Bytes in, events out through ``emit``; trouble as :class:`DecodeError` or through ``warn``.

    With ``http=True`` the input is one direction of an HTTP/1.1 connection as a server
    sent it: interim 1xx heads are skipped, every final response's body is unframed
    (chunked, Content-Length or close-delimited) and decoded as its own event stream.
    The HTTP reader runs in lenient mode, which accepts what RFC 9112 lets a recipient
    accept (bare-LF line ends, for one) and otherwise stops at the first malformed byte
    *after* handing out everything before it — so the events before an error still appear.
    """

    def __init__(self, *, http: bool, emit: Callable[[Event], None], warn: Callable[[str], None]):
        self._emit = emit
        self._warn = warn
        self._reader = HTTPReader("response", strict=False) if http else None
        self._sse: SSEParser | None = None if http else SSEParser()
        self._offset = 0  # input offset of the next byte
        self._body = 0  # bytes given to the current SSE parser
        # (body offset, input offset, length) of the body pieces the SSE parser may still
        # report an error in: those from the start of its unfinished block on
        self._pieces: deque[tuple[int, int, int]] = deque()
        self._responses = 0
        self._probe: bytes | None = b""  # the input's first bytes, until they are known to be HTTP

    def feed(self, data: bytes) -> None:
        if self._reader is None:
            self._feed_sse(data, self._offset)
            self._offset += len(data)
            return
        if self._probe is not None:
            self._check_start(data)
        for event in self._reader.feed(data):
            self._on_http(event)

    def close(self) -> None:
        """End of input: finish a close-delimited body, report a truncated one."""
        if self._reader is None:
            self._end_stream(warn_tail=True)
            return
        in_body = self._sse is not None
        for event in self._reader.close():
            if not isinstance(event, Malformed):
                self._on_http(event)
            elif not self._responses:
                raise DecodeError(f"not a complete HTTP response: {event.reason}", event.offset)
            else:
                what = "body truncated" if in_body else "response truncated"
                self._warn(f"{what}: {event.reason} (at byte {event.offset})")
                if in_body:
                    self._end_stream(warn_tail=False)
                break
        if not self._responses:
            raise DecodeError("no HTTP response in the input", self._offset)

    # -- HTTP ---------------------------------------------------------------------------

    def _check_start(self, data: bytes) -> None:
        """Fail at once on input that is no HTTP response, instead of waiting for a blank line.

        The usual cause is a capture made without ``curl -i``, or ``--http`` given for a
        bare event stream; the message says so.
        """
        probe = (self._probe or b"") + data[:64]
        text = probe.lstrip(b"\r\n")  # empty lines may come first (RFC 9112 §2.2)
        if text[:5] != b"HTTP/"[: len(text)]:
            raise DecodeError(
                f"not an HTTP response: the input starts with {text[:20]!r}, not a status line"
                " (capture with curl -i, or leave out --http for a bare event stream)",
                len(probe) - len(text),
            )
        self._probe = None if len(text) >= 5 else probe

    def _on_http(self, event: HTTPEvent) -> None:
        at = self._offset
        self._offset += len(event.raw)
        if isinstance(event, Malformed):
            raise DecodeError(f"malformed HTTP response: {event.reason}", event.offset)
        if isinstance(event, Response):
            self._start_response(event, at)
        elif isinstance(event, (BodyData, ChunkData)):
            self._feed_sse(event.data, at)
        elif isinstance(event, EndOfMessage) and self._sse is not None:
            self._end_stream(warn_tail=True)
        # the rest is framing (chunk sizes, CRLFs, trailers) or follows a Malformed

    def _start_response(self, head: Response, at: int) -> None:
        status = f"{head.status} {head.reason.decode('latin-1')}".rstrip()
        if head.status == 101:
            raise DecodeError(f"HTTP {status}: what follows is another protocol, not an event stream", at)
        if head.status < 200:
            return  # an interim response: the final one follows
        self._responses += 1
        n = self._responses
        if head.status >= 300:
            self._warn(f"response {n} is HTTP {status}; decoding its body as an event stream anyway")
        ctype = head.headers.get("content-type")
        if ctype is not None and not is_event_stream(head.headers):
            self._warn(f"response {n} has Content-Type {ctype.decode('latin-1')}, not text/event-stream")
        self._sse = SSEParser()
        self._body = 0
        self._pieces.clear()

    # -- SSE ----------------------------------------------------------------------------

    def _feed_sse(self, data: bytes, at: int) -> None:
        assert self._sse is not None
        self._pieces.append((self._body, at, len(data)))
        self._body += len(data)
        try:
            blocks = self._sse.feed_blocks(data)
        except WireError as error:
            raise DecodeError(
                f"malformed event stream: {error.reason}", self._input_offset(error.offset)
            ) from None
        for block in blocks:
            if block.event is not None:
                self._emit(block.event)
        if blocks:  # the SSE parser reports errors at or after its unfinished block only
            start = blocks[-1].offset + len(blocks[-1].raw)
            while self._pieces and self._pieces[0][0] + self._pieces[0][2] <= start:
                self._pieces.popleft()

    def _end_stream(self, *, warn_tail: bool) -> None:
        assert self._sse is not None
        for tail in self._sse.close_blocks():
            if warn_tail and tail.raw.strip(b"\r\n"):
                self._warn(
                    f"stream ended inside an event block (no blank line after it): {len(tail.raw)} bytes"
                    f" not dispatched (at byte {self._input_offset(tail.offset)})"
                )
        self._sse = None

    def _input_offset(self, body_offset: int) -> int:
        for start, at, length in self._pieces:
            if start <= body_offset < start + length:
                return at + body_offset - start
        return self._pieces[-1][1] + self._pieces[-1][2] if self._pieces else self._offset


# -- output -------------------------------------------------------------------------------------


def _visible(text: str) -> str:
    """Control characters as ``\\xNN``, so event data cannot drive the terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def format_text(event: Event) -> str:
    retry = "-" if event.retry is None else str(event.retry)
    head = f"event: {_visible(event.type)}  id: {_visible(event.id) or '-'}  retry: {retry}\n"
    return head + "".join(f"    {_visible(line)}\n" for line in event.data.split("\n")) + "\n"


def format_json(event: Event) -> str:
    record = {"type": event.type, "data": event.data, "id": event.id, "retry": event.retry}
    return json.dumps(record, ensure_ascii=False) + "\n"


@click.command()
@click.argument("source", default="-", metavar="[FILE|-]")
@click.option(
    "--http", "http", is_flag=True, help="The input starts with an HTTP response head (curl --raw -i)."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event: type, data, id, retry.")
@click.pass_context
def decode(ctx: click.Context, source: str, http: bool, as_json: bool) -> None:
    """Decode a raw Server-Sent Events stream from FILE (or stdin) into events.

    \b
    With --http the input is a whole response as it came off the wire, head and
    body framing included, e.g. from
        curl -sS -N --raw -i URL | faultproxy decode --http
    Several responses of a kept-alive connection and 1xx interim heads are fine.

    Exit status 2 means bad input; the message names the byte offset.
    """
    out = sys.stdout.buffer
    pending: list[str] = []
    fmt = format_json if as_json else format_text
    decoder = StreamDecoder(
        http=http,
        emit=lambda event: pending.append(fmt(event)),
        warn=lambda text: click.echo(f"warning: {text}", err=True),
    )

    def flush() -> None:
        if pending:
            out.write("".join(pending).encode("utf-8"))
            pending.clear()
        out.flush()

    try:
        with _open(source) as stream:
            read = getattr(stream, "read1", stream.read)
            while block := read(READ_SIZE):
                try:
                    decoder.feed(block)
                finally:
                    flush()
        decoder.close()
        flush()
    except OSError as error:
        if isinstance(error, BrokenPipeError):
            _quiet_stdout()  # the reader went away (| head): stop without a traceback
            ctx.exit(1)
        flush()
        click.echo(f"error: cannot read {source}: {error.strerror or error}", err=True)
        ctx.exit(2)
    except DecodeError as error:
        flush()
        click.echo(f"error: {error}", err=True)
        ctx.exit(2)


def _open(source: str) -> contextlib.AbstractContextManager[BinaryIO]:
    if source == "-":
        return contextlib.nullcontext(sys.stdin.buffer)
    return open(source, "rb")


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush does not fail again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
