"""`vliqa assess` as a user meets it: the real console script in a subprocess, on real CT files."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vliqa.assessment import assessment_from_dict

VLIQA = str(Path(sys.executable).with_name("vliqa"))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([VLIQA, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_json_of_a_series_parses_and_round_trips(tiny_checkpoint, head_series):
    r = run("assess", str(head_series), "--model", str(tiny_checkpoint), "--format", "json", "--no-measures")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert len(data) == 1 and data[0]["kind"] == "volume"
    volume = assessment_from_dict(data[0])
    assert volume.summary.n_slices == 2 and volume.model == "tiny_medqm"


@pytest.mark.slow
def test_jsonl_and_csv_are_machine_readable(tiny_checkpoint, abdomen_volume, tmp_path):
    files = list(abdomen_volume.slice_sources[:2])
    r = run("assess", *files, "--model", str(tiny_checkpoint), "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [d["path"] for d in lines] == files and "noise_sigma_hu" in lines[0]["measures"]
    r = run("assess", files[0], "--model", str(tiny_checkpoint), "--format", "csv", "--no-measures")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 1 and 0 <= float(rows[0]["score"]) <= 4 and rows[0]["out_of_distribution"] == "0"


@pytest.mark.slow
def test_table_heatmaps_and_plot_for_a_series(tiny_checkpoint, head_series, tmp_path):
    r = run("assess", str(head_series), "--model", str(tiny_checkpoint), "--heatmap", str(tmp_path / "maps"),
            "--plot", str(tmp_path / "plot.png"), "--no-measures")
    assert r.returncode == 0, r.stderr
    assert "score" in r.stdout and "worst slices" in r.stdout
    maps = sorted((tmp_path / "maps").glob("*.png"))
    assert len(maps) == 2
    for png in [*maps, tmp_path / "plot.png"]:
        with Image.open(png) as im:
            assert im.format == "PNG" and im.size[0] > 300


@pytest.mark.slow
def test_photo_is_flagged_and_corrupt_file_is_one_clean_line_and_exit_1(tiny_checkpoint, tmp_path):
    photo = np.zeros((96, 96, 3), np.uint8)
    photo[..., 0], photo[..., 2] = 220, 30
    photo[..., 1] = np.linspace(0, 255, 96, dtype=np.uint8)[:, None]  # a red-green-blue sky, not a blank frame
    Image.fromarray(photo).save(tmp_path / "sky.png")
    bad = tmp_path / "corrupt.dcm"
    bad.write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00garbage")
    r = run("assess", str(tmp_path / "sky.png"), str(bad), "--model", str(tiny_checkpoint), "--format", "json",
            "--domain", "ct")  # read as CT: under "auto" the photo would go to the photo model
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and "corrupt.dcm" in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 3
    # the input that could be read is still reported, flagged rather than confidently scored
    (result,) = json.loads(r.stdout)
    assert result["out_of_distribution"] is True and "colour" in result["ood_reason"]


@pytest.mark.slow
def test_unknown_model_is_a_clean_error(head_series):
    r = run("assess", str(head_series), "--model", "nope")
    assert r.returncode == 1 and "unknown model 'nope'" in r.stderr and "Traceback" not in r.stderr


def test_cli_aspect_columns_follow_the_registry_order():
    from vliqa.cli.assess import ASPECTS as CLI_ASPECTS
    from vliqa.core import ASPECTS

    assert CLI_ASPECTS == ASPECTS


@pytest.mark.slow
def test_a_baseline_is_a_model_name_of_assess(head_series, tmp_path):
    r = run("assess", str(head_series), "--model", "brisque", "--format", "json", "--no-measures",
            "--plot", str(tmp_path / "plot.png"))
    assert r.returncode == 0, r.stderr
    (volume,) = json.loads(r.stdout)
    assert volume["model"] == "brisque" and volume["summary"]["aspect_means"] == {}
    for s in volume["slices"]:
        assert s["scale"] == "own" and s["level"] is None and s["aspects"] == {} and "own scale" in s["description"]
    assert (tmp_path / "plot.png").is_file()
    r = run("assess", str(head_series), "--model", "brisque", "--format", "csv", "--no-measures")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert [row["scale"] for row in rows] == ["own", "own"] and rows[0]["level"] == ""


@pytest.mark.slow
def test_reference_option_scores_full_reference_with_the_reader(abdomen_volume):
    one = abdomen_volume.slice_sources[0]
    r = run("assess", one, "--model", "reader", "--reference", one, "--format", "json", "--no-measures")
    assert r.returncode == 0, r.stderr
    (result,) = json.loads(r.stdout)
    assert result["model"] == "reader" and result["scale"] == "0-4" and 0 <= result["score"] <= 4
    r = run("assess", one, "--model", "brisque", "--reference", one, "--no-measures")
    assert r.returncode == 1 and "full-reference" in r.stderr and "Traceback" not in r.stderr
