"""Assessing real CT inputs with the Assessor: slices, series, exports and arrays give complete assessments."""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path

import numpy as np
import pytest

from vliqa import assess
from vliqa.assessment import Assessment, Assessor, VolumeAssessment, detect_distortions
from vliqa.assessment.assessor import measure_only_note
from vliqa.core import ASPECTS, LEVEL_NAMES
from vliqa.errors import InputNotFoundError, UnknownNameError
from vliqa.io import load, save_preview_png
from vliqa.models import Predictions


def _complete(a: Assessment) -> None:
    assert 0.0 <= a.score <= 4.0
    assert a.level in LEVEL_NAMES.values()
    assert set(a.aspects) == set(ASPECTS)
    assert math.isfinite(a.uncertainty) and a.uncertainty > 0
    assert a.description
    assert a.model == "tiny_medqm" and a.model_version == "test-0"


def test_unknown_model_name_lists_the_shipped_default():
    with pytest.raises(UnknownNameError, match=r"unknown model 'nope' \(shipped models: .*default"):
        Assessor("nope")


def test_missing_checkpoint_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InputNotFoundError):
        Assessor(str(tmp_path / "nope" / "ckpt"))


def test_one_real_dicom_slice_gives_a_complete_assessment(tiny_checkpoint, abdomen_volume):
    path = abdomen_volume.slice_sources[0]
    a = Assessor(tiny_checkpoint).assess(path)
    assert isinstance(a, Assessment)
    _complete(a)
    assert a.path == path and not a.out_of_distribution
    # the physics measures of a routine-dose abdomen slice: noise of a few tens of HU at most
    assert 5.0 < a.measures["noise_sigma_hu"] < 30.0
    assert a.measures["mtf50_lp_per_cm"] > 1.5


def test_series_gives_per_slice_results_and_summary(tiny_checkpoint, abdomen_volume):
    v = Assessor(tiny_checkpoint, batch_size=2).assess(abdomen_volume)
    assert isinstance(v, VolumeAssessment)
    assert [s.slice_index for s in v.slices] == [0, 1, 2]
    assert [s.path for s in v.slices] == list(abdomen_volume.slice_sources)
    scores = [s.score for s in v.slices]
    assert v.summary.n_slices == 3
    assert v.summary.min == pytest.approx(min(scores)) and v.summary.mean == pytest.approx(np.mean(scores))
    assert v.summary.worst_slices[0] == int(np.argmin(scores))
    assert set(v.summary.aspect_means) == set(ASPECTS)
    for s in v.slices:
        _complete(s)


def test_png_export_and_numpy_array_are_assessed(tiny_checkpoint, abdomen_volume, tmp_path):
    png = save_preview_png(abdomen_volume, tmp_path / "slice.png", "ldctiqac", slice_index=1)
    assessor = Assessor(tiny_checkpoint, measures=False)
    from_png = assessor.assess(png)
    from_array = assess(abdomen_volume.hu[1].copy(), model=tiny_checkpoint, measures=False)
    for a in (from_png, from_array):
        _complete(a)
        assert not a.out_of_distribution, a.ood_reason
        assert a.measures == {}
    assert from_png.path == str(png)


def test_assess_many_yields_each_input_and_skips_errors_on_request(tiny_checkpoint, abdomen_volume, tmp_path):
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"DICM not really")
    paths = [abdomen_volume.slice_sources[0], str(bad), abdomen_volume.slice_sources[2]]
    assessor = Assessor(tiny_checkpoint, measures=False)
    results = list(assessor.assess_many(paths, skip_errors=True))
    assert [r.path for r in results] == [paths[0], paths[2]]
    with pytest.raises(Exception) as info:
        list(assessor.assess_many(paths))
    assert "broken.dcm" in str(info.value)


class _FixedPredictor:
    """A predictor object (not a checkpoint) with known outputs: shows how aspects become distortions."""

    name = "fixed"

    def predict(self, images):
        n = len(images)
        aspects = {a: np.full(n, 3.8) for a in ASPECTS}
        aspects["noise"] = np.full(n, 0.5)
        return Predictions(overall=np.full(n, 1.2), aspects=aspects, std=np.full(n, 0.3))


def test_predictor_object_low_noise_aspect_is_reported_as_noise(abdomen_volume):
    a = Assessor(_FixedPredictor(), measures=False).assess(abdomen_volume.slice(0))
    assert a.model == "fixed" and a.level == "poor"
    assert [d.name for d in a.distortions] == ["noise"]
    assert a.distortions[0].confidence == pytest.approx(0.8)
    assert "noise" in a.description.lower()


def test_measures_alone_reveal_high_noise_and_blur():
    aspects = {a: 3.9 for a in ASPECTS}
    found = detect_distortions(aspects, {"noise_sigma_hu": 60.0, "mtf50_lp_per_cm": 2.5, "streak_rms_hu": 8.0})
    assert [d.name for d in found] == ["noise"] and found[0].confidence == pytest.approx(1.0)
    found = detect_distortions(aspects, {"noise_sigma_hu": 13.0, "mtf50_lp_per_cm": 1.0})
    assert [d.name for d in found] == ["blur"]
    assert detect_distortions(aspects, {"noise_sigma_hu": 13.0, "mtf50_lp_per_cm": 2.5, "ring_rms_hu": 0.0}) == ()
    found = detect_distortions(aspects, {"streak_rms_hu": 40.0, "ring_rms_hu": 5.0})
    assert [d.name for d in found] == ["artifacts"] and found[0].confidence == pytest.approx(0.5)


def test_what_only_the_measures_find_is_said_in_the_description():
    measures = {"noise_sigma_hu": 13.0, "streak_rms_hu": 40.0, "ring_rms_hu": 0.0}
    good = {a: 3.9 for a in ASPECTS}
    note = measure_only_note(good, measures)
    assert note == ("The physics measures also find streaks (40 HU RMS of directional fine-scale structure), "
                    "which the model's scores do not show.")
    # when the model's artifacts aspect already says so, the description does too: no note
    poor = {**good, "artifacts": 1.0}
    assert measure_only_note(poor, measures) == ""
    assert measure_only_note(good, {"noise_sigma_hu": 13.0}) == ""
    # two measures: both are named, in the order of MEASURE_EVIDENCE
    both = measure_only_note(good, {"noise_sigma_hu": 50.0, "streak_rms_hu": 40.0})
    assert both.startswith("The physics measures also find noise of 50 HU in soft tissue and streaks (40 HU")


def test_volume_loaded_from_the_real_folder_matches_slice_count(tiny_checkpoint, head_series):
    v = Assessor(tiny_checkpoint, measures=False).assess(head_series)
    assert isinstance(v, VolumeAssessment) and v.summary.n_slices == len(load(head_series))


def test_vliqa_assess_is_callable_and_vliqa_load_gives_models_or_images(tiny_checkpoint, abdomen_volume, head_series):
    import vliqa
    from vliqa.core import CTVolume

    result = vliqa.assess(abdomen_volume.slice(0), model=str(tiny_checkpoint), measures=False)
    assert result.model == "tiny_medqm" and vliqa.Assessor is Assessor
    assert inspect.isfunction(vliqa.assess)  # a plain function, not a callable module
    assert type(vliqa.load(tiny_checkpoint)).__name__ == "LoadedModel"  # a checkpoint folder is a model
    assert isinstance(vliqa.load(head_series), CTVolume)  # a DICOM folder is CT
    assert vliqa.load_image is not None and vliqa.load_model(tiny_checkpoint).name == "tiny_medqm"


class _OverallOnly:
    """A 0-4 predictor that gives no aspect scores."""

    name = "overall_only"

    def predict(self, images):
        return Predictions(overall=np.full(len(images), 2.2))


def test_a_model_without_aspects_claims_none_in_its_description(abdomen_volume):
    a = Assessor(_OverallOnly(), measures=False).assess(abdomen_volume.slice(0))
    assert a.scale == "0-4" and a.level == "fair" and a.aspects == {} and a.distortions == ()
    assert "no aspect scores" in a.description
    assert a.description.count(".") <= 3  # the verdict and the no-aspects sentence: no invented aspect sentences


def test_a_baseline_name_is_a_model_scored_on_its_own_scale(abdomen_volume):
    from vliqa.assessment import assessment_from_dict
    from vliqa.metrics.baselines import score_images

    volume = Assessor("brisque", measures=False).assess(abdomen_volume)
    raw = score_images("brisque", [abdomen_volume.slice(i) for i in range(len(abdomen_volume))])
    assert [s.score for s in volume.slices] == pytest.approx(list(-raw))  # BRISQUE: lower is better, negated
    one = volume.slices[0]
    assert one.scale == "own" and one.level is None and one.aspects == {} and math.isnan(one.uncertainty)
    assert "own scale" in one.description and "negated" in one.description and "0-4" in one.description
    assert volume.summary.worst_slices[0] == int(np.argmax(raw)) and volume.model == "brisque"
    data = json.loads(json.dumps(volume.to_dict(), allow_nan=False))
    assert data["slices"][0]["level"] is None and data["slices"][0]["scale"] == "own"
    assert assessment_from_dict(data).to_dict() == data


@pytest.mark.slow
def test_assess_inputs_reads_each_input_once_and_writes_its_figures(tiny_checkpoint, abdomen_volume, tmp_path):
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"DICM not really")
    maps, plot = tmp_path / "maps", tmp_path / "quality.png"
    assessor = Assessor(tiny_checkpoint, measures=False)
    items = list(assessor.assess_inputs([abdomen_volume, abdomen_volume, abdomen_volume.slice_sources[0], str(bad)],
                                        heatmap_dir=maps, plot=plot))
    assert [isinstance(i.result, VolumeAssessment) for i in items[:2]] == [True, True]
    stem = Path(abdomen_volume.source).stem
    worst = items[0].result.summary.worst_slices
    assert items[0].files == (*(maps / f"{stem}_slice{i:04d}_heatmap.png" for i in worst), plot)
    assert items[1].files[-1] == tmp_path / "quality_2.png"  # a second series does not overwrite the first
    one_stem = Path(abdomen_volume.slice_sources[0]).stem
    assert isinstance(items[2].result, Assessment) and items[2].files == (maps / f"{one_stem}_heatmap.png",)
    assert items[3].result is None and "broken.dcm" in str(items[3].error)
    assert all(f.is_file() for i in items for f in i.files)


def test_a_slice_the_model_cannot_read_is_flagged_alone_and_a_lone_one_is_an_error(abdomen_series):
    """A near-empty slice in a series (too little tissue for the reader model) is out of distribution with no score;
    the other slices are scored as they would be alone. Asked for on its own, it is a typed error."""
    from vliqa.core import CTVolume
    from vliqa.errors import InvalidImageError

    vol = load(abdomen_series)
    hu = vol.hu.copy()
    hu[3] = -1000.0
    hu[3, 250:260, 250:260] = 40.0
    bad = CTVolume(hu, pixel_spacing_mm=vol.pixel_spacing_mm, slice_thickness_mm=vol.slice_thickness_mm)
    assessor = Assessor("default", measures=False, describer=None)
    result = assessor.assess_loaded(bad)
    flagged = result.slices[3]
    assert flagged.out_of_distribution and "cannot read this slice" in flagged.ood_reason
    assert math.isnan(flagged.score) and flagged.level is None
    assert flagged.description.startswith("Cannot assess")
    alone = assessor.assess_loaded(bad.slice(5))
    assert result.slices[5].score == pytest.approx(alone.score, abs=1e-9)
    assert result.summary.n_out_of_distribution >= 1 and math.isfinite(result.summary.mean)
    assert all(math.isfinite(v) for v in result.summary.aspect_means.values())
    json.dumps(result.to_dict())
    with pytest.raises(InvalidImageError, match="too little"):
        assessor.assess_loaded(bad.slice(3))
