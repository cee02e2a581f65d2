"""Check a report dict against ``schema.json`` (``faultproxy-report/1``) before anything is written.

Errors name the place in the document as a JSON path (``$.results[3].evidence.summary``), so
whoever produced the dict can find the bad value at once.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

from faultproxy.errors import InputError

SCHEMA_PATH = Path(__file__).with_name("schema.json")
MAX_LISTED = 20  # problems listed in one error message


class ReportValidationError(InputError):
    """The report does not match the schema. ``problems`` holds ``(json_path, message)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        count = len(problems)
        lines = [f"  at {path}: {message}" for path, message in problems[:MAX_LISTED]]
        if count > MAX_LISTED:
            lines.append(f"  … and {count - MAX_LISTED} more")
        head = f"report does not match {SCHEMA_PATH.name} (faultproxy-report/1): {count} problem{'s' * (count != 1)}"
        super().__init__("\n".join([head, *lines]))

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.problems]


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _index(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    key = str(key)
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"


def to_json(value: Any, path: str = "$") -> Any:
    """``value`` as plain JSON data (tuples become lists), or an error naming what cannot be JSON.

    Catches what ``json.dumps`` would fail on or write as invalid JSON (NaN, Infinity), with
    the path of the value, before the schema is even looked at.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ReportValidationError([(path, f"{value!r} is not a JSON number")])
        return value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ReportValidationError([(path, f"key {key!r} is not a string")])
            out[key] = to_json(item, _index(path, key))
        return out
    if isinstance(value, (list, tuple)):
        return [to_json(item, _index(path, i)) for i, item in enumerate(value)]
    raise ReportValidationError([(path, f"{type(value).__name__} {value!r:.80} is not JSON data")])


def _problem(error: Any) -> tuple[str, str]:
    path = "$"
    for key in error.absolute_path:
        path = _index(path, key)
    message = error.message
    if len(message) > 300:
        message = message[:299] + "…"
    return path, message


def _error_order(error: Any) -> list[tuple[int, int, str]]:
    """Document order: indexes numerically, keys by name."""
    return [(0, key, "") if isinstance(key, int) else (1, 0, str(key)) for key in error.absolute_path]


def validate_report(report: Any) -> dict[str, Any]:
    """The report as plain JSON data, if it matches the schema; else :class:`ReportValidationError`."""
    data = to_json(report)
    errors = sorted(_validator().iter_errors(data), key=_error_order)
    if errors:
        raise ReportValidationError([_problem(e) for e in errors])
    return data
