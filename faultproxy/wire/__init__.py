"""Sans-IO protocol code: HTTP/1.1 heads and bodies, the chunked codec, SSE parsing and encoding.

Nothing here touches a socket or a clock. Each piece is fed bytes and returns events that
carry the exact bytes they were parsed from, so the proxy can re-emit a stream byte for byte
or break it on purpose.
"""

from faultproxy.wire.errors import WireError

__all__ = ["WireError"]
