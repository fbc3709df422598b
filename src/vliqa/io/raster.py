"""PNG, JPEG and TIFF to HU: rasters are display-windowed images, mapped back to HU through an assumed window.

Display values are scaled to [0, 1] (8-bit: /255, 16-bit: /65535, float: as stored, clipped to [0, 1] with a
warning) and turned into HU with `vliqa.core.display_to_hu` under the assumed window (default: the
'ldctiqac' preset, W350 L40, as in the LDCTIQAC 2023 release of 32-bit float TIFFs). The window is kept in
`display_window`; HU outside it are unknown (clipped by the original windowing).

Exceptions: a 16-bit PNG written by `vliqa.io.write.save_png16` carries a 'vliqa' text chunk and is read back
as exact HU (value - 1024), and a signed-integer TIFF is taken as HU (display images are never signed).
RGB/RGBA renders are converted to luminance (ITU-R 601 weights) with a warning. Multi-page TIFF -> volume.

Photographs: with `domain="photo"` a raster is read as a `PhotoImage` (RGB in [0, 1], no HU); with
`domain="auto"` a colour raster that `vliqa.core.detect_domain` takes for a photograph is, and everything else
is CT as above. The default, `domain="ct"`, reads every raster as CT.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from vliqa.core import (
    DEFAULT_RASTER_WINDOW,
    CTImage,
    CTVolume,
    PhotoImage,
    Window,
    check_domain,
    detect_domain,
    display_to_hu,
    get_window,
)
from vliqa.errors import CorruptFileError, InvalidImageError, InvalidParameterError
from vliqa.io.common import check_header_size
from vliqa.io.image import MAX_SIDE_PX, PHOTO_MAX_SIDE_PX, check_pixels

#: Text-chunk key and format tag of 16-bit PNGs that store HU (see vliqa.io.write.save_png16).
PNG16_KEY = "vliqa"
PNG16_FORMAT = "vliqa-png16-hu"
#: Luminance weights (ITU-R BT.601, as Pillow's 'L' conversion) for colour renders.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)

WindowSpec = str | Window | tuple[float, float] | None


def resolve_raster_window(window: WindowSpec) -> Window:
    """Gives the window assumed for display rasters: the one named, else the 'ldctiqac' preset."""
    return get_window(window if window is not None else DEFAULT_RASTER_WINDOW)


def to_unit_display(values: np.ndarray, source: str | None) -> tuple[np.ndarray, list[str]]:
    """Gives grey values scaled to [0, 1] by their type (8-bit /255, 16-bit /65535, float as is) and warnings."""
    notes: list[str] = []
    if values.dtype == np.uint8:
        return values.astype(np.float32) * np.float32(1 / 255), notes
    if values.dtype == np.uint16:
        return values.astype(np.float32) * np.float32(1 / 65535), notes
    if values.dtype.kind == "b":
        return values.astype(np.float32), notes
    if values.dtype.kind == "u":  # wider unsigned types: full range of the type is the display range
        return values.astype(np.float32) / np.float32(np.iinfo(values.dtype).max), notes
    if values.dtype.kind == "i":
        raise InvalidImageError(
            f"{source or 'image'}: signed-integer raster ({values.dtype}) is not a display image",
            path=source,
            hint="if it holds HU, save it as .npy, NIfTI or MetaImage",
        )
    unit = check_pixels(values, source)
    low, high = float(unit.min()), float(unit.max())
    if low < 0.0 or high > 1.0:
        notes.append(
            f"{source or 'image'}: float display values range {low:.3g}..{high:.3g}, outside [0, 1]; clipped to [0, 1] "
            "— if this file holds HU, save it as .npy, NIfTI or MetaImage instead"
        )
        unit = np.clip(unit, 0.0, 1.0)
    return unit, notes


def _to_grey(values: np.ndarray, source: str | None) -> tuple[np.ndarray, list[str]]:
    """Gives a single-channel array from grey, grey+alpha, RGB or RGBA pixels, with a warning for colour."""
    if values.ndim == 2:
        return values, []
    channels = values.shape[-1]
    if channels == 2:  # grey + alpha
        return values[..., 0], []
    if channels in (3, 4):
        rgb = values[..., :3]
        luma = (rgb.astype(np.float32) @ LUMA_WEIGHTS).astype(np.float32)
        if values.dtype.kind in "iu":
            luma = np.rint(luma).astype(values.dtype)
        note = (
            f"{source or 'image'}: colour image ({'RGBA' if channels == 4 else 'RGB'}) converted to luminance — "
            "a screenshot or an overlay render is not the original CT; scores may be off"
        )
        return luma, [note]
    raise InvalidImageError(f"{source or 'image'}: {channels} channels per pixel; expected grey or RGB", path=source)


def from_display(
    values: np.ndarray, window: WindowSpec, source: str | None, notes: list[str]
) -> tuple[np.ndarray, Window, list[str]]:
    """Gives HU from raw raster values (grey or colour), the window used, and the warnings collected."""
    grey, more = _to_grey(values, source)
    unit, more2 = to_unit_display(grey, source)
    win = resolve_raster_window(window)
    return display_to_hu(unit, win), win, notes + more + more2


def _png16_hu(im: Image.Image) -> dict | None:
    """Gives the vliqa PNG16 metadata of an image written by save_png16, or None."""
    text = getattr(im, "text", None) or im.info
    blob = text.get(PNG16_KEY) if text else None
    if not blob:
        return None
    try:
        info = json.loads(blob)
    except (TypeError, ValueError):
        return None
    return info if isinstance(info, dict) and info.get("format") == PNG16_FORMAT else None


def _is_photo(values: np.ndarray, domain: str) -> bool:
    """True when raster pixels are to be read as a photograph under `domain` ("ct", "photo" or "auto")."""
    return domain == "photo" or (domain == "auto" and detect_domain(values) == "photo")


def _not_a_photo(source: str | None, what: str) -> InvalidParameterError:
    return InvalidParameterError(f"{source or 'image'}: {what}, not a photograph", path=source,
                                 hint="read it as CT (domain='ct' or 'auto')")


def from_pil(im: Image.Image, *, window: WindowSpec = None, source: str | None = None,
             domain: str = "ct") -> CTImage | PhotoImage:
    """Gives a CTImage from a Pillow image (display-windowed, or HU when written by save_png16), or a PhotoImage
    for a photograph under `domain` "photo" or "auto" (module notes)."""
    domain = check_domain(domain)
    width, height = im.size
    check_header_size(height, width, source, max_side_px=PHOTO_MAX_SIDE_PX if domain != "ct" else MAX_SIDE_PX)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
    except (OSError, ValueError, SyntaxError) as exc:
        raise CorruptFileError(
            f"{source or 'image'}: cannot be decoded ({exc})", path=source, hint="the file is damaged or truncated"
        ) from exc
    info = _png16_hu(im)
    if info is not None and domain == "photo":
        raise _not_a_photo(source, "this PNG stores CT in HU (written by vliqa)")
    if info is not None:
        check_header_size(height, width, source)
        raw = np.asarray(im).astype(np.float32)
        spacing = info.get("pixel_spacing_mm")
        hu = raw - np.float32(info.get("hu_offset", 1024))
        display = None
        if isinstance(info.get("display_window"), list) and len(info["display_window"]) == 2:
            display = Window(float(info["display_window"][0]), float(info["display_window"][1]))
            # HU were stored rounded: put the clipped pixels back exactly on the window's ends
            hu = np.where(hu <= display.low_hu + 0.5, display.low_hu, hu)
            hu = np.where(hu >= display.high_hu - 0.5, display.high_hu, hu).astype(np.float32)
        return CTImage(
            hu=hu,
            pixel_spacing_mm=tuple(float(v) for v in spacing) if spacing else None,
            source=source,
            display_window=display,
        )
    if im.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
        im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
    elif im.mode == "1":
        im = im.convert("L")
    values = np.asarray(im)
    if im.mode.startswith("I;16") or (im.mode == "I" and values.max(initial=0) <= 65535 and values.min(initial=0) >= 0):
        values = values.astype(np.uint16)
    if _is_photo(values, domain):
        return PhotoImage.from_pixels(values, source=source)
    check_header_size(height, width, source)
    hu, win, notes = from_display(values, window, source, [])
    return CTImage(hu=hu, source=source, display_window=win, warnings=tuple(notes))


def read_pil_file(path: str | Path, *, window: WindowSpec = None, domain: str = "ct") -> CTImage | PhotoImage:
    """Gives a PNG or JPEG file as a CTImage (see module notes for the HU convention), or a PhotoImage."""
    source = str(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as im:
                return from_pil(im, window=window, source=source, domain=domain)
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise CorruptFileError(
            f"{source}: not a readable image ({exc})", path=source, hint="the file is damaged or not really a PNG/JPEG"
        ) from exc


def read_tiff(path: str | Path, *, window: WindowSpec = None,
              domain: str = "ct") -> CTImage | CTVolume | PhotoImage:
    """Gives a TIFF as a CTImage, or a CTVolume for multi-page files (all pages of one size); a single-page
    photograph under `domain` "photo" or "auto" as a PhotoImage."""
    domain = check_domain(domain)
    source = str(path)
    try:
        with tifffile.TiffFile(source) as tif:
            pages = tif.pages
            first = pages[0]
            shape = tuple(first.shape)
            rows, cols = (shape[0], shape[1]) if len(shape) >= 2 else (0, 0)
            if len(shape) == 3 and shape[0] in (3, 4) and shape[-1] not in (3, 4):  # planar RGB: (C, H, W)
                rows, cols = shape[1], shape[2]
            check_header_size(rows, cols, source, max_side_px=PHOTO_MAX_SIDE_PX if domain != "ct" else MAX_SIDE_PX)
            n_pages = len(pages)
            values = tif.asarray(key=range(n_pages)) if n_pages > 1 else first.asarray()
    except (tifffile.TiffFileError, ValueError, OSError, IndexError, KeyError) as exc:
        raise CorruptFileError(
            f"{source}: cannot be read as TIFF ({exc})", path=source, hint="export it again"
        ) from exc
    if values.ndim == 3 and values.shape[0] in (3, 4) and values.shape[-1] not in (3, 4) and n_pages == 1:
        values = np.moveaxis(values, 0, -1)
    if n_pages > 1 and domain == "photo":
        raise _not_a_photo(source, f"this TIFF holds {n_pages} pages (a stack of slices)")
    if values.dtype.kind == "i" and domain == "photo":
        raise _not_a_photo(source, "this TIFF holds signed integers (HU)")
    if n_pages == 1 and values.dtype.kind != "i" and _is_photo(values, domain):
        return PhotoImage.from_pixels(values, source=source)
    if domain != "ct":  # the header was checked against a photo's limits
        check_header_size(rows, cols, source)
    if values.dtype.kind == "i":  # signed integers are never display values: take them as HU
        hu = check_pixels(values, source)
        note = (f"{source}: signed-integer TIFF read as HU, not as a display image",)
        if hu.ndim == 2:
            return CTImage(hu=hu, source=source, warnings=note)
        return CTVolume(hu=hu, source=source, warnings=note)
    is_stack = n_pages > 1
    if not is_stack:
        hu, win, notes = from_display(values, window, source, [])
        return CTImage(hu=hu, source=source, display_window=win, warnings=tuple(notes))
    grey_pages = []
    notes: list[str] = []
    for page in values:
        hu, win, page_notes = from_display(page, window, source, [])
        grey_pages.append(hu)
        notes += [n for n in page_notes if n not in notes]
    return CTVolume(hu=np.stack(grey_pages), source=source, display_window=win, warnings=tuple(notes))


def read_raster(path: str | Path, *, window: WindowSpec = None,
                domain: str = "ct") -> CTImage | CTVolume | PhotoImage:
    """Gives a PNG, JPEG or TIFF file as HU (CTImage, or CTVolume for multi-page TIFF), or as a PhotoImage under
    `domain` "photo" or "auto" (module notes)."""
    if str(path).lower().endswith((".tif", ".tiff")):
        return read_tiff(path, window=window, domain=domain)
    return read_pil_file(path, window=window, domain=domain)
