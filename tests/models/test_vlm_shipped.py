"""The shipped quality VLM: its checkpoint, MedQM-D diagnostic model and photographs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vliqa.io import load
from vliqa.models import SHIPPED_DIR

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (SHIPPED_DIR / "vlm" / "model.safetensors").is_file(),
                       reason="the shipped quality VLM is not built (make train-vlm)"),
]
SAMPLES = Path(__file__).resolve().parents[2] / "src" / "vliqa" / "samples"


@pytest.fixture(scope="module")
def vlm():
    from vliqa.models.vlm import load_vlm

    return load_vlm()


@pytest.fixture(scope="module")
def slice_():
    volume = load(SAMPLES / "abdomen_ct_dicom")
    return volume.slice(10)


def test_shipped_checkpoint_fits_the_size_budget_and_names_its_sources(vlm):
    size = sum(f.stat().st_size for f in vlm.folder.iterdir() if f.suffix in (".safetensors", ".json", ".md"))
    assert size <= 25 * 1024 * 1024
    card = (vlm.folder / "MODEL_CARD.md").read_text()
    for source in ("reader", "shared/data", "scikit-image", "make train-vlm"):
        assert source in card


def test_vlm_is_a_medqm_d_diagnostic_model(vlm, slice_):
    from vliqa.labels.diagnostic import get_diagnostic_model

    dm = get_diagnostic_model("vlm")
    assert dm.loss(slice_, slice_) == pytest.approx(0.0, abs=1e-6)
    noisy = slice_.replace(hu=slice_.hu + np.random.default_rng(0).normal(0, 120, slice_.shape).astype(np.float32))
    assert dm.loss(noisy, slice_) >= 0.0
    assert dm.mapping is not None and dm.mapping.score(0.0) == pytest.approx(4.0)


def test_photographs_are_described_and_compared(vlm):
    from vliqa.data.photos import photo_pairs

    (pair,) = photo_pairs("test", 1, seed=5)
    verdict = vlm.compare(pair.image_a, pair.image_b)
    swapped = vlm.compare(pair.image_b, pair.image_a)
    assert {"A": "B", "B": "A", "tie": "tie"}[verdict.preferred] == swapped.preferred
    (caption,) = vlm.caption([pair.image_a])
    assert caption.text and "liver" not in caption.text.lower()
