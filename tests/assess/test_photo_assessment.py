"""Assessing photographs: under domain "auto" a colour photo goes to the photo model, a CT export stays CT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vliqa import models
from vliqa.assessment import Assessor, assessment_from_dict
from vliqa.core import ASPECTS, level_of
from vliqa.data.photos import load_photo
from vliqa.errors import InvalidParameterError
from vliqa.io import load
from vliqa.io.export import ExportSpec, render_8bit
from vliqa.simulate.photo import apply_photo_distortion
from vliqa.text import parse

shipped = pytest.mark.skipif("photo" not in models.shipped_models("photo"), reason="the photo model is not built")


@pytest.fixture(scope="module")
def photo_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny photo model saved as a checkpoint (plumbing only, not accuracy)."""
    net = models.create_model("photo_mlp", hidden=4, ensemble=2)
    return models.save_checkpoint(net, net.config, tmp_path_factory.mktemp("photo") / "tiny_photo", "tiny",
                                  metadata={"domain": "photo", "version": "test-photo"})


@pytest.fixture(scope="module")
def assessor(tiny_checkpoint, photo_checkpoint) -> Assessor:
    return Assessor(tiny_checkpoint, describer=None, photo_model=photo_checkpoint)


@pytest.fixture()
def coffee_png(tmp_path: Path) -> Path:
    path = tmp_path / "coffee.png"
    Image.fromarray(load_photo("coffee")).save(path)
    return path


def test_colour_photo_goes_to_the_photo_model_without_ct_measures_or_ood(assessor, coffee_png):
    result = assessor.assess(coffee_png)
    assert result.domain == "photo" and result.model == "tiny_photo" and result.model_version == "test-photo"
    assert result.measures == {} and not result.out_of_distribution and result.slice_index is None
    assert set(result.aspects) == set(ASPECTS) and 0.0 <= result.score <= 4.0
    parsed = parse(result.description)
    assert parsed.overall == level_of(result.score)
    assert parsed.aspects == {a: level_of(v) for a, v in result.aspects.items()}
    again = assessment_from_dict(result.to_dict())
    assert again.domain == "photo" and result.to_dict()["domain"] == "photo"


def test_the_same_photo_read_as_ct_is_flagged_as_before(tiny_checkpoint, photo_checkpoint, coffee_png):
    result = Assessor(tiny_checkpoint, describer=None, photo_model=photo_checkpoint, domain="ct").assess(coffee_png)
    assert result.domain == "ct" and result.out_of_distribution and "colour" in result.ood_reason


def test_grey_ct_export_of_the_bundled_sample_stays_ct_under_auto(assessor, abdomen_volume, tmp_path):
    path = tmp_path / "export.png"
    Image.fromarray(render_8bit(abdomen_volume.slice(0), ExportSpec())).save(path)
    result = assessor.assess(path)
    assert result.domain == "ct" and result.model == "tiny_medqm" and not result.out_of_distribution


def test_photo_domain_forced_uses_the_photo_model_as_default(photo_checkpoint):
    forced = Assessor("default", describer=None, domain="photo", photo_model=photo_checkpoint)
    assert forced.model_name == "tiny_photo"
    grey = np.full((64, 64), 120, np.uint8)
    assert forced.assess(grey).domain == "photo"
    with pytest.raises(InvalidParameterError, match="scores photographs"):
        Assessor(photo_checkpoint, describer=None, domain="ct").assess(np.zeros((64, 64), np.float32))


def test_photo_with_its_clean_reference_is_scored_full_reference(assessor, tmp_path):
    clean = load_photo("rocket")[:256, :256]
    blurred = apply_photo_distortion(clean.astype(np.float32) / 255, "blur", 3, np.random.default_rng(0))
    result = assessor.assess(blurred, reference=clean)
    assert result.domain == "photo"
    with pytest.raises(InvalidParameterError, match="same size"):
        assessor.assess(blurred, reference=load_photo("rocket"))


def test_photos_get_no_heatmap_and_mix_with_ct_in_one_run(assessor, coffee_png, abdomen_volume, tmp_path):
    Image.fromarray(render_8bit(abdomen_volume.slice(0), ExportSpec())).save(tmp_path / "slice.png")
    items = list(assessor.assess_inputs([coffee_png, tmp_path / "slice.png"], heatmap_dir=tmp_path / "maps"))
    assert [i.result.domain for i in items] == ["photo", "ct"]
    assert items[0].files == () and len(items[1].files) == 1


@shipped
def test_shipped_photo_model_scores_a_clean_photo_above_its_jpeg(tiny_checkpoint, coffee_png):
    assessor = Assessor(tiny_checkpoint, describer=None)
    clean = assessor.assess(coffee_png)
    pixels = load(coffee_png, domain="photo").rgb
    bad = assessor.assess(apply_photo_distortion(pixels, "jpeg", 5, np.random.default_rng(0)))
    assert clean.model == "photo" and clean.score > bad.score + 1.0
    assert any(d.name == "artifacts" for d in bad.distortions)


@pytest.mark.slow
def test_cli_assess_domain_photo_gives_photo_json_and_a_bad_domain_is_one_clean_line(photo_checkpoint, coffee_png):
    import json
    import subprocess
    import sys

    vliqa_cli = str(Path(sys.executable).with_name("vliqa"))
    r = subprocess.run([vliqa_cli, "assess", str(coffee_png), "--domain", "photo", "--model", str(photo_checkpoint),
                        "--format", "json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    (result,) = json.loads(r.stdout)
    assert result["domain"] == "photo" and result["model"] == "tiny_photo" and result["measures"] == {}
    r = subprocess.run([vliqa_cli, "assess", str(coffee_png), "--domain", "xray"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 1 and "unknown image domain 'xray'" in r.stderr and "Traceback" not in r.stderr
