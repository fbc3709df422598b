"""Checks `low_dose` against real full/quarter-dose pairs: noise sigma and NPS centroid, simulated vs real.

Data: mayo_ldct_pairs in the shared data folder ($VLIQA_SHARED_DATA, else ../shared/data beside the
project): 36 full-dose (FD) / quarter-dose (QD) slice pairs of 4 patients of the 2016 AAPM/Mayo Low Dose
CT Grand Challenge, Siemens, 3 mm, kernels D45f (sharp) and B30f (smooth). The quarter dose is Mayo's own
projection-domain noise insertion into the full-dose data.

For each pair, sim = low_dose(FD, dose_fraction=0.25). In the homogeneous ROIs of the full-dose slice
(`vliqa.ct.nps.auto_nps_rois`, the same ROIs for all images of the pair):

- added noise: sim - FD against QD - FD (the real added noise, anatomy cancelled);
- totals: sim against QD;
- sigma: plane-detrended ROI variance corrected for the noise correlation (`vliqa.ct.noise_model`,
  as `vliqa.ct.noise`), mean over the ROIs; NPS centroid: the NPS-weighted mean frequency of
  `vliqa.ct.nps.nps`.

Per patient and kernel, each ratio sim / real is the median over the pairs. Fit patients (L096, L192)
set the calibration constants of `vliqa.simulate.dose` (bench/calibrate_dose.py); check patients
(L143, L286) only test them.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vliqa.core import CTImage
from vliqa.ct import nps as nps_module
from vliqa.ct.noise import ROI, plane_residuals
from vliqa.ct.noise_model import detrend_model
from vliqa.errors import DatasetError
from vliqa.io.dicom import read_dicom_file
from vliqa.simulate import dose

#: Environment variable naming the shared data folder (it holds mayo_ldct_pairs/).
DATA_ROOT_ENV = "VLIQA_SHARED_DATA"
PAIRS_DIR = "mayo_ldct_pairs"
#: Patients whose pairs the calibration is fitted on, and those it is only checked on.
FIT_PATIENTS = ("L096", "L192")
CHECK_PATIENTS = ("L143", "L286")
#: The realism targets: simulated over real, per patient and kernel.
SIGMA_RATIO_RANGE = (0.85, 1.15)
CENTROID_RATIO_RANGE = (0.90, 1.10)
#: Dose fraction of Mayo's quarter dose.
QUARTER_DOSE = 0.25


@dataclass(frozen=True)
class DosePair:
    """One real full-dose / quarter-dose DICOM pair of a patient at one slice position."""

    patient: str
    kernel: str
    full: Path
    quarter: Path


def pairs_root(root: str | os.PathLike | None = None) -> Path:
    """Gives the mayo_ldct_pairs folder: under `root`, else $VLIQA_SHARED_DATA, else ../shared/data (unchecked)."""
    if root is not None:
        base = Path(root).expanduser()
    elif os.environ.get(DATA_ROOT_ENV):
        base = Path(os.environ[DATA_ROOT_ENV]).expanduser()
    else:
        base = Path(__file__).resolve().parents[3].parent / "shared" / "data"
    return base / PAIRS_DIR


def load_pairs(root: str | os.PathLike | None = None, patients: Iterable[str] | None = None) -> list[DosePair]:
    """Gives the pairs listed in pairs.csv (optionally of some patients only), raising DatasetError when absent."""
    folder = pairs_root(root)
    table = folder / "pairs.csv"
    if not table.is_file():
        raise DatasetError(
            "the real dose pairs are not there", path=table,
            hint=f"put mayo_ldct_pairs in the shared data folder (../shared/data or ${DATA_ROOT_ENV})",
        )
    wanted = set(patients) if patients is not None else None
    with open(table, newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for row in rows:
        try:
            pair = DosePair(row["patient"], row["kernel"], folder / row["full_dose"], folder / row["quarter_dose"])
        except KeyError as exc:
            raise DatasetError(f"pairs.csv has no column {exc}", path=table,
                               hint="copy the folder again (SOURCE.txt)") from exc
        if wanted is not None and pair.patient not in wanted:
            continue
        for path in (pair.full, pair.quarter):
            if not path.is_file():
                raise DatasetError("pairs.csv lists a file that is missing", path=path,
                                   hint="copy the folder again (SOURCE.txt)")
        out.append(pair)
    return out


def read_pair(pair: DosePair) -> tuple[CTImage, CTImage]:
    """Gives the (full-dose, quarter-dose) images of a pair."""

    full, quarter = read_dicom_file(pair.full), read_dicom_file(pair.quarter)
    if not isinstance(full, CTImage) or not isinstance(quarter, CTImage) or full.shape != quarter.shape:
        raise DatasetError("a dose pair is not two single slices of one size", path=pair.full)
    return full, quarter


def roi_sigma_hu(image: CTImage, hu: np.ndarray, rois: list[ROI]) -> float:
    """Gives the noise sigma (HU) of `hu` in fixed ROIs: plane-detrended variance corrected for correlation."""
    residuals = plane_residuals(image.replace(hu=np.asarray(hu, dtype=np.float32)), rois)
    model = detrend_model(residuals)
    return float(np.sqrt(np.mean(residuals**2) / model.kept_fraction))


def roi_centroid_per_mm(image: CTImage, hu: np.ndarray, rois: list[ROI]) -> float:
    """Gives the NPS centroid (NPS-weighted mean frequency, cycles/mm) of `hu` in fixed ROIs (`vliqa.ct.nps`)."""
    return nps_module.nps(image.replace(hu=np.asarray(hu, dtype=np.float32)), rois).mean_freq_per_mm


@dataclass(frozen=True)
class PairResult:
    """Real and simulated noise of one pair: sigma (HU) and NPS centroid (1/mm), added noise and totals."""

    patient: str
    kernel: str
    n_rois: int
    sigma_real_added: float
    sigma_sim_added: float
    centroid_real_added: float
    centroid_sim_added: float
    sigma_real_total: float
    sigma_sim_total: float
    centroid_real_total: float
    centroid_sim_total: float
    step: dict[str, Any]

    def ratio(self, name: str) -> float:
        """Gives simulated over real for 'sigma_added', 'centroid_added', 'sigma_total' or 'centroid_total'."""
        kind, part = name.split("_")
        return getattr(self, f"{kind}_sim_{part}") / getattr(self, f"{kind}_real_{part}")


def compare_pair(patient: str, kernel: str, full: CTImage, quarter: CTImage, simulated: CTImage) -> PairResult:
    """Gives the real and simulated noise of a pair, measured in the full-dose slice's homogeneous ROIs."""
    rois = nps_module.auto_nps_rois(full)
    if not rois:
        raise DatasetError("the full-dose slice has no homogeneous ROI to measure noise in", path=full.source)
    real_add, sim_add = quarter.hu - full.hu, simulated.hu - full.hu
    return PairResult(
        patient=patient,
        kernel=kernel,
        n_rois=len(rois),
        sigma_real_added=roi_sigma_hu(full, real_add, rois),
        sigma_sim_added=roi_sigma_hu(full, sim_add, rois),
        centroid_real_added=roi_centroid_per_mm(full, real_add, rois),
        centroid_sim_added=roi_centroid_per_mm(full, sim_add, rois),
        sigma_real_total=roi_sigma_hu(full, quarter.hu, rois),
        sigma_sim_total=roi_sigma_hu(full, simulated.hu, rois),
        centroid_real_total=roi_centroid_per_mm(full, quarter.hu, rois),
        centroid_sim_total=roi_centroid_per_mm(full, simulated.hu, rois),
        step=dict(simulated.history[-1]),
    )


def evaluate(pairs: Iterable[DosePair], *, seed: int = 0, **low_dose_kwargs: Any) -> list[PairResult]:
    """Gives the comparison of every pair, each full-dose slice degraded to a quarter dose (seed + pair index)."""
    out = []
    for i, pair in enumerate(pairs):
        full, quarter = read_pair(pair)
        sim = dose.low_dose(full, dose_fraction=QUARTER_DOSE, seed=seed + i, **low_dose_kwargs)
        out.append(compare_pair(pair.patient, pair.kernel, full, quarter, sim))
    return out


RATIOS = ("sigma_added", "centroid_added", "sigma_total", "centroid_total")


@dataclass(frozen=True)
class GroupResult:
    """Medians over the pairs of one patient and kernel, and whether the ratios meet the targets."""

    patient: str
    kernel: str
    role: str
    n_pairs: int
    medians: dict[str, float]
    ratios: dict[str, float]

    @property
    def passes(self) -> bool:
        """Gives True when every sigma ratio is within SIGMA_RATIO_RANGE and every centroid ratio within
        CENTROID_RATIO_RANGE."""
        return all(within(name, value) for name, value in self.ratios.items())


def within(ratio_name: str, value: float) -> bool:
    """Gives True when a ratio (sigma_* or centroid_*) lies within its target range."""
    lo, hi = SIGMA_RATIO_RANGE if ratio_name.startswith("sigma") else CENTROID_RATIO_RANGE
    return bool(lo <= value <= hi)


def role_of(patient: str) -> str:
    """Gives 'fit' or 'check' (or 'other') for a patient."""
    return "fit" if patient in FIT_PATIENTS else "check" if patient in CHECK_PATIENTS else "other"


def summarize(results: Iterable[PairResult]) -> list[GroupResult]:
    """Gives one GroupResult per patient and kernel (fit patients first), medians over their pairs."""
    groups: dict[tuple[str, str], list[PairResult]] = {}
    for res in results:
        groups.setdefault((res.patient, res.kernel), []).append(res)
    fields = [f"{k}_{w}_{p}" for k in ("sigma", "centroid") for p in ("added", "total") for w in ("real", "sim")]
    out = []
    for (patient, kernel), items in groups.items():
        medians = {f: float(np.median([getattr(r, f) for r in items])) for f in fields}
        ratios = {name: float(np.median([r.ratio(name) for r in items])) for name in RATIOS}
        out.append(GroupResult(patient, kernel, role_of(patient), len(items), medians, ratios))
    order = {"fit": 0, "check": 1, "other": 2}
    return sorted(out, key=lambda g: (order[g.role], g.patient, g.kernel))
