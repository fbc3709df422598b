"""`load` and `load_all`: any supported file, folder or in-memory object to `CTImage` / `CTVolume` in HU.

What each input gives:
- a DICOM file: CTImage (one frame) or CTVolume (multi-frame / enhanced CT);
- a folder: its DICOM series as a CTVolume (the largest CT series when there are several, with a warning that
  names the others; choose with series_uid=); else its one NIfTI/MHD/NPY file; else its raster slices
  (PNG/JPEG/TIFF, all one size) stacked in natural file-name order (slice2 before slice10);
- a NIfTI, MetaImage or .npy file: what it holds (one slice -> CTImage);
- a PNG/JPEG/TIFF: display-windowed values mapped to HU under `window` (default 'ldctiqac', W350 L40);
- a numpy array (values are HU), a Pillow image (display-windowed, as a raster file), a pydicom Dataset.

`domain` says which rasters and arrays are photographs (`PhotoImage`, RGB in [0, 1]): "ct" (the default) none,
"photo" all (DICOM, NIfTI, MetaImage and .npy files are refused: they hold CT), "auto" those that
`vliqa.core.detect_domain` takes for one (colour over much of the image, not mostly black). A folder of
photographs is not a series: `load_all` / `iter_load` read each file.

Folders are searched recursively; hidden entries, DICOMDIR, licence/readme and MetaImage data files are skipped.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset

from vliqa.core import CTImage, CTVolume, PhotoImage, check_domain, detect_domain
from vliqa.errors import (
    CorruptFileError,
    EmptyInputError,
    InconsistentSeriesError,
    InvalidParameterError,
    PermissionDeniedError,
    UnsupportedFormatError,
    VliqaError,
)
from vliqa.io.arrays import from_array, read_npy
from vliqa.io.common import READ_EXTENSIONS, check_readable, detect_format, natural_key, path_suffix
from vliqa.io.dicom import dataset_to_image, has_pixels, read_dicom_file, read_header
from vliqa.io.dicom_series import group_series, load_dicom_files, load_series
from vliqa.io.metaimage import read_metaimage
from vliqa.io.nifti import read_nifti
from vliqa.io.raster import WindowSpec, from_pil, read_raster

logger = logging.getLogger("vliqa.io")

Loadable = str | os.PathLike | np.ndarray | Image.Image | Dataset | CTImage | CTVolume | PhotoImage
_VOLUME_FORMATS = ("nifti", "metaimage", "npy")


def load(
    path_or_obj: Loadable,
    *,
    window: WindowSpec = None,
    allow_non_ct: bool = False,
    series_uid: str | None = None,
    domain: str = "ct",
) -> CTImage | CTVolume | PhotoImage:
    """Gives the CT image or volume (float32 HU) held by a file, a folder, an array, a Pillow image or a Dataset,
    or the photograph (`PhotoImage`) a raster or an array holds under `domain` "photo" or "auto".

    `window` is the display window assumed for raster inputs (PNG/JPEG/TIFF, Pillow images); it is ignored for
    formats that store HU. `allow_non_ct` reads MR, CR, ... DICOM with a warning instead of raising NotCTError.
    `series_uid` picks one series of a DICOM folder holding several. `domain`: "ct", "photo" or "auto" (module
    notes).
    """
    domain = check_domain(domain)
    if isinstance(path_or_obj, (CTImage, CTVolume, PhotoImage)):  # already loaded: lets callers mix paths and images
        return path_or_obj
    if isinstance(path_or_obj, np.ndarray):
        if domain == "photo" or (domain == "auto" and detect_domain(path_or_obj) == "photo"):
            return PhotoImage.from_pixels(path_or_obj)
        return from_array(path_or_obj)
    if isinstance(path_or_obj, Image.Image):
        return from_pil(path_or_obj, window=window, source=getattr(path_or_obj, "filename", None) or None,
                        domain=domain)
    if isinstance(path_or_obj, Dataset):
        name = getattr(path_or_obj, "filename", None)
        if domain == "photo":
            raise _not_a_photo(name if isinstance(name, str) else None, "DICOM")
        return dataset_to_image(path_or_obj, name if isinstance(name, str) else None, allow_non_ct=allow_non_ct)
    if not isinstance(path_or_obj, (str, os.PathLike)):
        raise UnsupportedFormatError(
            f"cannot load an object of type {type(path_or_obj).__name__}",
            hint="pass a path, a numpy array of HU, a Pillow image or a pydicom Dataset",
        )
    path = check_readable(path_or_obj)
    if path.is_dir():
        return load_folder(path, window=window, allow_non_ct=allow_non_ct, series_uid=series_uid, domain=domain)
    return load_file(path, window=window, allow_non_ct=allow_non_ct, domain=domain)


def _not_a_photo(source: str | os.PathLike | None, kind: str) -> InvalidParameterError:
    return InvalidParameterError(f"{source or 'input'}: {kind} holds CT, not a photograph", path=source,
                                 hint="read it with domain='ct' or 'auto'; photographs are PNG/JPEG/TIFF or RGB arrays")


def load_file(path: str | Path, *, window: WindowSpec = None, allow_non_ct: bool = False,
              domain: str = "ct") -> CTImage | CTVolume | PhotoImage:
    """Gives the image held by one file, chosen by its suffix (or DICOM content for files without one)."""
    domain = check_domain(domain)
    path = check_readable(path)
    fmt = detect_format(path)
    if fmt is None:
        fmt = _sniff_dicom_without_preamble(path)
    if domain == "photo" and fmt != "raster":
        raise _not_a_photo(path, {"dicom": "DICOM", "nifti": "NIfTI", "metaimage": "MetaImage"}.get(fmt, "a .npy file"))
    if fmt == "dicom":
        return read_dicom_file(path, allow_non_ct=allow_non_ct)
    if fmt == "nifti":
        return read_nifti(path)
    if fmt == "metaimage":
        return read_metaimage(path)
    if fmt == "npy":
        return read_npy(path)
    return read_raster(path, window=window, domain=domain)


def _sniff_dicom_without_preamble(path: Path) -> str:
    """Gives 'dicom' when a file without a known suffix parses as DICOM; raises UnsupportedFormatError otherwise."""
    unsupported = UnsupportedFormatError(
        f"{path}: format not recognised (suffix '{path_suffix(path) or 'none'}')",
        path=path,
        hint=f"vliqa reads {READ_EXTENSIONS}",
    )
    if path_suffix(path) not in ("",) and not path_suffix(path)[1:].isdigit():
        raise unsupported
    try:
        ds = read_header(path)
    except CorruptFileError:
        raise unsupported from None
    if "SOPClassUID" in ds or "Modality" in ds or has_pixels(ds):
        return "dicom"
    raise unsupported


@dataclass
class FolderContents:
    """The readable files found under a folder, by format, and the files skipped."""

    folder: str
    by_format: dict[str, list[str]]
    skipped: list[str]

    def count(self) -> int:
        return sum(len(v) for v in self.by_format.values())


def scan_folder(folder: str | Path) -> FolderContents:
    """Gives the files under `folder` (recursively, natural order) grouped by format."""
    folder = Path(folder)
    by_format: dict[str, list[str]] = {}
    skipped: list[str] = []

    def denied(err: OSError) -> None:
        raise PermissionDeniedError(
            f"{err.filename}: cannot list folder ({err.strerror})", path=err.filename, hint="check its permissions"
        )

    for root, dirs, files in os.walk(folder, onerror=denied):
        dirs[:] = sorted((d for d in dirs if not d.startswith(".")), key=natural_key)
        for name in sorted(files, key=natural_key):
            full = os.path.join(root, name)
            fmt = detect_format(full)
            if fmt is None:
                skipped.append(full)
            else:
                by_format.setdefault(fmt, []).append(full)
    return FolderContents(str(folder), by_format, skipped)


def _empty(contents: FolderContents) -> EmptyInputError:
    extra = (
        f" ({len(contents.skipped)} other files skipped, e.g. {Path(contents.skipped[0]).name})"
        if contents.skipped
        else ""
    )
    return EmptyInputError(
        f"{contents.folder}: no image found in this folder or below{extra}",
        path=contents.folder,
        hint=f"vliqa reads {READ_EXTENSIONS}",
    )


def load_folder(
    folder: str | Path, *, window: WindowSpec = None, allow_non_ct: bool = False, series_uid: str | None = None,
    domain: str = "ct",
) -> CTImage | CTVolume:
    """Gives the one image a folder holds: its DICOM series, else its volume file, else its stacked raster slices."""
    contents = scan_folder(folder)
    where = contents.folder
    found = contents.by_format
    if not found:
        raise _empty(contents)
    if domain == "photo" and set(found) != {"raster"}:
        raise _not_a_photo(where, "this folder")
    if "dicom" in found:
        image = load_dicom_files(found["dicom"], where, series_uid=series_uid, allow_non_ct=allow_non_ct)
        ignored = [p for fmt, paths in found.items() if fmt != "dicom" for p in paths]
    elif any(fmt in found for fmt in _VOLUME_FORMATS):
        files = sorted((p for fmt in _VOLUME_FORMATS for p in found.get(fmt, [])), key=natural_key)
        image = load_file(files[0], window=window)
        ignored = files[1:] + found.get("raster", [])
    else:
        image = stack_rasters(found["raster"], where, window=window, domain=domain)
        ignored = []
    if ignored:
        note = (
            f"{where}: also holds {len(ignored)} other image file(s) that were not loaded "
            f"(e.g. {Path(ignored[0]).name}); use load_all to read every image"
        )
        image = dataclasses.replace(image, warnings=image.warnings + (note,))
    return image


def stack_rasters(files: list[str], where: str, *, window: WindowSpec = None, domain: str = "ct") -> CTVolume:
    """Gives raster slices (one size, one per file) stacked in natural file-name order as a CTVolume.

    Under `domain` "auto" or "photo", a folder holding photographs raises InconsistentSeriesError: photographs
    are not slices of one series.
    """
    files = sorted(files, key=natural_key)
    slices = [read_raster(f, window=window, domain=domain) for f in files]
    photos = [f for f, s in zip(files, slices, strict=True) if isinstance(s, PhotoImage)]
    if photos:
        raise InconsistentSeriesError(
            f"{where}: holds photographs (e.g. {Path(photos[0]).name}), which are not slices of one series",
            path=where, hint="pass the files themselves, or read each with load_all (vliqa assess does)")
    shapes = {tuple(s.hu.shape) for s in slices}
    if any(isinstance(s, CTVolume) for s in slices) or len(shapes) > 1:
        shown = ", ".join(
            f"{Path(f).name}: {'x'.join(map(str, s.hu.shape))}" for f, s in list(zip(files, slices, strict=True))[:6]
        )
        raise InconsistentSeriesError(
            f"{where}: raster files differ in size or hold several pages ({shown}), so they cannot be stacked",
            path=where,
            hint="load the files one by one (load_all) or keep one size per folder",
        )
    notes: list[str] = []
    for s in slices:
        notes += [n for n in s.warnings if n not in notes]
    first = slices[0]
    return CTVolume(
        hu=np.stack([s.hu for s in slices]),
        pixel_spacing_mm=first.pixel_spacing_mm,
        source=where,
        slice_sources=tuple(files),
        display_window=first.display_window,
        warnings=tuple(notes),
    )


@dataclass
class LoadResult:
    """One image found by `iter_load`: what was read (`image`) or why it could not be (`error`)."""

    source: str
    image: CTImage | CTVolume | PhotoImage | None = None
    error: VliqaError | None = None


def iter_load(
    paths: Loadable | Iterable[Loadable], *, window: WindowSpec = None, allow_non_ct: bool = False,
    domain: str = "ct",
) -> Iterator[LoadResult]:
    """Yields every image found under the inputs, one at a time (each DICOM series once, each other file once).

    Errors of single inputs are yielded, not raised, so a command over many inputs can report and go on.
    Localizer (scout) series are skipped. `domain`: as in `load`; each photograph is one input.
    """
    domain = check_domain(domain)
    single = (str, os.PathLike, np.ndarray, Image.Image, Dataset, CTImage, CTVolume, PhotoImage)
    items = [paths] if isinstance(paths, single) else list(paths)
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            yield _attempt("in-memory object",
                           lambda item=item: load(item, window=window, allow_non_ct=allow_non_ct, domain=domain))
            continue
        try:
            path = check_readable(item)
        except VliqaError as exc:
            yield LoadResult(str(item), error=exc)
            continue
        if path.is_file():
            yield _attempt(str(path),
                           lambda p=path: load_file(p, window=window, allow_non_ct=allow_non_ct, domain=domain))
            continue
        contents = scan_folder(path)
        if not contents.count():
            yield LoadResult(str(path), error=_empty(contents))
            continue
        dicom_files = contents.by_format.get("dicom", [])
        if dicom_files:
            try:
                series, _ = group_series(dicom_files)
            except VliqaError as exc:
                yield LoadResult(str(path), error=exc)
                series = []
            for s in series:
                if s.slices[0].localizer:
                    continue
                where = s.slices[0].path if len(s.slices) == 1 else str(Path(s.slices[0].path).parent)
                if domain == "photo":
                    yield LoadResult(where, error=_not_a_photo(where, "DICOM"))
                    continue
                yield _attempt(where, lambda s=s, w=where: load_series(s, w, allow_non_ct=allow_non_ct))
        for fmt, files in contents.by_format.items():
            if fmt == "dicom":
                continue
            for f in files:
                yield _attempt(f, lambda f=f: load_file(f, window=window, domain=domain))


def _attempt(source: str, fn) -> LoadResult:
    try:
        return LoadResult(source, image=fn())
    except VliqaError as exc:
        return LoadResult(source, error=exc)


def load_all(
    paths: Loadable | Iterable[Loadable],
    *,
    window: WindowSpec = None,
    allow_non_ct: bool = False,
    skip_errors: bool = False,
    domain: str = "ct",
) -> list[CTImage | CTVolume | PhotoImage]:
    """Gives every image found under the given files and folders (each DICOM series once, each other file once).

    Raises the first input's error unless `skip_errors` (then it is logged on the 'vliqa.io' logger and skipped);
    raises EmptyInputError when nothing readable was found at all.
    """
    images: list[CTImage | CTVolume | PhotoImage] = []
    errors: list[VliqaError] = []
    for result in iter_load(paths, window=window, allow_non_ct=allow_non_ct, domain=domain):
        if result.error is not None:
            if not skip_errors:
                raise result.error
            logger.warning("skipped %s: %s", result.source, result.error)
            errors.append(result.error)
        else:
            images.append(result.image)
    if not images:
        if errors:
            raise EmptyInputError(
                f"no input could be read ({len(errors)} failed; first: {errors[0]})",
                hint="see the errors above; fix or remove those inputs",
            )
        raise EmptyInputError("no input given", hint=f"pass files or folders; vliqa reads {READ_EXTENSIONS}")
    return images
