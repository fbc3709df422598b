"""Builds a small archive of the kind `vliqa batch` meets: two scanners, several protocols and dates, unreadable files.

Written from the bundled samples: plain copies, copies rewritten with pydicom (a new
SeriesInstanceUID, kVp, kernel, exposure, study date make another series and protocol), a truncated slice, a
header cut short, a file that is not DICOM and a text file.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

#: Readable slices in the archive, and the unreadable files that must become error rows.
GOOD_SLICES = 11
ERROR_FILES = 3


def _rewrite(src: Path, dst: Path, series_uid: str, **tags: object) -> None:
    ds = pydicom.dcmread(src)
    ds.SeriesInstanceUID = series_uid
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    ds.save_as(dst)


def build_archive(root: Path, abdomen_series: Path, head_series: Path) -> Path:
    """Writes the archive under `root` (11 readable slices in 4 series, 3 unreadable files, 1 text file); gives it."""
    abdomen = sorted(abdomen_series.glob("CT*"))
    head = sorted(head_series.glob("*.dcm"))

    plain = root / "siteA" / "2022-12-08" / "abdomen"
    plain.mkdir(parents=True)
    for f in abdomen[:4]:
        shutil.copy(f, plain / f.name)
    data = abdomen[10].read_bytes()
    (plain / "CT.truncated").write_bytes(data[: len(data) * 2 // 3])  # header intact, pixels cut short

    low_kv = root / "siteA" / "2023-01-10" / "abdomen_100kv"
    low_kv.mkdir(parents=True)
    uid = generate_uid()
    for f in abdomen[4:7]:
        _rewrite(f, low_kv / f.name, uid, KVP=100, ConvolutionKernel="Br40f", Exposure=120, StudyDate="20230110")

    scanner_b = root / "siteB" / "head"
    scanner_b.mkdir(parents=True)
    uid = generate_uid()
    for f in head:
        _rewrite(f, scanner_b / f.name, uid, StudyDate="20221201")
    drift = root / "siteB" / "head_later"
    drift.mkdir(parents=True)
    uid = generate_uid()
    for f in head:
        _rewrite(f, drift / f.name, uid, StudyDate="20230301", ConvolutionKernel="BONE", KVP=140)

    broken = root / "broken"
    broken.mkdir()
    (broken / "header_cut.dcm").write_bytes(head[0].read_bytes()[:300])
    (broken / "junk.dcm").write_bytes(b"this is not an image\n" * 20)
    (broken / "notes.txt").write_text("scanned on the old machine\n")
    return root
