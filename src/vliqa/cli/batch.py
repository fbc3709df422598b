"""`vliqa batch SRC --out DIR` scores an archive into resumable Parquet shards; `vliqa batch summarize DIR` shows
the scores by scanner, protocol, study date and series. The commands parse options, call `vliqa.batch` and print."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

console = Console()
err_console = Console(stderr=True)


class _BatchGroup(TyperGroup):
    """`vliqa batch SRC ...` runs `vliqa batch run SRC ...`; `vliqa batch summarize DIR` stays a sub-command."""

    def parse_args(self, ctx, args):  # noqa: ANN001, ANN201 - click's signature
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_BatchGroup, no_args_is_help=True, add_completion=False)


@app.command("run")
def run(
    src: Path = typer.Argument(..., help="Folder tree of DICOM series, NIfTI volumes or slices (or one file)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: slices/ shards, series.parquet, ledger. "
                                                      "Rerun the same command to resume."),
    engine: str = typer.Option("local", "--engine", help="local (this machine) or ray."),
    address: str | None = typer.Option(None, "--address", help="Ray cluster to join (ray://... or HOST:PORT); "
                                                               "default: start a local Ray."),
    model: str = typer.Option("default", "--model", "-m", help="Quality model: shipped name or checkpoint folder."),
    no_measures: bool = typer.Option(False, "--no-measures", help="Skip the physics measures (much faster)."),
    describe: bool = typer.Option(False, "--describe", help="Add the quality VLM's descriptions (slower)."),
    shard_size: int = typer.Option(256, "--shard-size", help="Most slices per work unit (one shard each)."),
    workers: int = typer.Option(1, "--workers", "-w", help="Worker processes (local) or Ray actors, one model "
                                                           "each."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Score every slice under SRC into DIR, resumable and exactly once (docs/batch.md)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn  # lazy: keeps --help fast

    from vliqa.batch import run_batch  # lazy: keeps `vliqa --help` fast

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err_console,
                  transient=True) as progress:
        task = progress.add_task(f"scoring {src} ({engine}, loading the model)", total=None)

        def show(p) -> None:  # noqa: ANN001 - a BatchProgress
            progress.update(task, description=f"{p.units_done} units ({p.units_skipped} resumed), "
                                              f"{p.slices_done} slices, {p.errors} errors, "
                                              f"{p.slices_per_s:.1f} slices/s")

        result = run_batch(src, out, engine=engine, address=address, model=model, measures=not no_measures,
                           describe=describe, shard_size=shard_size, workers=workers, on_progress=show)
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
        return
    errors = ", ".join(f"{k} {v}" for k, v in sorted(result.errors_by_type.items())) or "none"
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(result.skipped_files.items())) or "none"
    console.print(f"[bold]{result.n_slices}[/] slices in {result.n_series} series scored into {escape(str(out))} "
                  f"({result.n_units} units, {result.n_units_resumed} resumed from an earlier run)")
    console.print(f"errors: {errors}; files skipped: {skipped}")
    console.print(f"this run: {result.slices_this_run} slices in {result.seconds:.1f} s "
                  f"({result.slices_per_s:.1f} slices/s, {result.engine}, {result.workers} worker(s))")
    console.print(f"next: vliqa batch summarize {escape(str(out))} --html {escape(str(out / 'summary.html'))}")


def _groups_table(title: str, groups) -> Table:  # noqa: ANN001 - list of GroupStats
    from vliqa.core import LEVEL_NAMES, level_of  # lazy: keeps `vliqa --help` fast

    table = Table(title=title, title_justify="left")
    for col in ("group", "series", "slices", "mean", "median", "p10", "min", "poor/bad"):
        table.add_column(col, justify="left" if col == "group" else "right")
    for g in groups:
        table.add_row(escape(g.key), str(g.n_series), str(g.n_slices), f"{g.mean:.2f}",
                      f"{g.median:.2f} {LEVEL_NAMES[level_of(g.median)]}", f"{g.p10:.2f}", f"{g.min:.2f}",
                      f"{100 * g.poor_fraction:.0f} %")
    return table


@app.command("summarize")
def summarize(
    out_dir: Path = typer.Argument(..., help="The --out folder of a finished `vliqa batch` run."),
    html: Path | None = typer.Option(None, "--html", help="Write an HTML page with the tables and plots."),
    plots: Path | None = typer.Option(None, "--plots", help="Write the PNG plots into this folder."),
) -> None:
    """Print the score distribution by scanner, protocol, study date and series; plot it; write an HTML page."""
    from vliqa.batch import protocol_label, scanner_label, summarize, write_html, write_plots  # lazy: --help

    summary = summarize(out_dir)
    console.print(f"[bold]{summary.n_slices}[/] slices in {summary.n_series} series, {summary.n_errors} errors "
                  f"({escape(str(out_dir))})")
    console.print(_groups_table("By scanner", summary.by_scanner))
    console.print(_groups_table("By protocol (kVp, mAs, kernel, thickness)", summary.by_protocol))
    console.print(_groups_table("By study date", summary.by_date))
    worst = Table(title="Lowest-scoring series", title_justify="left")
    for col in ("series", "scanner", "protocol", "date", "slices", "median", "worst slices"):
        worst.add_column(col)
    for r in summary.worst_series:
        worst.add_row(escape(str(r["series_description"] or r["series_uid"])), escape(scanner_label(r)),
                      escape(protocol_label(r)), str(r["study_date"] or "?"), str(r["n_slices"]),
                      f"{r['median_score']:.2f}", ", ".join(str(i) for i in r["worst_slices"]))
    console.print(worst)
    if plots is None and html is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        written = write_plots(summary, plots if plots is not None else Path(tmp))
        if plots is not None:
            console.print(f"plots: {', '.join(escape(str(p)) for p in written.values())}")
        if html is not None:
            console.print(f"HTML: {escape(str(write_html(summary, html, written)))}")


def register(main_app: typer.Typer) -> None:
    """Adds `vliqa batch` to the main app."""
    main_app.add_typer(app, name="batch", help="Score an archive into resumable Parquet (`vliqa batch SRC --out DIR` "
                                               "is short for `vliqa batch run SRC --out DIR`); summarize by protocol.")
