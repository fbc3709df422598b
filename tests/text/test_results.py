"""The wording around an assessment's scores comes from vliqa.text.results: notes, baselines, table captions."""

from __future__ import annotations

import math

from vliqa import text


def test_measures_note_lists_what_only_the_measures_found():
    found = [("noise_sigma_hu", 50.0), ("streak_rms_hu", 40.0)]
    assert text.measures_note(found) == (
        "The physics measures also find noise of 50 HU in soft tissue and streaks (40 HU RMS of directional "
        "fine-scale structure), which the model's scores do not show.")
    # a predictor without aspect scores could not have shown it: the finding is stated plainly
    assert text.measures_note(found[:1], model_has_aspects=False) == \
        "The physics measures find noise of 50 HU in soft tissue."
    assert text.measures_note([]) == "" and text.measures_note([("unknown_measure", 1.0)]) == ""


def test_ood_note_and_captions():
    assert text.ood_note("blank image") == "Out of distribution (blank image); the score is unreliable."
    assert text.volume_caption(3, 2.5, 2.4, 1.9, (2, 0), "default") == \
        "3 slices: mean 2.50, median 2.40, min 1.90; worst slices 2, 0; model default"
    assert text.volume_caption(1, math.nan, math.nan, math.nan, (), "niqe").startswith("1 slices: mean —")
    assert text.slice_caption("Fine.", "default") == "Fine.\nmodel default"


def test_overall_only_and_own_scale_descriptions_claim_no_aspect_levels():
    overall = text.describe_overall(2.2)
    assert "fair" in overall and "no aspect scores" in overall
    own = text.describe_own_scale("brisque", -22.76, negated=True)
    assert "-22.76" in own and "negated" in own and "not the 0-4 quality scale" in own
    assert "undefined" in text.describe_own_scale("niqe", math.nan)
