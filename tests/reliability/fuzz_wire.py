"""Coverage-guided fuzzing of the wire parsers with atheris (libFuzzer): run it as a script.

    .venv/bin/python tests/reliability/fuzz_wire.py -max_total_time=3600 fuzz-corpus/

Each input picks a parser, a way to cut the bytes into reads, and the bytes. What must hold,
whatever the input:

- the HTTP readers, lenient (``strict=False``, what the proxy uses for responses and captures):
  never raise, and the ``raw`` of their events, joined, is the input byte for byte (nothing
  dropped, nothing invented); strict (requests): raise nothing but ``WireError``;
- every parser gives the same events however the input is cut into reads (the SSE parser: the
  same events, and its blocks' ``raw`` joined is the input; where one block ends may move by an
  LF, and an extra empty block appear, when a CR and its LF arrive in different reads -- found
  by this fuzzer, see docs/reliability.md);
- the chunked decoder and the SSE parser raise nothing but ``WireError``.

``tests/reliability/test_fuzz_wire.py`` runs this for a few seconds in CI; a person runs it for
hours with a corpus folder that keeps what it found (docs/reliability.md).
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["faultproxy.wire"]):
    from faultproxy.wire.chunked import ChunkedDecoder
    from faultproxy.wire.errors import WireError
    from faultproxy.wire.http import HTTPReader
    from faultproxy.wire.sse import SSEParser

TARGETS = ("request", "response", "strict-request", "strict-response", "chunked", "sse")


def _reads(data: bytes, cuts: list[int]) -> list[bytes]:
    pieces, pos = [], 0
    for size in cuts:
        if pos >= len(data):
            break
        pieces.append(data[pos : pos + size])
        pos += size
    return [*pieces, data[pos:]] if pos < len(data) else pieces


def _run(target: str, reads: list[bytes]) -> tuple[list[object], BaseException | None]:
    """The events of one parser fed ``reads``, and the WireError that stopped it (if any)."""
    if target == "sse":
        parser: object = SSEParser()
    elif target == "chunked":
        parser = ChunkedDecoder(strict=False)
    else:
        role = target.removeprefix("strict-")
        parser = HTTPReader(role, strict=target.startswith("strict-"))
        if role == "response":
            for method in (b"GET", b"HEAD", b"CONNECT", b"GET"):
                parser.expect_response_to(method)
    feed, close = (
        (parser.feed_blocks, parser.close_blocks)
        if isinstance(parser, SSEParser)
        else (parser.feed, parser.close)
    )
    events: list[object] = []
    try:
        for piece in reads:
            events += feed(piece)
        events += close()
    except WireError as error:
        return events, error
    return events, None


PIECES = ("BodyData", "ChunkData", "TunnelData", "Unparsed")  # cut wherever a read ends


def _normal(events: list[object]) -> list[tuple[object, ...]]:
    """Events as comparable tuples, with consecutive body pieces of one kind joined."""
    out: list[tuple[object, ...]] = []
    for event in events:
        kind = type(event).__name__
        raw = getattr(event, "raw", None)
        if kind in PIECES and out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + raw)
        elif kind in PIECES:
            out.append((kind, raw))
        elif kind == "Block":  # the event it dispatches, if any (its fields, not its raw: see above)
            if event.event is not None:
                out.append((kind, event.event))
        else:
            out.append(
                (
                    kind,
                    raw,
                    getattr(event, "data", None),
                    getattr(event, "id", None),
                    getattr(event, "type", None),
                    getattr(event, "retry", None),
                )
            )
    return out


def one_input(buffer: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(buffer)
    target = TARGETS[fdp.ConsumeIntInRange(0, len(TARGETS) - 1)]
    cuts = [fdp.ConsumeIntInRange(1, 64) for _ in range(fdp.ConsumeIntInRange(0, 16))]
    data = fdp.ConsumeBytes(fdp.remaining_bytes())
    whole, whole_error = _run(target, [data])
    split, split_error = _run(target, _reads(data, cuts))
    if target in ("request", "response", "chunked") and (whole_error or split_error):
        raise AssertionError(f"a lenient {target} reader raised: {whole_error or split_error}")
    if (whole_error is None) != (split_error is None):
        raise AssertionError(f"{target}: an error only when read {'whole' if whole_error else 'in pieces'}")
    if whole_error is None and _normal(whole) != _normal(split):
        raise AssertionError(f"{target}: other events when read in pieces")
    if target in ("request", "response", "sse"):
        joined = b"".join(getattr(e, "raw", b"") for e in whole)
        if joined != data:
            raise AssertionError(
                f"{target}: the events' bytes are not the input ({len(joined)} of {len(data)})"
            )


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
