"""Reading every common CT format into `CTImage` / `CTVolume`, and writing images atomically."""

from vliqa.io.image import Acquisition, CTImage, CTVolume, Window

__all__ = ["Acquisition", "CTImage", "CTVolume", "Window", "load"]


def load(path, **kwargs):  # replaced by vliqa.io.load.load once the readers land
    from vliqa.io.load import load as _load

    return _load(path, **kwargs)
