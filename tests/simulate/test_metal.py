"""Metal implants: streaks grow with severity, beam hardening darkens the band between implants, seeds repeat."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage
from synthetic import ellipse_phantom

import vliqa
from vliqa.errors import InvalidParameterError
from vliqa.simulate import get_degradation, metal, tomo
from vliqa.simulate.metal_placement import KINDS, MetalPart, find_anatomy

ABDOMEN = Path(__file__).resolve().parents[2] / "src" / "vliqa" / "samples" / "abdomen_ct_dicom"


@pytest.fixture(scope="module")
def abdomen():
    return vliqa.load(ABDOMEN).slice(10)


@pytest.fixture(scope="module")
def by_severity(abdomen):
    deg = get_degradation("metal")
    return {s: deg.at_severity(abdomen, s, seed=3) for s in (0.1, 0.5, 1.0)}


def metal_distance_mm(out) -> np.ndarray:
    """Gives each pixel's distance (mm) to the inserted metal of the last step."""
    step = out.history[-1]
    occ = metal.occupancy([MetalPart(**p) for p in step["parts"]], out.hu.shape, step["pixel_mm"])
    return ndimage.distance_transform_edt(occ == 0) * step["pixel_mm"]


def streak_energy_hu(out, source) -> float:
    """Gives the std (HU) of the change in tissue 10-40 mm from the metal, outside it."""
    dist = metal_distance_mm(out)
    ring = (dist > 10) & (dist < 40) & (source.hu > -500)
    return float((out.hu - source.hu)[ring].std())


def test_streak_energy_grows_with_severity_on_a_real_abdomen(abdomen, by_severity):
    energy = [streak_energy_hu(by_severity[s], abdomen) for s in (0.1, 0.5, 1.0)]
    print("metal streak energy (HU) at severity 0.1/0.5/1.0:", [round(e, 1) for e in energy])
    assert energy[0] < energy[1] < energy[2]
    assert energy[0] < 40.0 and energy[2] > 150.0


def test_same_seed_gives_identical_pixels_and_other_seeds_differ(abdomen, by_severity):
    again = get_degradation("metal").at_severity(abdomen, 0.5, seed=3)
    assert np.array_equal(again.hu, by_severity[0.5].hu)
    other = get_degradation("metal").at_severity(abdomen, 0.5, seed=4)
    assert not np.array_equal(other.hu, by_severity[0.5].hu)


def test_bilateral_steel_hips_leave_a_dark_band_between_them(abdomen, by_severity):
    out = by_severity[1.0]
    step = out.history[-1]
    assert step["kind"] == "hip" and step["material"] == "steel" and step["count"] == 2
    (r1, c1), (r2, c2) = step["centres_px"]
    t = np.linspace(0, 1, 400)
    rows, cols = r1 + (r2 - r1) * t, c1 + (c2 - c1) * t
    dist = metal_distance_mm(out)
    keep = ndimage.map_coordinates(dist, [rows, cols], order=0) > 10.0  # the line, off the implants
    line_change = ndimage.map_coordinates(out.hu - abdomen.hu, [rows[keep], cols[keep]], order=1)
    print("mean change on the line between the hips (HU):", round(float(line_change.mean()), 1))
    assert line_change.mean() < -20.0


def test_beam_hardening_alone_darkens_the_band_and_is_sublinear_in_metal(abdomen):
    # Noise-free polychromatic scan: only beam hardening, no photon starvation.
    out = metal.metal(abdomen, kind="hip", material="cocr", count=2, size_scale=0.9, starvation=False)
    (r1, c1), (r2, c2) = out.history[-1]["centres_px"]
    mid = (int(round((r1 + r2) / 2)), int(round((c1 + c2) / 2)))
    dist = metal_distance_mm(out)
    band = (np.abs(np.arange(512)[:, None] - mid[0]) < 4) & (dist > 15) & (abdomen.hu > -500)
    band &= (np.arange(512)[None, :] > min(c1, c2)) & (np.arange(512)[None, :] < max(c1, c2))
    assert (out.hu - abdomen.hu)[band].mean() < -20.0
    # The measured line integral grows less than linearly with the metal path (the cause of the band).
    p = metal.water_corrected(-np.log(metal.transmission(np.full(3, 200.0), {"steel": np.array([0.0, 10.0, 20.0])})))
    assert p[2] - p[1] < p[1] - p[0]


def test_water_rays_are_exactly_water_corrected():
    length_mm = np.array([0.0, 10.0, 150.0, 400.0])
    corrected = metal.water_corrected(-np.log(metal.transmission(length_mm, {})))
    assert np.allclose(corrected, tomo.MU_WATER_PER_MM * length_mm, rtol=1e-4, atol=1e-6)


def test_metal_is_bright_and_the_step_records_what_was_inserted(by_severity):
    out = by_severity[1.0]
    step = out.history[-1]
    for r, c in step["centres_px"]:
        assert out.hu[int(round(r)), int(round(c))] > 2000.0
    for key in ("kind", "material", "density_g_per_cm3", "parts", "centres_px", "incident_photons", "region", "kernel",
                "severity"):
        assert key in step
    assert step["region"] == "both sides of the abdomen" and step["starved_rays"] > 0
    json.dumps(step)  # the history stays JSON-ready


def test_single_hip_follows_radiological_orientation(abdomen):
    anat = find_anatomy(abdomen.hu, 0.9765625)
    right = metal.metal(abdomen, kind="hip", side="right", material="titanium", size_scale=0.6)
    left = metal.metal(abdomen, kind="hip", side="left", material="titanium", size_scale=0.6)
    # The patient's right is on the image left.
    assert right.history[-1]["centres_px"][0][1] < anat.centre_rc[1] < left.history[-1]["centres_px"][0][1]
    assert right.history[-1]["region"].startswith("right") and left.history[-1]["region"].startswith("left")


def test_screws_go_into_the_vertebra(by_severity):
    step = by_severity[0.5].history[-1]
    assert step["kind"] == "screws" and step["region"] == "spine"


def test_params_for_severity_are_valid_from_0_to_1(abdomen):
    deg = get_degradation("metal")
    assert deg.kind == "projection" and deg.aspects == ("artifacts",)
    rng = np.random.default_rng(0)
    for severity in np.linspace(0.0, 1.0, 21):
        params = deg.params_for_severity(float(severity), rng)
        assert params["kind"] in KINDS and params["material"] in metal.MATERIALS
        assert 0.1 <= params["size_scale"] <= 3.0 and params["count"] in (1, 2) and params["side"] in ("right", "left")
    assert deg.params_for_severity(0.0,
                                   rng)["kind"] == "clip" and deg.params_for_severity(0.0, rng)[
                                       "material"] == "titanium"
    assert deg.params_for_severity(1.0, rng) | {"side": "x"} == {"kind": "hip", "material": "steel", "count": 2,
                                                                 "size_scale": 1.0, "side": "x"}


def test_a_tiny_clip_barely_changes_the_image(abdomen):
    out = get_degradation("metal").at_severity(abdomen, 0.0, seed=1)
    assert streak_energy_hu(out, abdomen) < 15.0


def test_works_on_a_small_synthetic_slice():
    phantom = ellipse_phantom(128, half_width_px=55, half_height_px=40, spacing_mm=3.0)  # a 33 x 24 cm trunk
    out = metal.metal(phantom, kind="hip", count=2, material="steel", size_scale=0.8)
    assert out.hu.shape == (128, 128) and np.isfinite(out.hu).all()
    step = out.history[-1]
    assert step["anatomy"] == "abdomen" and step["region"] == "both sides of the abdomen"
    assert out.hu.max() >= 2000.0
    assert np.array_equal(out.hu, metal.metal(phantom, kind="hip", count=2, material="steel", size_scale=0.8).hu)


def test_exact_chords_match_the_projected_metal_mask():
    parts = [MetalPart("ellipse", 30, 40, 8, 4, 30, "steel"), MetalPart("rect", 70, 90, 10, 2, -60, "titanium")]
    occ = metal.occupancy(parts, (100, 128), 0.8)
    square, crop = tomo.to_square(occ.astype(np.float32))
    geom = tomo.parallel_geometry(square.shape[0], 90)
    projected = tomo.forward_project(square, geom) * 0.8
    chords = sum(v[..., 0] for v in metal.chord_sinogram(parts, geom, crop, 0.8).values())
    assert abs(projected.sum() - chords.sum()) / chords.sum() < 0.01
    assert np.abs(projected - chords).mean() < 0.05 * chords.max()


def test_bad_parameters_give_clear_errors(abdomen):
    with pytest.raises(InvalidParameterError, match="kind"):
        metal.metal(abdomen, kind="pacemaker")
    with pytest.raises(InvalidParameterError, match="metal"):
        metal.metal(abdomen, kind="clip", material="gold")
    with pytest.raises(InvalidParameterError, match="side"):
        metal.metal(abdomen, kind="hip", side="middle")
