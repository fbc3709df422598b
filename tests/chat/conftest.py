"""Fixtures of the chat tests: a stub OpenAI-compatible server on 127.0.0.1, a known Assessment, and the shipped
default model's assessment of the bundled abdomen series (once per session, without physics measures)."""

from __future__ import annotations

from pathlib import Path

import pytest
from openai_stub_server import StubServer

from vliqa.assessment import Assessment, Assessor
from vliqa.chat import Conversation

VLM_WEIGHTS = Path(__file__).resolve().parents[2] / "src" / "vliqa" / "models" / "vlm" / "model.safetensors"


@pytest.fixture
def stub():
    """A running stub server; stopped after the test."""
    with StubServer() as server:
        yield server


@pytest.fixture
def fair_slice() -> Assessment:
    """An assessment of one slice scored 2.30 of 4 (fair)."""
    return Assessment(path="scan/slice_007.dcm", slice_index=None, score=2.3, level="fair",
                      aspects={"noise": 1.4, "artifacts": 3.8, "sharpness": 2.6, "contrast": 2.5, "texture": 3.5},
                      uncertainty=0.2, distortions=(), measures={"noise_sigma_hu": 18.5},
                      description="The image is noisy. Overall quality: fair (2/4) — clinical interpretation is "
                                  "limited.", out_of_distribution=False, ood_reason=None, model="reader",
                      model_version="1.0.0", vliqa_version="0.8.0")


@pytest.fixture(scope="session")
def assessor() -> Assessor:
    """The shipped default model, template descriptions (no VLM), no physics measures."""
    return Assessor(measures=False, describer=None)


@pytest.fixture(scope="session")
def series_chat(abdomen_series, assessor):
    """A factory of embedded conversations about the bundled series, assessed once."""
    first = Conversation.open(abdomen_series, assessor=assessor)

    def make() -> Conversation:
        return Conversation(first.assessment, assessor=assessor, image=first.context.image, vlm=None)

    return make


@pytest.fixture(scope="session")
def shipped_vlm() -> None:
    """Skips unless the shipped quality VLM's weights are in place."""
    if not VLM_WEIGHTS.is_file():
        pytest.skip("the shipped quality VLM (src/vliqa/models/vlm/model.safetensors) is not there yet")
