"""The real evaluation data beside the project (`../shared/data`) as typed items: reader studies and Mayo dose pairs.

    items = load_mtdgan()          # 140 ReaderItems: 10 sets x (12 denoisers + LDCT/NDCT anchors), 3 readers' means
    items = load_petct()           # 270 ReaderItems: 10 content groups x 27 distorted fused PET/CT slices
    pairs = load_mayo_pairs()      # 36 real full-dose / quarter-dose DICOM pairs (Mayo LDCT Grand Challenge)
    l067 = load_l067_srgan()       # 10 full-dose L067 slices beside their SRGAN x4 restorations
    image = read_display(items[0].path)

None of these files may be bundled in the package (licences: see each folder's SOURCE.txt / README.md).
Items carry absolute paths; `data_key` gives the path relative to the data root, the key that out-of-fold
prediction files use.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from vliqa.core import CTImage
from vliqa.errors import DatasetError, InvalidImageError
from vliqa.io import load

#: Environment variable naming the shared data folder (it holds reader_studies/, mayo_ldct_pairs/, ...).
DATA_ROOT_ENV = "VLIQA_SHARED_DATA"
MTDGAN_DIR = "reader_studies/mtdgan_dev"
PETCT_DIR = "reader_studies/petct_dev"
MAYO_PAIRS_DIR = "mayo_ldct_pairs"
L067_DIR = "mayo_L067_full_dose_and_srgan"
#: Mayo stored values are unsigned with RescaleIntercept -1024.
MAYO_RAW_SHAPE = (512, 512)
MAYO_RAW_OFFSET_HU = 1024.0
#: On the readers' noise scale, 7 means "like the normal-dose image" (below: noise left, above: over-smoothed).
MTDGAN_NOISE_NEUTRAL = 7.0

Study = Literal["mtdgan", "petct"]


@dataclass(frozen=True)
class ReaderItem:
    """One image of a reader study with its readers' scores (higher is better for every score but noise_raw).

    mtdgan: `group` is "<region>/set_<n>", `scores` holds noise_q (minus the mean |noise - 7|, so 0 is best),
    contrast, structure (1-5) and noise_raw (the readers' 1-14 mean, 7 = like normal dose); `reference` is the
    set's normal-dose image (None for that image itself). petct: `group` is "group_<g>" (same content),
    `scores` holds overall (0-4) and `reference` is None.
    """

    study: Study
    path: Path
    group: str
    region: str
    method: str
    anchor: bool
    scores: dict[str, float] = field(hash=False)
    reference: Path | None = None


@dataclass(frozen=True)
class MayoPair:
    """One real full-dose / quarter-dose DICOM pair of a Mayo patient at one slice position."""

    patient: str
    kernel: str
    full: Path
    quarter: Path


@dataclass(frozen=True)
class L067Pair:
    """One full-dose slice of Mayo patient L067 beside the SRGAN x4 restoration of its 4x-downsampled copy."""

    kernel: str
    instance: int
    full_path: Path
    srgan_path: Path
    full: CTImage = field(repr=False, compare=False)
    srgan: CTImage = field(repr=False, compare=False)


def default_root() -> Path:
    """Gives the shared data folder: $VLIQA_SHARED_DATA, else `<repo>/../shared/data` (not checked to exist)."""
    env = os.environ.get(DATA_ROOT_ENV)
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[3]
    return repo.parent / "shared" / "data"


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    """Gives the shared data folder `root` (default: `default_root()`), raising DatasetError when it is absent."""
    path = Path(root).expanduser() if root is not None else default_root()
    if not path.is_dir():
        raise DatasetError(
            "the shared evaluation data folder does not exist",
            path=path,
            hint=f"put the data beside the project as ../shared/data, set ${DATA_ROOT_ENV}, or pass its folder",
        )
    return path


def data_key(path: str | os.PathLike, root: str | os.PathLike | None = None) -> str:
    """Gives `path` relative to the data root, '/'-separated: the key of an item in out-of-fold prediction files."""
    return Path(path).resolve().relative_to(resolve_root(root).resolve()).as_posix()


def _read_csv(path: Path) -> list[dict[str, str]]:
    """Gives the rows of a CSV file as dicts, raising DatasetError when it is missing."""
    if not path.is_file():
        raise DatasetError("the table is missing", path=path, hint="copy the folder again from its source (SOURCE.txt)")
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _existing(path: Path, table: Path) -> Path:
    """Gives `path` when the file exists, raising DatasetError that names the table listing it otherwise."""
    if not path.is_file():
        raise DatasetError(f"{table.name} lists a file that is missing", path=path,
                           hint="copy the folder again from its source (SOURCE.txt)")
    return path


def _number(row: dict[str, str], key: str, table: Path) -> float:
    """Gives row[key] as a float, raising DatasetError on a missing or non-numeric cell."""
    try:
        return float(row[key])
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"column '{key}' is missing or not a number ({row.get(key)!r})", path=table,
                           hint="the table does not have the layout this loader expects") from exc


def load_mtdgan(root: str | os.PathLike | None = None) -> list[ReaderItem]:
    """Gives the 140 images of the MTD-GAN blind reader study (20 LDCT/NDCT anchors among them), in table order."""
    folder = resolve_root(root) / MTDGAN_DIR
    table = folder / "mean_scores.csv"
    items = []
    for row in _read_csv(table):
        path = _existing(folder / row["path"], table)
        group = f"{row['region']}/set_{int(row['set'])}"
        is_ndct = row["image"] == "ndct"
        reference = None if is_ndct else _existing(path.parent / "ndct.png", table)
        scores = {
            "noise_q": 0.0 - _number(row, "noise_absdev_mean", table),  # 0.0 - x: no -0.0
            "contrast": _number(row, "contrast_mean", table),
            "structure": _number(row, "structure_mean", table),
            "noise_raw": _number(row, "noise_mean", table),
        }
        items.append(ReaderItem(study="mtdgan", path=path, group=group, region=row["region"], method=row["method"],
                                anchor=row["anchor"].strip() == "1", scores=scores, reference=reference))
    return items


def load_petct(root: str | os.PathLike | None = None) -> list[ReaderItem]:
    """Gives the 270 radiologist-scored fused PET/CT slices (10 content groups of 27), in table order."""
    folder = resolve_root(root) / PETCT_DIR
    table = folder / "scores.csv"
    return [
        ReaderItem(study="petct", path=_existing(folder / row["path"], table), group=f"group_{int(row['group'])}",
                   region="petct", method="unknown", anchor=False, scores={"overall": _number(row, "score", table)})
        for row in _read_csv(table)
    ]


def load_mayo_pairs(root: str | os.PathLike | None = None) -> list[MayoPair]:
    """Gives the 36 real full-dose / quarter-dose pairs of the Mayo LDCT Grand Challenge (4 patients, 2 kernels)."""
    folder = resolve_root(root) / MAYO_PAIRS_DIR
    table = folder / "pairs.csv"
    return [
        MayoPair(patient=row["patient"], kernel=row["kernel"], full=_existing(folder / row["full_dose"], table),
                 quarter=_existing(folder / row["quarter_dose"], table))
        for row in _read_csv(table)
    ]


def read_mayo_raw(path: str | os.PathLike) -> CTImage:
    """Gives a headerless Mayo .raw slice (512x512 little-endian uint16 stored values) as a CTImage in HU."""
    path = Path(path)
    expected = MAYO_RAW_SHAPE[0] * MAYO_RAW_SHAPE[1] * 2
    size = path.stat().st_size if path.is_file() else -1
    if size != expected:
        raise InvalidImageError(f"a Mayo .raw slice has {expected} bytes, this file {size}", path=path,
                                hint="only 512x512 uint16 slices are read this way")
    stored = np.fromfile(path, dtype="<u2").reshape(MAYO_RAW_SHAPE)
    return CTImage(hu=stored.astype(np.float32) - np.float32(MAYO_RAW_OFFSET_HU), source=str(path))


def _l067_instance(path: Path) -> int:
    """Gives the slice instance number of an L067 file name ('000039.raw' or 'L067_FD_3_1.CT.0002.0040....raw')."""
    parts = path.name.split(".")
    return int(parts[3]) if len(parts) > 4 else int(parts[0])


def load_l067_srgan(root: str | os.PathLike | None = None) -> list[L067Pair]:
    """Gives the 10 full-dose L067 slices (5 sharp D45, 5 smooth B30) each beside its SRGAN restoration.

    The SRGAN outputs are the same file format as the full-dose slices; they are over-smoothed and sit 10-90 HU
    below the full dose in soft tissue (a real restoration network's intensity shift, kept as it is).
    """
    folder = resolve_root(root) / L067_DIR / "ct_superresolution"
    pairs = []
    for kernel, short in (("sharp_D45", "sh"), ("smooth_B30", "sm")):
        full_dir = folder / "data" / f"test_{short}_L067" / "ua_ll_3mm_HR_tune_x4"
        srgan_dir = (folder / "results" / f"{short}_L067" / "ua_ll_smSRGAN_tune_in_x4" / "checkpoint-generator-20"
                     / f"test_{short}_L067_cnn")
        full_files = sorted(full_dir.glob("*.raw"), key=_l067_instance)
        if not full_files:
            raise DatasetError("no full-dose .raw slices found", path=full_dir,
                               hint=f"copy {L067_DIR} again from its source (SOURCE.txt)")
        for full_path in full_files:
            srgan_path = srgan_dir / full_path.name
            if not srgan_path.is_file():
                raise DatasetError("the SRGAN output of this slice is missing", path=srgan_path,
                                   hint=f"copy {L067_DIR} again from its source (SOURCE.txt)")
            pairs.append(L067Pair(kernel=kernel, instance=_l067_instance(full_path), full_path=full_path,
                                  srgan_path=srgan_path, full=read_mayo_raw(full_path),
                                  srgan=read_mayo_raw(srgan_path)))
    return pairs


def read_display(path: str | os.PathLike) -> CTImage:
    """Gives a reader-study raster as the bench and training read it: `vliqa.load` with its default window.

    8-bit PNG/JPEG values are taken as displayed through the default raster window (LDCTIQAC W350/L40, so
    windowing the image again gives back the file's grey levels); RGB renders such as the PET/CT overlays are
    converted to luminance by the loader, with a warning kept on the image.
    """
    image = load(path)
    if not isinstance(image, CTImage):
        raise InvalidImageError("a reader-study image must be one slice, this file holds several", path=path,
                                hint="pass a single-page PNG, JPEG or TIFF")
    return image
