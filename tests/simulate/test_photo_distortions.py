"""Photo distortions: pure and seeded, one per DepictQA family, five severities that get worse step by step."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from vliqa.data.photos import load_photo
from vliqa.errors import InvalidParameterError, UnknownNameError
from vliqa.simulate.photo import (
    PHOTO_DISTORTIONS,
    apply_photo_distortion,
    available_distortions,
    distort_photo,
    pipeline_order,
)

FAMILIES = ("noise", "blur", "jpeg", "jpeg2000", "contrast_decrease", "colour_shift", "overexposure",
            "underexposure", "pixelate", "quantise")


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    return load_photo("astronaut")[96:224, 160:288].astype(np.float32) / 255


def test_registry_holds_depictqa_families_with_their_aspects():
    assert set(FAMILIES) <= set(PHOTO_DISTORTIONS)
    assert set(available_distortions()) == {n for n, d in PHOTO_DISTORTIONS.items() if not d.unavailable}
    assert PHOTO_DISTORTIONS["noise"].aspects == {"noise": 1.0}
    assert PHOTO_DISTORTIONS["blur"].aspects["sharpness"] == 1.0
    for name in ("jpeg", "jpeg2000", "pixelate", "quantise"):
        assert PHOTO_DISTORTIONS[name].aspects["artifacts"] == 1.0 and "texture" in PHOTO_DISTORTIONS[name].aspects
    for name in ("contrast_decrease", "colour_shift", "overexposure", "underexposure"):
        assert PHOTO_DISTORTIONS[name].aspects == {"contrast": 1.0}


@pytest.mark.parametrize("name", available_distortions())
def test_each_family_is_seeded_in_range_and_worse_at_every_severity(name, crop):
    outs = [apply_photo_distortion(crop, name, s, np.random.default_rng(3)) for s in range(1, 6)]
    again = apply_photo_distortion(crop, name, 3, np.random.default_rng(3))
    assert np.array_equal(outs[2], again)
    for out in outs:
        assert out.dtype == np.float32 and out.shape == crop.shape and 0.0 <= out.min() and out.max() <= 1.0
    ssim = [structural_similarity(crop, out, channel_axis=2, data_range=1.0) for out in outs]
    assert all(a > b for a, b in zip(ssim, ssim[1:], strict=False)), ssim
    assert ssim[-1] < 0.85  # severity 5 is clearly bad


def test_input_is_never_changed_and_several_distortions_apply_in_pipeline_order(crop):
    before = crop.copy()
    out = distort_photo(crop, [("jpeg", 2), ("overexposure", 1)], seed=5)
    assert np.array_equal(crop, before)
    assert np.array_equal(out, distort_photo(crop, [("overexposure", 1), ("jpeg", 2)], seed=5))
    assert pipeline_order([("jpeg", 2), ("noise", 1), ("blur", 3)]) == [("blur", 3), ("noise", 1), ("jpeg", 2)]


def test_bad_severity_and_unknown_name_are_clear_errors(crop):
    with pytest.raises(InvalidParameterError, match="1-5"):
        apply_photo_distortion(crop, "blur", 6, np.random.default_rng(0))
    with pytest.raises(UnknownNameError, match="known: noise"):
        apply_photo_distortion(crop, "sepia", 1, np.random.default_rng(0))
