"""The assessment JSON schema: it round-trips, has no NaN, and matches the documented fields."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from vliqa.assessment import Assessment, Assessor, VolumeAssessment, assessment_from_dict
from vliqa.assessment.schema import SCHEMA_VERSION
from vliqa.errors import InvalidParameterError

DOC = Path(__file__).resolve().parents[2] / "docs" / "assessment_schema.md"


@pytest.fixture(scope="module")
def volume_result(tiny_checkpoint, abdomen_volume) -> VolumeAssessment:
    return Assessor(tiny_checkpoint).assess(abdomen_volume)


def test_volume_assessment_round_trips_through_json(volume_result):
    text = json.dumps(volume_result.to_dict(), allow_nan=False)  # strict JSON: no NaN anywhere
    back = assessment_from_dict(json.loads(text))
    assert isinstance(back, VolumeAssessment)
    assert back.to_dict() == volume_result.to_dict()
    assert back.summary == volume_result.summary
    assert back.slices[0].distortions == volume_result.slices[0].distortions


def test_slice_with_uncomputable_measure_round_trips_nan_as_null(volume_result):
    one = volume_result.slices[0]
    one = Assessment(**{**one.__dict__, "measures": {**one.measures, "ring_index": math.nan}})
    data = json.loads(json.dumps(one.to_dict(), allow_nan=False))
    assert data["kind"] == "slice" and data["schema_version"] == SCHEMA_VERSION
    assert data["measures"]["ring_index"] is None
    back = Assessment.from_dict(data)
    assert math.isnan(back.measures["ring_index"])
    assert back.to_dict() == data


def test_every_json_field_is_documented(volume_result):
    doc = DOC.read_text()
    data = volume_result.to_dict()
    fields = set(data) | set(data["summary"]) | set(data["slices"][0]) | set(data["slices"][0]["distortions"][0]
                                                                            if data["slices"][0]["distortions"] else {})
    missing = sorted(f for f in fields if f"`{f}`" not in doc)
    assert not missing, f"undocumented in {DOC.name}: {missing}"


def test_foreign_or_newer_json_is_refused_clearly(volume_result):
    with pytest.raises(InvalidParameterError, match="not a vliqa assessment"):
        assessment_from_dict({"score": 3})
    newer = {**volume_result.slices[0].to_dict(), "schema_version": SCHEMA_VERSION + 1}
    with pytest.raises(InvalidParameterError, match="upgrade"):
        assessment_from_dict(newer)
