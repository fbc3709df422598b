"""MedQM-I builds small, scores in range, exposes gates and attention maps, reads DICOM and PNG alike, and learns."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save as safetensors_bytes

import vliqa
from vliqa import models
from vliqa.core import ASPECTS, PRESETS, CTImage, apply_window
from vliqa.errors import InvalidParameterError
from vliqa.io.write import save_preview_png
from vliqa.models.losses import scorer_loss
from vliqa.models.priors import load_priors
from vliqa.models.scorer import ConvBNAct, MedQMScorer, ScorerConfig, n_parameters
from vliqa.models.scorer_input import as_display_export, preprocess, upsample_maps


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    # tiny models run faster on one thread, and a loaded 2-core machine stalls OpenMP teams
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny(seed: int = 0, **overrides: object) -> MedQMScorer:
    torch.manual_seed(seed)
    return MedQMScorer(ScorerConfig.tiny(**overrides))


def tiny_input(n: int = 3, seed: int = 1) -> torch.Tensor:
    cfg = ScorerConfig.tiny()
    return torch.rand(n, cfg.in_channels, cfg.input_px, cfg.input_px, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def abdomen_slice(abdomen_series: Path) -> CTImage:
    return vliqa.load(abdomen_series).slice(10)


def test_default_scorer_checkpoint_is_small():
    model = MedQMScorer(ScorerConfig())
    size_bytes = len(safetensors_bytes({k: v.contiguous() for k, v in model.state_dict().items()}))
    assert 100_000 < n_parameters(model) < 1_000_000
    assert size_bytes < 5_000_000  # the brief's aim; the hard limit is 25 MB
    assert model.config.token_grid == 16 and model.n_priors == len(load_priors())


def test_default_scorer_scores_a_real_slice_at_native_resolution(abdomen_slice: CTImage):
    torch.manual_seed(0)
    model = MedQMScorer(ScorerConfig()).eval()
    with torch.inference_mode():
        out = model(model.preprocess([abdomen_slice]), return_maps=True)
    assert 0 <= float(out.overall) <= 4 and out.prior_attention.shape == (1, model.n_priors, 16, 16)
    assert out.query_attention.shape == (1, 8, 16, 16) and out.gates.shape == (1, 4)


@pytest.mark.parametrize("mode", ["ordinal", "regression"])
def test_scores_aspects_and_std_are_in_range(mode: str):
    model = tiny(output_mode=mode).eval()
    out = model(tiny_input(), return_maps=True)
    assert out.overall.shape == (3,) and out.aspects.shape == (3, len(ASPECTS)) and out.std.shape == (3,)
    assert bool(((out.overall >= 0) & (out.overall <= 4))
                .all()) and bool(((out.aspects >= 0) & (out.aspects <= 4)).all())
    assert bool((out.std > 0).all())
    if mode == "ordinal":
        assert out.overall_logits.shape == (3, 21) and out.overall_log_variance is None
        probs = out.overall_logits.exp()
        torch.testing.assert_close(probs.sum(dim=1), torch.ones(3))
        torch.testing.assert_close(probs @ torch.linspace(0, 4, 21), out.overall)  # the score is the expected bin
    else:
        assert out.overall_logits is None and out.overall_log_variance.shape == (3,)
        torch.testing.assert_close(out.std, torch.exp(0.5 * out.overall_log_variance))


def test_gates_and_attention_maps_are_distributions():
    model = tiny().eval()
    out = model(tiny_input(), return_maps=True)
    grid = model.config.token_grid
    assert out.gates.shape == (3, 2)
    torch.testing.assert_close(out.gates.sum(dim=1), torch.ones(3))
    assert out.prior_attention.shape == (3, model.n_priors, grid, grid)
    assert out.query_attention.shape == (3, model.config.n_queries, grid, grid)
    for maps in (out.prior_attention, out.query_attention):
        assert bool((maps >= 0).all())
        torch.testing.assert_close(maps.sum(dim=(-2, -1)), torch.ones(maps.shape[:2]))
    assert model(tiny_input()).prior_attention is None  # maps only when asked for
    heat = upsample_maps(out.prior_attention, (512, 512))
    assert heat.shape == (3, model.n_priors, 512, 512) and torch.allclose(heat.amax(dim=(-2, -1)), torch.ones(1))
    assert [c.id for c in model.prior_concepts] == [c.id for c in load_priors().concepts]  # labels for the maps


def test_heatmaps_of_a_non_square_slice_undo_its_padding():
    # a map on the left-most token column: a 40 x 24 slice is padded to 40 x 40 (8 px of air each side), so its
    # left edge, not the padding's, must meet the map's hottest part and its right edge the coldest
    maps = torch.zeros(1, 1, 4, 4)
    maps[0, 0, :, 0] = 0.25
    heat = upsample_maps(maps, (40, 24))
    assert heat.shape == (1, 1, 40, 24)
    assert float(heat[0, 0, :, 0].mean()) > float(heat[0, 0, :, -1].mean())


def test_top_k_gate_keeps_only_k_experts():
    model = tiny(n_experts=4, top_k=1).eval()
    gates = model(tiny_input(5)).gates
    assert bool(((gates > 0).sum(dim=1) == 1).all())
    torch.testing.assert_close(gates.sum(dim=1), torch.ones(5))


def test_same_seed_gives_the_same_scores():
    x = tiny_input()
    a, b, c = tiny(seed=7).eval(), tiny(seed=7).eval(), tiny(seed=8).eval()
    torch.testing.assert_close(a(x).overall, b(x).overall, rtol=0, atol=0)
    assert not torch.equal(a.implicit_queries, c.implicit_queries)


def test_eval_mode_folds_batchnorm_without_changing_the_result():
    torch.manual_seed(0)
    layer = ConvBNAct(3, 5, 3, stride=2)
    with torch.no_grad():  # give the BatchNorm non-trivial statistics and affine parameters
        layer.bn.running_mean.uniform_(-1, 1)
        layer.bn.running_var.uniform_(0.5, 2)
        layer.bn.weight.uniform_(0.5, 1.5)
        layer.bn.bias.uniform_(-0.5, 0.5)
    layer.eval()
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(layer(x), torch.relu(layer.bn(layer.conv(x))), rtol=1e-5, atol=1e-5)


def test_priors_can_be_left_out_or_randomised_for_ablations():
    none = tiny(prior_set="none").eval()
    out = none(tiny_input(), return_maps=True)
    assert none.n_priors == 0 and out.prior_attention.shape[1] == 0 and out.overall.shape == (3,)
    rand = tiny(prior_set="random")
    assert rand.n_priors == len(load_priors())
    assert not torch.allclose(rand.prior_embeddings, torch.from_numpy(load_priors().embeddings))
    torch.testing.assert_close(rand.prior_embeddings.norm(dim=1), torch.ones(rand.n_priors))


@pytest.mark.parametrize("bad", [dict(output_mode="softmax"), dict(input_px=72), dict(top_k=3),
                                 dict(channels=(8, 16), depths=(1,)), dict(d_model=33),
                                 dict(stem_stride=3, input_px=48)])
def test_invalid_config_is_refused(bad: dict):
    with pytest.raises(InvalidParameterError):
        ScorerConfig.tiny(**bad)


def test_preprocess_gives_the_windowed_dicom_slice(abdomen_slice: CTImage):
    cfg = ScorerConfig()
    x = preprocess([abdomen_slice], cfg)
    assert x.shape == (1, 4, 512, 512) and x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    for c, name in enumerate(cfg.windows):
        np.testing.assert_array_equal(x[0, c].numpy(), apply_window(abdomen_slice.hu, PRESETS[name]))
    assert bool((x[0, 3] == 1).all())  # every HU of a DICOM slice is known


def test_png_export_gives_the_same_input_in_the_window_it_shares(abdomen_slice: CTImage, tmp_path: Path):
    png = vliqa.load(save_preview_png(abdomen_slice, tmp_path / "slice.png", window="abdomen"), window="abdomen")
    assert png.is_display_domain
    cfg = ScorerConfig()
    from_dicom, from_png = preprocess([abdomen_slice], cfg)[0], preprocess([png], cfg)[0]
    # the reading window (W350/L40) lies inside the export window (W400/L40): only 8-bit rounding differs
    assert float((from_dicom[0] - from_png[0]).abs().max()) < 0.005
    # the lung window reaches below the export window: the export clipped air and lung, and the mask says where
    assert float((from_dicom[1] - from_png[1]).abs().max()) > 0.5
    clipped = from_png[3] == 0
    assert 0.05 < float(clipped.float().mean()) < 0.95
    assert float((from_dicom[1] - from_png[1])[~clipped].abs().max()) < 0.005
    # the training-time export gives the same input as the file round trip
    simulated = preprocess([as_display_export(abdomen_slice, "abdomen")], cfg)[0]
    assert float((simulated - from_png).abs().max()) < 1e-5


def test_non_square_and_small_slices_are_padded_with_air_and_resized():
    hu = np.full((40, 24), 40.0, np.float32)
    cfg = ScorerConfig.tiny()
    x = preprocess([CTImage(hu=hu), as_display_export(CTImage(hu=hu), "ldctiqac")], cfg)
    assert x.shape == (2, cfg.in_channels, 64, 64)
    assert float(x[0, 0, 32, 2]) == 0.0 and float(x[0, 0, 32, 32]) == pytest.approx(175 / 350, abs=1e-4)
    assert float(x[0, 3].min()) == 1.0  # padded air is known air for HU images ...
    assert float(x[1, 3, 32, 2]) == 0.0  # ... and clipped air for a display export


def test_predict_scores_ct_images_through_the_registry(abdomen_slice: CTImage, tmp_path: Path):
    net = models.create_model("medqm_i", **dataclasses.asdict(ScorerConfig.tiny()))
    assert isinstance(net, MedQMScorer) and "medqm_i" in models.list_models()
    small = CTImage(hu=abdomen_slice.hu[::8, ::8].copy())
    preds = net.predict([small, abdomen_slice, small])
    assert preds.overall.shape == (3,) and set(preds.aspects) == set(ASPECTS) and preds.std.shape == (3,)
    assert preds.overall[0] == pytest.approx(preds.overall[2])
    models.save_checkpoint(net, net.config, tmp_path / "ckpt", "# tiny MedQM-I\n")
    loaded = models.load(tmp_path / "ckpt")
    assert loaded.config == net.config
    # the textual priors travel inside the checkpoint's weights, not only in the package
    torch.testing.assert_close(loaded.model.prior_embeddings, torch.from_numpy(load_priors().embeddings))
    np.testing.assert_allclose(loaded.predict([small]).overall, preds.overall[:1], rtol=1e-6)


def test_tiny_model_overfits_eight_synthetic_slices():
    # eight disc phantoms whose noise grows as the quality score falls: a real signal to learn, and memorise
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    body = np.where((yy - 32) ** 2 + (xx - 32) ** 2 < 26**2, 40.0, -1000.0).astype(np.float32)
    scores = torch.linspace(0.2, 3.8, 8)
    images = [CTImage(hu=body + rng.normal(0, 5 + 40 * (4 - float(s)), body.shape).astype(np.float32)) for s in scores]
    aspects = scores[:, None].repeat(1, len(ASPECTS))
    model = tiny(seed=0)
    x = model.preprocess(images)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = scorer_loss(model(x), scores, aspects)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    model.eval()
    predicted = model(x).overall.detach()
    assert float(torch.corrcoef(torch.stack([predicted, scores]))[0, 1]) > 0.9
