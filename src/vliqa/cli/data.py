"""`vliqa data build`, `label`, `upgrade`, `import-scores` and `merge`: make and relabel CT-IQA datasets."""

from __future__ import annotations

from pathlib import Path

import typer

from vliqa.errors import InvalidParameterError

app = typer.Typer(no_args_is_help=True)


@app.command("build")
def build(
    source: str = typer.Option(..., "--source",
                               help="A CT folder (DICOM/NIfTI/...), 'phantom', or 'default' (shared real CT + "
                                    "phantoms)."),
    n: int = typer.Option(..., "--n", help="Number of degraded images to make."),
    out: Path = typer.Option(..., "--out", help="Dataset folder (created; an interrupted build resumes here)."),
    seed: int = typer.Option(0, "--seed", help="Seed: the same seed gives the same dataset."),
    workers: int = typer.Option(2, "--workers", help="Worker processes."),
    phantoms: int
    | None = typer.Option(None, "--phantoms",
                          help="Number of phantom sources (default: n/4 for 'phantom', 300 for 'default')."),
    size: int = typer.Option(512, "--size", help="Phantom size in pixels."),
    real_fraction: float = typer.Option(0.5, "--real-fraction",
                                        help="Share of samples drawn from real CT when both kinds are present."),
    exclude: list[str] = typer.Option([], "--exclude", help="Degradation to leave out (repeatable)."),
    only: list[str]
    = typer.Option([], "--only", help="Use only these degradations (repeatable; the rest are excluded)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start again instead of resuming."),
    noisy_references: int = typer.Option(0, "--noisy-references",
                                         help="Variants per real slice whose reference is re-acquired at a lower dose "
                                              "(soft-tissue noise 25-60 HU)."),
) -> None:
    """Build a CT-IQA dataset: degraded images, physics labels, captions, pairs and splits."""
    from vliqa.cli.main import console  # lazy: keeps `vliqa --help` fast
    from vliqa.data.build import BuildConfig, build_dataset  # lazy: imports pyarrow
    from vliqa.data.sources import build_sources  # lazy: keeps `vliqa --help` fast

    if workers < 1:
        raise InvalidParameterError(f"--workers must be at least 1, got {workers}")
    if only and exclude:
        raise InvalidParameterError("--only and --exclude cannot be combined",
                                    hint="name what to keep, or what to leave out")
    if only:
        from vliqa.data.recipes import excluded_except  # lazy: keeps `vliqa --help` fast

        exclude = excluded_except(only)
    cfg = BuildConfig(n=n, seed=seed, source=source, phantom_size_px=size, real_fraction=real_fraction,
                      exclude=tuple(exclude), noisy_references=noisy_references)
    sources = build_sources(source, n=n, phantoms=phantoms, seed=seed, noisy_references=noisy_references)
    result = build_dataset(sources, out, cfg, workers=workers, overwrite=overwrite)
    console.print(
        f"[green]dataset ready[/] in {result.out}: {result.n_images} images, {result.n_pairs} pairs, "
        f"splits {result.split_counts}, score bins {result.bin_counts} ({result.n_candidates} candidates tried)"
    )


@app.command("label")
def label(
    data: Path = typer.Option(..., "--data", help="Dataset folder made by `vliqa data build`."),
    method: str = typer.Option("physics", "--method",
                               help="physics (recompute from the images), diagnostic (MedQM-D) or human (from --csv)."),
    csv: Path
    | None = typer.Option(None, "--csv", help="Human scores: path,score[,noise,artifacts,sharpness,contrast,texture]."),
    diagnostic_model: str = typer.Option("lesion_net", "--diagnostic-model",
                                         help="Diagnostic model for --method diagnostic: a registered name "
                                              "(lesion_net, vlm) or a checkpoint folder."),
) -> None:
    """Write labels into a dataset's manifest (physics labels are measured again on the stored images)."""
    from vliqa.cli.main import console  # lazy: keeps `vliqa --help` fast
    from vliqa.data.label import apply_human_scores, relabel_diagnostic, relabel_physics  # lazy: imports pyarrow

    if method == "physics":
        n = relabel_physics(data)
    elif method == "diagnostic":
        if diagnostic_model == "vlm":
            import vliqa.models.vlm  # noqa: F401  # lazy: registers the quality VLM's diagnostic model "vlm"
        n = relabel_diagnostic(data, model=diagnostic_model)
    elif method == "human":
        if csv is None:
            raise InvalidParameterError("--method human needs --csv FILE with columns path,score")
        n = apply_human_scores(data, csv)
    else:
        raise InvalidParameterError(f"unknown --method '{method}'", hint="use physics, diagnostic or human")
    console.print(f"[green]{n} rows labelled[/] ({method}) in {data / 'manifest.parquet'}")


@app.command("upgrade")
def upgrade(
    data: Path = typer.Argument(...,
                                help="Dataset folder made by `vliqa data build` (for a merged one: upgrade the folders "
                                     "it was merged from, then merge again)."),
    phantoms: int
    | None = typer.Option(None, "--phantoms",
                          help="The build's --phantoms, for folders whose state.json does not record it (built before "
                               "vliqa 0.5.0)."),
    workers: int = typer.Option(2, "--workers", help="Worker processes for the replay."),
) -> None:
    """Bring a dataset built by an older vliqa up to the current physics labels.

    Replays the images with an artifact step from the build's records (each checked against the stored image) and
    labels them as a build of this version would, then rescores every physics row from its stored measures. Exact,
    unlike `vliqa data label --method physics`, which has to estimate the artifact field from the images. Human and
    diagnostic labels are kept; a folder already at the current labels keeps them.
    """
    # lazy: `vliqa --help` and the other commands do not import the builder, the simulator or torch
    from vliqa.cli.main import console  # lazy: keeps `vliqa --help` fast
    from vliqa.data.replay import upgrade_dataset  # lazy: imports pyarrow

    if workers < 1:
        raise InvalidParameterError(f"--workers must be at least 1, got {workers}")
    replayed, rescored = upgrade_dataset(data, phantoms=phantoms, workers=workers)
    console.print(f"[green]{data} upgraded[/]: {replayed} rows replayed, {rescored} physics rows rescored "
                  f"in {data / 'manifest.parquet'}")


@app.command("import-scores")
def import_scores(
    csv: Path = typer.Argument(...,
                               help="Your scores: path,score[,noise,artifacts,sharpness,contrast,texture]; paths "
                                    "relative to the CSV."),
    out: Path = typer.Option(..., "--out", help="Dataset folder to write (images + manifest.parquet)."),
    val_fraction: float = typer.Option(0.2, "--val-fraction", help="Share of the rows kept for validation."),
    seed: int = typer.Option(0, "--seed", help="Seed of the train/validation split."),
    window: str
    | None = typer.Option(None, "--window",
                          help="Window the PNG/JPEG/TIFF images were exported with (preset or LEVEL,WIDTH); default "
                               "W350/L40."),
) -> None:
    """Make a dataset from your own scored images, ready for `vliqa train scorer --init default`."""
    from vliqa.cli.main import console  # lazy: keeps `vliqa --help` fast
    from vliqa.data.scored import dataset_from_scores  # lazy: imports pyarrow

    folder = dataset_from_scores(csv, out, val_fraction=val_fraction, seed=seed, window=window)
    console.print(f"[green]dataset written[/] to {folder} from {csv}")


@app.command("merge")
def merge(
    folders: list[Path] = typer.Argument(..., help="Dataset folders to merge (two or more)."),
    out: Path = typer.Option(..., "--out", help="New dataset folder."),
) -> None:
    """Merge dataset folders into one (images linked, ids prefixed per input, splits kept)."""
    from vliqa.cli.main import console  # lazy: keeps `vliqa --help` fast
    from vliqa.data.merge import merge_datasets  # lazy: imports pyarrow

    n = merge_datasets(list(folders), out)
    console.print(f"[green]{n} images[/] from {len(folders)} datasets in {out}")

