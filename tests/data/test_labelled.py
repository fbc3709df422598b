"""Reading a built dataset back (`vliqa.data.labelled`): splits, degradation groups, and no torch to do it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vliqa.data.labelled import SPLITS, degradation_group, manifest_rows, split_names
from vliqa.errors import DatasetError, InvalidParameterError


def test_split_names_take_one_split_a_list_or_all() -> None:
    assert split_names("all") == SPLITS == ("train", "val", "test")
    assert split_names(" Train , val ") == ("train", "val")
    for bad in ("", "training", "train,dev"):
        with pytest.raises(InvalidParameterError, match="unknown split"):
            split_names(bad)


def test_degradation_groups() -> None:
    one = json.dumps([{"name": "ring", "severity": 0.4}])
    two = json.dumps([{"name": "low_dose"}, {"name": "smooth_nlm"}])
    assert degradation_group("clean", one) == "clean" and degradation_group("single", "[]") == "clean"
    assert degradation_group("single", one) == "ring"
    assert degradation_group("dose_denoise", two) == "low_dose+denoise"
    assert degradation_group("combo", two) == degradation_group("single", two) == "combo"
    assert degradation_group("single", "{broken") == "clean"


def test_a_missing_dataset_folder_is_a_dataset_error(tmp_path) -> None:
    with pytest.raises(DatasetError, match="dataset folder not found"):
        manifest_rows(tmp_path / "nothing", "train")


def test_reading_splits_imports_no_torch() -> None:
    code = "import sys, vliqa.data.labelled; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
