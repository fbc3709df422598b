"""vliqa: vision-language image quality assessment for CT."""

from vliqa.errors import VliqaError
from vliqa.io import CTImage, CTVolume, load

__version__ = "0.1.0"

__all__ = ["CTImage", "CTVolume", "VliqaError", "__version__", "load"]
