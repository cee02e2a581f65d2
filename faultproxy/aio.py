"""Running asyncio programs: uvloop when it is installed, the stdlib loop otherwise.

uvloop roughly halves the per-read cost of the relay, which is what decides how many
paced streams one proxy process can carry; nothing depends on it being there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Any:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the fastest loop available."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
