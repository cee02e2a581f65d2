"""``faultproxy bench``: the proxy measured against a direct connection, nginx and mitmproxy.

Everything runs on this machine, over loopback, against one purpose-built upstream:

- :mod:`~faultproxy.bench.upstream` -- the benchmark's own SSE server (asyncio on uvloop),
  sending pre-built chunked events so that it is never the bottleneck;
- :mod:`~faultproxy.bench.load` -- the load generators: a raw-socket reader for throughput,
  paced streams with send timestamps for latency, idle streams for memory per connection;
- :mod:`~faultproxy.bench.worker` -- the process that runs the upstream and the asyncio load
  clients, driven by JSON lines on stdin;
- :mod:`~faultproxy.bench.peers` -- the proxies under test, each its own process;
- :mod:`~faultproxy.bench.runner` -- one run, step by step;
- :mod:`~faultproxy.bench.report` -- tables, targets, JSON.
"""

from __future__ import annotations

PHASES = ("throughput", "latency", "concurrency")
TARGETS = (
    "direct",
    "faultproxy",
    "faultproxy-capture",
    "faultproxy-sse",
    "faultproxy-mix",
    "nginx",
    "mitmproxy",
)
# faultproxy writing a capture (``--capture``): what keeping every byte, decoded, costs -- the
# throughput and its CPU, and the capture file's bytes per byte streamed. Measured in the
# throughput phase only (latency and memory per idle stream are the plain proxy's).
CAPTURE_TARGETS = ("faultproxy-capture",)
# faultproxy with faults on that change nothing, so that only their cost shows: the events of every
# response parsed by an SSE fault (``-sse``), and a typical stack of an SSE, an HTTP and a byte fault
# (``-mix``). Their throughput and latency are measured; memory per idle stream is not.
FAULT_TARGETS = ("faultproxy-sse", "faultproxy-mix")
