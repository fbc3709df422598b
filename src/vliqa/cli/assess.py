"""`vliqa assess`: score the quality of CT files, folders and series with one model."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from vliqa.errors import InvalidParameterError, VliqaError

if TYPE_CHECKING:  # the library is imported when the command runs, so `vliqa --help` stays fast
    from vliqa.assess.schema import Assessment, VolumeAssessment

#: The aspect order of vliqa.simulate.registry.ASPECTS (not imported here: importing it loads the simulators).
ASPECTS = ("noise", "artifacts", "sharpness", "contrast", "texture")

FORMATS = ("table", "json", "jsonl", "csv")
#: CSV columns before the aspect and measure columns.
CSV_HEAD = ("path", "slice_index", "score", "level", "uncertainty")
#: Short aspect column headers, so the table fits an 80-column terminal.
ASPECT_HEADERS = ("noise", "artif", "sharp", "contr", "textr")


def _slices(result: Assessment | VolumeAssessment) -> tuple[Assessment, ...]:
    return getattr(result, "slices", (result,))


def _write_csv(results: list[Assessment | VolumeAssessment]) -> None:
    """Writes one CSV row per slice on stdout: scores, aspects, OOD, distortions, measures."""
    rows = [s for r in results for s in _slices(r)]
    measure_keys = sorted({k for s in rows for k in s.measures})
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow([*CSV_HEAD, *ASPECTS, "out_of_distribution", "ood_reason", "distortions", *measure_keys,
                     "model", "model_version"])
    for s in rows:
        d = s.to_dict()
        distortions = ";".join(f"{x.name}:{x.confidence:.2f}" for x in s.distortions)
        writer.writerow([*(d[k] if d[k] is not None else "" for k in CSV_HEAD),
                         *(f"{s.aspects[a]:.4f}" if a in s.aspects else "" for a in ASPECTS),
                         int(s.out_of_distribution), s.ood_reason or "", distortions,
                         *("" if d["measures"].get(k) is None else d["measures"][k] for k in measure_keys),
                         s.model, s.model_version])


def _table(result: Assessment | VolumeAssessment) -> Table:
    """Gives a rich table of one input: one row per slice, the volume summary in the caption."""
    title = result.path or "in-memory image"
    table = Table(title=str(title), title_justify="left")
    for col in ("slice", "score ± sd", "level", *ASPECT_HEADERS):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("findings", overflow="fold")
    for s in _slices(result):
        findings = f"[yellow]out of distribution: {escape(s.ood_reason or '')}[/]" if s.out_of_distribution else \
            ", ".join(d.name for d in s.distortions[:3]) or "—"
        table.add_row("—" if s.slice_index is None else str(s.slice_index), f"{s.score:.2f} ± {s.uncertainty:.2f}",
                      s.level, *(f"{s.aspects[a]:.2f}" if a in s.aspects else "—" for a in ASPECTS),
                      findings)
    if hasattr(result, "summary"):
        m = result.summary
        table.caption = (f"{m.n_slices} slices: mean {m.mean:.2f}, median {m.median:.2f}, min {m.min:.2f}; "
                         f"worst slices {', '.join(map(str, m.worst_slices))}; model {result.model}")
    else:
        table.caption = f"{result.description}\nmodel {result.model}"
    return table


def _unique(path: Path, taken: set[Path]) -> Path:
    """Gives `path`, or `path` with _2, _3, ... before its suffix when an earlier input already wrote it."""
    candidate, n = path, 2
    while candidate in taken:
        candidate, n = path.with_name(f"{path.stem}_{n}{path.suffix}"), n + 1
    taken.add(candidate)
    return candidate


def assess(
    paths: list[Path] = typer.Argument(..., help="Files or folders (DICOM series, NIfTI, MHD, NPY, PNG/JPEG/TIFF)."),
    model: str = typer.Option("default", "--model", "-m", help="Shipped model name or checkpoint folder."),
    fmt: str = typer.Option("table", "--format", "-f", help="Output: table, json, jsonl or csv (on stdout)."),
    window: str | None = typer.Option(None, "--window", "-w",
                                      help="Display window of raster inputs and heatmaps: preset or LEVEL,WIDTH."),
    heatmap_dir: Path | None = typer.Option(None, "--heatmap", help="Folder for heatmap PNGs (volumes: worst slices)."),
    plot: Path | None = typer.Option(None, "--plot", help="PNG of per-slice scores of each volume."),
    measures: bool = typer.Option(True, "--measures/--no-measures", help="Add the physics measures (slower)."),
    reference: Path | None = typer.Option(None, "--reference", "-r",
                                          help="Judge against this image or series (full-reference; e.g. full dose)."),
) -> None:
    """Score image quality (0-4, per aspect, with uncertainty, distortions and a description)."""
    from vliqa.assess import Assessor, VolumeAssessment, heatmap_for, save_heatmap_png, save_volume_plot
    from vliqa.cli.main import console, err_console
    from vliqa.io import iter_load

    if fmt not in FORMATS:
        raise InvalidParameterError(f"unknown format '{fmt}'", hint=f"use one of {', '.join(FORMATS)}")
    assessor = Assessor(model, window=window, measures=measures)
    ref_image = None
    if reference is not None:
        from vliqa.io import load

        ref_image = load(reference, window=window)
    results: list[Assessment | VolumeAssessment] = []
    errors: list[VliqaError] = []
    written: set[Path] = set()
    for loaded in iter_load([str(p) for p in paths], window=window):
        if loaded.error is not None:
            errors.append(loaded.error)
            continue
        result = assessor.assess_loaded(loaded.image, reference=ref_image)
        results.append(result)
        stem = Path(result.path).stem if result.path else "image"
        if heatmap_dir is not None:
            wanted = result.summary.worst_slices if isinstance(result, VolumeAssessment) else (None,)
            for index in wanted:
                image = loaded.image.slice(index) if index is not None else loaded.image
                one = result.slices[index] if isinstance(result, VolumeAssessment) else result
                name = f"{stem}_slice{index:04d}_heatmap.png" if index is not None else f"{stem}_heatmap.png"
                save_heatmap_png(image, heatmap_for(assessor.predictor, image, one.aspects),
                                 _unique(heatmap_dir / name, written), window=window, assessment=one)
        if plot is not None and isinstance(result, VolumeAssessment):
            save_volume_plot(result, _unique(plot, written))
        if fmt == "jsonl":
            sys.stdout.write(json.dumps(result.to_dict()) + "\n")
        elif fmt == "table":
            console.print(_table(result))
    if fmt == "json":
        sys.stdout.write(json.dumps([r.to_dict() for r in results], indent=2) + "\n")
    elif fmt == "csv":
        _write_csv(results)
    if errors:
        # the outputs above stand; each failed input gets one line and the exit code 1 (the first via main)
        for later in errors[1:]:
            err_console.print(f"[bold red]error:[/] {later}", highlight=False, soft_wrap=True)
        raise errors[0]


def register(app: typer.Typer) -> None:
    """Adds `vliqa assess` to `app`."""
    app.command("assess")(assess)
