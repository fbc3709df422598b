"""The scorer's fixed texture measurements: an exact Haar pyramid per cell, noise read off real CT, PNG exports
alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

import vliqa
from vliqa.core import CTImage, get_window
from vliqa.models.scorer import MedQMScorer, ScorerConfig
from vliqa.models.scorer_input import as_display_export, preprocess
from vliqa.models.scorer_texture import TextureFeatures, _haar_step, haar_basis


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def abdomen_slice(abdomen_series: Path) -> CTImage:
    return vliqa.load(abdomen_series).slice(10)


def module_for(config: ScorerConfig) -> TextureFeatures:
    texture = MedQMScorer._texture_module(config)
    assert texture.channel == 2 and texture.reading_channel == 0  # bone window (widest) and the reading window
    return texture


def with_noise(image: CTImage, sigma_hu: float, seed: int = 0) -> CTImage:
    rng = np.random.default_rng(seed)
    return image.replace(hu=(image.hu + rng.normal(0.0, sigma_hu, image.shape)).astype(np.float32))


def test_the_cell_filters_are_the_haar_pyramid():
    filters, groups, mean_index = haar_basis(8)
    basis = filters.view(64, 64)
    assert torch.linalg.matrix_rank(basis) == 64  # invertible: nothing of the cell is lost
    cell = torch.rand(8, 8, generator=torch.Generator().manual_seed(0))
    coeffs = basis @ cell.flatten()
    assert coeffs[mean_index].item() == pytest.approx(cell.mean().item(), abs=1e-6)
    # the finest horizontal details are those of one slicing Haar step
    _, h, _, d = _haar_step(cell)
    first_hv = [k for k, g in enumerate(groups) if g == (1, "hv")][:16]
    first_diag = [k for k, g in enumerate(groups) if g == (1, "diag")]
    assert torch.allclose(coeffs[first_hv], h.flatten(), atol=1e-6)
    assert torch.allclose(coeffs[first_diag], d.flatten(), atol=1e-6)
    assert sorted(set(groups)) == [(lv, k) for lv in (1, 2, 3) for k in ("diag", "hv")]


def test_fine_band_energy_follows_white_noise_power():
    # flat soft tissue (40 HU) plus white noise: each doubling of sigma adds log(4) to the finest energies
    texture = TextureFeatures(8, 0, get_window("bone"))
    window = get_window("bone")
    energies = []
    for sigma in (10.0, 20.0, 40.0):
        hu = 40.0 + np.random.default_rng(0).normal(0.0, sigma, (1, 1, 128, 128))
        x = torch.from_numpy(((hu - window.low_hu) / window.width).astype(np.float32))
        maps, stats = texture(x)
        energies.append(maps[0, 1].mean().item())  # diagonal finest band
        assert stats[0, texture.n_maps * 5].item() == pytest.approx(1.0)  # every cell is tissue
    assert np.diff(energies) == pytest.approx([np.log(4.0)] * 2, abs=0.08)


def test_noise_floor_statistic_rises_with_noise_on_a_real_slice(abdomen_slice: CTImage):
    cfg = ScorerConfig()
    texture = module_for(cfg)
    stats = [texture(preprocess([with_noise(abdomen_slice, s)], cfg))[1][0] for s in (0.0, 15.0, 40.0)]
    q05_fine_diag = [float(s[1 * 5 + 0]) for s in stats]  # map 1 (finest diagonal), quantile 0.05
    assert q05_fine_diag[0] < q05_fine_diag[1] < q05_fine_diag[2]
    assert 0.05 < float(stats[0][texture.n_maps * 5]) < 0.9  # a share of the slice is soft tissue, not all


def test_png_export_keeps_the_tissue_statistics(abdomen_slice: CTImage):
    cfg = ScorerConfig()
    texture = module_for(cfg)
    hu_stats = texture(preprocess([abdomen_slice], cfg))[1][0]
    png_stats = texture(preprocess([as_display_export(abdomen_slice, "40,400")], cfg))[1][0]
    n_q = texture.n_maps * 5
    # The noise floor (low quantiles of the two finest levels) reads the same. Upper quantiles and the coarsest
    # level (anatomy more than noise) differ more, up to 1 (a factor e in energy): the export's tissue cells
    # leave out those beside fat clipped at the window's low end (-160 HU), which are the less flat ones.
    low = torch.tensor([m * 5 + q for m in range(4) for q in (0, 1)])
    assert torch.allclose(hu_stats[low], png_stats[low], atol=0.5)
    # tissue fraction: about half the cells survive (W400/L40 clips fat), never more than from the DICOM
    assert 0.4 * float(hu_stats[n_q]) < float(png_stats[n_q]) <= float(hu_stats[n_q])


def test_a_blank_or_tissue_free_input_gives_finite_statistics():
    cfg = ScorerConfig.tiny()
    texture = MedQMScorer._texture_module(cfg)
    maps, stats = texture(torch.zeros(2, cfg.in_channels, cfg.input_px, cfg.input_px))
    assert torch.isfinite(maps).all() and torch.isfinite(stats).all()
    assert stats[:, texture.n_maps * 5].eq(0).all()


def test_texture_can_be_switched_off_and_changes_the_architecture():
    with_texture, without = MedQMScorer(ScorerConfig.tiny()), MedQMScorer(ScorerConfig.tiny(texture=False))
    assert without.texture is None and with_texture.texture is not None
    x = torch.rand(2, 4, 64, 64)
    assert with_texture(x).overall.shape == without(x).overall.shape == (2,)
