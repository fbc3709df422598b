"""Stories of writing evaluation figures to disk for a paper or a model card."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from vliqa.errors import InvalidParameterError, PermissionDeniedError, VliqaError
from vliqa.metrics import calibration_plot, per_group_bars, scatter_with_fit

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def scores(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = rng.uniform(0, 4, n)
    std = rng.uniform(0.2, 0.8, n)
    pred = 4.0 / (1.0 + np.exp(-(target - 2.0))) + rng.normal(0, 1, n) * std
    return pred, target, std


def assert_valid_png(path: Path, min_side: int = 300) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        assert min(img.size) >= min_side and max(img.size) <= 3000
        # a real plot has many colours, not a blank canvas
        assert len(img.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 20


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".") or ".tmp" in p.name]


def test_scatter_with_fit_writes_a_png(tmp_path):
    pred, target, _ = scores()
    out = scatter_with_fit(pred, target, tmp_path / "scatter.png", title="Scorer on the test split")
    assert out == tmp_path / "scatter.png"
    assert_valid_png(out)
    assert no_temp_files(tmp_path)


def test_scatter_without_fit_and_with_constant_predictions(tmp_path):
    pred, target, _ = scores()
    assert_valid_png(scatter_with_fit(pred, target, tmp_path / "nofit.png", fit=False))
    # a collapsed model still gets its figure (metrics show as nan), not a crash
    assert_valid_png(scatter_with_fit(np.full(50, 2.0), target[:50], tmp_path / "flat.png"))


def test_per_group_bars_sets_model_beside_baseline(tmp_path):
    model = {"low_dose": 0.91, "sparse_view": 0.84, "metal": 0.62, "motion": 0.77, "ring": float("nan")}
    baseline = {"low_dose": 0.85, "sparse_view": 0.70, "metal": 0.40}  # no baseline for motion or ring
    out = per_group_bars(model, tmp_path / "groups.png", title="SRCC per degradation", baseline_by_group=baseline)
    assert_valid_png(out)
    alone = per_group_bars({"a": 0.5, "b": -0.2}, tmp_path / "alone.png", title="model only")
    assert_valid_png(alone, min_side=250)
    with pytest.raises(InvalidParameterError, match="empty"):
        per_group_bars({}, tmp_path / "empty.png", title="nothing")


def test_calibration_plot_writes_a_png(tmp_path):
    pred, target, std = scores(500)
    out = calibration_plot(pred, std, target, tmp_path / "calibration.png")
    assert_valid_png(out)


def test_existing_file_is_replaced_whole(tmp_path):
    pred, target, _ = scores()
    path = tmp_path / "scatter.png"
    path.write_bytes(b"old content")
    scatter_with_fit(pred, target, path, title="again")
    assert_valid_png(path)
    assert no_temp_files(tmp_path)


def test_a_file_in_place_of_the_folder_gives_a_vliqa_error_and_leaves_nothing(tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("I am a file, not a folder")
    pred, target, _ = scores()
    with pytest.raises(VliqaError, match="cannot write the plot"):
        scatter_with_fit(pred, target, blocker / "scatter.png", title="x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write into read-only folders")
def test_unwritable_folder_gives_permission_error_and_leaves_nothing(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        pred, target, _ = scores()
        with pytest.raises(PermissionDeniedError, match="choose a folder"):
            scatter_with_fit(pred, target, folder / "scatter.png", title="x")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


def test_failure_while_rendering_removes_the_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "scatter.png"
    path.write_bytes(b"previous good figure")

    def broken_savefig(self, fname, **kwargs):
        Path(fname).write_bytes(PNG_MAGIC + b"half a picture")  # the renderer dies half way
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    pred, target, _ = scores()
    with pytest.raises(VliqaError, match="No space left"):
        scatter_with_fit(pred, target, path, title="x")
    assert path.read_bytes() == b"previous good figure"  # the old file survives untouched
    assert no_temp_files(tmp_path)


def test_non_png_name_is_refused_before_anything_is_written(tmp_path):
    pred, target, _ = scores()
    with pytest.raises(InvalidParameterError, match=r"\*\.png"):
        scatter_with_fit(pred, target, tmp_path / "scatter.jpg", title="x")
    assert list(tmp_path.iterdir()) == []
