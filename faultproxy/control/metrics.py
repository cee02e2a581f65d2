"""``GET /metrics``: the proxies' counters in Prometheus's text format (version 0.0.4).

Per proxy: connections open now, connections accepted, and how often each fault fired (from
the proxy's evidence, so a fault removed since still counts what it did). A proxy restarted
by an update of its address starts its counters again, which Prometheus reads as a reset.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from faultproxy.control.registry import Managed

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in labels.items()) + "}"


def render_metrics(proxies: Iterable[Managed]) -> str:
    families: dict[str, tuple[str, str, list[str]]] = {
        "faultproxy_proxy_enabled": ("gauge", "1 when the proxy takes connections, 0 when disabled.", []),
        "faultproxy_proxy_active_connections": ("gauge", "Client connections open now.", []),
        "faultproxy_proxy_connections_accepted_total": ("counter", "Client connections accepted.", []),
        "faultproxy_fault_fired_total": ("counter", "Times a fault (toxic) fired, per fault.", []),
    }

    def sample(family: str, value: int, **labels: str) -> None:
        families[family][2].append(f"{family}{_labels(**labels)} {value}")

    for managed in proxies:
        proxy = managed.proxy
        sample("faultproxy_proxy_enabled", int(proxy.enabled), proxy=managed.name)
        sample("faultproxy_proxy_active_connections", proxy.active, proxy=managed.name)
        sample("faultproxy_proxy_connections_accepted_total", proxy.accepted, proxy=managed.name)
        fired = Counter((e.fault, e.type) for e in proxy.evidence)
        for (fault, kind), count in sorted(fired.items()):
            sample("faultproxy_fault_fired_total", count, proxy=managed.name, fault=fault, type=kind)
    lines = []
    for family, (kind, help_text, samples) in families.items():
        lines += [f"# HELP {family} {help_text}", f"# TYPE {family} {kind}", *samples]
    return "\n".join(lines) + "\n"
