"""Stories of the classical baselines: every model is compared with NIQE, BRISQUE, PIQE, sharpness, JPEG and noise."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

import vliqa
from vliqa.core import CTImage, to_display
from vliqa.errors import InvalidImageError, UnknownNameError
from vliqa.metrics.baselines import get_baseline, list_baselines, quality_sign, register_baseline, score_images
from vliqa.metrics.baselines import registry as baseline_registry

BUILTIN = {"niqe", "brisque", "piqe", "laplacian_variance", "jpeg_quality", "noise_sigma"}
NSS_BASELINES = ("niqe", "brisque", "piqe")
NOISE_LEVELS_HU = (20.0, 50.0, 100.0)
BLUR_SIGMAS_PX = (1.0, 2.0, 4.0)


@pytest.fixture(scope="module")
def abdomen_slice(abdomen_series: Path) -> CTImage:
    """One real 512x512 abdomen slice (mid-series)."""
    image = vliqa.load(sorted(abdomen_series.iterdir())[9])
    assert isinstance(image, CTImage)
    return image


@pytest.fixture(scope="module")
def noisier(abdomen_slice: CTImage) -> list[CTImage]:
    """The slice with white Gaussian noise of 20, 50 and 100 HU added."""
    rng = np.random.default_rng(0)
    return [
        abdomen_slice.with_step("noise", {"sigma_hu": s},
                                abdomen_slice.hu + rng.normal(0, s, abdomen_slice.shape).astype(np.float32))
        for s in NOISE_LEVELS_HU
    ]


@pytest.fixture(scope="module")
def blurrier(abdomen_slice: CTImage) -> list[CTImage]:
    """The slice blurred with Gaussians of 1, 2 and 4 px."""
    return [abdomen_slice.with_step("blur", {"sigma_px": s}, ndimage.gaussian_filter(abdomen_slice.hu, s))
            for s in BLUR_SIGMAS_PX]


def _quality(name: str, images: list[CTImage]) -> np.ndarray:
    return quality_sign(name) * score_images(name, images)


def test_registry_lists_every_builtin_baseline_with_its_direction() -> None:
    baselines = {b.name: b for b in list_baselines()}
    assert BUILTIN <= set(baselines)
    assert [b.name for b in list_baselines()] == sorted(baselines)
    for name in ("niqe", "brisque", "piqe", "noise_sigma"):
        assert not baselines[name].higher_is_better and quality_sign(name) == -1.0
    for name in ("laplacian_variance", "jpeg_quality"):
        assert baselines[name].higher_is_better and quality_sign(name) == 1.0
    assert baselines["noise_sigma"].input == "hu"
    assert all(b.description and b.reference for b in baselines.values())


def test_unknown_baseline_name_gives_error_listing_the_registered_ones() -> None:
    with pytest.raises(UnknownNameError) as err:
        get_baseline("ssim-nr")
    assert "ssim-nr" in str(err.value)
    for name in BUILTIN:
        assert name in str(err.value)
    assert get_baseline(" NIQE ").name == "niqe"


def test_every_baseline_scores_real_ct_slices_offline(abdomen_slice: CTImage, head_series: Path) -> None:
    head = vliqa.load(head_series / "12.dcm")
    for baseline in list_baselines():
        scores = score_images(baseline.name, [abdomen_slice, head])
        assert scores.shape == (2,) and scores.dtype == np.float64
        assert np.all(np.isfinite(scores)), baseline.name


@pytest.mark.parametrize("name", NSS_BASELINES)
def test_nss_baselines_get_worse_as_noise_grows(name: str, noisier: list[CTImage]) -> None:
    quality = _quality(name, noisier)
    assert np.all(np.diff(quality) < 0), f"{name}: {quality}"


@pytest.mark.parametrize("name", NSS_BASELINES)
def test_nss_baselines_get_worse_as_blur_grows(name: str, blurrier: list[CTImage]) -> None:
    quality = _quality(name, blurrier)
    assert np.all(np.diff(quality) < 0), f"{name}: {quality}"


def test_noise_sigma_rises_with_added_noise_and_reads_hu(abdomen_slice: CTImage, noisier: list[CTImage]) -> None:
    sigma = score_images("noise_sigma", [abdomen_slice, *noisier])
    assert np.all(np.diff(sigma) > 0), sigma
    # Added white noise of 100 HU dominates the slice's own noise: the estimate is in HU, not display units.
    assert 90.0 < sigma[-1] < 115.0
    # The display window does not matter to a baseline that reads HU.
    assert score_images("noise_sigma", noisier[:1], window="lung")[0] == pytest.approx(sigma[1])


def test_sharpness_falls_with_blur(abdomen_slice: CTImage, blurrier: list[CTImage]) -> None:
    sharpness = score_images("laplacian_variance", [abdomen_slice, *blurrier])
    assert np.all(np.diff(sharpness) < 0), sharpness


def test_jpeg_quality_falls_with_stronger_jpeg_compression(abdomen_slice: CTImage) -> None:
    display = to_display(abdomen_slice, "ldctiqac")
    baseline = get_baseline("jpeg_quality")
    scores = []
    for quality in (95, 30, 5):
        buf = io.BytesIO()
        Image.fromarray(np.round(display * 255).astype(np.uint8)).save(buf, format="JPEG", quality=quality)
        scores.append(baseline(np.asarray(Image.open(buf), dtype=np.float32) / 255.0))
    assert scores[0] > scores[1] > scores[2], scores


def test_constant_image_gives_finite_score_or_typed_error() -> None:
    flat = np.full((512, 512), 0.5, dtype=np.float32)
    # PIQE: no salient block, the reference's worst score; the Laplacian of a constant is zero.
    assert get_baseline("piqe")(flat) == 100.0
    assert get_baseline("laplacian_variance")(flat) == 0.0
    for name in ("niqe", "brisque", "jpeg_quality"):
        with pytest.raises(InvalidImageError, match="undefined"):
            get_baseline(name)(flat)
    water = CTImage(hu=np.zeros((512, 512), dtype=np.float32), source="water.npy")
    assert np.isfinite(get_baseline("noise_sigma")(water))


def test_display_baseline_rejects_hu_values_with_a_hint(abdomen_slice: CTImage) -> None:
    with pytest.raises(InvalidImageError, match="to_display"):
        get_baseline("piqe")(abdomen_slice.hu)
    with pytest.raises(InvalidImageError, match="2-D"):
        get_baseline("brisque")(np.zeros((2, 64, 64), dtype=np.float32))


def test_small_image_gives_size_error_from_niqe() -> None:
    rng = np.random.default_rng(1)
    with pytest.raises(vliqa.VliqaError, match="96 px"):
        get_baseline("niqe")(rng.uniform(0, 1, (128, 128)).astype(np.float32))


def test_users_register_their_own_baselines(abdomen_slice: CTImage) -> None:
    @register_baseline("mean_display", higher_is_better=True, description="mean display value")
    def mean_display(display: np.ndarray) -> float:
        return float(display.mean())

    @register_baseline("max_hu", higher_is_better=False, description="largest HU", input="hu")
    def max_hu(image: CTImage) -> float:
        return float(image.hu.max())

    try:
        assert score_images("mean_display",
                            [abdomen_slice])[0] == pytest.approx(float(to_display(abdomen_slice, "ldctiqac").mean()))
        assert score_images("max_hu", [abdomen_slice])[0] == float(abdomen_slice.hu.max())
        assert quality_sign("max_hu") == -1.0
        with pytest.raises(InvalidImageError, match="reads HU"):
            get_baseline("max_hu").score_display(np.zeros((64, 64), dtype=np.float32))
    finally:
        baseline_registry._REGISTRY.pop("mean_display", None)
        baseline_registry._REGISTRY.pop("max_hu", None)
