"""Your own Python SSE client as a faultproxy client, through the simple protocol.

``read_stream`` stands for the code under test -- here httpx with httpx-sse, as an
application would use them. The adapter below is all faultproxy needs: one JSON line per event
the application receives, flushed at once, and an error line plus a non-zero exit status when
the client raises. Define it (faultproxy.toml, a scenario file, or a one-off)::

    faultproxy run --client-cmd "python examples/python/sse_client.py {url}"

    [[clients]]                       # faultproxy.toml
    name = "my-python-client"
    command = "{python} examples/python/sse_client.py {url} --timeout={timeout}"
    protocol = "simple"

``docs/clients.md`` describes the protocol and every placeholder.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator

import httpx
from httpx_sse import connect_sse


def read_stream(url: str, timeout: float | None) -> Iterator[dict]:
    """The application's client: every event of the stream, as the application gets it."""
    with httpx.Client(timeout=httpx.Timeout(10.0, read=timeout)) as client:
        with connect_sse(client, "GET", url) as source:
            source.response.raise_for_status()
            for event in source.iter_sse():
                yield {"type": event.event, "data": event.data, "id": event.id or None}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--timeout", default="", help="read timeout in seconds ('' for none)")
    args = parser.parse_args()
    try:
        for event in read_stream(args.url, float(args.timeout) if args.timeout else None):
            print(json.dumps(event), flush=True)
    except Exception as error:  # what the application would see, reported as an error line
        timeout = isinstance(error, httpx.TimeoutException)
        print(
            json.dumps(
                {"error": str(error) or repr(error), "error_type": type(error).__name__, "timeout": timeout}
            ),
            flush=True,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
