"""report.json: validated against schema.json; errors name the place in the document."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from report_sample import HOSTILE_DATA, HOSTILE_UNDECODABLE

from faultproxy.report import ReportValidationError, load_schema, report_json, validate_report, write_reports
from faultproxy.report.model import OUTCOMES


def test_the_schema_is_a_valid_2020_12_schema() -> None:
    Draft202012Validator.check_schema(load_schema())
    assert {o.name for o in OUTCOMES} == set(load_schema()["$defs"]["outcome"]["enum"])


def test_the_sample_covers_every_outcome_and_validates(sample: dict[str, Any]) -> None:
    assert validate_report(sample) == sample
    assert {r["outcome"] for r in sample["results"]} == {o.name for o in OUTCOMES}
    assert any(r.get("known") and r["passed"] for r in sample["results"])
    assert any(r.get("known_changed") and not r["passed"] for r in sample["results"])
    assert any(r["evidence"].get("error") for r in sample["results"])
    assert any(not c["available"] for c in sample["clients"])
    assert any(r["repetition"] == 1 for r in sample["results"])


def test_the_sample_is_deterministic(sample: dict[str, Any]) -> None:
    from report_sample import sample_report

    assert sample_report(run_id=sample["run_id"]) == sample


def test_report_json_is_the_dict_as_given(written: dict[str, Path], sample: dict[str, Any]) -> None:
    assert json.loads(written["json"].read_text(encoding="utf-8")) == sample


def test_a_missing_required_field_is_reported_with_its_path(sample: dict[str, Any]) -> None:
    del sample["results"][3]["evidence"]["summary"]
    with pytest.raises(ReportValidationError) as caught:
        validate_report(sample)
    assert caught.value.paths == ["$.results[3].evidence"]
    assert "$.results[3].evidence: 'summary' is a required property" in str(caught.value)


def test_every_problem_is_listed_in_document_order(sample: dict[str, Any]) -> None:
    sample["results"][12]["outcome"] = "lost"
    sample["results"][2]["timeline"]["received"][0] = "0.1"
    sample["seed"] = "42"
    with pytest.raises(ReportValidationError) as caught:
        validate_report(sample)
    assert caught.value.paths == ["$.results[2].timeline.received[0]", "$.results[12].outcome", "$.seed"]
    message = str(caught.value)
    assert message.startswith("report does not match schema.json (faultproxy-report/1): 3 problems")
    assert "at $.results[12].outcome: 'lost' is not one of" in message


def test_values_json_cannot_hold_are_refused_with_their_path(sample: dict[str, Any]) -> None:
    sample["results"][1]["timeline"]["end"] = math.nan
    with pytest.raises(
        ReportValidationError, match=r"\$\.results\[1\]\.timeline\.end: nan is not a JSON number"
    ):
        validate_report(sample)
    sample["results"][1]["timeline"]["end"] = 1.0
    sample["results"][0]["transcript"]["notes"] = [Path("/x")]
    with pytest.raises(ReportValidationError, match=r"\$\.results\[0\]\.transcript\.notes\[0\]: PosixPath"):
        validate_report(sample)


def test_tuples_are_json_arrays(sample: dict[str, Any]) -> None:
    timeline = sample["results"][0]["timeline"]
    timeline["sent"] = [tuple(row) for row in timeline["sent"]]
    assert validate_report(sample)["results"][0]["timeline"]["sent"][0] == list(timeline["sent"][0])


def test_an_invalid_report_writes_nothing(tmp_path: Path, sample: dict[str, Any]) -> None:
    sample["schema"] = "faultproxy-report/2"
    with pytest.raises(ReportValidationError, match=r"at \$\.schema: 'faultproxy-report/1' was expected"):
        write_reports(sample, tmp_path / "run")
    assert not (tmp_path / "run").exists() and not (tmp_path / "latest").exists()


def test_report_json_keeps_text_from_the_wire_exactly(sample: dict[str, Any]) -> None:
    text = report_json(validate_report(sample))
    back = json.loads(text)
    datas = [e["data"] for r in back["results"] for e in (r["transcript"] or {}).get("events", [])]
    assert (
        HOSTILE_DATA in datas and HOSTILE_UNDECODABLE in datas
    )  # lone surrogates survive, as \udcff escapes
