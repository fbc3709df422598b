"""Photo samples: free skimage photos split by identity, cropped, distorted and labelled by the documented rule."""

from __future__ import annotations

import numpy as np
import pytest

from vliqa.core import ASPECTS, QualityLabels
from vliqa.data.photos import SOURCES, photo_ids, photo_labels, photo_pairs, photo_sample, photo_samples
from vliqa.errors import InvalidParameterError


def test_splits_hold_each_photo_once_and_test_is_a_natural_photo_never_trained_on():
    ids = [s.photo_id for s in SOURCES]
    assert len(ids) == len(set(ids))
    assert not set(photo_ids("train")) & (set(photo_ids("val")) | set(photo_ids("test")))
    assert photo_ids("test") and photo_ids("val")
    assert all(s.kind == "natural" for s in SOURCES if s.split != "train")
    assert all(s.licence for s in SOURCES)


def test_samples_are_deterministic_crops_with_zero_one_or_two_distortions():
    samples = photo_samples("train", 40, seed=1, size=96)
    again = photo_samples("train", 3, seed=1, size=96)
    for a, b in zip(samples, again, strict=False):
        assert np.array_equal(a.image, b.image) and a.distortions == b.distortions
    assert np.array_equal(photo_sample("train", 7, seed=1, size=96).image, samples[7].image)
    assert {len(s.distortions) for s in samples} == {0, 1, 2}
    for s in samples:
        assert s.image.shape == s.reference.shape == (96, 96, 3) and s.image.dtype == np.float32
        assert s.photo_id in photo_ids("train")
        assert isinstance(s.labels, QualityLabels)
        if not s.distortions:
            assert np.array_equal(s.image, s.reference) and s.labels.overall == 4.0
    assert not np.array_equal(samples[0].image, photo_samples("train", 1, seed=2, size=96)[0].image)


def test_label_rule_clean_is_four_and_severity_lowers_the_named_aspect():
    assert photo_labels(()).overall == 4.0 and set(photo_labels(()).aspects.values()) == {4.0}
    for s in range(1, 6):
        lab = photo_labels((("noise", s),))
        assert lab.aspects["noise"] == pytest.approx(4 - 0.8 * s)
        assert all(lab.aspects[a] == 4.0 for a in ASPECTS if a != "noise")
        assert lab.overall == pytest.approx(4 - 0.8 * s)
        assert lab.distortions[0].name == "noise" and lab.distortions[0].severity == pytest.approx(s / 5)
    jpeg = photo_labels((("jpeg", 2),))
    assert jpeg.aspects["artifacts"] == pytest.approx(2.4) and jpeg.aspects["texture"] == pytest.approx(3.2)
    assert jpeg.overall == pytest.approx(2.4 - 0.25 * 0.8)  # worst aspect less a quarter of the second's loss
    both = photo_labels((("blur", 2), ("noise", 2)))
    assert both.overall < min(both.aspects.values()) + 1e-9


def test_pairs_share_one_reference_and_say_which_is_better():
    pairs = photo_pairs("test", 12, seed=0, size=64)
    assert {p.photo_id for p in pairs} <= set(photo_ids("test"))
    same = [p for p in pairs if p.distortions_a[0][0] == p.distortions_b[0][0]]
    assert same, "half the pairs compare two severities of one family"
    for p in same:
        worse_is_b = p.distortions_b[0][1] > p.distortions_a[0][1]
        assert p.preferred == ("A" if worse_is_b else "B")


def test_bad_split_is_a_clear_error():
    with pytest.raises(InvalidParameterError, match="train, val, test"):
        photo_samples("holdout", 3)
