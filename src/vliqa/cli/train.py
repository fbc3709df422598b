"""`vliqa train ...`: train the quality models on a dataset built with `vliqa data build`."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True)


@app.command("regressor")
def regressor(
    data: Path = typer.Option(..., "--data", help="Dataset folder made by `vliqa data build`."),
    out: Path = typer.Option(..., "--out",
                             help="Run folder: the best checkpoint, training state and log (an interrupted run resumes "
                                  "here)."),
    config: Path
    | None = typer.Option(None, "--config",
                          help="JSON file of RegressorTrainConfig fields (model settings under \"model\")."),
    epochs: int | None = typer.Option(None, "--epochs", help="Maximum number of epochs (overrides the config)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed (overrides the config)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start again instead of resuming."),
) -> None:
    """Train the image-only CNN regressor baseline (overall + aspect scores + class, multi-task)."""
    from vliqa.cli.main import console  # lazy: keeps `vliqa --help` fast
    from vliqa.train.common import load_config_file  # lazy: imports torch
    from vliqa.train.regressor import RegressorTrainConfig, train_regressor  # lazy: imports torch

    cfg = load_config_file(RegressorTrainConfig, config, epochs=epochs, seed=seed)
    result = train_regressor(data, out, cfg, overwrite=overwrite, progress=console.is_terminal)
    val = result.best_val
    console.print(
        f"[green]regressor trained[/] in {result.seconds:.1f} s: {result.epochs_run} epoch(s)"
        f"{' (stopped early)' if result.stopped_early else ''}, best epoch {result.best_epoch} with validation "
        f"PLCC {val['plcc']:.3f} SRCC {val['srcc']:.3f} KRCC {val['krcc']:.3f} (sum {val['sum']:.3f}); "
        f"checkpoint in {result.out} ({result.n_train} train / {result.n_val} val images)"
    )


@app.command("scorer")
def scorer(
    data: Path = typer.Option(..., "--data",
                              help="Dataset folder made by `vliqa data build` (or labelled with `vliqa data label`), "
                                   "or a CSV of your own scores (path,score[,aspects]): imported into OUT/data first."),
    out: Path = typer.Option(..., "--out",
                             help="Run folder: the best checkpoint, training state and log (an interrupted run resumes "
                                  "here)."),
    config: Path
    | None = typer.Option(None, "--config",
                          help="JSON file of ScorerTrainConfig fields (model settings under \"model\", loss weights "
                               "under \"weights\")."),
    epochs: int | None = typer.Option(None, "--epochs", help="Maximum number of epochs (overrides the config)."),
    loss: str
    | None = typer.Option(None, "--loss",
                          help="rps (21-bin ordinal head, ranked probability score) or regression_rank (regression "
                               "head + pairwise rank loss)."),
    init: str
    | None = typer.Option(None, "--init",
                          help="Checkpoint folder (or shipped model name) to start from: fine-tunes its weights on "
                               "--data."),
    seed: int | None = typer.Option(None, "--seed", help="Seed (overrides the config)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start again instead of resuming."),
) -> None:
    """Train MedQM-I, the blind quality scorer (overall + aspect scores + uncertainty); --init fine-tunes a checkpoint.
    """
    from vliqa.cli.main import console  # lazy: keeps `vliqa --help` fast
    from vliqa.train.common import load_config_file  # lazy: imports torch
    from vliqa.train.scorer import ScorerTrainConfig, train_scorer  # lazy: imports torch

    cfg = load_config_file(ScorerTrainConfig, config, epochs=epochs, loss=loss, init=init, seed=seed)
    if data.suffix.lower() == ".csv":  # your own scored images: a dataset is made from them in the run folder
        from vliqa.data.scored import dataset_from_scores  # lazy: imports pyarrow

        data = dataset_from_scores(data, out / "data", seed=cfg.seed)
        console.print(f"imported {data / 'manifest.parquet'} from the score file")
    result = train_scorer(data, out, cfg, overwrite=overwrite, progress=console.is_terminal)
    val = result.best_val
    console.print(
        f"[green]scorer trained[/] ({cfg.loss}{', fine-tuned from ' + str(cfg.init) if cfg.init else ''}) in "
        f"{result.seconds:.1f} s: {result.epochs_run} epoch(s){' (stopped early)' if result.stopped_early else ''}, "
        f"best epoch {result.best_epoch} with validation PLCC {val['plcc']:.3f} SRCC {val['srcc']:.3f} "
        f"KRCC {val['krcc']:.3f} (sum {val['sum']:.3f}); checkpoint in {result.out} "
        f"({result.n_train} train / {result.n_val} val images)"
    )
