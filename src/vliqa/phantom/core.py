"""The phantom result types (`Phantom`, `Lesion`) and the fixed table of organ labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vliqa.core import CTImage
from vliqa.errors import UnknownNameError

#: Every organ label a phantom can hold; ids are fixed so label maps of different phantoms agree.
LABEL_NAMES: tuple[str, ...] = (
    "air",
    "skin",
    "subcutaneous fat",
    "muscle",
    "paraspinal muscle",
    "psoas",
    "intra-abdominal fat",
    "liver",
    "spleen",
    "right kidney",
    "left kidney",
    "renal sinus",
    "stomach",
    "bowel",
    "colon",
    "pancreas",
    "gallbladder",
    "aorta",
    "inferior vena cava",
    "hepatic vessels",
    "spine",
    "spinal canal",
    "ribs",
    "sternum",
    "scapula",
    "right lung",
    "left lung",
    "pulmonary vessels",
    "heart",
    "mediastinal fat",
    "trachea",
    "bronchi",
    "esophagus",
    "pulmonary artery",
    "superior vena cava",
    "breast",
    "scalp",
    "skull",
    "cerebrospinal fluid",
    "grey matter",
    "white matter",
    "ventricles",
    "basal ganglia",
    "thalamus",
    "falx",
    "cerebellum",
    "brainstem",
    "petrous bone",
    "sinus air",
)
LABEL_IDS: dict[str, int] = {name: i for i, name in enumerate(LABEL_NAMES)}

#: Names that stand for several labels, for `Phantom.mask` ("kidney" = both kidneys).
GROUPS: dict[str, tuple[str, ...]] = {
    "body": tuple(n for n in LABEL_NAMES if n != "air"),
    "fat": ("subcutaneous fat", "intra-abdominal fat", "mediastinal fat"),
    "muscle": ("muscle", "paraspinal muscle", "psoas"),
    "kidney": ("right kidney", "left kidney"),
    "kidneys": ("right kidney", "left kidney"),
    "lung": ("right lung", "left lung"),
    "lungs": ("right lung", "left lung"),
    "brain": ("grey matter", "white matter", "basal ganglia", "thalamus", "cerebellum", "brainstem"),
    "bone": ("spine", "ribs", "sternum", "scapula", "skull", "petrous bone"),
    "vessels": ("aorta", "inferior vena cava", "hepatic vessels", "pulmonary vessels", "pulmonary artery",
                "superior vena cava"),
    "csf": ("cerebrospinal fluid", "ventricles"),
}


@dataclass(frozen=True)
class Lesion:
    """A low-contrast lesion: where it is, how big, how much it differs from its organ, and which organ."""

    center_px: tuple[float, float]  # (row, col)
    radius_mm: float
    contrast_hu: float  # lesion HU minus the organ's nominal HU, at the lesion core
    organ: str
    kind: str = "lesion"  # "hypodense", "hyperdense", "solid nodule", "ground-glass nodule", ...

    def to_dict(self) -> dict[str, object]:
        """Gives a JSON-ready description of the lesion."""
        return {
            "center_px": [float(self.center_px[0]), float(self.center_px[1])],
            "radius_mm": float(self.radius_mm),
            "contrast_hu": float(self.contrast_hu),
            "organ": self.organ,
            "kind": self.kind,
        }


@dataclass(frozen=True)
class Phantom:
    """A noise-free procedural CT slice with its organ label map and lesion ground truth."""

    image: CTImage
    labels: np.ndarray  # int16, ids of LABEL_NAMES
    label_names: dict[int, str]  # the labels present in this slice
    lesion_mask: np.ndarray  # bool, union of all lesions
    lesions: tuple[Lesion, ...]
    #: nominal (texture-free) HU of each organ present, for contrast ground truth
    organ_hu: dict[str, float]
    #: int16 map: 0 outside lesions, k inside lesion k-1 of `lesions`
    lesion_labels: np.ndarray

    @property
    def region(self) -> str:
        """Gives the body region: abdomen, chest or head."""
        return str(self.image.history[0]["region"])

    def mask(self, name: str) -> np.ndarray:
        """Gives the boolean mask of an organ label or a group ("lung", "kidney", "brain", "fat", "bone", "body")."""
        key = name.strip().lower()
        if key in LABEL_IDS:
            return self.labels == LABEL_IDS[key]
        if key in GROUPS:
            return np.isin(self.labels, [LABEL_IDS[n] for n in GROUPS[key]])
        present = sorted(self.label_names.values())
        raise UnknownNameError(
            f"no organ or group named '{name}' in this {self.region} phantom",
            hint=f"use one of {', '.join(present)} or a group: {', '.join(sorted(GROUPS))}",
        )

    def lesion_masks(self) -> list[np.ndarray]:
        """Gives one boolean mask per lesion (in `lesions` order)."""
        return [self.lesion_labels == k + 1 for k in range(len(self.lesions))]


def present_labels(labels: np.ndarray) -> dict[int, str]:
    """Gives {id: name} for the label ids that occur in `labels`."""
    counts = np.bincount(labels.ravel().astype(np.intp), minlength=len(LABEL_NAMES))
    return {int(i): LABEL_NAMES[i] for i in np.flatnonzero(counts)}
