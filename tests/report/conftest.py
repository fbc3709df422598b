"""Fixtures of the report tests: the shipped default model on the bundled real abdomen series and one of its slices.

Assessed once per session without physics measures (the slice: with them, so the measures table is filled).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vliqa.assessment import Assessor
from vliqa.io import load
from vliqa.report import build_report


@pytest.fixture(scope="session")
def assessor() -> Assessor:
    return Assessor(measures=False)


@pytest.fixture(scope="session")
def series(abdomen_series: Path, assessor: Assessor):
    """(VolumeAssessment, CTVolume) of the 20-slice bundled series."""
    image = load(abdomen_series)
    return assessor.assess_loaded(image), image


@pytest.fixture(scope="session")
def one_slice(abdomen_series: Path, assessor: Assessor):
    """(Assessment with physics measures, CTImage) of one slice file of the series."""
    image = load(sorted(abdomen_series.iterdir())[7])
    return Assessor(assessor.predictor, measures=True).assess_loaded(image), image


@pytest.fixture(scope="session")
def series_report(series, assessor):
    result, image = series
    return build_report(result, image, assessor=assessor)


@pytest.fixture(scope="session")
def slice_report(one_slice, assessor):
    result, image = one_slice
    return build_report(result, image, assessor=assessor, metadata={"Site": "Radiology, test hospital"})
