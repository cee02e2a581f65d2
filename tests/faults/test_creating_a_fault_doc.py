"""docs/creating-a-fault.md works as written: its fault module and its in-memory test, run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from faultproxy.faults import base

DOC = Path(__file__).parents[2] / "docs" / "creating-a-fault.md"


def test_the_guides_fault_and_its_test_run(monkeypatch: pytest.MonkeyPatch) -> None:
    module, test = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    monkeypatch.setattr(base, "REGISTRY", dict(base.REGISTRY))  # registered for this test only
    monkeypatch.setattr("faultproxy.faults.spec.REGISTRY", base.REGISTRY)
    namespace: dict = {"__name__": "sse_rename_from_the_guide"}
    exec(compile(module, "creating-a-fault.md (module)", "exec"), namespace)
    assert base.REGISTRY["sse_rename"] is namespace["SSERename"]
    exec(compile(test, "creating-a-fault.md (test)", "exec"), namespace)
    namespace["test_sse_rename_sends_one_event_under_another_type"]()
