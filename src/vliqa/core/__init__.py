"""The vocabulary every layer of vliqa shares; it imports nothing of vliqa but `vliqa.errors` (and only numpy).

- images: `CTImage`, `CTVolume`, `Acquisition` (`vliqa.core.image`)
- display windows: `Window`, `PRESETS`, `get_window`, `to_display`, ... (`vliqa.core.window`)
- photographs, the second domain: `PhotoImage`, `detect_domain`, `unit_rgb`, `DOMAINS` (`vliqa.core.photo`)
- quality: `ASPECTS`, the 0-4 scale (`LEVEL_NAMES`, `LEVEL_MEANINGS`, `level_of`), `Distortion`, `QualityLabels`,
  `ASPECT_DISTORTION` (`vliqa.core.quality`)
- checkpoint file names (`vliqa.core.checkpoint`) and the version (`vliqa.core.version`)

The layers above it, bottom to top, are listed in docs/architecture.md and enforced by tests/test_layers.py.
"""

from vliqa.core.checkpoint import CARD_FILE, CONFIG_FILE, WEIGHTS_FILE
from vliqa.core.image import Acquisition, CTImage, CTVolume
from vliqa.core.photo import DOMAIN_CHOICES, DOMAINS, PhotoImage, check_domain, detect_domain, unit_rgb
from vliqa.core.quality import (
    ASPECT_DISTORTION,
    ASPECTS,
    LEVEL_MEANINGS,
    LEVEL_NAMES,
    SCALE_MAX,
    SCALE_MIN,
    Distortion,
    QualityLabels,
    level_of,
)
from vliqa.core.version import __version__
from vliqa.core.window import (
    DEFAULT_RASTER_WINDOW,
    PRESETS,
    Window,
    apply_window,
    display_to_hu,
    get_window,
    resolve_window,
    to_display,
    window_from_tags,
)

__all__ = [
    "ASPECTS", "ASPECT_DISTORTION", "Acquisition", "CARD_FILE", "CONFIG_FILE", "CTImage", "CTVolume",
    "DEFAULT_RASTER_WINDOW", "DOMAINS", "DOMAIN_CHOICES", "Distortion", "LEVEL_MEANINGS", "LEVEL_NAMES", "PRESETS",
    "PhotoImage", "QualityLabels", "SCALE_MAX", "SCALE_MIN", "WEIGHTS_FILE", "Window", "__version__", "apply_window",
    "check_domain", "detect_domain", "display_to_hu", "get_window", "level_of", "resolve_window", "to_display",
    "unit_rgb", "window_from_tags",
]
