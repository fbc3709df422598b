"""The photo model: fixed features of a photograph, a registered architecture, and the shipped `photo` checkpoint."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from vliqa import models
from vliqa.core import CTImage, PhotoImage
from vliqa.data.photos import load_photo, photo_sample
from vliqa.errors import ImageSizeError, InvalidImageError, InvalidParameterError
from vliqa.models.photo import TARGETS, PhotoConfig, PhotoModel
from vliqa.models.photo_features import (
    PHOTO_FEATURES,
    PHOTO_PAIR_FEATURES,
    photo_features,
    photo_pair_features,
)
from vliqa.simulate.photo import apply_photo_distortion

shipped = pytest.mark.skipif("photo" not in models.shipped_models("photo"), reason="the photo model is not built")


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return load_photo("chelsea")[20:276, 100:356].astype(np.float32) / 255


def _distorted(clean: np.ndarray, name: str, severity: int) -> np.ndarray:
    return apply_photo_distortion(clean, name, severity, np.random.default_rng(0))


def test_features_are_finite_of_fixed_length_and_move_with_their_distortion(clean):
    f = dict(zip(PHOTO_FEATURES, photo_features(clean), strict=True))
    assert np.isfinite(list(f.values())).all()
    noisy = dict(zip(PHOTO_FEATURES, photo_features(_distorted(clean, "noise", 4)), strict=True))
    blurred = dict(zip(PHOTO_FEATURES, photo_features(_distorted(clean, "blur", 4)), strict=True))
    blocky = dict(zip(PHOTO_FEATURES, photo_features(_distorted(clean, "jpeg", 5)), strict=True))
    dark = dict(zip(PHOTO_FEATURES, photo_features(_distorted(clean, "underexposure", 4)), strict=True))
    flat = dict(zip(PHOTO_FEATURES, photo_features(_distorted(clean, "contrast_decrease", 5)), strict=True))
    assert noisy["noise_sigma"] > f["noise_sigma"] + 1.0
    assert blurred["lap_var"] < f["lap_var"] - 2.0
    assert blocky["block8"] > f["block8"] + 0.3
    assert dark["luma_mean"] < f["luma_mean"] / 2
    assert flat["rms_contrast"] < f["rms_contrast"] / 2


def test_pair_features_are_perfect_for_the_reference_itself(clean):
    same = dict(zip(PHOTO_PAIR_FEATURES, photo_pair_features(clean, clean), strict=True))
    assert same["psnr"] == 60.0 and same["ssim"] == pytest.approx(1.0) and same["delta_e_mean"] == 0.0
    worse = dict(zip(PHOTO_PAIR_FEATURES, photo_pair_features(_distorted(clean, "blur", 3), clean), strict=True))
    assert worse["psnr"] < 35 and worse["ssim"] < 0.95 and worse["detail_ratio"] < 0


def test_features_take_arrays_photo_images_and_8_bit_and_refuse_ct_and_thumbnails(clean):
    as_uint8 = np.rint(clean * 255).astype(np.uint8)
    np.testing.assert_allclose(photo_features(PhotoImage(clean)), photo_features(as_uint8), atol=1e-5)
    with pytest.raises(InvalidImageError, match="is CT"):
        photo_features(CTImage(np.zeros((64, 64))))
    with pytest.raises(ImageSizeError):
        photo_features(clean[:20, :20])
    with pytest.raises(InvalidImageError, match="same size"):
        photo_pair_features(clean, clean[:128])


def test_photo_mlp_is_registered_and_predicts_every_aspect_on_0_4(clean):
    assert "photo_mlp" in models.list_models("quality")
    net = models.create_model("photo_mlp", hidden=4, ensemble=2)
    pred = net.predict([clean, PhotoImage(clean)])
    assert pred.overall.shape == (2,) and pred.std.shape == (2,)
    assert set(pred.aspects) == set(TARGETS[1:])
    assert all(0.0 <= float(v.min()) and float(v.max()) <= 4.0 for v in (pred.overall, *pred.aspects.values()))
    assert net.predict_pair([clean], [clean]).overall.shape == (1,)
    with pytest.raises(InvalidParameterError, match="unknown photo features"):
        PhotoModel(dataclasses.replace(PhotoConfig(), features=("not_a_feature",)))


def test_a_saved_photo_model_loads_back_with_the_same_scores(tmp_path, clean):
    net = models.create_model("photo_mlp", hidden=4, ensemble=2)
    folder = models.save_checkpoint(net, net.config, tmp_path / "photo", "test card", metadata={"domain": "photo"})
    loaded = models.load(folder)
    np.testing.assert_allclose(loaded.predict([clean]).overall, net.predict([clean]).overall)


@shipped
def test_shipped_photo_model_is_small_listed_as_photo_and_ranks_severities(clean):
    folder = models.SHIPPED_DIR / "photo"
    assert sum(p.stat().st_size for p in folder.iterdir()) < 1_000_000
    assert "photo" not in models.shipped_models() and "photo" in models.shipped_models("photo")
    assert "Data sources" in (folder / "MODEL_CARD.md").read_text()
    model = models.load("photo")
    for name in ("noise", "blur", "jpeg", "underexposure"):
        scores = model.predict([_distorted(clean, name, s) for s in (1, 3, 5)]).overall
        assert scores[0] > scores[1] > scores[2], name
    clean_sample = photo_sample("test", 0, seed=5)
    assert float(model.predict([clean]).overall[0]) > float(model.predict([_distorted(clean, "jpeg", 5)]).overall[0])
    assert clean_sample.image.shape == (256, 256, 3)
