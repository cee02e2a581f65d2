"""The ``sse`` layer of a direction: event-stream bodies taken apart into events for the SSE
faults, and put back together in a framing that stays valid whatever the faults did.

When an SSE fault is active on a ``text/event-stream`` response, its body is re-framed (see
:class:`Reframe`): each piece of event bytes that comes out of the faults becomes one chunk
(or plain bytes for a close-delimited body), and a Content-Length response is switched to
chunked (or, for an HTTP/1.0 client, to delimited by the close), so that dropped or injected
events keep the framing valid — breaking the framing is the ``http`` layer's job, on purpose.
An SSE fault can also end such a body early and cleanly (:class:`~faultproxy.faults.base.EndBody`).

A fault added while a body flows takes it over at the next event boundary, if the framing
allows re-framing from there on (chunked or close-delimited; a Content-Length body cannot
change its length midway, so there the fault waits for the next response).
"""

from __future__ import annotations

from enum import Enum

from faultproxy.faults._http import can_chunk, framing, with_headers
from faultproxy.faults.base import (
    ACTIONS,
    Close,
    EndBody,
    Hold,
    HTTPOut,
    RawBytes,
    SSEOut,
    Until,
    Wait,
    ends_stream,
)
from faultproxy.faults.instances import FaultInstances
from faultproxy.wire.chunked import (
    ChunkData,
    ChunkEnd,
    ChunkHeader,
    Malformed,
    chunk_events,
    last_chunk_events,
)
from faultproxy.wire.http import BodyData, EndOfMessage, HTTPEvent, Response, is_event_stream
from faultproxy.wire.sse import Block, SSEParser

_EVENT_BOUNDARIES = (b"\n\n", b"\r\r", b"\r\n\r\n", b"\n\r\n")


class Reframe(Enum):
    """How an event-stream body that SSE faults rewrite goes out."""

    CHUNKED = "chunked"  # it was chunked: each piece of event bytes becomes one chunk
    PLAIN = "plain"  # close-delimited: the pieces go out as they are
    TO_CHUNKED = "to_chunked"  # it had a Content-Length: carried chunked instead (HTTP/1.1)
    TO_CLOSE = "to_close"  # …or delimited by closing the connection (an HTTP/1.0 client)

    @property
    def chunked(self) -> bool:
        return self is Reframe.CHUNKED or self is Reframe.TO_CHUNKED


class SSEBody:
    """One event-stream response body that SSE faults act on: made per response, dropped at its end."""

    __slots__ = ("ended", "event_index", "parser", "reframe")

    def __init__(self, reframe: Reframe):
        self.parser = SSEParser()
        self.reframe = reframe
        self.event_index = 0  # of the next event, per response (from where a fault joined, if it did)
        self.ended = False  # an SSE fault ended it (EndBody): the rest of it is dropped

    def framed(self, items: list[SSEOut]) -> list[HTTPOut]:
        """Body bytes from the SSE faults as wire events of this body's (new) framing."""
        out: list[HTTPOut] = []
        for item in items:
            if isinstance(item, ACTIONS):
                out.append(item)
                continue
            if self.ended:
                continue  # body data after the body's end
            if isinstance(item, EndBody):
                self.ended = True
                if self.reframe.chunked:
                    out += [*last_chunk_events(), EndOfMessage()]
                else:  # close-delimited: the end of the connection is the end of the body
                    out += [EndOfMessage(), Close("fin")]
                continue
            data = item.raw
            if data:
                out += chunk_events(data) if self.reframe.chunked else [BodyData(data)]
        return out


class SSELayer:
    """The SSE faults of one direction, over the responses that pass it one after another."""

    __slots__ = ("_head_waits", "_held_head", "_instances", "_joinable", "_joined", "body", "tail")

    def __init__(self, instances: FaultInstances):
        self._instances = instances
        self.body: SSEBody | None = None  # the body the SSE faults act on, while one does
        self._head_waits = False  # a holds_head fault is on this response: hold its head (with_head)
        self._held_head: Response | None = None  # the head held until the first body bytes go out
        self._joinable: Reframe | None = None  # how a fault joining this body midway would frame it
        self._joined: list[HTTPOut] = []  # what SSE faults said when they joined a live body
        self.tail = b""  # the last body bytes passed on untouched: where is the next event boundary

    def reset(self, head: object) -> None:
        """A message starts: forget the last body; note whether this one could be joined live."""
        self.body = None
        self._head_waits = False
        self.tail = b""
        self._joined = []
        self._joinable = None
        if isinstance(head, Response) and head.status == 200 and is_event_stream(head.headers):
            kind = framing(head, self._instances.position.request)
            self._joinable = {"chunked": Reframe.CHUNKED, "close": Reframe.PLAIN}.get(kind)

    def note_body(self, data: bytes) -> None:
        """Body bytes passed on untouched (for where the next event boundary is)."""
        self.tail = (self.tail + data)[-4:]

    def head(self, head: Response, now: float) -> list[HTTPOut]:
        """A response head: if SSE faults apply to its event stream, they take the body over."""
        instances = self._instances
        faults = instances.active("sse")
        if not faults or head.status != 200 or not is_event_stream(head.headers):
            return [head]
        request = instances.position.request
        kind = framing(head, request)
        if kind == "chunked":
            reframe = Reframe.CHUNKED
        elif kind == "length":
            # Dropping or adding events changes the length: carry the body chunked instead
            # (or, for an HTTP/1.0 client, delimited by closing the connection).
            headers = head.headers.replaced("content-length", None)
            reframe = Reframe.TO_CHUNKED if can_chunk(head, request) else Reframe.TO_CLOSE
            if reframe is Reframe.TO_CHUNKED:
                headers = headers.replaced("transfer-encoding", "chunked")
            head = with_headers(head, headers)  # type: ignore[assignment]
        elif kind == "close":
            reframe = Reframe.PLAIN
        else:
            return [head]  # no body (a response to HEAD): nothing for the SSE faults
        self.body = body = SSEBody(reframe)
        out: list[HTTPOut] = [head]
        self._head_waits = any(instance.fault.holds_head for instance in faults)
        for instance in faults:
            out += body.framed(instances.call(instance, now, "on_response"))
        return out

    def event(self, event: HTTPEvent, now: float) -> list[HTTPOut]:
        """One body event of the current message, as wire events after the SSE faults."""
        body = self.body
        if body is None:
            if not self._join(event, now):
                if isinstance(event, (ChunkData, BodyData)):
                    self.note_body(event.data)
                return [event]
            joined, self._joined = self._joined, []
            return joined + self.event(event, now)
        if body.ended:  # an SSE fault ended this body early: the rest of it is dropped
            if isinstance(event, (EndOfMessage, Malformed)):
                self.body = None
            return []
        if isinstance(event, ChunkEnd) or (isinstance(event, ChunkHeader) and event.size):
            return []  # the body is re-framed; the last chunk (size 0) stays
        if isinstance(event, (ChunkData, BodyData)):
            return self._blocks(body.parser.feed_blocks(event.data), now)
        if isinstance(event, ChunkHeader):  # the last chunk: the events before it come first
            return [*self._body_end(now), event]
        if isinstance(event, EndOfMessage):
            out = [] if body.reframe is Reframe.CHUNKED else self._body_end(now)
            if body.reframe is Reframe.TO_CHUNKED:
                out += last_chunk_events()
            out.append(event)
            if body.reframe is Reframe.TO_CLOSE:
                out.append(Close("fin"))  # the client reads this body until the connection closes
            self.body = None
            return out
        if isinstance(event, Malformed):
            # The body broke off (or its framing broke): what is complete, and what SSE faults
            # hold, goes out first; from here on the bytes pass as they came -- unless a fault
            # ended the body cleanly instead (EndBody), and then the rest of it is dropped.
            out = self._body_end(now, broke=True)
            if body.ended:
                return out
            self.body = None
            return [*out, event]
        return [event]

    def alarm(self, items: list[SSEOut]) -> list[HTTPOut]:
        """What an SSE fault's alarm returned: body data of the body it rang in, framed as that
        body is; nothing once the body is over."""
        return self.body.framed(items) if self.body is not None else []

    def _join(self, event: HTTPEvent, now: float) -> bool:
        """An SSE fault appeared while this event stream flows: take the body over, if we can.

        Only at an event boundary (the body so far ends with a blank line) and only where the
        framing allows re-framing from here on: the bytes before went out as they came, the
        events from here on go through the faults, whose event indexes count from here."""
        if self._joinable is None or not isinstance(event, (ChunkHeader, BodyData)):
            return False
        if isinstance(event, ChunkHeader) and not event.size:
            return False  # the last chunk: nothing left to take over
        faults = self._instances.active("sse")
        if not faults or (self.tail and not self.tail.endswith(_EVENT_BOUNDARIES)):
            return False
        self.body = body = SSEBody(self._joinable)
        for instance in faults:
            self._joined += body.framed(self._instances.call(instance, now, "on_response"))
        return True

    def _blocks(self, blocks: list[Block], now: float) -> list[HTTPOut]:
        body = self.body
        assert body is not None
        instances = self._instances
        # a fault that breaks blocks into pieces (sse_split) goes last: the sse faults after it
        # would otherwise see no event to act on and silently do nothing (a stable sort)
        faults = sorted(instances.active("sse"), key=lambda i: i.fault.breaks_blocks)
        out: list[HTTPOut] = []
        for block in blocks:
            if body.ended:
                break
            items: list[SSEOut] = [block]
            index = body.event_index if block.event is not None else None
            for instance in faults:
                ctx = instances.prepare(instance, now)
                ctx.event_index = index
                step: list[SSEOut] = []
                for item in items:
                    step += instance.fault.on_block(item, ctx) if isinstance(item, Block) else [item]
                instances.collect(instance)
                items = step
            if block.event is not None:
                body.event_index += 1
            out += body.framed(items)
            if ends_stream(items):
                break  # nothing after it reaches the client: no fault acts on the rest
        return out

    def _body_end(self, now: float, broke: bool = False) -> list[HTTPOut]:
        """The body ended (``broke``: broke off): the faults let out what they hold. A fault that
        ends the body here (EndBody) does so after what every fault still holds."""
        body = self.body
        assert body is not None
        if body.ended:
            return []
        out = self._blocks(body.parser.close_blocks(), now)
        ends: list[SSEOut] = []
        for instance in self._instances.active("sse"):
            items = self._instances.call(instance, now, "on_body_break" if broke else "on_body_end")
            ends += [item for item in items if isinstance(item, EndBody)]
            out += body.framed([item for item in items if not isinstance(item, EndBody)])
        return out + body.framed(ends[:1])

    def with_head(self, items: list[HTTPOut]) -> list[HTTPOut]:
        """Hold the response head while a ``holds_head`` fault (``buffer``) is on the response,
        and put it back before the first thing that goes out after it -- body bytes, the body's
        end, a Close -- as nginx sends its head with its first batch. Only waiting actions
        (Wait, Until, Hold) pass a held head. The head has been through the http faults."""
        if not self._head_waits and self._held_head is None:
            return items
        out: list[HTTPOut] = []
        for item in items:
            if self._head_waits and isinstance(item, Response):
                self._head_waits, self._held_head = False, item
                continue
            if self._held_head is not None and not isinstance(item, (Wait, Until, Hold)):
                out.append(RawBytes(self._held_head.raw))
                self._held_head = None
            out.append(item)
        return out
