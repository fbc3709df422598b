"""Out-of-distribution inputs are flagged with a reason and a raised uncertainty, not scored confidently."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from vliqa.assessment import Assessor, check_image
from vliqa.assessment.ood import MIN_NEIGHBOUR_CORRELATION, OOD_MIN_UNCERTAINTY, neighbour_correlation
from vliqa.core import CTVolume
from vliqa.errors import ImageSizeError
from vliqa.io import load


@pytest.fixture(scope="module")
def assessor(tiny_checkpoint) -> Assessor:
    return Assessor(tiny_checkpoint)


def _flagged(result, words: str) -> None:
    assert result.out_of_distribution
    assert words in result.ood_reason
    assert result.uncertainty >= OOD_MIN_UNCERTAINTY
    assert result.distortions == ()
    assert result.description.startswith("Cannot assess: the input is out of distribution")


def test_real_ct_slice_is_in_distribution(abdomen_volume):
    assert not check_image(abdomen_volume.slice(0)).out_of_distribution


def test_constant_image_is_blank(assessor):
    _flagged(assessor.assess(np.full((128, 128), 40.0, np.float32)), "blank")


def test_small_image_is_tiny_and_too_small_image_is_a_clean_error(assessor, abdomen_volume):
    _flagged(assessor.assess(abdomen_volume.hu[0, 200:240, 200:240].copy()), "tiny")
    with pytest.raises(ImageSizeError):
        assessor.assess(np.zeros((12, 12), np.float32))


def test_twenty_pixel_png_is_tiny(assessor, abdomen_volume, tmp_path):
    path = tmp_path / "thumb.png"
    Image.fromarray(np.linspace(0, 255, 400, dtype=np.uint8).reshape(20, 20)).save(path)
    _flagged(assessor.assess(path), "tiny")


def test_rgb_photo_read_as_ct_is_not_ct_but_grey_render_in_rgb_is(tiny_checkpoint, abdomen_volume, tmp_path):
    rng = np.random.default_rng(0)
    photo = np.zeros((128, 128, 3), np.uint8)
    photo[..., 0] = 200
    photo[..., 1] = np.linspace(0, 255, 128, dtype=np.uint8)[None, :]
    photo[..., 2] = rng.integers(0, 80, (128, 128), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.png")
    # under domain "auto" a colour photo goes to the photo model (tests/assess/test_photo_assessment.py)
    _flagged(Assessor(tiny_checkpoint, domain="ct").assess(tmp_path / "photo.png"), "colour")
    grey = np.clip((abdomen_volume.hu[0] + 135) / 350 * 255, 0, 255).astype(np.uint8)
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "grey_rgb.png")
    assert not check_image(load(tmp_path / "grey_rgb.png", window="ldctiqac")).out_of_distribution


def test_probabilities_given_as_hu_are_not_ct(assessor):
    values = np.random.default_rng(1).random((128, 128)).astype(np.float32)
    _flagged(assessor.assess(values), "too narrow for HU")


def test_values_without_air_or_soft_tissue_are_not_hu(assessor):
    values = np.random.default_rng(2).uniform(1000, 3000, (128, 128)).astype(np.float32)
    _flagged(assessor.assess(values), "not HU")


def test_slice_of_air_is_mostly_air(assessor, abdomen_volume):
    air = np.random.default_rng(3).normal(-1000, 10, (256, 256)).astype(np.float32)
    air[100:108, 100:108] = 40.0
    _flagged(assessor.assess(air), "mostly air")


def test_extreme_values_are_outside_hu(assessor, abdomen_volume):
    hu = abdomen_volume.hu[0].copy()
    hu[:10, :10] = 60000.0
    _flagged(assessor.assess(hu), "outside any CT HU range")


def test_coarse_resampled_pixels_are_out_of_distribution(shared_data):
    # the TotalSegmentator example is resampled to 3 mm voxels: no scanner reconstructs diagnostic slices so
    vol = load(shared_data / "totalsegmentator_example" / "example_ct.nii.gz")
    result = check_image(vol.slice(len(vol) // 2))
    assert result.out_of_distribution and "coarse pixels (3 mm" in result.reason


def test_gaussian_noise_of_500_hu_is_pure_noise_not_a_confident_score(assessor):
    noise = np.random.default_rng(0).normal(0, 500, (512, 512)).astype(np.float32)
    _flagged(assessor.assess(noise), "no spatial structure, pure noise")


def _salt_and_pepper(rng: np.random.Generator, size: int) -> np.ndarray:
    """Gives water (40 HU) with a quarter of the pixels set to air and a quarter to bone, at random."""
    out = np.full((size, size), 40.0, np.float32)
    draw = rng.random((size, size))
    out[draw < 0.25], out[draw > 0.75] = -1024.0, 1500.0
    return out


@pytest.mark.parametrize(
    "name, make",
    [
        ("gaussian 50 HU", lambda rng: rng.normal(0, 50, (512, 512))),
        ("gaussian 200 HU", lambda rng: rng.normal(40, 200, (512, 512))),
        ("gaussian 500 HU, 64 px", lambda rng: rng.normal(0, 500, (64, 64))),
        ("uniform -1000..1000 HU", lambda rng: rng.uniform(-1000, 1000, (512, 512))),
        ("salt and pepper", lambda rng: _salt_and_pepper(rng, 512)),
    ],
)
def test_noise_of_any_distribution_is_flagged_as_pure_noise(name, make):
    values = make(np.random.default_rng(4)).astype(np.float32)
    result = check_image(load(values))
    assert result.out_of_distribution and "pure noise" in result.reason, name


def test_gaussian_noise_of_1000_hu_is_flagged(abdomen_volume):
    noise = np.random.default_rng(5).normal(0, 1000, (512, 512)).astype(np.float32)
    assert check_image(load(noise)).out_of_distribution  # first reason found: beyond any HU range
    assert neighbour_correlation(noise) < MIN_NEIGHBOUR_CORRELATION


def test_noise_saved_as_png_is_flagged(tmp_path):
    Image.fromarray(np.random.default_rng(6).integers(0, 256, (256, 256), dtype=np.uint8)).save(tmp_path / "n.png")
    result = check_image(load(tmp_path / "n.png"))
    assert result.out_of_distribution and "pure noise" in result.reason


def test_very_noisy_real_slice_keeps_its_structure(abdomen_volume):
    # 300 HU of white noise on a real slice (several times noisier than a quarter-dose scan) leaves the anatomy
    hu = abdomen_volume.slice(0).hu + np.random.default_rng(7).normal(0, 300, abdomen_volume.hu.shape[1:])
    assert neighbour_correlation(hu) > 2 * MIN_NEIGHBOUR_CORRELATION


def _slices(image):
    return [image.slice(i) for i in range(len(image))] if isinstance(image, CTVolume) else [image]


@pytest.mark.slow
def test_every_bundled_slice_has_structure(abdomen_series, head_series):
    slices = _slices(load(abdomen_series)) + _slices(load(head_series))
    assert len(slices) == 22
    for image in slices:
        assert neighbour_correlation(image.hu) > 0.95
        assert not check_image(image).out_of_distribution


@pytest.mark.slow
def test_real_dicom_and_reader_study_renders_are_not_taken_for_noise(shared_data):
    # every real slice and render beside the project: scanners, doses, kernels, PNG and JPEG (with PET overlay,
    # noise, blur and compression distortions); the colour PET-CT renders are flagged as colour, never as noise
    files = [
        *shared_data.glob("mayo_ldct_pairs/*/*/*.IMA"),
        *shared_data.glob("dcm_qa_ct_ge_head/*.dcm"),
        *shared_data.glob("totalsegmentator_example/example_ct_dicom/CT.*"),
        *(p for p in shared_data.glob("clinical_ct_slices/**/*") if p.is_file() and p.suffix not in (".txt", ".csv")),
        *shared_data.glob("reader_studies/mtdgan_dev/*/set_*/*.png"),
        *shared_data.glob("reader_studies/petct_dev/images/*.jpg"),
    ]
    assert len(files) > 500
    lowest = 1.0
    for path in files:
        for image in _slices(load(path)):
            lowest = min(lowest, neighbour_correlation(image.hu))
            result = check_image(image)
            assert not (result.out_of_distribution and "pure noise" in result.reason), path
    assert lowest > 2 * MIN_NEIGHBOUR_CORRELATION


def _with_vr(src: Path, dst: Path, keyword: str, vr: bytes) -> Path:
    """Writes `src` to `dst` with the VR bytes of top-level element `keyword` replaced (explicit VR files)."""
    data = bytearray(src.read_bytes())
    at = pydicom.dcmread(src).get_item(keyword, keep_deferred=True).value_tell - 4
    data[at : at + 2] = vr
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.slow
def test_cli_gives_one_line_and_exit_1_for_damaged_headers_and_flags_noise(tiny_checkpoint, head_series, tmp_path):
    dicom = _with_vr(head_series / "12.dcm", tmp_path / "flipped.dcm", "RescaleIntercept", b"XX")
    mhd = tmp_path / "two.mhd"
    (tmp_path / "two.raw").write_bytes(load(head_series / "13.dcm").hu.astype("<i2").tobytes())
    mhd.write_text("NDims = two\nDimSize = 512 512\nElementType = MET_SHORT\nElementDataFile = two.raw\n")
    np.save(tmp_path / "noise.npy", np.random.default_rng(0).normal(0, 500, (512, 512)).astype(np.float32))
    vliqa = str(Path(sys.executable).with_name("vliqa"))
    args = [vliqa, "assess", str(dicom), str(mhd), str(tmp_path / "noise.npy"), "--model", str(tiny_checkpoint),
            "--format", "json", "--no-measures"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    errors = sorted(line for line in r.stderr.strip().splitlines() if line.startswith("error"))
    assert len(errors) == 2  # one line per bad file
    assert "flipped.dcm: damaged DICOM header" in errors[0] and "RescaleIntercept" in errors[0]
    assert "two.mhd: MetaImage header field NDims = 'two' is not an integer" in errors[1]
    (result,) = json.loads(r.stdout)
    assert result["out_of_distribution"] is True and "pure noise" in result["ood_reason"]
