"""`vliqa report`: assess one CT file, folder or series and write its quality report (Markdown, HTML, PDF, JSON).

The command parses options and calls `vliqa.write_report`, which assesses, draws the figures and renders the
templates (`vliqa.report`); the suffix of `--out` names the format.
"""

from __future__ import annotations

from pathlib import Path

import typer


def report(
    path: Path = typer.Argument(..., help="A file or folder (one DICOM series, NIfTI, MHD, NPY, PNG/TIFF)."),
    out: Path = typer.Option(..., "--out", "-o", help="The report to write: .html, .pdf, .md or .json."),
    model: str = typer.Option("default", "--model", "-m",
                              help="Shipped model name, checkpoint folder or baseline name (own scale)."),
    reference: Path | None = typer.Option(None, "--reference", "-r",
                                          help="Judge against this image or series (full-reference; e.g. full dose)."),
    template_dir: Path | None = typer.Option(None, "--template-dir",
                                             help="Folder of a site's templates (report.html.j2, report.md.j2, "
                                                  "report.css) in place of the shipped ones."),
    window: str | None = typer.Option(None, "--window", "-w",
                                      help="Display window of raster inputs and heatmaps: preset or LEVEL,WIDTH."),
    measures: bool = typer.Option(True, "--measures/--no-measures", help="Add the physics measures (slower)."),
    figures_dir: Path | None = typer.Option(None, "--figures-dir",
                                            help="Keep the figure PNGs here (Markdown: default <name>_figures/)."),
    title: str | None = typer.Option(None, "--title", help="The report's title."),
) -> None:
    """Write a quality report of one image or series: verdict, aspect findings, figures, acquisition, measures."""
    import vliqa  # lazy: keeps `vliqa --help` fast
    from vliqa.cli.main import console  # lazy: keeps `vliqa --help` fast

    written = vliqa.write_report(str(path), out, model=model, reference=reference, window=window,
                                 measures=measures, template_dir=template_dir, figures_dir=figures_dir, title=title)
    console.print(f"wrote {written}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Adds `vliqa report` to `app`."""
    app.command("report")(report)
