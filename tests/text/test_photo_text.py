"""Photo descriptions: photo words (no anatomy, no HU), the distortions named, every level read back by `parse`."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from vliqa.core import ASPECTS, LEVEL_NAMES, QualityLabels, level_of
from vliqa.data.photos import photo_labels
from vliqa.simulate.photo import PHOTO_DISTORTIONS
from vliqa.text import describe_photo, identify_photo_text, parse, photo_distortions_in
from vliqa.text.keywords import normalise
from vliqa.text.parser import _best_template
from vliqa.text.photo_phrases import GENERIC_PHOTO_ARTIFACT, PHOTO_ASPECT_TEMPLATES, PHOTO_DISTORTION_PHRASES

CT_WORDS = re.compile(r"\b(?:hu|hounsfield|anatomy|organ|lesion|liver|kidney|tissue|parenchym\w*|diagnostic|"
                      r"dose|scan|slice|window)\b", re.IGNORECASE)
FAMILIES = tuple(PHOTO_DISTORTIONS)


def _label_sets() -> list[QualityLabels]:
    """Every family at every severity, pairs of families, clean, and random model-like scores."""
    sets = [photo_labels(())] + [photo_labels(((n, s),)) for n in FAMILIES for s in range(1, 6)]
    sets += [photo_labels(((a, sa), (b, sb))) for a, b in itertools.combinations(FAMILIES, 2)
             for sa, sb in ((1, 4), (3, 2), (5, 5))]
    rng = random.Random(11)
    for _ in range(200):
        aspects = {a: rng.uniform(0, 4) for a in ASPECTS}
        sets.append(QualityLabels(overall=rng.uniform(0, 4), aspects=aspects, source="model"))
    return sets


@pytest.mark.parametrize("style", ["caption", "report"])
def test_parse_reads_every_aspect_and_the_overall_level_back_exactly(style):
    checked = 0
    for k, labels in enumerate(_label_sets()):
        for seed in (k, k + 1000):
            parsed = parse(describe_photo(labels, seed=seed, style=style))
            assert parsed.aspects == {a: level_of(labels.aspects[a]) for a in ASPECTS}, labels
            assert parsed.overall == level_of(labels.overall)
            checked += 1
    assert checked > 700


def test_no_photo_template_is_claimed_by_another_aspect_or_level():
    causes = [""] + [f" due to {c}" for p in PHOTO_DISTORTION_PHRASES.values() for c in p.causes]
    artefacts = list(GENERIC_PHOTO_ARTIFACT) + [p.artifact for p in PHOTO_DISTORTION_PHRASES.values() if p.artifact]
    for aspect, by_level in PHOTO_ASPECT_TEMPLATES.items():
        for level, templates in by_level.items():
            assert len(templates) >= 3
            for template, cause, artefact in itertools.product(templates, causes, artefacts):
                sentence = template.format(cause=cause, artifact=artefact)
                best = _best_template(normalise(sentence).rstrip("."))
                assert best is not None and (best[0].aspect, best[0].level) == (aspect, level), sentence


def test_photo_words_name_the_distortions_and_no_ct_words():
    labels = photo_labels((("jpeg", 4), ("underexposure", 2)))
    for seed in range(20):
        text = describe_photo(labels, seed=seed)
        assert not CT_WORDS.search(text), text
        assert "jpeg" in photo_distortions_in(text)
        assert "overall" in text.lower() and LEVEL_NAMES[level_of(labels.overall)] in text
    report = describe_photo(labels, seed=3, style="report")
    assert not CT_WORDS.search(report) and report.startswith("Findings:") and "Impression:" in report


def test_identify_photo_text_lists_distortions_most_severe_first():
    text = identify_photo_text(photo_labels((("noise", 1), ("pixelate", 5))))
    assert text.index("pixelation") < text.index("Gaussian noise")
    assert "severe" in text and "mild" in text
    assert photo_distortions_in(text) == ("pixelate", "noise")
    clean = identify_photo_text(photo_labels(()))
    assert re.search(r"no (?:visible )?distortion", clean.lower()) and photo_distortions_in(clean) == ()
    for name in FAMILIES:
        assert photo_distortions_in(identify_photo_text(photo_labels(((name, 3),)))) == (name,)


def test_same_seed_same_text_and_seeds_vary_the_wording():
    labels = photo_labels((("blur", 3),))
    assert describe_photo(labels, seed=4) == describe_photo(labels, seed=4)
    assert len({describe_photo(labels, seed=s) for s in range(10)}) >= 3
