"""The Assessor's language side with the shipped quality VLM: descriptions that state the scores' levels,
comparisons that mirror under a swap, answers that say "I cannot tell", and clean errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vliqa.assessment import Assessor
from vliqa.assessment.language import assessment_levels
from vliqa.cli.main import invoke
from vliqa.core import ASPECTS, CTImage
from vliqa.errors import InvalidParameterError
from vliqa.io import load
from vliqa.models import SHIPPED_DIR
from vliqa.text import parse

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (SHIPPED_DIR / "vlm" / "model.safetensors").is_file(),
                       reason="the shipped quality VLM is not built (make train-vlm)"),
]
SAMPLES = Path(__file__).resolve().parents[2] / "src" / "vliqa" / "samples"


@pytest.fixture(scope="module")
def assessor() -> Assessor:
    return Assessor(measures=False)


@pytest.fixture(scope="module")
def abdomen() -> list[CTImage]:
    volume = load(SAMPLES / "abdomen_ct_dicom")
    return [volume.slice(i) for i in range(len(volume))]


@pytest.fixture(scope="module")
def head() -> CTImage:
    volume = load(SAMPLES / "head_ct_dicom")
    return volume.slice(len(volume) // 2)


def _stated(description: str) -> dict[str, int | None]:
    said = parse(description)
    return {**{a: said.aspects.get(a) for a in ASPECTS}, "overall": said.overall}


def test_every_description_states_the_assessment_levels(assessor, abdomen, head):
    results = assessor.assess_slices([*abdomen, head])
    for result in results:
        levels = assessment_levels(result)
        assert result.description_source == "vlm"
        stated = _stated(result.description)
        assert stated["overall"] == levels["overall"], result.description
        for aspect in ASPECTS:
            assert stated[aspect] in (None, levels[aspect]), (aspect, result.description)


def test_description_json_carries_its_source(assessor, abdomen):
    (result,) = assessor.assess_slices(abdomen[:1])
    data = result.to_dict()
    assert data["schema_version"] == 3 and data["description_source"] == "vlm"


def test_comparison_mirrors_when_the_images_swap(assessor, abdomen):
    noisy = abdomen[5].replace(hu=abdomen[5].hu + np.random.default_rng(0).normal(0, 60, abdomen[5].shape))
    ab = assessor.compare(abdomen[5], noisy)
    ba = assessor.compare(noisy, abdomen[5])
    assert ab.preferred == "A" and ba.preferred == "B"
    assert ab.probabilities["A"] == pytest.approx(ba.probabilities["B"], abs=1e-6)
    assert ab.explanation and ab.assessable


def test_comparison_with_a_reference(assessor, abdomen):
    noisy = abdomen[7].replace(hu=abdomen[7].hu + np.random.default_rng(1).normal(0, 40, abdomen[7].shape))
    result = assessor.compare(noisy, abdomen[7], reference=abdomen[7])
    assert result.with_reference and result.preferred == "B"


def test_different_anatomy_is_compared_on_quality_alone(assessor, abdomen, head):
    result = assessor.compare(abdomen[3], head)
    assert any("different anatomy" in n or "differ in size" in n for n in result.notes)
    assert result.notes[0] in result.explanation


def test_a_reference_of_another_size_is_refused(assessor, abdomen):
    small = abdomen[0].replace(hu=abdomen[0].hu[:256, :256])
    with pytest.raises(InvalidParameterError, match="reference"):
        assessor.compare(abdomen[0], abdomen[1], reference=small)


def test_answers_and_cannot_tell(assessor, abdomen):
    lesion = assessor.ask(abdomen[10], "Could a 5 mm liver lesion be missed?")
    assert lesion.answerable and "lesion" in lesion.answer
    for question in ("Does the patient have cancer?", "What's the weather in Paris tomorrow, and who won the match?"):
        answer = assessor.ask(abdomen[10], question)
        assert not answer.answerable and answer.answer.startswith("I cannot tell"), answer.answer


def test_out_of_distribution_input_is_not_described(tiny_checkpoint):
    # the untrained tiny scorer scores anything, so the out-of-distribution check is what speaks
    assessor = Assessor(tiny_checkpoint, measures=False)
    noise = CTImage(hu=np.random.default_rng(2).normal(0, 500, (512, 512)).astype(np.float32))
    (result,) = assessor.assess_slices([noise])
    assert result.out_of_distribution and result.description.startswith("Cannot assess")
    answer = assessor.ask(noise, "Is the noise acceptable?")
    assert not answer.answerable and answer.answer.startswith("Cannot assess")
    compared = assessor.compare(noise, noise)
    assert not compared.assessable and "Cannot assess" in compared.explanation


def test_cli_compare_json_and_panel(tmp_path):
    a = SAMPLES / "abdomen_ct_dicom"
    files = sorted(a.iterdir())
    panel = tmp_path / "panel.png"
    out = tmp_path / "out.json"
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = invoke(["compare", str(files[3]), str(files[4]), "--format", "json", "--panel", str(panel)])
    assert code == 0
    out.write_text(buffer.getvalue())
    data = json.loads(out.read_text())
    assert data["preferred"] in ("A", "B", "tie") and 0 <= data["probability"] <= 1 and data["explanation"]
    assert Image.open(panel).size[0] > 600


def test_cli_errors_are_clean(tmp_path):
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00")
    assert invoke(["describe", str(bad)]) == 1
    assert invoke(["ask", str(tmp_path / "missing.dcm"), "is it noisy?"]) == 1
    assert invoke(["compare", str(bad), str(bad)]) == 1
    assert invoke(["describe", str(bad), "--format", "yaml"]) == 1


DATASET = Path(__file__).resolve().parents[2] / "data" / "vlm-ct"


@pytest.mark.skipif(not (DATASET / "manifest.parquet").is_file(), reason="the VLM's CT set is not built "
                                                                          "(make vlm-dataset)")
def test_every_caption_of_the_test_split_states_the_assessment_levels(assessor):
    from vliqa.data.labelled import manifest_rows

    rows = manifest_rows(DATASET, "test")
    images = [load(DATASET / r["path"]) for r in rows]
    checked = 0
    for start in range(0, len(images), 32):
        for result in assessor.assess_slices(images[start:start + 32]):
            if result.out_of_distribution:
                continue
            levels = assessment_levels(result)
            stated = _stated(result.description)
            assert stated["overall"] == levels["overall"], result.description
            assert all(stated[a] in (None, levels[a]) for a in ASPECTS), result.description
            checked += 1
    assert checked >= 0.9 * len(images)


def test_photographs_are_compared_and_answered(tmp_path):
    from vliqa.data.photos import photo_pairs

    (pair,) = photo_pairs("test", 1, seed=3)
    paths = []
    for name, rgb in (("a", pair.image_a), ("b", pair.image_b), ("ref", pair.reference)):
        path = tmp_path / f"{name}.png"
        Image.fromarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)).save(path)
        paths.append(path)
    assessor = Assessor(measures=False)
    result = assessor.compare(str(paths[0]), str(paths[1]))
    swapped = assessor.compare(str(paths[1]), str(paths[0]))
    assert {"A": "B", "B": "A", "tie": "tie"}[result.preferred] == swapped.preferred
    with_ref = assessor.compare(str(paths[0]), str(paths[1]), reference=str(paths[2]))
    assert with_ref.with_reference
    described = assessor.assess(str(paths[0]))
    assert described.domain == "photo" and described.description_source == "vlm"
    assert "liver" not in described.description.lower()
    answer = assessor.ask(str(paths[0]), "Is the noise in this image acceptable?")
    assert answer.answer and answer.levels
    panel = tmp_path / "panel.png"
    from vliqa.assessment.panel import save_comparison_panel
    from vliqa.io import load as load_any

    save_comparison_panel(result, load_any(str(paths[0]), domain="photo"), load_any(str(paths[1]), domain="photo"),
                          panel)
    assert Image.open(panel).size[0] > 600


def test_a_photograph_is_not_compared_with_ct(abdomen, tmp_path):
    path = tmp_path / "photo.png"
    rgb = np.zeros((128, 128, 3), np.uint8)
    rgb[..., 0] = np.linspace(0, 255, 128)[None, :]
    rgb[..., 1] = np.linspace(255, 0, 128)[:, None]
    Image.fromarray(rgb).save(path)
    with pytest.raises(InvalidParameterError, match="photograph"):
        Assessor(measures=False).compare(str(path), abdomen[0])
