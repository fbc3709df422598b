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


@app.command("vlm")
def vlm(
    data: list[Path] = typer.Option([Path("data/vlm-ct")], "--data",
                                    help="CT dataset folder(s) made by `vliqa data build` (repeatable)."),
    out: Path = typer.Option(..., "--out", help="Checkpoint folder to write (weights, config, tokenizer, card)."),
    steps: int = typer.Option(4000, "--steps", help="Optimiser steps."),
    photos: int = typer.Option(600, "--photos", help="Distorted photographs to add (0: CT only)."),
    llm: Path | None = typer.Option(None, "--llm",
                                    help="A local pretrained causal LM folder (Hugging Face) to adapt with LoRA "
                                         "instead of the small language model trained from scratch."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda (the --llm path on a GPU)."),
    seed: int = typer.Option(0, "--seed", help="Seed."),
    features_cache: str = typer.Option("data/vlm-features.npz", "--features-cache",
                                       help="Where the image vectors are kept between runs ('' for none)."),
) -> None:
    """Train the quality vision-language model (captions, identification, comparison, questions)."""
    from vliqa.cli.main import console  # lazy: keeps `vliqa --help` fast
    from vliqa.train.vlm import VLMTrainConfig, train_vlm  # lazy: imports torch and transformers

    cfg = VLMTrainConfig(data=tuple(str(d) for d in data), steps=steps, photos=photos, seed=seed,
                         llm=None if llm is None else str(llm), device=device, features_cache=features_cache)
    summary = train_vlm(cfg, out, progress=console.is_terminal)
    console.print(f"[green]quality VLM trained[/] in {summary['seconds'] / 60:.1f} min ({steps} steps, final loss "
                  f"{summary['final_loss']:.3f}); checkpoint in {out}")
