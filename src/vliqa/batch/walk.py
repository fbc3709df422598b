"""Work units of an archive: a streaming walk of a folder tree, DICOM files grouped into series by header alone.

The tree is walked one folder at a time (`os.scandir`, entries in natural order), so memory holds one folder's
file list, never the archive's. In each folder the DICOM headers are read up to the pixels
(`stop_before_pixels`), grouped by SeriesInstanceUID, sorted along the slice normal and cut into units of at
most `shard_size` slices. A unit's id is a digest of what it holds (folder, series, chunk, file names), so a
rerun over the same tree gives the same ids and a changed folder gives new ones.

A series split over several folders gives one unit (or more) per folder, all under the same `series_uid`; the
series table groups them again. Files whose header cannot be read become one "errors" unit per folder, so they
are written (as error rows) exactly once like any other unit. Localizers, objects without an image and other
modalities than CT (a PET/CT study's PET, an MR) are skipped and counted in `WalkStats`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from vliqa.errors import InvalidParameterError
from vliqa.io import dicom_meta as meta
from vliqa.io.common import detect_format, natural_key, path_suffix

#: The header elements grouping and sorting need; reading only these keeps a header read cheap.
GROUP_TAGS = ("SeriesInstanceUID", "StudyInstanceUID", "SeriesNumber", "ImagePositionPatient",
              "ImageOrientationPatient", "InstanceNumber", "ImageType", "NumberOfFrames", "Modality", "SOPClassUID",
              "Rows")
#: Unit kinds: a chunk of one DICOM series, one volume file (NIfTI, MetaImage, .npy, multi-frame DICOM), a
#: chunk of a folder's raster slices, or the files of one folder that could not be read at all.
KINDS = ("dicom", "volume", "raster", "errors")
_VOLUME_FORMATS = ("nifti", "metaimage", "npy")


@dataclass(frozen=True)
class FileError:
    """A file found but not readable as an image: its path, the error's type name and message."""

    path: str
    error_type: str
    message: str


@dataclass(frozen=True)
class WorkUnit:
    """One unit of work: the files to score (in slice order) and where their rows go."""

    unit_id: str
    kind: str
    #: the series the slices belong to (DICOM), else the file (volume) or folder (raster) path
    series_uid: str | None
    study_uid: str | None
    paths: tuple[str, ...]
    #: the index in series order of the unit's first slice (chunks of a long series continue the count)
    first_index: int = 0
    errors: tuple[FileError, ...] = ()

    @property
    def n_files(self) -> int:
        return len(self.paths) + len(self.errors)


@dataclass
class WalkStats:
    """What a walk found besides its units: files skipped on purpose, by reason."""

    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


@dataclass(frozen=True)
class _Header:
    path: str
    series_uid: str
    study_uid: str | None
    n_frames: int
    localizer: bool
    modality: str
    sort_key: tuple


def unit_id(kind: str, rel_folder: str, series: str, chunk: int, names: list[str]) -> str:
    """Gives the stable id of a unit: a digest of its kind, folder, series, chunk number and file names."""
    digest = hashlib.sha1("\0".join([kind, rel_folder, series, str(chunk), *names]).encode("utf-8"))
    return digest.hexdigest()[:20]


def iter_folders(root: Path) -> Iterator[tuple[Path, list[os.DirEntry]]]:
    """Yields (folder, its files) depth first, entries in natural order; hidden entries are left out."""
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: natural_key(e.name))
        except OSError:
            continue  # a folder that vanished or may not be listed: nothing to score there
        files = [e for e in entries if e.is_file(follow_symlinks=True)]
        subfolders = [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)]
        stack.extend(reversed(subfolders))
        if files:
            yield folder, files


def _read_group_header(path: str, rel_folder: str) -> _Header | None:
    """Gives what grouping needs from one DICOM header (None for an object without an image)."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=True, specific_tags=list(GROUP_TAGS))
    except (InvalidDicomError, EOFError, ValueError, KeyError, IndexError, OverflowError, TypeError, OSError) as exc:
        raise _Unreadable("CorruptFileError", f"{path}: cannot be parsed as DICOM ({exc})") from exc
    if not any(k in ds for k in ("SOPClassUID", "Modality", "Rows")):
        raise _Unreadable("CorruptFileError", f"{path}: not a DICOM file (no SOP class, modality or image elements)")
    if "Rows" not in ds:
        return None
    try:
        image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
        study = meta.as_text(ds.get("StudyInstanceUID"))
        # anonymisers drop UIDs: the study (else the folder) and the series number still keep series apart
        series = meta.as_text(ds.get("SeriesInstanceUID")) or \
            f"{study or 'folder:' + rel_folder}/series-{meta.as_text(ds.get('SeriesNumber')) or '?'}"
        n_frames = max(1, int(ds.get("NumberOfFrames") or 1))
        pos, iop = meta.position(ds), meta.orientation(ds)
        instance = meta.as_float(ds.get("InstanceNumber"))
    except (ValueError, TypeError, NotImplementedError) as exc:  # a damaged element met on first access
        raise _Unreadable("CorruptFileError", f"{path}: a header element cannot be decoded ({exc})") from exc
    if pos is not None:
        key: tuple = (0, float(np.dot(pos, meta.slice_normal(iop))), natural_key(path))
    elif instance is not None:
        key = (1, instance, natural_key(path))
    else:
        key = (2, 0.0, natural_key(path))
    modality = (meta.as_text(ds.get("Modality")) or "CT").upper()
    return _Header(path, series, study, n_frames, "LOCALIZER" in image_type, modality, key)


class _Unreadable(Exception):
    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type, self.message = error_type, message


def _file_format(entry: os.DirEntry) -> str | None:
    """Gives the format of a file as the walk treats it; 'dicom?' for a file that may be DICOM without the marker."""
    fmt = detect_format(entry.path)
    if fmt is not None:
        return fmt
    suffix = path_suffix(entry.name)
    if (suffix == "" or suffix[1:].isdigit()) and entry.name.lower() not in ("dicomdir", "license", "readme"):
        return "dicom?"
    return None


def plan_units(src: str | Path, *, shard_size: int = 256, stats: WalkStats | None = None) -> Iterator[WorkUnit]:
    """Yields the work units of a file or a folder tree, folder by folder (module notes)."""
    if shard_size < 1:
        raise InvalidParameterError(f"shard size must be at least 1 slice, got {shard_size}")
    stats = stats if stats is not None else WalkStats()
    root = Path(src).resolve()
    if root.is_file():
        yield from _folder_units(root.parent, [e for e in os.scandir(root.parent) if e.path == str(root)],
                                 root.parent, shard_size, stats)
        return
    for folder, files in iter_folders(root):
        yield from _folder_units(folder, files, root, shard_size, stats)


def _folder_units(folder: Path, files: list[os.DirEntry], root: Path, shard_size: int,
                  stats: WalkStats) -> Iterator[WorkUnit]:
    rel = os.path.relpath(folder, root)
    series: dict[str, list[_Header]] = {}
    rasters: list[str] = []
    errors: list[FileError] = []
    for entry in files:
        fmt = _file_format(entry)
        if fmt is None:
            stats.skip("not an image file")
        elif fmt in ("dicom", "dicom?"):
            try:
                header = _read_group_header(entry.path, rel)
            except _Unreadable as exc:
                if fmt == "dicom?" and exc.message.endswith("image elements)"):
                    errors.append(FileError(entry.path, "UnsupportedFormatError",
                                            f"{entry.path}: not an image format vliqa reads (nor DICOM)"))
                else:
                    errors.append(FileError(entry.path, exc.error_type, exc.message))
                continue
            if header is None:
                stats.skip("DICOM object without an image")
            elif header.localizer:
                stats.skip("localizer (scout) image")
            elif header.modality != "CT":
                stats.skip(f"{header.modality} image, not CT")
            elif header.n_frames > 1:
                yield WorkUnit(unit_id("volume", rel, header.series_uid, 0, [entry.name]), "volume",
                               header.series_uid, header.study_uid, (entry.path,))
            else:
                series.setdefault(header.series_uid, []).append(header)
        elif fmt in _VOLUME_FORMATS:
            yield WorkUnit(unit_id("volume", rel, entry.path, 0, [entry.name]), "volume", entry.path, None,
                           (entry.path,))
        else:
            rasters.append(entry.path)
    for uid, headers in series.items():
        headers.sort(key=lambda h: h.sort_key)
        for chunk, start in enumerate(range(0, len(headers), shard_size)):
            part = headers[start:start + shard_size]
            names = [os.path.basename(h.path) for h in part]
            yield WorkUnit(unit_id("dicom", rel, uid, chunk, names), "dicom", uid, part[0].study_uid,
                           tuple(h.path for h in part), first_index=start)
    for chunk, start in enumerate(range(0, len(rasters), shard_size)):
        part = rasters[start:start + shard_size]
        yield WorkUnit(unit_id("raster", rel, str(folder), chunk, [os.path.basename(p) for p in part]), "raster",
                       str(folder), None, tuple(part), first_index=start)
    if errors:
        yield WorkUnit(unit_id("errors", rel, "", 0, [os.path.basename(e.path) for e in errors]), "errors", None,
                       None, (), errors=tuple(errors))
