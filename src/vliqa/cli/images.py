"""`vliqa inspect` and `vliqa preview`: look at what vliqa reads from a file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from vliqa.core import CTImage, CTVolume
from vliqa.errors import InvalidParameterError


def _fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return " × ".join(_fmt(v) for v in value)
    return str(value)


def _metadata_table(obj: CTImage | CTVolume) -> Table:
    info = obj.summary()
    acq = info.pop("acquisition")
    title = info.get("source") or "in-memory image"
    table = Table(title=str(title), show_header=False, title_justify="left")
    table.add_column("field", style="cyan")
    table.add_column("value")
    kind = "volume" if isinstance(obj, CTVolume) else "slice"
    table.add_row("kind", kind)
    for key in ("n_slices", "shape", "pixel_spacing_mm", "slice_thickness_mm", "slice_spacing_mm", "hu_min", "hu_max"):
        if key in info:
            table.add_row(key, _fmt(info[key]))
    for key, value in acq.items():
        if value is not None:
            table.add_row(key, _fmt(value))
    if info.get("display_window"):
        w = info["display_window"]
        table.add_row("assumed display window", f"{w['name']} (L {w['level']:g}, W {w['width']:g})")
    for warning in info.get("warnings", []):
        table.add_row("[yellow]warning[/]", warning)
    return table


def inspect(
    paths: list[Path] = typer.Argument(..., help="Files or folders (DICOM, NIfTI, MHD, NPY, PNG/JPEG/TIFF)."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON instead of tables."),
    allow_non_ct: bool = typer.Option(False, "--allow-non-ct", help="Read non-CT modalities (MR, CR, ...) too."),
) -> None:
    """Print the metadata vliqa reads from each image or series."""
    from vliqa.cli.main import console, print_json  # lazy: keeps `vliqa --help` fast
    from vliqa.io import load_all  # lazy: keeps `vliqa --help` fast

    objs = load_all([str(p) for p in paths], allow_non_ct=allow_non_ct)
    if as_json:
        print_json([o.summary() for o in objs])
        return
    for obj in objs:
        console.print(_metadata_table(obj))


def preview(
    path: Path = typer.Argument(..., help="A file or folder to preview."),
    output: Path = typer.Option(..., "-o", "--output", help="PNG file to write."),
    window: str = typer.Option("abdomen", "--window", "-w", help="Preset name, 'dicom' (from the tags) or LEVEL,WIDTH.")
    , slice_index: int | None = typer.Option(None, "--slice", help="Slice of a volume (default: the middle one)."),
) -> None:
    """Write a windowed PNG preview of a slice."""
    from vliqa.cli.main import console  # lazy: keeps `vliqa --help` fast
    from vliqa.io import load  # lazy: keeps `vliqa --help` fast
    from vliqa.io.write import save_preview_png  # lazy: keeps `vliqa --help` fast

    obj = load(str(path))
    if isinstance(obj, CTVolume):
        index = len(obj) // 2 if slice_index is None else slice_index
        if not -len(obj) <= index < len(obj):
            raise InvalidParameterError(
                f"slice {index} does not exist", path=path, hint=f"the volume has {len(obj)} slices (0..{len(obj) - 1})"
            )
        image = obj.slice(index)
    else:
        image = obj
    save_preview_png(image, output, window=window)
    console.print(f"wrote {output}")


def register(app: typer.Typer) -> None:
    """Adds the image commands to `app`."""
    app.command("inspect")(inspect)
    app.command("preview")(preview)
