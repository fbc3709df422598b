"""`vliqa assess`: score the quality of CT files, folders and series with one model.

The command parses options, calls `Assessor.assess_inputs` (which reads the inputs, assesses them and writes
the heatmaps and plots) and formats the results; the wording of captions comes from `vliqa.text`.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from vliqa.core import ASPECTS
from vliqa.errors import InvalidParameterError, VliqaError

if TYPE_CHECKING:  # the library is imported when the command runs, so `vliqa --help` stays fast
    from vliqa.assessment.schema import Assessment, VolumeAssessment

FORMATS = ("table", "json", "jsonl", "csv")
#: CSV columns before the aspect and measure columns.
CSV_HEAD = ("path", "slice_index", "score", "scale", "level", "uncertainty")
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


def _score_cell(s: Assessment) -> str:
    """Gives the score with its uncertainty (when there is one): '2.71 ± 0.40', or '-35.2' on a baseline's scale."""
    score = f"{s.score:.2f}" if math.isfinite(s.score) else "—"
    return f"{score} ± {s.uncertainty:.2f}" if math.isfinite(s.uncertainty) else score


def _table(result: Assessment | VolumeAssessment) -> Table:
    """Gives a rich table of one input: one row per slice, the volume summary in the caption."""
    from vliqa.text import slice_caption, volume_caption  # lazy: keeps `vliqa --help` fast

    title = result.path or "in-memory image"
    table = Table(title=str(title), title_justify="left")
    for col in ("slice", "score ± sd", "level", *ASPECT_HEADERS):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("findings", overflow="fold")
    for s in _slices(result):
        findings = f"[yellow]out of distribution: {escape(s.ood_reason or '')}[/]" if s.out_of_distribution else \
            ", ".join(d.name for d in s.distortions[:3]) or "—"
        table.add_row("—" if s.slice_index is None else str(s.slice_index), _score_cell(s),
                      s.level or "—", *(f"{s.aspects[a]:.2f}" if a in s.aspects else "—" for a in ASPECTS),
                      findings)
    if hasattr(result, "summary"):
        m = result.summary
        table.caption = volume_caption(m.n_slices, m.mean, m.median, m.min, m.worst_slices, result.model)
    else:
        table.caption = slice_caption(result.description, result.model)
    return table


def assess(
    paths: list[Path] = typer.Argument(..., help="Files or folders (DICOM series, NIfTI, MHD, NPY, PNG/JPEG/TIFF)."),
    model: str = typer.Option("default", "--model", "-m",
                              help="Shipped model name, checkpoint folder or baseline name (brisque, niqe, ...; "
                                   "scored on its own scale)."),
    fmt: str = typer.Option("table", "--format", "-f", help="Output: table, json, jsonl or csv (on stdout)."),
    window: str | None = typer.Option(None, "--window", "-w",
                                      help="Display window of raster inputs and heatmaps: preset or LEVEL,WIDTH."),
    heatmap_dir: Path | None = typer.Option(None, "--heatmap", help="Folder for heatmap PNGs (volumes: worst slices)."),
    plot: Path | None = typer.Option(None, "--plot", help="PNG of per-slice scores of each volume."),
    measures: bool = typer.Option(True, "--measures/--no-measures", help="Add the physics measures (slower)."),
    reference: Path | None = typer.Option(None, "--reference", "-r",
                                          help="Judge against this image or series (full-reference; e.g. full dose)."),
    domain: str = typer.Option("auto", "--domain", "-d",
                               help="auto: colour photographs go to the photo model, the rest is CT; or ct, photo."),
) -> None:
    """Score image quality (0-4, per aspect, with uncertainty, distortions and a description; baselines: own scale)."""
    from vliqa.assessment import Assessor  # lazy: keeps `vliqa --help` fast
    from vliqa.cli.main import console, err_console  # lazy: keeps `vliqa --help` fast

    if fmt not in FORMATS:
        raise InvalidParameterError(f"unknown format '{fmt}'", hint=f"use one of {', '.join(FORMATS)}")
    assessor = Assessor(model, window=window, measures=measures, domain=domain)
    results: list[Assessment | VolumeAssessment] = []
    errors: list[VliqaError] = []
    for item in assessor.assess_inputs([str(p) for p in paths], reference=reference, heatmap_dir=heatmap_dir,
                                       plot=plot):
        if item.error is not None:
            errors.append(item.error)
            continue
        results.append(item.result)
        if fmt == "jsonl":
            sys.stdout.write(json.dumps(item.result.to_dict()) + "\n")
        elif fmt == "table":
            console.print(_table(item.result))
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
