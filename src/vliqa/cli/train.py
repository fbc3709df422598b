"""`vliqa train ...`: train the quality models on a dataset built with `vliqa data build`.

`--nproc N` trains data-parallel: the command runs again as N torchrun workers (docs/training.md), each of which runs
this module (`python -m vliqa.cli.train train ...`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True)

NPROC_HELP = ("Data-parallel processes (torchrun, DistributedDataParallel: gloo on CPU, NCCL on GPUs); each computes "
              "a share of every batch. 1: this process.")


def command_line(ctx: typer.Context) -> list[str]:
    """Gives the words after `vliqa` that run this command again with the same options, --nproc left out."""
    chain, at = [], ctx
    while at.parent is not None:
        chain.append(at.info_name)
        at = at.parent
    args = ["--debug"] if at.params.get("debug") else []
    args += [str(name) for name in reversed(chain)]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if param.name == "nproc" or value is None or not param.opts:
            continue
        flag = param.opts[0]
        if getattr(param, "is_flag", False):
            args += [flag] if value else []
        elif getattr(param, "multiple", False):
            args += [word for v in value for word in (flag, str(v))]
        else:
            args += [flag, str(value)]
    return args


def launch_workers(ctx: typer.Context, nproc: int, *, device: str = "cpu", batch_size: int | None = None) -> None:
    """Checks --nproc; with N > 1 (outside a worker) runs this command as N torchrun workers and exits with their code.
    """
    from vliqa.train import distributed  # lazy: imports torch

    distributed.check_nproc(nproc, device=device, batch_size=batch_size)
    if nproc > 1 and not distributed.in_worker():
        raise typer.Exit(distributed.launch(command_line(ctx), nproc, module="vliqa.cli.train"))


@app.command("regressor")
def regressor(
    ctx: typer.Context,
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
    nproc: int = typer.Option(1, "--nproc", help=NPROC_HELP),
) -> None:
    """Train the image-only CNN regressor baseline (overall + aspect scores + class, multi-task)."""
    from vliqa.cli.main import console  # lazy: keeps `vliqa --help` fast
    from vliqa.train.common import load_config_file  # lazy: imports torch
    from vliqa.train.distributed import worker_group  # lazy: imports torch
    from vliqa.train.regressor import RegressorTrainConfig, train_regressor  # lazy: imports torch

    cfg = load_config_file(RegressorTrainConfig, config, epochs=epochs, seed=seed)
    launch_workers(ctx, nproc, batch_size=cfg.batch_size)
    with worker_group() as workers:
        result = train_regressor(data, out, cfg, overwrite=overwrite, progress=console.is_terminal, workers=workers)
    if not workers.is_main:
        return
    val = result.best_val
    console.print(
        f"[green]regressor trained[/] in {result.seconds:.1f} s: {result.epochs_run} epoch(s)"
        f"{' (stopped early)' if result.stopped_early else ''}, best epoch {result.best_epoch} with validation "
        f"PLCC {val['plcc']:.3f} SRCC {val['srcc']:.3f} KRCC {val['krcc']:.3f} (sum {val['sum']:.3f}); "
        f"checkpoint in {result.out} ({result.n_train} train / {result.n_val} val images)"
    )


@app.command("scorer")
def scorer(
    ctx: typer.Context,
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
    nproc: int = typer.Option(1, "--nproc", help=NPROC_HELP),
) -> None:
    """Train MedQM-I, the blind quality scorer (overall + aspect scores + uncertainty); --init fine-tunes a checkpoint.
    """
    from vliqa.cli.main import console  # lazy: keeps `vliqa --help` fast
    from vliqa.train.common import load_config_file  # lazy: imports torch
    from vliqa.train.distributed import worker_group  # lazy: imports torch
    from vliqa.train.scorer import ScorerTrainConfig, train_scorer  # lazy: imports torch

    cfg = load_config_file(ScorerTrainConfig, config, epochs=epochs, loss=loss, init=init, seed=seed)
    launch_workers(ctx, nproc, batch_size=cfg.batch_size)
    with worker_group() as workers:
        if data.suffix.lower() == ".csv":  # your own scored images: a dataset is made from them in the run folder
            from vliqa.data.scored import dataset_from_scores  # lazy: imports pyarrow

            if workers.is_main:
                data = dataset_from_scores(data, out / "data", seed=cfg.seed)
                console.print(f"imported {data / 'manifest.parquet'} from the score file")
            data = workers.broadcast(data)  # the other workers wait for the import
        result = train_scorer(data, out, cfg, overwrite=overwrite, progress=console.is_terminal, workers=workers)
    if not workers.is_main:
        return
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
    ctx: typer.Context,
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
    nproc: int = typer.Option(1, "--nproc", help=NPROC_HELP + " On GPUs, one per GPU."),
) -> None:
    """Train the quality vision-language model (captions, identification, comparison, questions)."""
    from vliqa.cli.main import console  # lazy: keeps `vliqa --help` fast
    from vliqa.train.distributed import worker_group  # lazy: imports torch
    from vliqa.train.vlm import VLMTrainConfig, train_vlm  # lazy: imports torch and transformers

    cfg = VLMTrainConfig(data=tuple(str(d) for d in data), steps=steps, photos=photos, seed=seed,
                         llm=None if llm is None else str(llm), device=device, features_cache=features_cache)
    launch_workers(ctx, nproc, device=device, batch_size=cfg.batch_size)
    with worker_group(device) as workers:
        summary = train_vlm(cfg, out, progress=console.is_terminal, workers=workers)
    if not workers.is_main:
        return
    console.print(f"[green]quality VLM trained[/] in {summary['seconds'] / 60:.1f} min ({steps} steps, final loss "
                  f"{summary['final_loss']:.3f}); checkpoint in {out}")


if __name__ == "__main__":  # a torchrun worker of --nproc: `python -m vliqa.cli.train train ...`
    from vliqa.cli.main import invoke

    sys.exit(invoke(sys.argv[1:]))
