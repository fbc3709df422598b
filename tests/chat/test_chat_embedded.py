"""The offline `embedded` backend on the bundled real abdomen series: score, report, description, aspects,
distortions and free questions, answered from the Assessment (and the quality VLM when it is there)."""

from __future__ import annotations

import pytest

from vliqa.chat import Conversation
from vliqa.core import LEVEL_NAMES, level_of


def test_give_me_a_score_gives_the_assessment_score_and_level(series_chat):
    chat = series_chat()
    mean = chat.assessment.summary.mean
    reply = chat.send("give me a score")
    level = LEVEL_NAMES[level_of(mean)]
    assert reply.text.startswith(f"The assessment scores this series {mean:.2f} of 4 ({level}): ")
    assert "mean of its 20 slices" in reply.text and reply.backend == "embedded"
    assert reply.grounded_score == pytest.approx(mean) and not reply.flagged_contradiction
    assert chat.send("How would you rate it overall?").text == reply.text


def test_write_the_report_gives_the_markdown_report_without_a_false_alarm(series_chat):
    reply = series_chat().send("please write the report")
    assert reply.text.startswith("# CT image quality report") and "### Noise" in reply.text
    assert "| slice | score | level |" in reply.text and not reply.flagged_contradiction


def test_description_aspects_and_distortions_come_from_the_assessment(series_chat):
    chat = series_chat()
    means = chat.assessment.summary.aspect_means
    assert "Overall quality:" in chat.send("describe the image").text
    noise = chat.send("how noisy is it?").text
    assert noise.startswith(f"Noise: {means['noise']:.2f} of 4 ({LEVEL_NAMES[level_of(means['noise'])]}).")
    both = chat.send("and is it blurry or streaky?").text.splitlines()
    assert [line.split(":")[0] for line in both] == ["Artefacts", "Sharpness"]
    assert chat.send("what's wrong with it?").text.startswith(("Distortions found:", "No distortion was found."))
    assert not any(t.reply.flagged_contradiction for t in chat.turns)


def test_a_free_question_without_the_vlm_is_an_honest_i_cannot_tell(series_chat):
    reply = series_chat().send("could a 5 mm liver lesion be missed?")
    assert reply.text.startswith("I cannot tell from this image: free questions are answered by the quality")


@pytest.mark.slow
def test_a_free_question_goes_to_the_shipped_quality_vlm(shipped_vlm, abdomen_series, assessor):
    from vliqa.assessment import Assessor

    chat = Conversation.open(abdomen_series, assessor=Assessor(assessor.predictor, measures=False, describer="vlm"))
    assert chat.assessment.slices[0].description_source == "vlm"
    reply = chat.send("could a 5 mm liver lesion be missed?")
    assert reply.text and "not available" not in reply.text
    off_topic = chat.send("what is the patient's name?")
    assert off_topic.text.startswith("I cannot tell")
