"""Reports of a ``faultproxy run``: from the report dict (``faultproxy-report/1``) to files.

::

    from faultproxy.report import write_reports
    paths = write_reports(report, Path("reports") / run_id)
    # {"json": …/report.json, "html": …/index.html, "junit": …/junit.xml, "markdown": …/summary.md,
    #  "latest": reports/latest}

The report is validated against ``schema.json`` first; nothing is written if it does not
match (:class:`ReportValidationError` names each bad place as a JSON path). Each file is
written to a temporary name and renamed into place, readable by its owner only (``0600`` in a
``0700`` folder: reports quote traffic; see :mod:`faultproxy.private`), and ``<out_dir>/../latest`` is replaced
atomically by a relative symlink to ``out_dir``, so a reader never sees half a report.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from faultproxy.private import make_dirs, write_atomic
from faultproxy.report.html import render_html
from faultproxy.report.junit import render_junit
from faultproxy.report.markdown import render_markdown
from faultproxy.report.model import OUTCOMES, build_matrix, totals
from faultproxy.report.validate import ReportValidationError, load_schema, validate_report

__all__ = [
    "FILES",
    "OUTCOMES",
    "ReportValidationError",
    "build_matrix",
    "load_schema",
    "render_html",
    "render_junit",
    "render_markdown",
    "report_json",
    "totals",
    "update_latest",
    "validate_report",
    "write_reports",
]

FILES = {"json": "report.json", "html": "index.html", "junit": "junit.xml", "markdown": "summary.md"}


def report_json(report: dict[str, Any]) -> bytes:
    """``report.json``'s bytes: indented, UTF-8 (ASCII escapes only if the text cannot be UTF-8)."""
    try:
        return (json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from the wire: keep them, as \udcff escapes
        return (json.dumps(report, indent=2, ensure_ascii=True, allow_nan=False) + "\n").encode("ascii")


def update_latest(run_dir: Path, link: Path | None = None) -> Path:
    """Point ``link`` (default: ``run_dir``'s sibling ``latest``) at ``run_dir``, atomically.

    The symlink is relative (``latest -> 20250514-103207``), so the reports folder can be
    moved or archived whole. A new link is made under a temporary name and renamed over the
    old one: there is never a moment without ``latest``. A real file or folder called
    ``latest`` is not replaced (:class:`FileExistsError`).
    """
    run_dir = Path(run_dir)
    link = Path(link) if link is not None else run_dir.parent / "latest"
    if (link.exists() or link.is_symlink()) and not link.is_symlink():
        raise FileExistsError(f"{link} exists and is not a symlink; not replacing it")
    target = os.path.relpath(run_dir.resolve(), link.parent.resolve())
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp, target_is_directory=True)
    try:
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return link


def write_reports(
    report: dict[str, Any], out_dir: Path, *, latest: bool = True, embed_json: bool = True
) -> dict[str, Path]:
    """Validate ``report`` and write ``report.json``, ``index.html``, ``junit.xml`` and ``summary.md``.

    ``out_dir`` is the run's folder (``reports/<run-id>``), created if needed. With
    ``latest`` (the default) ``out_dir/../latest`` then points at it; pass ``latest=False``
    when re-rendering an older run. ``embed_json``: the HTML page carries the report too
    (it can save it as JSON without the folder). Returns the paths written, by kind:
    ``json``, ``html``, ``junit``, ``markdown`` and, if updated, ``latest``.

    Raises :class:`ReportValidationError` (nothing written) if the report does not match
    the schema.
    """
    data = validate_report(report)
    out_dir = Path(out_dir)
    rendered = {
        "json": report_json(data),
        "html": render_html(data, embed=embed_json).encode("utf-8", "replace"),
        "junit": render_junit(data),
        "markdown": render_markdown(data).encode("utf-8", "replace"),
    }
    make_dirs(out_dir)
    paths: dict[str, Path] = {}
    for kind, blob in rendered.items():
        paths[kind] = out_dir / FILES[kind]
        write_atomic(paths[kind], blob)
    if latest:
        paths["latest"] = update_latest(out_dir)
    return paths
