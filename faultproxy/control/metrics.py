"""``GET /metrics``: the proxies' counters in Prometheus's text format, via ``prometheus_client``.

Per proxy: whether it takes connections, connections open now, connections accepted, and how
often each fault fired (``FaultSet.fired``, so a fault removed since still counts what it did,
however few firings are still kept as evidence). Read from the proxies at each scrape rather than kept twice. A proxy restarted by an
update of its address starts its counters again, which Prometheus reads as a reset.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from faultproxy.control.registry import Managed


class _ProxiesCollector:
    """A custom collector: the metric families of a snapshot of the control server's proxies."""

    def __init__(self, proxies: list[Managed]):
        self.proxies = proxies

    def collect(self) -> Iterator[Metric]:
        enabled = GaugeMetricFamily(
            "faultproxy_proxy_enabled",
            "1 when the proxy takes connections, 0 when disabled.",
            labels=["proxy"],
        )
        active = GaugeMetricFamily(
            "faultproxy_proxy_active_connections", "Client connections open now.", labels=["proxy"]
        )
        accepted = CounterMetricFamily(
            "faultproxy_proxy_connections_accepted", "Client connections accepted.", labels=["proxy"]
        )
        fired = CounterMetricFamily(
            "faultproxy_fault_fired",
            "Times a fault (toxic) fired, per fault.",
            labels=["proxy", "fault", "type"],
        )
        for managed in self.proxies:
            proxy = managed.proxy
            enabled.add_metric([managed.name], int(proxy.enabled))
            active.add_metric([managed.name], proxy.active)
            accepted.add_metric([managed.name], proxy.accepted)
            for (fault, kind), count in sorted(proxy.faults.fired.items()):
                fired.add_metric([managed.name, fault, kind], count)
        yield from (enabled, active, accepted, fired)


def render_metrics(proxies: Iterable[Managed], accept: str = "") -> tuple[bytes, str]:
    """The exposition and its content type, in the format the scraper's ``Accept`` asks for
    (Prometheus's text format by default, OpenMetrics when asked)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ProxiesCollector(list(proxies)))
    encode, content_type = choose_encoder(accept)
    return encode(registry), content_type
