"""Reading descriptions back to levels: our own texts round-trip, paraphrased free text parses sensibly."""

from __future__ import annotations

import itertools
import random

import pytest
from text_cases import CONTEXTS, random_labels

from vliqa.core import ASPECTS, level_of
from vliqa.text import KNOWN_DISTORTIONS, ParsedQuality, describe, parse, phrase_for
from vliqa.text import phrases as P
from vliqa.text.keywords import normalise
from vliqa.text.parser import _best_template
from vliqa.text.templates import MAX_CAPTION_ASPECT_SENTENCES, aspects_worst_first


def _round_trip(style: str, n_label_sets: int = 500) -> tuple[float, float, int]:
    """Gives (aspect accuracy, overall accuracy, aspects read) of parse(describe(labels)) over random labels."""
    rng = random.Random(2023)
    right = total = overall_right = 0
    for _ in range(n_label_sets):
        lab = random_labels(rng)
        parsed = parse(describe(lab, rng.choice(CONTEXTS), seed=rng.randrange(10_000), style=style))
        impaired = [a for a in aspects_worst_first(lab) if level_of(lab.aspects[a]) < 4]
        always_mentioned = set(ASPECTS) if style == "report" else set(impaired[:MAX_CAPTION_ASPECT_SENTENCES])
        for aspect in ASPECTS:
            read = parsed.aspects[aspect]
            if read is None and aspect not in always_mentioned:
                continue  # a fine aspect the caption chose to leave out
            total += 1
            right += read == level_of(lab.aspects[aspect])
        overall_right += parsed.overall == level_of(lab.overall)
    return right / total, overall_right / n_label_sets, total


@pytest.mark.parametrize("style", ["caption", "report"])
def test_parse_recovers_aspect_and_overall_levels_of_500_random_descriptions(style):
    aspect_accuracy, overall_accuracy, n_read = _round_trip(style)
    print(f"\n{style}: aspect accuracy {aspect_accuracy:.4f} over {n_read} aspects, overall {overall_accuracy:.4f}")
    assert aspect_accuracy >= 0.95
    assert overall_accuracy >= 0.95


def test_no_template_is_claimed_by_another_aspect_or_level():
    causes = [""] + [f" due to {c}" for name in KNOWN_DISTORTIONS for c in phrase_for(name).causes]
    artefacts = list(P.GENERIC_ARTIFACT) + [phrase_for(n).artifact for n in KNOWN_DISTORTIONS if phrase_for(n).artifact]
    wheres = ["the liver", "the right kidney", "the posterior fossa", "the lung parenchyma"]
    banks = [(a, lv, t) for a, by in P.ASPECT_TEMPLATES.items() for lv, ts in by.items() for t in ts]
    banks += [("texture", lv, t) for bank in (P.TEXTURE_SMOOTH, P.TEXTURE_COARSE) for lv, ts in bank.items()
              for t in ts]
    checked = 0
    for aspect, level, template in banks:
        for i, (cause, artefact, where) in enumerate(itertools.product(causes, artefacts, wheres)):
            if i % 11:
                continue  # a spread sample keeps the test fast
            sentence = template.format(cause=cause, artifact=artefact, where=where, in_where=f" in {where}" * (i % 2))
            best = _best_template(normalise(sentence).rstrip("."))
            assert best is not None and (best[0].aspect, best[0].level) == (aspect, level), sentence
            checked += 1
    assert checked > 5000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("There is severe streak artifact from the hip prosthesis.", {"artifacts": 0}),
        ("Mild noise is present.", {"noise": 3}),
        ("The image is very noisy and the edges are blurred.", {"noise": 1, "sharpness": 2}),
        ("No artifacts. Sharpness is excellent.", {"artifacts": 4, "sharpness": 4}),
        ("Marked noise, but contrast is good.", {"noise": 1, "contrast": 3}),
        ("The texture looks waxy and oversmoothed.", {"texture": 2}),
        ("Low noise, high contrast and a natural texture.", {"noise": 4, "contrast": 4, "texture": 4}),
        ("Contrast is reduced; small low-contrast lesions could be missed.", {"contrast": 2}),
        ("Moderate blurring of organ edges.", {"sharpness": 2}),
        ("Slight ring artifacts are visible near the centre.", {"artifacts": 3}),
        ("The noise is extreme and obscures everything.", {"noise": 0}),
        ("Severe noise and mild blurring.", {"noise": 0, "sharpness": 3}),
        ("The texture is grainy.", {"texture": 2}),
        ("Minimal noise; crisp edges.", {"noise": 4, "sharpness": 4}),
        ("Contrast is good and noise is severe.", {"contrast": 3, "noise": 0}),
        ("The tissue texture appears plastic, as after heavy iterative reconstruction.", {"texture": 2}),
        ("After contrast-enhanced acquisition the noise is moderate.", {"noise": 2}),
    ],
)
def test_free_text_paraphrases_parse_to_sensible_levels(text, expected):
    parsed = parse(text)
    assert {a: v for a, v in parsed.aspects.items() if v is not None} == expected


@pytest.mark.parametrize(
    ("text", "overall"),
    [
        ("Overall image quality is poor.", 1),
        ("Overall: 3/4.", 3),
        ("In summary the overall quality is excellent.", 4),
        ("Noise is mild. Clinical interpretation is limited.", 2),
        ("Noise (fair, 2/4): moderate noise.", None),
    ],
)
def test_overall_level_is_read_from_verdicts_numbers_and_meanings(text, overall):
    assert parse(text).overall == overall


def test_distortions_are_recognised_in_free_text():
    parsed = parse("Severe metal artifacts from the hip prosthesis; the image is also noisy due to low dose. "
                   "JPEG2000 compression softens edges.")
    assert set(parsed.distortions) == {"metal", "low_dose", "jpeg2000"}
    assert parse("JPEG blocking is visible.").distortions == ("jpeg",)


def test_text_that_says_nothing_about_quality_parses_to_nothing():
    assert parse("") == ParsedQuality(aspects={a: None for a in ASPECTS}, overall=None, distortions=())
    assert parse("The patient was scanned on Tuesday.").aspects == {a: None for a in ASPECTS}


def test_heading_grades_win_over_the_sentences_below_them():
    text = "Noise (poor, 1/4): Mild noise is present.\nArtefacts (excellent, 4/4): Severe streaks."
    assert parse(text).aspects["noise"] == 1 and parse(text).aspects["artifacts"] == 4


def test_free_text_rules_alone_read_most_of_our_captions():
    """The keyword reader (no templates) stands in for paraphrased or generated captions."""
    import re

    from vliqa.text.keywords import keyword_levels

    rng = random.Random(5)
    right = total = 0
    for _ in range(300):
        lab = random_labels(rng)
        caption = describe(lab, rng.choice(CONTEXTS), seed=rng.randrange(10_000))
        read: dict[str, int] = {}
        for sentence in re.split(r"(?<=[.!?])\s+", caption)[:-1]:
            for aspect, level in keyword_levels(sentence).items():
                read.setdefault(aspect, level)
        for aspect, level in parse(caption).aspects.items():
            if level is not None:
                total += 1
                right += read.get(aspect) == level
    print(f"\nkeyword-only aspect accuracy on captions: {right / total:.4f} over {total}")
    assert right / total >= 0.9
