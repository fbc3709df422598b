"""The reader model: what it measures on the display, its heads, the shipped checkpoint and full-reference mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vliqa
from vliqa.errors import InvalidImageError, InvalidParameterError
from vliqa.io.export import ExportSpec, display_export
from vliqa.models import create_model, load, save_checkpoint, shipped_models
from vliqa.models.reader import TARGETS, ReaderConfig
from vliqa.models.reader_features import MEASURE_PX, NR_FEATURES, nr_features, reading_display
from vliqa.simulate import get_degradation

SAMPLE = Path(vliqa.__file__).parent / "samples" / "abdomen_ct_dicom"


@pytest.fixture(scope="module")
def abdomen_slice():
    return vliqa.load(SAMPLE).slice(10)


def test_lifted_air_of_an_export_does_not_change_the_features(abdomen_slice):
    black = nr_features(reading_display(display_export(abdomen_slice, ExportSpec(40, 400))))
    lifted = nr_features(reading_display(display_export(abdomen_slice, ExportSpec(40, 400, air_grey=18))))
    # air at grey 18 only rescales the display by 255/237: every log feature moves by at most log(1.08)
    assert np.max(np.abs(black - lifted)) < 0.15


def test_an_export_at_half_size_is_measured_at_the_same_scale(abdomen_slice):
    full = reading_display(display_export(abdomen_slice, ExportSpec(40, 400)))
    large = reading_display(display_export(abdomen_slice, ExportSpec(40, 400, size_px=1024)))
    small = reading_display(display_export(abdomen_slice, ExportSpec(40, 400, size_px=256)))
    assert full.shape == large.shape == small.shape == (MEASURE_PX, MEASURE_PX)
    ln0 = NR_FEATURES.index("ln0")
    assert abs(nr_features(small)[ln0] - nr_features(full)[ln0]) < 0.3


def test_noise_features_grow_with_dose_reduction(abdomen_slice):
    low = get_degradation("low_dose")(abdomen_slice, dose_fraction=0.1, seed=0)
    ln0 = NR_FEATURES.index("ln0")
    assert nr_features(reading_display(low))[ln0] > nr_features(reading_display(abdomen_slice))[ln0] + 0.3


def test_a_blank_frame_cannot_be_measured():
    blank = vliqa.CTImage(hu=np.full((256, 256), -1000.0, np.float32))
    with pytest.raises(InvalidImageError):
        nr_features(reading_display(blank))


def test_an_untrained_reader_model_gives_every_aspect_on_the_scale(abdomen_slice, tmp_path):
    model = create_model("reader_mlp", hidden=4, ensemble=2, artifacts_from="")
    pred = model.predict([abdomen_slice, abdomen_slice])
    assert set(pred.aspects) == {"noise", "artifacts", "sharpness", "contrast", "texture"}
    assert np.all((pred.overall >= 0) & (pred.overall <= 4))
    save_checkpoint(model, model.config, tmp_path / "r", "# tiny reader\n")
    again = load(tmp_path / "r").predict([abdomen_slice])
    assert again.overall[0] == pytest.approx(pred.overall[0], abs=1e-6)


def test_reader_targets_must_include_the_overall_score():
    with pytest.raises(InvalidParameterError):
        create_model("reader_mlp", targets=("noise",))
    assert ReaderConfig().targets == TARGETS


shipped = pytest.mark.skipif("reader" not in shipped_models(), reason="the reader checkpoint is not built")


@pytest.mark.slow
@shipped
def test_the_shipped_reader_prefers_the_full_dose_slice_to_its_quarter_and_tenth_dose(abdomen_slice):
    model = load("reader")
    quarter = get_degradation("low_dose")(abdomen_slice, dose_fraction=0.25, seed=1)
    tenth = get_degradation("low_dose")(abdomen_slice, dose_fraction=0.1, seed=1)
    full, q, t = model.predict([abdomen_slice, quarter, tenth]).overall
    assert full > q > t


@shipped
def test_full_reference_mode_judges_a_smoothed_slice_below_the_reference_itself(abdomen_slice):
    waxy = get_degradation("smooth_tv")(abdomen_slice, strength=0.9, seed=0)
    same = vliqa.assess(abdomen_slice, model="reader", reference=abdomen_slice, measures=False)
    smoothed = vliqa.assess(waxy, model="reader", reference=abdomen_slice, measures=False)
    assert same.score > smoothed.score


@shipped
def test_a_reference_of_another_size_is_refused(abdomen_slice):
    small = vliqa.CTImage(hu=abdomen_slice.hu[::2, ::2].copy())
    with pytest.raises(InvalidParameterError, match="reference"):
        vliqa.assess(abdomen_slice, model="reader", reference=small, measures=False)


def test_a_model_without_full_reference_mode_says_so(abdomen_slice):
    with pytest.raises(InvalidParameterError, match="full-reference"):
        vliqa.assess(abdomen_slice, model="medqm", reference=abdomen_slice, measures=False)
