"""vliqa: vision-language image quality assessment for CT."""

import os
from pathlib import Path
from typing import Any

from vliqa import models as _models
from vliqa.core import CONFIG_FILE, WEIGHTS_FILE, CTImage, CTVolume, PhotoImage, __version__
from vliqa.errors import VliqaError
from vliqa.io import load as load_image

__all__ = ["Assessor", "CTImage", "CTVolume", "PhotoImage", "VliqaError", "__version__", "ask", "assess", "compare",
           "create_model", "describe", "load", "load_image", "load_model", "write_report"]

def _is_model(path_or_obj: Any) -> bool:
    """True for a checkpoint folder (weights + config.json), the name of a shipped checkpoint or of a baseline."""
    if not isinstance(path_or_obj, (str, os.PathLike)):
        return False
    path = Path(path_or_obj).expanduser()
    if path.is_dir():
        return (path / WEIGHTS_FILE).is_file() and (path / CONFIG_FILE).is_file()
    text = str(path_or_obj)
    if path.exists() or os.sep in text:
        return False
    if text == _models.DEFAULT_ALIAS or (_models.SHIPPED_DIR / text / WEIGHTS_FILE).is_file():
        return True
    return text.strip().lower() in _models.predictor_names("baseline")  # a name that is no file: imports no torch


# The classical baselines are predictors in the model registry (`vliqa.models.load("brisque")`, `vliqa assess
# --model brisque`, `vliqa evaluate --model brisque`). The registry sits below `vliqa.metrics` and cannot import
# it; the facade, above both and imported before any vliqa module, plugs them in.
def _baseline_names() -> list[str]:
    from vliqa.metrics.baselines import list_baselines  # lazy: the baselines import scipy; `import vliqa` stays light

    return [b.name for b in list_baselines()]


def _baseline_predictor(name: str) -> Any:
    from vliqa.metrics.baselines import BaselinePredictor  # lazy: as in _baseline_names

    return BaselinePredictor(name)


_models.register_predictor_source("baseline", _baseline_names, _baseline_predictor)


def load(path_or_obj: Any, **kwargs: Any) -> Any:
    """Gives what `path_or_obj` holds: a CT image or volume, or a quality model.

    A checkpoint folder (model.safetensors + config.json), a shipped model name ("default" = the reader model,
    "medqm") or a baseline name ("brisque") gives the model, ready to predict (`vliqa.models.load`); anything
    else is read as CT by `vliqa.io.load` (files, folders, DICOM series, arrays of HU, Pillow images; keyword
    arguments such as `window` go there; `domain="auto"` or `"photo"` reads photographs as `PhotoImage`). Use
    `vliqa.load_image` / `vliqa.load_model` to say which one you mean.
    """
    if _is_model(path_or_obj):
        return _models.load(path_or_obj)
    return load_image(path_or_obj, **kwargs)


def assess(path_or_obj: Any, *, model: Any = "default", window: Any = None, measures: bool = True,
           reference: Any = None, domain: str = "auto") -> Any:
    """Gives the quality assessment of a file, folder, array (HU), Pillow image, CTImage, CTVolume or photograph.

    An `Assessment` for a slice, a `VolumeAssessment` for a series (`vliqa.assessment`). `model` is a shipped
    name, a checkpoint folder, a baseline name ("brisque") or a predictor object; build one `vliqa.Assessor`
    instead when assessing many inputs, so the model is loaded once. `reference`: judge against it
    (full-reference, e.g. the full-dose scan; the 'reader' model). `domain`: "auto" scores a colour photograph
    with the 'photo' model and everything else as CT; "ct" or "photo" says which it is (docs/photo.md).
    """
    from vliqa.assessment import Assessor  # lazy: keeps `import vliqa` to the image readers and the registry

    return Assessor(model, window=window, measures=measures, domain=domain).assess(path_or_obj, reference=reference)


def describe(path_or_obj: Any, *, model: Any = "default", vlm: Any = "vlm", window: Any = None,
             measures: bool = False) -> Any:
    """Gives the assessment of an input with its description written by the quality VLM (levels fixed to the
    scores): an `Assessment` for a slice, a `VolumeAssessment` for a series, each slice described."""
    from vliqa.assessment import Assessor  # lazy: as in `assess`

    return Assessor(model, window=window, measures=measures, describer=vlm).describe(path_or_obj)


def compare(a: Any, b: Any, *, reference: Any = None, model: Any = "default", vlm: Any = "vlm",
            window: Any = None) -> Any:
    """Gives which of two inputs is better ("A", "B" or "tie"), how sure and why (`vliqa.assessment.Comparison`;
    `.to_dict()` is the JSON form). With `reference`, judged against it; the same answer in either order."""
    from vliqa.assessment import Assessor  # lazy: as in `assess`

    return Assessor(model, window=window, measures=False, describer=vlm).compare(a, b, reference=reference)


def ask(path_or_obj: Any, question: str, *, model: Any = "default", vlm: Any = "vlm", window: Any = None) -> Any:
    """Gives the quality VLM's answer to a free question about an input (`vliqa.assessment.QuestionAnswer`):
    "I cannot tell from this image" when image quality cannot answer it."""
    from vliqa.assessment import Assessor  # lazy: as in `assess`

    return Assessor(model, window=window, measures=False, describer=vlm).ask(path_or_obj, question)


def write_report(path_or_obj: Any, out: str | os.PathLike, *, model: Any = "default", reference: Any = None,
                 window: Any = None, measures: bool = True, template_dir: str | os.PathLike | None = None,
                 figures_dir: str | os.PathLike | None = None, metadata: dict[str, Any] | None = None,
                 title: str | None = None) -> Path:
    """Assesses a file, folder, array or image and writes its quality report to `out`; gives the path written.

    The suffix of `out` names the format: .md, .html, .pdf (needs `pip install 'vliqa[report]'`) or .json. The
    other keywords are `vliqa.assess`'s and `vliqa.report.write_report`'s. This is `vliqa report`; to report on
    an assessment you already have, call `vliqa.report.write_report(result, image, out)` (the package
    `vliqa.report` holds the builder, the renderers and the templates, hence this function's name).
    """
    from vliqa.assessment import Assessor  # lazy: keeps `import vliqa` to the image readers and the registry
    from vliqa.report import check_output  # lazy: as above (the report package imports the Assessor)
    from vliqa.report import write_report as write

    check_output(out, template_dir=template_dir)  # a wrong suffix or template is said before the model loads
    assessor = Assessor(model, window=window, measures=measures)
    image = load_image(path_or_obj, window=window)
    ref = None if reference is None else load_image(reference, window=window)
    result = assessor.assess_loaded(image, reference=ref)
    return write(result, image, out, template_dir=template_dir, figures_dir=figures_dir, metadata=metadata,
                 assessor=assessor, title=title)


def __getattr__(name: str):
    # Imported on first use: `import vliqa` stays light (no torch) for the CLI's file commands.
    if name == "Assessor":
        from vliqa.assessment import Assessor  # lazy: keeps `import vliqa` to the image readers and the registry

        return Assessor
    if name in ("create_model", "load_model"):
        return _models.create_model if name == "create_model" else _models.load
    raise AttributeError(f"module 'vliqa' has no attribute '{name}'")
