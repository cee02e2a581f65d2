"""asyncio I/O: the listener, upstream connections, the relay loop, and captures."""

from faultproxy.proxy.server import Proxy

__all__ = ["Proxy"]
