"""DepictQA-style pairs: tagged questions, A/B comparisons with aspect reasons, preference answers parsed back."""

from __future__ import annotations

import random
import re

import pytest
from text_cases import CONTEXTS, labels, random_labels

from vliqa.core import Distortion
from vliqa.errors import InvalidParameterError, UnknownNameError
from vliqa.text import (
    IMAGE_A_TAG,
    IMAGE_B_TAG,
    REFERENCE_TAG,
    TASKS,
    DescriptionContext,
    answer_for,
    compare,
    parse,
    parse_preference,
    question_for,
)

ABDOMEN = DescriptionContext("abdomen", ("liver", "right kidney"))
NOISY = labels(1.8, (Distortion("low_dose", 0.8),), noise=1.0, texture=3.2)
WAXY = labels(2.9, (Distortion("smooth_cnn", 0.8),), noise=4.0, texture=1.4, sharpness=3.2)


def test_compare_prefers_the_higher_scored_image_and_names_each_distortion():
    result = compare(WAXY, NOISY, ABDOMEN, with_reference=False, seed=0)
    assert result.preferred == "A"
    assert "reduced dose" in result.text or "low-dose" in result.text
    assert "deep-learning" in result.text or "CNN" in result.text
    assert re.search(r"waxy|plastic|smooth", result.text)
    assert any(r.startswith("noise:") for r in result.reasons)
    assert parse_preference(result.text) == "A"
    swapped = compare(NOISY, WAXY, ABDOMEN, with_reference=False, seed=0)
    assert swapped.preferred == "B" and parse_preference(swapped.text) == "B"


def test_preferred_image_is_explained_by_at_least_one_aspect_it_wins():
    sharp = labels(3.5, sharpness=3.6)
    blurred = labels(2.0, (Distortion("blur", 0.7),), sharpness=1.2)
    result = compare(blurred, sharp, with_reference=True, seed=3)
    assert result.preferred == "B"
    assert "sharper" in result.verdict
    assert len(result.reasons) == 1 and result.reasons[0].startswith("sharpness:")
    assert "global image blur" in result.text or "blurring filter" in result.text


def test_close_overall_scores_give_a_tie_with_the_trade_off():
    result = compare(labels(2.6, noise=2.0), labels(2.5, sharpness=2.0), with_reference=False, seed=1)
    assert result.preferred == "tie"
    assert parse_preference(result.text) == "tie"
    assert "less noisy" in result.verdict and "sharper" in result.verdict
    assert compare(labels(2.6), labels(2.5), with_reference=False, tie_threshold=0.05).preferred == "A"
    with pytest.raises(InvalidParameterError):
        compare(labels(2.6), labels(2.5), with_reference=False, tie_threshold=-1)


def test_identical_images_are_a_tie_that_says_they_look_alike():
    result = compare(NOISY, NOISY, with_reference=True, seed=0)
    assert result.preferred == "tie" and result.reasons == ()
    assert "alike" in result.text


def test_reference_comparisons_say_so():
    texts = {compare(WAXY, NOISY, with_reference=True, seed=s).text for s in range(10)}
    assert all("reference" in t for t in texts)
    assert len(texts) >= 3


def test_parse_preference_reads_back_every_generated_comparison():
    rng = random.Random(11)
    checked = 0
    for i in range(400):
        a, b = random_labels(rng), random_labels(rng)
        result = compare(a, b, rng.choice(CONTEXTS), with_reference=bool(i % 2), seed=i)
        assert parse_preference(result.text) == result.preferred, result.text
        assert parse_preference(result.verdict) == result.preferred
        checked += 1
    assert checked == 400


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Image A is better.", "A"),
        ("I prefer image B.", "B"),
        ("B", "B"),
        ("Both images are of similar quality.", "tie"),
        ("Image A is worse than image B.", "B"),
        ("The first image is better.", "A"),
        ("Image B is better than image A because it is sharper.", "B"),
        ("Neither image is clearly better.", "tie"),
        ("The preferred image is A.", "A"),
        ("The images show a liver.", None),
    ],
)
def test_parse_preference_understands_free_answers(answer, expected):
    assert parse_preference(answer) == expected


def test_questions_carry_the_image_tags_each_task_needs():
    for task in TASKS:
        for with_reference in (False, True):
            q = question_for(task, with_reference=with_reference, seed=0)
            assert IMAGE_A_TAG in q
            assert (IMAGE_B_TAG in q) == (task in ("compare", "reason"))
            assert (REFERENCE_TAG in q) == with_reference
            assert q == question_for(task, with_reference=with_reference, seed=0)
        assert len({question_for(task, with_reference=False, seed=s) for s in range(10)}) >= 3


def test_unknown_task_gives_a_clear_error():
    with pytest.raises(UnknownNameError, match="describe"):
        question_for("caption", with_reference=False)


def test_answers_fit_their_questions():
    assert parse(answer_for("describe", NOISY, with_reference=False)).aspects["noise"] == 1
    assert "low-dose noise" in answer_for("identify", NOISY, with_reference=True)
    short = answer_for("compare", WAXY, NOISY, with_reference=False)
    long = answer_for("reason", WAXY, NOISY, with_reference=False)
    assert parse_preference(short) == parse_preference(long) == "A" and len(long) > len(short)
    with pytest.raises(InvalidParameterError):
        answer_for("compare", WAXY, with_reference=False)
