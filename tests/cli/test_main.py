"""The CLI as a user meets it: the real `vliqa` console script in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

VLIQA = str(Path(sys.executable).with_name("vliqa"))


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([VLIQA, *args], capture_output=True, text=True, timeout=120)


def test_version_prints_and_exits_zero():
    r = run("--version")
    assert r.returncode == 0
    assert "vliqa 0." in r.stdout


@pytest.mark.slow
def test_inspect_series_json_has_acquisition_metadata(abdomen_series):
    r = run("inspect", str(abdomen_series), "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert len(info) == 1
    vol = info[0]
    assert vol["n_slices"] == 20
    assert vol["acquisition"]["kernel"].startswith("Br38f")
    assert abs(vol["acquisition"]["ctdi_vol_mgy"] - 18.54) < 0.01
    assert abs(vol["pixel_spacing_mm"][0] - 0.977) < 0.01


@pytest.mark.slow
def test_inspect_table_for_humans(head_series):
    r = run("inspect", str(head_series))
    assert r.returncode == 0, r.stderr
    assert "GE" in r.stdout and "STD+" in r.stdout


@pytest.mark.slow
def test_preview_writes_a_windowed_png(abdomen_series, tmp_path):
    out = tmp_path / "p.png"
    r = run("preview", str(abdomen_series), "-o", str(out), "--window", "abdomen", "--slice", "3")
    assert r.returncode == 0, r.stderr
    img = np.asarray(Image.open(out))
    assert img.shape == (512, 512) and img.dtype == np.uint8
    assert img.min() == 0 and img.max() == 255  # air black, bone white under W400 L40


def test_user_error_is_one_clean_line_and_exit_1(tmp_path):
    bad = tmp_path / "empty.dcm"
    bad.write_bytes(b"")
    r = run("inspect", str(bad))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert "empty.dcm" in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 3


@pytest.mark.slow
def test_missing_path_is_a_user_error(tmp_path):
    r = run("inspect", str(tmp_path / "nope"))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr


@pytest.mark.slow
def test_unknown_window_lists_the_presets(abdomen_series, tmp_path):
    r = run("preview", str(abdomen_series), "-o", str(tmp_path / "x.png"), "--window", "sinus")
    assert r.returncode == 1
    assert "abdomen" in r.stderr and "lung" in r.stderr


@pytest.mark.slow
def test_slice_out_of_range_says_how_many_there_are(abdomen_series, tmp_path):
    r = run("preview", str(abdomen_series), "-o", str(tmp_path / "x.png"), "--slice", "99")
    assert r.returncode == 1
    assert "20 slices" in r.stderr


@pytest.mark.slow
def test_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "empty.dcm"
    bad.write_bytes(b"")
    r = run("--debug", "inspect", str(bad))
    assert r.returncode == 1
    assert "Traceback" in r.stderr
