"""write_reports: the files of a run and the ``latest`` symlink."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from faultproxy.report import FILES, update_latest, write_reports


def test_every_file_is_written_under_the_run_folder(written: dict[str, Path]) -> None:
    run = written["json"].parent
    assert {k: p.name for k, p in written.items() if k != "latest"} == FILES
    assert sorted(p.name for p in run.iterdir()) == sorted(FILES.values())  # no temporary files left over
    assert written["latest"] == run.parent / "latest"


def test_latest_is_a_relative_symlink_to_the_newest_run(tmp_path: Path, sample: dict[str, Any]) -> None:
    first = write_reports(sample, tmp_path / "reports" / "run-1")
    latest = tmp_path / "reports" / "latest"
    assert os.readlink(latest) == "run-1"
    assert (latest / "index.html").read_bytes() == first["html"].read_bytes()
    sample["run_id"] = "run-2"
    write_reports(sample, tmp_path / "reports" / "run-2")
    assert os.readlink(latest) == "run-2"
    write_reports(sample, tmp_path / "reports" / "run-1", latest=False)  # re-rendering an old run
    assert os.readlink(latest) == "run-2"
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["latest", "run-1", "run-2"]


def test_latest_that_is_not_a_symlink_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "latest").mkdir()
    with pytest.raises(FileExistsError, match="not a symlink"):
        update_latest(tmp_path / "run")
    assert (tmp_path / "latest").is_dir() and not (tmp_path / "latest").is_symlink()


def test_a_dangling_latest_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "latest").symlink_to("deleted-run")
    update_latest(tmp_path / "run")
    assert os.readlink(tmp_path / "latest") == "run"
