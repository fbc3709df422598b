"""Fixtures of the assessment tests: a real (untrained) tiny MedQM-I checkpoint and a 3-slice real CT volume.

The checkpoint is untrained: these tests check plumbing, the schema, the OOD checks and the files written,
never the accuracy of the scores (a trained default scorer ships in a later version).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from vliqa import models
from vliqa.core import CTVolume
from vliqa.io import load
from vliqa.models.scorer import ScorerConfig


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint folder of an untrained tiny MedQM-I (64 px input), saved with the real save_checkpoint."""
    net = models.create_model("medqm_i", **dataclasses.asdict(ScorerConfig.tiny()))
    folder = tmp_path_factory.mktemp("ckpt") / "tiny_medqm"
    return models.save_checkpoint(net, net.config, folder, "Untrained tiny MedQM-I for tests.",
                                  metadata={"version": "test-0"})


@pytest.fixture(scope="session")
def abdomen_volume(abdomen_series: Path) -> CTVolume:
    """The first 3 slices of the bundled real abdomen series, as a CTVolume (keeps the tests fast)."""
    vol = load(abdomen_series)
    return dataclasses.replace(vol, hu=vol.hu[:3], slice_positions_mm=vol.slice_positions_mm[:3],
                               slice_sources=vol.slice_sources[:3])
