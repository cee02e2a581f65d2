"""Faults: one module per fault, each a typed set of attributes and a transform, by name.

Importing this package registers every fault in :data:`REGISTRY`.
"""

from faultproxy.faults import (  # noqa: F401  (registration)
    bandwidth,
    buffer,
    close_delimited,
    content_length_mismatch,
    drop_terminal_chunk,
    early_end,
    empty_response,
    gzip,
    http_status,
    latency,
    limit_data,
    llm_duplicate_delta,
    llm_error_event,
    llm_hold_open,
    llm_no_sentinel,
    llm_no_usage,
    llm_overloaded,
    llm_reorder,
    llm_stall,
    llm_tool_args_cut,
    malformed_chunk,
    random_data_then_close,
    read_timeout,
    remove_header,
    reset_peer,
    set_header,
    slicer,
    slow_close,
    slow_reader,
    sse_corrupt,
    sse_delay,
    sse_disconnect,
    sse_drop,
    sse_duplicate,
    sse_inject,
    sse_reorder,
    sse_rewrite,
    sse_split,
    sse_stall,
    timeout,
    truncate_chunk,
    upstream_http10,
)
from faultproxy.faults.base import REGISTRY, Fault
from faultproxy.faults.faultset import FaultSet
from faultproxy.faults.pipeline import Pipeline
from faultproxy.faults.spec import (
    FaultSpec,
    FaultSpecError,
    load_fault_file,
    parse_cli_fault,
    parse_fault,
    parse_faults,
)

__all__ = [
    "REGISTRY",
    "Fault",
    "FaultSet",
    "FaultSpec",
    "FaultSpecError",
    "Pipeline",
    "load_fault_file",
    "parse_cli_fault",
    "parse_fault",
    "parse_faults",
]
