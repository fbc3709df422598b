"""`vliqa describe`, `vliqa compare`, `vliqa ask`: the quality VLM's words about CT slices, series and photos.

Each command is one call to the Assessor (`describe`, `compare`, `ask`); this module parses and prints.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

# The options every command here shares (Typer reads these as defaults; they hold no state).
_MODEL = typer.Option("default", "--model", "-m",
                      help="Quality model whose scores the text states (shipped name, checkpoint folder).")
_VLM = typer.Option("vlm", "--vlm", help="The quality VLM: 'vlm' (shipped) or a checkpoint folder.")
_WINDOW = typer.Option(None, "--window", "-w", help="Display window of raster inputs: preset or LEVEL,WIDTH.")
_FORMAT = typer.Option("text", "--format", "-f", help="text or json.")


def _check_format(fmt: str) -> None:
    from vliqa.errors import InvalidParameterError  # lazy: keeps `vliqa --help` fast

    if fmt not in ("text", "json"):
        raise InvalidParameterError(f"unknown format '{fmt}'", hint="use --format text or --format json")


def describe(
    paths: list[Path] = typer.Argument(..., help="Files or folders (a DICOM series, NIfTI, PNG/TIFF, photos)."),
    model: str = _MODEL,
    vlm: str = _VLM,
    window: str | None = _WINDOW,
    fmt: str = _FORMAT,
) -> None:
    """Describe the quality of each image in words (IQAGPT-style caption; the levels are the scores')."""
    from vliqa.assessment import Assessor  # lazy: keeps `vliqa --help` fast
    from vliqa.cli.main import console, print_json  # lazy: keeps `vliqa --help` fast

    _check_format(fmt)
    assessor = Assessor(model, window=window, measures=False, describer=vlm)
    results = []
    for item in assessor.assess_inputs([str(p) for p in paths]):
        if item.error is not None:
            raise item.error
        result = item.result
        results.append(result)
        if fmt == "text":
            slices = getattr(result, "slices", (result,))
            for s in slices:
                where = f" slice {s.slice_index}" if s.slice_index is not None and len(slices) > 1 else ""
                head = f"{s.path or 'image'}{where}: {s.score:.2f} ({s.level})"
                console.print(f"[bold]{escape(head)}[/]\n{escape(s.description)}\n", soft_wrap=True)
    if fmt == "json":
        print_json([r.to_dict() for r in results])


def compare(
    a: Path = typer.Argument(..., help="Image or series A."),
    b: Path = typer.Argument(..., help="Image or series B."),
    reference: Path | None = typer.Option(None, "--reference", "-r", help="The full-quality reference, if any."),
    model: str = _MODEL,
    vlm: str = _VLM,
    window: str | None = _WINDOW,
    fmt: str = _FORMAT,
    panel: Path | None = typer.Option(None, "--panel", help="Write a side-by-side PNG of A, B (and the reference) "
                                                            "with the verdict under it."),
) -> None:
    """Say which of two images is better, how sure, and why (the same verdict in either order)."""
    from vliqa.assessment import Assessor  # lazy: keeps `vliqa --help` fast
    from vliqa.cli.main import console, print_json  # lazy: keeps `vliqa --help` fast
    from vliqa.io import load  # lazy: keeps `vliqa --help` fast

    _check_format(fmt)
    assessor = Assessor(model, window=window, measures=False, describer=vlm)
    result = assessor.compare(str(a), str(b), reference=None if reference is None else str(reference))
    if panel is not None:
        from vliqa.assessment.panel import save_comparison_panel  # lazy: imports matplotlib

        ref = None if reference is None else load(str(reference), window=window)
        save_comparison_panel(result, load(str(a), window=window), load(str(b), window=window), panel,
                              reference=ref, window=window)
    if fmt == "json":
        print_json(result.to_dict())
        return
    verdict = "tie" if result.preferred == "tie" else f"{result.preferred} is better"
    console.print(f"[bold]{verdict}[/] (probability {result.probability:.2f})", highlight=False)
    console.print(escape(result.explanation), soft_wrap=True)
    if panel is not None:
        console.print(f"panel: {panel}", highlight=False)


def ask(
    path: Path = typer.Argument(..., help="A file or folder (a series: its middle slice)."),
    question: str = typer.Argument(..., help='The question, e.g. "could a 5 mm liver lesion be missed?"'),
    model: str = _MODEL,
    vlm: str = _VLM,
    window: str | None = _WINDOW,
    fmt: str = _FORMAT,
) -> None:
    """Ask a free quality question about an image; answers "I cannot tell" when image quality cannot say."""
    from vliqa.assessment import Assessor  # lazy: keeps `vliqa --help` fast
    from vliqa.cli.main import console, print_json  # lazy: keeps `vliqa --help` fast

    _check_format(fmt)
    answer = Assessor(model, window=window, measures=False, describer=vlm).ask(str(path), question)
    if fmt == "json":
        print_json(answer.to_dict())
    else:
        console.print(escape(answer.answer), soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Adds `vliqa describe`, `vliqa compare` and `vliqa ask` to `app`."""
    app.command("describe")(describe)
    app.command("compare")(compare)
    app.command("ask")(ask)
