"""faultproxy: a fault-injection proxy and test harness for streaming HTTP and SSE."""

__version__ = "0.1.0"

__all__ = ["Proxy", "__version__"]


def __getattr__(name: str) -> object:
    # Imported on first use so that `faultproxy decode` and the wire layer stay free of asyncio.
    if name == "Proxy":
        from faultproxy.proxy.server import Proxy

        return Proxy
    raise AttributeError(name)
