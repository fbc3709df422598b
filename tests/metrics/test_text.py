"""Stories of scoring generated quality descriptions against reference texts, offline."""

from __future__ import annotations

import pytest

from vliqa.errors import InvalidParameterError
from vliqa.metrics import aspect_accuracy, caption_metrics, meteor_available, tokenize_caption

# varied reference texts: CIDEr-D's idf needs a corpus in which n-grams are not shared by every item
REFERENCES = [
    "Moderate noise from the reduced dose gives the liver a grainy appearance.",
    "Marked streaks radiating from the metal implant obscure the pelvis.",
    "The image is sharp, with crisp edges of the vertebrae and vessels.",
    "Severe motion blur doubles the outline of the diaphragm.",
    "Soft-tissue contrast is low, and the pancreas is hard to separate from bowel.",
    "Fine ring artefacts are visible near the centre but do not obscure anatomy.",
]


def test_tokenizer_lowercases_and_drops_punctuation_but_keeps_compound_words():
    assert tokenize_caption("Low-dose CT: noise is HIGH (0.5 mm slices), isn't it?") == \
        "low-dose ct noise is high 0.5 mm slices isn't it"
    assert tokenize_caption("  ...  ") == ""


def test_identical_candidates_score_perfectly():
    scores = caption_metrics(list(REFERENCES), [[r] for r in REFERENCES])
    assert set(scores) == {"bleu1", "bleu2", "bleu3", "bleu4", "rouge_l", "cider_d"}
    assert scores["bleu1"] == pytest.approx(1.0, abs=1e-6)
    assert scores["bleu4"] == pytest.approx(1.0, abs=1e-6)
    assert scores["rouge_l"] == pytest.approx(1.0)
    assert scores["cider_d"] > 5.0  # COCO's x10 scale: identical texts in a varied corpus land near 10


def test_punctuation_and_case_do_not_change_the_scores():
    shouted = [r.upper().replace(",", " ;") for r in REFERENCES]
    assert caption_metrics(shouted, [[r] for r in REFERENCES]) == caption_metrics(REFERENCES, [[r] for r in REFERENCES])


def test_unrelated_text_scores_low():
    unrelated = ["A cat sleeps on a warm windowsill.", "Stock prices rose sharply on Monday.",
                 "Bake the bread for forty minutes.", "The train to Paris leaves at noon.",
                 "Children played football in the park.", "She painted the fence bright green."]
    scores = caption_metrics(unrelated, [[r] for r in REFERENCES])
    assert scores["bleu4"] < 0.05
    assert scores["rouge_l"] < 0.2
    assert scores["cider_d"] < 0.2


def test_closer_paraphrase_scores_higher_than_a_distant_one():
    refs = {i: [r] for i, r in enumerate(REFERENCES)}
    close = {i: r.replace("Moderate", "Mild").replace("Marked", "Strong") for i, r in enumerate(REFERENCES)}
    far = {i: " ".join(reversed(r.split())) for i, r in enumerate(REFERENCES)}
    close_scores, far_scores = caption_metrics(close, refs), caption_metrics(far, refs)
    for key in ("bleu2", "bleu4", "rouge_l", "cider_d"):
        assert close_scores[key] > far_scores[key]
    # the reversed text has exactly the reference's words: perfect unigram precision, nothing else
    assert far_scores["bleu1"] == pytest.approx(1.0, abs=1e-6) and far_scores["bleu4"] < 0.1


def test_multiple_references_and_dict_ids_are_accepted():
    refs = {"scan-a": ["noise is moderate in the liver", "the liver shows moderate noise"],
            "scan-b": ["no artefacts are seen", "the image is free of artefacts"],
            "scan-c": ["the edges are blurred", "sharpness is reduced"]}
    cands = {"scan-a": "the liver shows moderate noise", "scan-b": "no artefacts are seen",
             "scan-c": "sharpness is reduced"}
    scores = caption_metrics(cands, refs)
    assert scores["bleu4"] > 0.9 and scores["rouge_l"] > 0.9


@pytest.mark.parametrize(("cands", "refs", "words"), [
    ([], [], "no candidate"),
    ({"a": "x"}, {"b": ["x"]}, "different items"),
    (["x"], [[]], "non-empty list of strings"),
    (["x"], ["x"], "non-empty list of strings"),
    ([3], [["x"]], "must be a string"),
])
def test_bad_caption_input_gives_clear_error(cands, refs, words):
    with pytest.raises(InvalidParameterError, match=words):
        caption_metrics(cands, refs)


@pytest.mark.slow  # METEOR loads a 60 MB paraphrase table (~20 s)
@pytest.mark.skipif(not meteor_available(), reason="METEOR needs a java executable")
def test_meteor_runs_offline_when_java_is_present():
    identical = caption_metrics(REFERENCES, [[r] for r in REFERENCES], meteor=True)
    assert identical["meteor"] > 0.95
    # pycocoevalcap's own Meteor wrapper gives 0.5383 here (one exact match, one unrelated text)
    mixed = caption_metrics(["the image shows mild noise", "a cat sat on the mat"],
                            [["the image shows mild noise"], ["sharp image with no artifacts"]], meteor=True)
    assert mixed["meteor"] == pytest.approx(0.5383, abs=1e-3)


def test_meteor_without_java_says_what_to_do(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(InvalidParameterError, match="Java"):
        caption_metrics(REFERENCES, [[r] for r in REFERENCES], meteor=True)


def test_aspect_accuracy_reads_levels_back_from_generated_text():
    text_module = pytest.importorskip("vliqa.text")
    from vliqa.core import QualityLabels

    truths = [{"noise": 2, "artifacts": 4, "overall": 2}, {"noise": 0, "artifacts": 1, "overall": 1},
              {"noise": 4, "artifacts": 3, "overall": 3}]
    texts = [text_module.describe(QualityLabels(overall=t["overall"], aspects={"noise": t["noise"],
             "artifacts": t["artifacts"], "sharpness": 4, "contrast": 4, "texture": 4}), seed=i, style="report")
             for i, t in enumerate(truths)]
    perfect = aspect_accuracy(texts, truths)
    assert perfect["noise"]["mention_rate"] == pytest.approx(1.0)
    assert perfect["noise"]["accuracy"] == pytest.approx(1.0)
    assert perfect["artifacts"]["accuracy"] == pytest.approx(1.0)
    assert perfect["overall"]["accuracy"] == pytest.approx(1.0)
    assert perfect["mean"]["accuracy"] == pytest.approx(1.0)

    wrong = [{"noise": 4, "artifacts": 4, "overall": 4}] * 3
    scored = aspect_accuracy(texts, wrong)
    assert scored["noise"]["accuracy"] == pytest.approx(1 / 3)  # only the third text says "noise: 4"
    assert scored["noise"]["mae"] == pytest.approx((2 + 4 + 0) / 3)


def test_aspect_accuracy_counts_texts_that_never_mention_an_aspect():
    pytest.importorskip("vliqa.text")
    texts = ["Moderate noise gives the liver a grainy appearance and lowers the conspicuity of subtle lesions.",
             "A cat sat on the mat."]
    result = aspect_accuracy(texts, [{"noise": 2, "sharpness": 3}, {"noise": 2, "sharpness": 3}])
    assert result["noise"] == {"accuracy": 1.0, "within_one": 1.0, "mae": 0.0, "mention_rate": 0.5, "n": 2,
                               "n_mentioned": 1}
    assert result["sharpness"]["mention_rate"] == 0.0 and result["sharpness"]["n_mentioned"] == 0
    assert result["mean"]["mention_rate"] == pytest.approx(0.25)
    with pytest.raises(InvalidParameterError, match="same order"):
        aspect_accuracy(texts, [{"noise": 2}])
