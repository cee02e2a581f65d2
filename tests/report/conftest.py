"""Fixtures for the report tests: the sample report and the files written from it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from report_sample import sample_report

from faultproxy.report import write_reports

RUN_ID = "20250514-103207-sample"


@pytest.fixture(scope="session")
def _sample() -> dict[str, Any]:
    return sample_report(run_id=RUN_ID)


@pytest.fixture
def sample(_sample: dict[str, Any]) -> dict[str, Any]:
    """A fresh deep copy of the sample report, free to mutate."""
    return copy.deepcopy(_sample)


@pytest.fixture(scope="session")
def written(tmp_path_factory: pytest.TempPathFactory, _sample: dict[str, Any]) -> dict[str, Path]:
    """The sample written once for the whole session: ``reports/<run-id>/…`` and ``reports/latest``."""
    return write_reports(_sample, tmp_path_factory.mktemp("reports") / RUN_ID)
