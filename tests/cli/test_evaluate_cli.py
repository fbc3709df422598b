"""`vliqa train regressor` and `vliqa evaluate` as a user runs them: the real console script in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_iqa import noisy_reader_study, tiny_config_file, tiny_dataset

VLIQA = str(Path(sys.executable).with_name("vliqa"))


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([VLIQA, *args], capture_output=True, text=True, timeout=180, cwd=cwd,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})


def assert_clean_user_error(r: subprocess.CompletedProcess, *needles: str) -> None:
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 3, r.stderr
    for needle in needles:
        assert needle in r.stderr, r.stderr


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return tiny_dataset(tmp_path_factory)


@pytest.mark.slow
def test_train_then_evaluate_from_the_command_line(dataset, tmp_path):
    run_dir = tmp_path / "run"
    r = run("train", "regressor", "--data", str(dataset), "--out", str(run_dir), "--config",
            str(tiny_config_file(tmp_path)), "--epochs", "1")
    assert r.returncode == 0, r.stderr
    assert "regressor trained" in r.stdout and "1 epoch" in r.stdout
    assert (run_dir / "model.safetensors").is_file()

    out = tmp_path / "ev"
    r = run("evaluate", "--data", str(dataset), "--model", str(run_dir), "--baselines",
            "noise_sigma,laplacian_variance", "--split", "all", "--out", str(out), "--n-boot", "100")
    assert r.returncode == 0, r.stderr
    for text in ("run", "noise_sigma", "laplacian_variance", "SRCC", "LDCTIQAC sum", "2AFC", "n=24"):
        assert text in r.stdout, r.stdout
    report = json.loads((out / "evaluation.json").read_text())
    assert list(report["predictors"]) == ["run", "noise_sigma", "laplacian_variance"]
    assert (out / "scatter_run.png").is_file() and (out / "degradations_run.png").is_file()


@pytest.mark.slow
def test_reader_study_csv_with_baselines_only_writes_to_dot_evaluation(tmp_path, monkeypatch, capsys):
    from vliqa.cli.main import invoke

    csv, _ = noisy_reader_study(tmp_path)
    monkeypatch.chdir(tmp_path)
    code = invoke(["evaluate", "--data", str(csv), "--baselines", "noise_sigma,laplacian_variance", "--n-boot", "50"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "Agreement with human scores" in out.out and "SRCC" in out.out
    report = json.loads((tmp_path / "evaluation" / "evaluation.json").read_text())
    assert report["kind"] == "csv" and list(report["predictors"]) == ["noise_sigma", "laplacian_variance"]
    assert (tmp_path / "evaluation" / "scatter_noise_sigma.png").is_file()


@pytest.mark.slow
def test_missing_data_is_one_clean_line_and_exit_1(tmp_path):
    r = run("evaluate", "--data", str(tmp_path / "nowhere"), "--baselines", "all")
    assert_clean_user_error(r, "nowhere", "vliqa data build")


def invoke_cli(capsys, *args: str) -> tuple[int, str]:
    from vliqa.cli.main import invoke

    code = invoke(list(args))
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", ["no_manifest", "csv_missing_image", "split_too_small", "unknown_baseline",
                                  "nothing_to_evaluate", "unknown_model"])
def test_bad_inputs_give_exit_1_and_a_line_that_says_what_to_do(case, tmp_path, dataset, capsys):
    csv = tmp_path / "scores.csv"
    csv.write_text("path,score\na.png,1\nb.png,2\nc.png,3\n")
    args, needles = {
        "no_manifest": (["--data", str(tmp_path), "--baselines", "all"], ["manifest.parquet", "vliqa data build"]),
        "csv_missing_image": (["--data", str(csv), "--baselines", "all"], ["a.png", "relative to"]),
        "split_too_small": (["--data", str(dataset), "--baselines", "all", "--split", "test"],
                            ["split 'test' has 1 row"]),
        "unknown_baseline": (["--data", str(dataset), "--baselines", "sharpnes", "--split", "all"],
                             ["sharpnes", "niqe"]),
        "nothing_to_evaluate": (["--data", str(dataset)], ["--baselines"]),
        "unknown_model": (["--data", str(dataset), "--model", "defualt", "--split", "all"],
                          ["defualt", "shipped models: medqm, reader", "'default' is reader"]),
    }[case]
    code, err = invoke_cli(capsys, "evaluate", *args)
    assert code == 1, err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 3, err
    flat = " ".join(err.split())  # rich wraps long lines at the terminal width
    for needle in needles:
        assert needle in flat, err
