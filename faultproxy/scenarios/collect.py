"""Scenario cells as pytest items: ``pytest --faultproxy-scenarios scenarios/``.

For a user who prefers pytest to ``faultproxy run``: each cell of a scenario file (scenario ×
client × repetition) is one test item, run by the same :func:`~faultproxy.scenarios.runner.run_cell`
as ``faultproxy run`` (its own server, proxy and client process), so pytest's selection (``-k``),
reports (``--junitxml``) and pytest-xdist (``-n 4``) apply to them. The pytest plugin
(:mod:`faultproxy.pytest_plugin`) collects ``*.yaml`` / ``*.yml`` files as scenario files when asked
(``--faultproxy-scenarios``, or ``faultproxy_scenarios = true`` in the pytest ini); nothing
changes otherwise. A bad file is a collection error naming ``FILE:LINE``; a client that is not
installed here is a skipped item saying how to install it; a failing cell's report is each unmet
expectation and the evidence summary, with the cell's capture kept for a look.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SUFFIXES = (".yaml", ".yml")


class CellFailed(Exception):
    """A cell that did not pass; carries its result."""

    def __init__(self, result: dict[str, Any], kept: Path):
        super().__init__(result["evidence"]["summary"])
        self.result = result
        self.kept = kept


class ScenarioFile(pytest.File):
    """A scenario file: one item per cell (``SCENARIO[CLIENT]``, ``SCENARIO[CLIENT-2]`` for repetitions)."""

    def collect(self) -> Iterator[pytest.Item]:
        from faultproxy.clients import registry
        from faultproxy.config import load_project_config
        from faultproxy.scenarios import load_file
        from faultproxy.scenarios.runner import Cell

        load_project_config()
        for scenario in load_file(self.path):
            for client in scenario.client_names():
                available = registry.get(client).available()
                for repetition in range(scenario.repetitions):
                    rep = f"-{repetition + 1}" if scenario.repetitions > 1 else ""
                    item = ScenarioItem.from_parent(
                        self,
                        name=f"{scenario.name}[{client}{rep}]",
                        cell=Cell(scenario, client, repetition, scenario.repetitions),
                    )
                    if not available.ok:
                        item.add_marker(
                            pytest.mark.skip(
                                reason=f"client {client} is not available: {available.reason}; install: {available.install}"
                            )
                        )
                    yield item


class ScenarioItem(pytest.Item):
    """One cell, run and judged as ``faultproxy run`` does."""

    def __init__(self, *, cell: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.cell = cell

    def runtest(self) -> None:
        from faultproxy.aio import run
        from faultproxy.scenarios.runner import run_cell

        seed = self.config.getoption("faultproxy_seed")
        folder = Path(tempfile.mkdtemp(prefix="faultproxy-cell-"))
        result = run(run_cell(self.cell, seed, folder / "cell"))
        self.user_properties.append(("outcome", result.outcome))
        if not result.passed:
            raise CellFailed(result.to_dict(), folder)
        shutil.rmtree(folder, ignore_errors=True)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:  # type: ignore[override]
        if not isinstance(excinfo.value, CellFailed):
            return super().repr_failure(excinfo)
        from faultproxy.report.model import why_failed

        result = excinfo.value.result
        lines = [f"{self.cell.key}: {result['outcome']}"]
        lines += [f"  ✗ {reason}" for reason in why_failed(result)]
        lines += [
            f"  {result['evidence']['summary']}",
            f"  the cell's capture: {excinfo.value.kept / 'cell'}",
        ]
        return "\n".join(lines)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        line = self.cell.scenario.line
        return self.path, (line - 1) if line else None, self.cell.key


def wanted(config: pytest.Config) -> bool:
    return bool(config.getoption("faultproxy_scenarios") or config.getini("faultproxy_scenarios"))


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("faultproxy")
    group.addoption(
        "--faultproxy-scenarios",
        action="store_true",
        dest="faultproxy_scenarios",
        help="collect *.yaml scenario files: each cell (scenario × client × repetition) is a test",
    )
    group.addoption(
        "--faultproxy-seed",
        type=int,
        default=0,
        dest="faultproxy_seed",
        help="seed for fault randomness in scenario cells (a scenario's own seed wins)",
    )
    parser.addini(
        "faultproxy_scenarios",
        type="bool",
        default=False,
        help="collect *.yaml scenario files as faultproxy scenario cells",
    )
