"""User stories for vliqa.phantom: procedural anatomical CT slices with labels and lesions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from vliqa.errors import InvalidParameterError, UnknownNameError
from vliqa.phantom import REGIONS, make_phantom, random_phantom
from vliqa.phantom.core import LABEL_IDS

SIZE = 256  # small slices keep the suite fast; the anatomy is drawn in mm, so it does not change


def _centroid(mask: np.ndarray) -> tuple[float, float]:
    rows, cols = np.nonzero(mask)
    return float(rows.mean()), float(cols.mean())


@pytest.mark.parametrize("region", REGIONS)
def test_same_seed_gives_the_same_slice_and_other_seeds_differ(region):
    a = make_phantom(region, size_px=SIZE, seed=11)
    b = make_phantom(region, size_px=SIZE, seed=11)
    c = make_phantom(region, size_px=SIZE, seed=12)
    assert np.array_equal(a.image.hu, b.image.hu)
    assert np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.lesion_mask, b.lesion_mask)
    assert a.lesions == b.lesions
    assert np.abs(a.image.hu - c.image.hu).mean() > 5.0


@pytest.mark.parametrize("region", REGIONS)
def test_phantom_is_marked_as_a_noise_free_ct_slice(region):
    ph = make_phantom(region, size_px=SIZE, seed=3)
    img = ph.image
    step = img.history[0]
    assert len(img.history) == 1 and step["name"] == "phantom"
    assert step["region"] == region and step["seed"] == 3
    assert img.source == f"phantom:{region}:3"
    assert img.acquisition.modality == "CT" and img.acquisition.kvp == 120.0
    assert img.acquisition.manufacturer == "vliqa phantom" and img.acquisition.body_part == region.upper()
    assert img.hu.dtype == np.float32 and img.hu.shape == (SIZE, SIZE)
    assert img.pixel_spacing_mm == pytest.approx((step["fov_mm"] / SIZE,) * 2)
    lo, hi = (220, 250) if region == "head" else (350, 500)
    assert lo <= step["fov_mm"] <= hi
    # air outside the body is exactly -1000 HU (not -1024), and the body lies inside the field of view
    corners = img.hu[[0, 0, -1, -1], [0, -1, 0, -1]]
    assert np.all(corners == -1000.0)
    body = ph.mask("body")
    assert not body[0].any() and not body[-1].any() and not body[:, 0].any() and not body[:, -1].any()
    assert set(ph.label_names.values()) == {ph.label_names[i] for i in np.unique(ph.labels)}


def test_given_field_of_view_sets_the_pixel_spacing():
    ph = make_phantom("abdomen", size_px=SIZE, seed=1, fov_mm=400.0)
    assert ph.image.pixel_spacing_mm == pytest.approx((400.0 / SIZE, 400.0 / SIZE))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_abdomen_organs_have_their_hounsfield_values(seed):
    ph = make_phantom("abdomen", size_px=SIZE, seed=seed, n_lesions=0)
    hu = ph.image.hu
    phase = ph.image.history[0]["phase"]
    liver_range = (50, 70) if phase == "non-contrast" else (65, 125)
    expected = {
        "liver": liver_range,
        "subcutaneous fat": (-120, -70),
        "intra-abdominal fat": (-120, -70),
        "muscle": (38, 72),
        "aorta": (35, 340),
        "spine": (150, 1000),
    }
    for organ, (lo, hi) in expected.items():
        assert lo <= np.median(hu[ph.mask(organ)]) <= hi, organ
    assert hu[ph.mask("spine")].max() > 650  # the cortical shell
    # homogeneous organs: the parenchymal texture is only a few HU
    liver = ndimage.binary_erosion(ph.mask("liver"), iterations=2) & (ph.labels == LABEL_IDS["liver"])
    q25, q75 = np.percentile(hu[liver], [25, 75])
    assert q75 - q25 < 15
    for kidney in ("right kidney", "left kidney"):
        assert ph.mask(kidney).sum() > 0


def test_abdomen_has_radiological_orientation():
    for seed in range(6):
        ph = make_phantom("abdomen", size_px=SIZE, seed=seed, n_lesions=0)
        if ph.mask("spleen").sum() < 30:
            continue
        liver_row, liver_col = _centroid(ph.mask("liver"))
        spleen_row, spleen_col = _centroid(ph.mask("spleen"))
        assert liver_col < spleen_col  # patient's right (liver) on the image left
        body_row, body_col = _centroid(ph.mask("body"))
        spine_row, spine_col = _centroid(ph.mask("spine"))
        assert spine_row > body_row  # the spine is posterior: at the bottom
        assert abs(spine_col - body_col) < 0.1 * SIZE
        assert _centroid(ph.mask("right kidney"))[1] < _centroid(ph.mask("left kidney"))[1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chest_has_dark_lungs_bright_bone_and_air_in_the_airways(seed):
    ph = make_phantom("chest", size_px=SIZE, seed=seed, n_lesions=0)
    hu = ph.image.hu
    assert -900 <= np.median(hu[ph.mask("lung")]) <= -780
    assert np.median(hu[ph.mask("pulmonary vessels")]) > -600  # vessel trees are bright in the lung
    assert hu[ph.mask("ribs")].max() > 600
    assert -120 <= np.median(hu[ph.mask("subcutaneous fat")]) <= -70
    right_col = _centroid(ph.mask("right lung"))[1]
    left_col = _centroid(ph.mask("left lung"))[1]
    assert right_col < left_col
    level = ph.image.history[0]["level"]
    airway = {"upper": "trachea", "hilar": "bronchi"}.get(level)
    if airway:
        assert hu[ph.mask(airway)].min() < -900
    if level == "cardiac":
        assert _centroid(ph.mask("heart"))[1] > _centroid(ph.mask("body"))[1]  # the heart sits to the patient's left


@pytest.mark.parametrize("seed", [0, 1, 8])
def test_head_has_skull_grey_and_white_matter_and_csf(seed):
    ph = make_phantom("head", size_px=SIZE, seed=seed, n_lesions=0)
    hu = ph.image.hu
    assert hu[ph.mask("skull")].max() > 1100
    grey = np.median(hu[ph.mask("grey matter")])
    white = np.median(hu[ph.mask("white matter")])
    assert 33 <= grey <= 45 and 20 <= white <= 32 and grey - white >= 5
    assert -2 <= np.median(hu[ph.mask("cerebrospinal fluid")]) <= 15
    # the skull surrounds the brain
    brain_row, brain_col = _centroid(ph.mask("brain"))
    skull = ph.mask("skull")
    assert skull[: int(brain_row), int(brain_col)].any() and skull[int(brain_row) :, int(brain_col)].any()
    if ph.image.history[0]["level"] == "posterior fossa":
        assert np.median(hu[ph.mask("petrous bone")]) > 1000
        assert ph.mask("cerebellum").sum() > 0


def test_lesions_lie_inside_their_organ_with_the_stated_contrast():
    checked = 0
    for region in REGIONS:
        for seed in range(3):
            ph = make_phantom(region, size_px=512, seed=seed, n_lesions=3)
            # lesions are drawn last: the same seed without lesions is the lesion-free background
            clean = make_phantom(region, size_px=512, seed=seed, n_lesions=0).image.hu
            assert 1 <= len(ph.lesions) <= 3
            masks = ph.lesion_masks()
            assert np.array_equal(np.logical_or.reduce(masks), ph.lesion_mask)
            assert np.array_equal(ph.image.hu[~ndimage.binary_dilation(ph.lesion_mask, iterations=3)],
                                  clean[~ndimage.binary_dilation(ph.lesion_mask, iterations=3)])
            for lesion, m in zip(ph.lesions, masks, strict=True):
                organ = ph.mask(lesion.organ)
                assert m.any() and not (m & ~organ).any()
                core = ndimage.binary_erosion(m, iterations=2)
                if core.sum() < 4:
                    continue
                if lesion.kind.endswith("nodule"):  # nodules replace the lung they sit in
                    measured = float(np.mean(ph.image.hu[core]) - ph.organ_hu[lesion.organ])
                    assert measured == pytest.approx(lesion.contrast_hu, abs=6.0)
                else:  # other lesions add their contrast to the organ's own texture
                    measured = float(np.mean(ph.image.hu[core] - clean[core]))
                    assert measured == pytest.approx(lesion.contrast_hu, abs=0.5)
                # and they stand out from the surrounding organ by about that much
                ring = ndimage.binary_dilation(m, iterations=6) & ~ndimage.binary_dilation(m, iterations=2) & organ
                seen = float(np.mean(ph.image.hu[core]) - np.median(ph.image.hu[ring]))
                assert abs(seen - lesion.contrast_hu) < 0.5 * abs(lesion.contrast_hu) + 8.0, (region, seed, lesion)
                checked += 1
    assert checked >= 8


def test_no_lesions_when_asked_for_none():
    ph = make_phantom("abdomen", size_px=SIZE, seed=5, n_lesions=0)
    assert ph.lesions == () and not ph.lesion_mask.any()


def test_edges_are_partial_volume_not_binary():
    ph = make_phantom("abdomen", size_px=512, seed=2, n_lesions=0)
    body = ph.mask("body")
    edge = body ^ ndimage.binary_erosion(body)
    edge |= ndimage.binary_dilation(body) & ~body
    hu = ph.image.hu[edge]
    intermediate = (hu > -950) & (hu < -150)
    assert intermediate.mean() > 0.3


def test_homogeneous_regions_are_large_enough_to_measure_noise():
    abdomen = make_phantom("abdomen", size_px=512, seed=4, n_lesions=0)
    head = make_phantom("head", size_px=512, seed=4, n_lesions=0)
    for ph, organ in ((abdomen, "liver"), (abdomen, "subcutaneous fat"), (head, "white matter")):
        interior = ndimage.binary_erosion(ph.mask(organ), iterations=3)
        assert interior.sum() > 400, organ


def test_random_phantom_picks_every_region_from_the_seed():
    seen = {random_phantom(seed, size_px=64).region for seed in range(12)}
    assert seen == set(REGIONS)
    assert np.array_equal(random_phantom(7, size_px=64).image.hu, random_phantom(7, size_px=64).image.hu)


def test_many_seeds_render_whole_bodies_inside_the_field_of_view():
    for seed in range(24):
        ph = random_phantom(seed, size_px=96)
        body = ph.mask("body")
        assert body.sum() > 0.15 * body.size
        assert not (body[0].any() or body[-1].any() or body[:, 0].any() or body[:, -1].any()), seed
        assert np.isfinite(ph.image.hu).all() and ph.image.hu.min() >= -1000.0


def test_masks_by_group_and_unknown_names():
    ph = make_phantom("chest", size_px=SIZE, seed=0)
    assert np.array_equal(ph.mask("lung"), ph.mask("right lung") | ph.mask("left lung"))
    with pytest.raises(UnknownNameError, match="liver|lung"):
        ph.mask("appendix")


def test_bad_parameters_raise_typed_errors():
    with pytest.raises(UnknownNameError, match="abdomen, chest, head"):
        make_phantom("pelvis")
    for size in (32, 63, 1025, 4096):
        with pytest.raises(InvalidParameterError, match="size_px"):
            make_phantom("head", size_px=size)
    with pytest.raises(InvalidParameterError):
        make_phantom("head", size_px=256.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="n_lesions"):
        make_phantom("head", size_px=SIZE, n_lesions=-1)
    with pytest.raises(InvalidParameterError, match="fov_mm"):
        make_phantom("head", size_px=SIZE, fov_mm=-5.0)
    with pytest.raises(InvalidParameterError, match="seed"):
        make_phantom("head", size_px=SIZE, seed=-1)


def test_smallest_and_region_names_are_forgiving():
    ph = make_phantom(" Head ", size_px=64, seed=0)
    assert ph.region == "head" and ph.image.hu.shape == (64, 64)
