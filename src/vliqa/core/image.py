"""Typed CT images: `CTImage` (one slice), `CTVolume` (a stack of slices) and their `Acquisition` metadata.

Pixel values are always float32 Hounsfield units (HU). Images read from
display-windowed rasters (PNG/JPEG/TIFF) are mapped back to HU through the
assumed window, which is recorded in `display_window`, so windowing them again
with that window gives back the original display values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from vliqa.core.window import Window
from vliqa.errors import InvalidImageError


@dataclass(frozen=True)
class Acquisition:
    """Acquisition and reconstruction metadata, as far as the source file tells it."""

    modality: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    kvp: float | None = None
    tube_current_ma: float | None = None
    exposure_mas: float | None = None
    ctdi_vol_mgy: float | None = None
    kernel: str | None = None
    reconstruction_method: str | None = None
    body_part: str | None = None
    series_description: str | None = None
    series_uid: str | None = None
    study_date: str | None = None
    window_center: float | None = None
    window_width: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class CTImage:
    """One CT slice in HU with its geometry, metadata and processing history."""

    hu: np.ndarray
    pixel_spacing_mm: tuple[float, float] | None = None
    slice_thickness_mm: float | None = None
    position_mm: tuple[float, float, float] | None = None
    acquisition: Acquisition = field(default_factory=Acquisition)
    source: str | None = None
    slice_index: int | None = None
    #: For raster inputs: the window the display values were assumed to use.
    display_window: Window | None = None
    #: Each processing step applied (degradations, resampling), in order, with parameters.
    history: tuple[dict[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()
    #: The image domain (`vliqa.core.photo.DOMAINS`): HU, not a photograph's colours.
    domain: ClassVar[str] = "ct"

    def __post_init__(self) -> None:
        hu = np.asarray(self.hu)
        if hu.ndim != 2:
            raise InvalidImageError(
                f"a CT slice must be 2-D, got shape {hu.shape}",
                path=self.source,
                hint="pass a volume as CTVolume or index a single slice",
            )
        if hu.dtype != np.float32:
            hu = hu.astype(np.float32)
        object.__setattr__(self, "hu", hu)

    @property
    def shape(self) -> tuple[int, int]:
        return self.hu.shape  # type: ignore[return-value]

    @property
    def is_display_domain(self) -> bool:
        """True when the HU values were reconstructed from a windowed raster (values clipped to that window)."""
        return self.display_window is not None

    def replace(self, **changes: Any) -> CTImage:
        """Gives a copy with the named fields changed."""
        return dataclasses.replace(self, **changes)

    def with_step(self, name: str, params: dict[str, Any], hu: np.ndarray, **changes: Any) -> CTImage:
        """Gives a new image with `hu` as pixels and the step appended to the history."""
        step = {"name": name, **params}
        return dataclasses.replace(self, hu=np.asarray(hu, dtype=np.float32), history=self.history + (step,), **changes)

    def summary(self) -> dict[str, Any]:
        """Gives a JSON-ready description of the image (no pixels)."""
        finite = self.hu[np.isfinite(self.hu)]
        return {
            "source": self.source,
            "slice_index": self.slice_index,
            "shape": list(self.shape),
            "pixel_spacing_mm": list(self.pixel_spacing_mm) if self.pixel_spacing_mm else None,
            "slice_thickness_mm": self.slice_thickness_mm,
            "position_mm": list(self.position_mm) if self.position_mm else None,
            "hu_min": float(finite.min()) if finite.size else None,
            "hu_max": float(finite.max()) if finite.size else None,
            "display_window": self.display_window.to_dict() if self.display_window else None,
            "acquisition": self.acquisition.to_dict(),
            "history": list(self.history),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class CTVolume:
    """A stack of axial slices (N, H, W) in HU, ordered from first to last position."""

    hu: np.ndarray
    pixel_spacing_mm: tuple[float, float] | None = None
    slice_thickness_mm: float | None = None
    #: Position of each slice along the stacking axis (mm), same length as the stack.
    slice_positions_mm: tuple[float, ...] | None = None
    acquisition: Acquisition = field(default_factory=Acquisition)
    source: str | None = None
    #: File each slice came from (DICOM series), else None.
    slice_sources: tuple[str, ...] | None = None
    display_window: Window | None = None
    history: tuple[dict[str, Any], ...] = ()
    warnings: tuple[str, ...] = ()
    domain: ClassVar[str] = "ct"

    def __post_init__(self) -> None:
        hu = np.asarray(self.hu)
        if hu.ndim != 3:
            raise InvalidImageError(f"a CT volume must be 3-D (slices, rows, cols), got shape {hu.shape}",
                                    path=self.source)
        if hu.dtype != np.float32:
            hu = hu.astype(np.float32)
        object.__setattr__(self, "hu", hu)

    def __len__(self) -> int:
        return int(self.hu.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.hu.shape  # type: ignore[return-value]

    @property
    def slice_spacing_mm(self) -> float | None:
        """Gives the median distance between neighbouring slices, or None for one slice."""
        if not self.slice_positions_mm or len(self.slice_positions_mm) < 2:
            return None
        return float(np.median(np.abs(np.diff(self.slice_positions_mm))))

    def slice(self, index: int) -> CTImage:
        """Gives slice `index` as a CTImage that remembers where it came from."""
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"slice {index} out of range for a volume of {n} slices")
        index = index % n
        pos = None
        if self.slice_positions_mm is not None:
            pos = (0.0, 0.0, float(self.slice_positions_mm[index]))
        src = self.slice_sources[index] if self.slice_sources else self.source
        return CTImage(
            hu=self.hu[index],
            pixel_spacing_mm=self.pixel_spacing_mm,
            slice_thickness_mm=self.slice_thickness_mm,
            position_mm=pos,
            acquisition=self.acquisition,
            source=src,
            slice_index=index,
            display_window=self.display_window,
            history=self.history,
            warnings=self.warnings,
        )

    def __iter__(self) -> Iterator[CTImage]:
        for i in range(len(self)):
            yield self.slice(i)

    def summary(self) -> dict[str, Any]:
        """Gives a JSON-ready description of the volume (no pixels)."""
        finite = self.hu[np.isfinite(self.hu)]
        return {
            "source": self.source,
            "n_slices": len(self),
            "shape": list(self.shape),
            "pixel_spacing_mm": list(self.pixel_spacing_mm) if self.pixel_spacing_mm else None,
            "slice_thickness_mm": self.slice_thickness_mm,
            "slice_spacing_mm": self.slice_spacing_mm,
            "hu_min": float(finite.min()) if finite.size else None,
            "hu_max": float(finite.max()) if finite.size else None,
            "display_window": self.display_window.to_dict() if self.display_window else None,
            "acquisition": self.acquisition.to_dict(),
            "history": list(self.history),
            "warnings": list(self.warnings),
        }
