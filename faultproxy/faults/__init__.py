"""Faults: one module per fault, each a typed set of attributes and a transform, by name.

Importing this package registers every fault in :data:`REGISTRY`.
"""

from faultproxy.faults import latency, sse_disconnect, sse_drop  # noqa: F401  (registration)
from faultproxy.faults.base import REGISTRY, Fault
from faultproxy.faults.pipeline import FaultSet, Pipeline
from faultproxy.faults.spec import FaultSpec, FaultSpecError, load_fault_file, parse_cli_fault, parse_fault, parse_faults

__all__ = [
    "REGISTRY", "Fault", "FaultSet", "FaultSpec", "FaultSpecError", "Pipeline",
    "load_fault_file", "parse_cli_fault", "parse_fault", "parse_faults",
]
