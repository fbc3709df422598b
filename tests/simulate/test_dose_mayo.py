"""Low-dose realism on real full/quarter-dose pairs (Mayo LDCT, shared data): sigma and NPS centroid ratios.

Skipped when mayo_ldct_pairs is not in the shared data folder ($VLIQA_SHARED_DATA or ../shared/data).
One fit patient (L192: both kernels) and one check patient (L286, never used by the fit).
"""

from __future__ import annotations

import pytest

from vliqa.errors import DatasetError
from vliqa.simulate import dose_check

FIT_PATIENT, CHECK_PATIENT = "L192", "L286"
assert FIT_PATIENT in dose_check.FIT_PATIENTS and CHECK_PATIENT in dose_check.CHECK_PATIENTS

try:
    PAIRS = dose_check.load_pairs(patients=(FIT_PATIENT, CHECK_PATIENT))
except DatasetError:
    PAIRS = []

pytestmark = [
    pytest.mark.skipif(not PAIRS, reason="shared mayo_ldct_pairs not present"),
    pytest.mark.slow,
]


@pytest.fixture(scope="module")
def groups() -> list[dose_check.GroupResult]:
    """Gives the per-patient/kernel comparison of simulated and real quarter doses of the two patients."""
    return dose_check.summarize(dose_check.evaluate(PAIRS))


def test_the_fit_and_the_check_patient_are_both_there(groups):
    assert {(g.patient, g.role) for g in groups} == {(FIT_PATIENT, "fit"), (CHECK_PATIENT, "check")}
    assert {g.kernel for g in groups if g.patient == FIT_PATIENT} == {"sharp_D45f", "smooth_B30f"}


@pytest.mark.parametrize("ratio", dose_check.RATIOS)
def test_simulated_quarter_dose_matches_the_real_one(groups, ratio):
    for g in groups:
        print(f"{g.patient} {g.kernel} ({g.role}, {g.n_pairs} pairs): {ratio} sim/real = {g.ratios[ratio]:.3f}")
    for g in groups:
        assert dose_check.within(ratio, g.ratios[ratio]), f"{g.patient} {g.kernel}: {ratio} = {g.ratios[ratio]:.3f}"
