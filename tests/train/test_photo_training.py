"""Training the photo model: a tiny run writes a loadable checkpoint whose card lists every source, twice alike."""

from __future__ import annotations

import pytest
from safetensors.numpy import load_file

from vliqa import models
from vliqa.data.photos import SOURCES
from vliqa.train.photo import PhotoTrainSettings, train

TINY = PhotoTrainSettings(n_train=40, n_val=10, n_test=12, n_pairs=20, size=64, hidden=4, ensemble=2, steps=30,
                          workers=1)


@pytest.mark.slow
def test_tiny_photo_training_writes_a_deterministic_checkpoint_with_its_sources(tmp_path):
    figures = train(tmp_path / "a", TINY)
    train(tmp_path / "b", TINY)
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    card = (tmp_path / "a" / "MODEL_CARD.md").read_text()
    assert all(s.photo_id in card and s.licence in card for s in SOURCES)
    assert "Spearman, overall" in card and "| mixed |" in card
    assert -1.0 <= figures["test"]["srcc_overall"] <= 1.0 and figures["ab"]
    loaded = models.load(tmp_path / "a")
    assert loaded.metadata["domain"] == "photo" and loaded.model.domain == "photo"
