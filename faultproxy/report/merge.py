"""Joining the reports of a sharded run (``faultproxy run --shard K/N``) into one report.

Each shard runs a deterministic slice of the cells (:func:`in_shard`) and writes a whole report of
its own: every scenario and client of the run, the results of its cells. :func:`merge_reports`
checks that the reports belong together -- the same seed and scenarios, shards 1..N of one count
each once, no cell run twice -- and joins them: the results in the order of the run's scenarios
and clients, the run's wall time (the slowest shard), and under ``merged_from`` where each part
came from. The merged report equals the one an unsharded run writes, up to timings and the
machines' environments. ``docs/ci.md`` shows it in a CI pipeline.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

from faultproxy.errors import InputError
from faultproxy.report.model import build_matrix
from faultproxy.report.validate import validate_report


class MergeError(InputError):
    """Reports that cannot be merged, said so that the user can fix the pipeline."""


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` (1 ≤ K ≤ N) -> ``(K, N)``."""
    index, slash, count = text.partition("/")
    try:
        k, n = int(index), int(count)
    except ValueError:
        k = n = 0
    if not slash or not 1 <= k <= n:
        raise InputError(f"--shard {text!r}: expected K/N with 1 ≤ K ≤ N, e.g. 2/4")
    return k, n


def in_shard(key: str, shard: tuple[int, int]) -> bool:
    """Whether the cell ``key`` (``scenario/client[-repetition]``) belongs to shard ``K`` of ``N``.

    By a stable hash of the key: a cell is in the same shard on every machine, whatever else the
    run holds (a client missing on one machine does not move the others)."""
    k, n = shard
    return zlib.crc32(key.encode("utf-8")) % n == k - 1


def load_report(path: Path) -> dict[str, Any]:
    """A run's ``report.json``, given as the file or the run's folder."""
    file = path / "report.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except OSError as error:
        raise MergeError(f"{file}: cannot read: {error.strerror or error}") from None
    except ValueError as error:
        raise MergeError(f"{file}: not JSON: {error}") from None
    try:
        return validate_report(data)
    except InputError as error:
        raise MergeError(f"{file}: not a faultproxy report: {error}") from None


def _same(name: str, values: dict[str, Any]) -> Any:
    distinct = {json.dumps(v, sort_keys=True) for v in values.values()}
    if len(distinct) > 1:
        shown = "; ".join(f"{where}: {json.dumps(v)[:80]}" for where, v in values.items())
        raise MergeError(f"the reports differ in {name}, so they are not parts of one run ({shown})")
    return next(iter(values.values()))


def _check_shards(parts: dict[str, dict[str, Any]], partial: bool) -> None:
    shards = {where: r.get("shard") for where, r in parts.items()}
    if all(s is None for s in shards.values()):
        return
    missing_shard = [where for where, s in shards.items() if s is None]
    if missing_shard:
        raise MergeError(f"{missing_shard[0]} is not a shard, but the others are")
    count = _same("shard count", {w: s["count"] for w, s in shards.items()})
    seen: dict[int, str] = {}
    for where, s in shards.items():
        if s["index"] in seen:
            raise MergeError(f"shard {s['index']}/{count} is given twice: {seen[s['index']]} and {where}")
        seen[s["index"]] = where
    absent = sorted(set(range(1, count + 1)) - set(seen))
    if absent and not partial:
        raise MergeError(
            f"shard(s) {', '.join(f'{k}/{count}' for k in absent)} missing (--partial merges what is there)"
        )


def merge_reports(
    parts: dict[str, dict[str, Any]], *, run_id: str | None = None, partial: bool = False
) -> dict[str, Any]:
    """One report from the reports of a run's shards (keyed by where each came from)."""
    if not parts:
        raise MergeError("no report to merge")
    _check_shards(parts, partial)
    seed = _same("seed", {w: r["seed"] for w, r in parts.items()})
    repeat = _same("--repeat", {w: r.get("repeat", 1) for w, r in parts.items()})
    _same(
        "scenarios",
        {
            w: [{k: v for k, v in s.items() if k not in ("file", "line")} for s in r["scenarios"]]
            for w, r in parts.items()
        },
    )  # where the files are may differ between machines
    scenarios = next(iter(parts.values()))["scenarios"]
    first = next(iter(parts.values()))
    clients: dict[str, dict[str, Any]] = {}
    for report in parts.values():
        for client in report["clients"]:
            known = clients.get(client["name"])
            if known is None or (client.get("available") and not known.get("available")):
                clients[client["name"]] = client
    order_s = {s["name"]: i for i, s in enumerate(scenarios)}
    order_c = {name: i for i, name in enumerate(clients)}
    results: dict[tuple[str, str, int], tuple[str, dict[str, Any]]] = {}
    for where, report in parts.items():
        for r in report["results"]:
            key = (r["scenario"], r["client"], r.get("repetition", 0))
            if key in results:
                raise MergeError(
                    f"{key[0]} / {key[1]} (repetition {key[2] + 1}) is in both {results[key][0]} "
                    f"and {where}: the same cell ran twice"
                )
            results[key] = (where, r)
    ordered = sorted(
        results.values(),
        key=lambda wr: (
            order_s.get(wr[1]["scenario"], len(order_s)),
            order_c.get(wr[1]["client"], len(order_c)),
            wr[1].get("repetition", 0),
        ),
    )
    ids = {r["run_id"] for r in parts.values()}
    started = min(r["started"] for r in parts.values())
    merged = {
        "schema": first["schema"],
        "run_id": run_id or (ids.pop() if len(ids) == 1 else f"{min(ids)}-merged"),
        "started": started,
        "duration_s": max(float(r["duration_s"]) for r in parts.values()),
        "seed": seed,
        "faultproxy_version": first["faultproxy_version"],
        **({"environment": first["environment"]} if first.get("environment") else {}),
        "repeat": repeat,
        "clients": list(clients.values()),
        "scenarios": scenarios,
        "results": [r for _, r in ordered],
        "merged_from": [
            {
                "source": where,
                "run_id": r["run_id"],
                "started": r["started"],
                "duration_s": r["duration_s"],
                "results": len(r["results"]),
                **({"shard": r["shard"]} if r.get("shard") else {}),
                **({"environment": r["environment"]} if r.get("environment") else {}),
            }
            for where, r in parts.items()
        ],
    }
    merged["flaky"] = [cell.flaky_record() for cell in build_matrix(merged).ran_cells() if cell.flaky]
    return validate_report(merged)
