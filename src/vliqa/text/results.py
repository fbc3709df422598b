"""The wording of assessment results, beside `describe`: what the Assessor and the CLI say around the scores.

- `measures_note`: one sentence on distortions that only the physics measures found;
- `ood_note`: the out-of-distribution warning that opens a description;
- `describe_overall`: the description of a 0-4 score from a model that gives no aspect scores;
- `describe_own_scale`: the description of a score on a predictor's own scale (a classical baseline);
- `volume_caption` / `slice_caption`: the captions of `vliqa assess`'s table.

The Assessor and the CLI call these; no sentence of an assessment is written anywhere else.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from vliqa.text.templates import verdict_sentence

#: How a measure that alone points to a distortion is worded in the description.
MEASURE_PHRASES = {
    "noise_sigma_hu": "noise of {v:.0f} HU in soft tissue",
    "mtf50_lp_per_cm": "an edge MTF50 of {v:.1f} lp/cm (blur)",
    "streak_rms_hu": "streaks ({v:.0f} HU RMS of directional fine-scale structure)",
    "ring_rms_hu": "rings around the rotation centre ({v:.1f} HU RMS)",
}


def _listing(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def measures_note(found: Sequence[tuple[str, float]], *, model_has_aspects: bool = True) -> str:
    """Gives a sentence naming what the physics measures found, `found` being (measure key, value) pairs ("" if none).

    With `model_has_aspects`, the sentence says the model's scores do not show it (they could have); a
    predictor without aspect scores could not, so then the measures' findings are simply stated.
    """
    phrases = [MEASURE_PHRASES[key].format(v=value) for key, value in found if key in MEASURE_PHRASES]
    if not phrases:
        return ""
    if model_has_aspects:
        return f"The physics measures also find {_listing(phrases)}, which the model's scores do not show."
    return f"The physics measures find {_listing(phrases)}."


def ood_note(reason: str | None) -> str:
    """Gives the sentence that opens the description of an out-of-distribution input."""
    return f"Out of distribution ({reason or 'unknown reason'}); the score is unreliable."


def cannot_assess(reason: str | None) -> str:
    """Gives the description of an out-of-distribution input: no quality words the model cannot back."""
    return (f"Cannot assess: the input is out of distribution ({reason or 'unknown reason'}), so no quality "
            "description is given; the score is unreliable.")


def describe_overall(overall: float, *, seed: int = 0) -> str:
    """Gives the description of an overall 0-4 score from a model without aspect scores (no aspect is claimed)."""
    verdict = verdict_sentence(overall, random.Random(int(seed)))
    return f"{verdict} The model gives no aspect scores (noise, artefacts, sharpness, contrast, texture)."


def describe_own_scale(model: str, score: float, *, negated: bool = False) -> str:
    """Gives the description of a score on a predictor's own scale (a baseline such as BRISQUE), not the 0-4 one.

    `negated`: the score is the baseline's value negated (a lower-is-better baseline), so that higher is better.
    """
    value = "no score (undefined for this image)" if not math.isfinite(score) else f"a score of {score:.4g}"
    direction = "its value negated, so that higher is better" if negated else "higher is better"
    return (f"{model} gives {value} on its own scale ({direction}); it is not the 0-4 quality scale, "
            f"so no quality level or aspect scores are given.")


def _score(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "—"


def volume_caption(n_slices: int, mean: float, median: float, minimum: float, worst_slices: Sequence[int],
                   model: str) -> str:
    """Gives the caption of a series' table: the per-slice score summary, the worst slices and the model."""
    worst = ", ".join(map(str, worst_slices))
    return (f"{n_slices} slices: mean {_score(mean)}, median {_score(median)}, min {_score(minimum)}; "
            f"worst slices {worst}; model {model}")


def slice_caption(description: str, model: str) -> str:
    """Gives the caption of a single slice's table: its description and the model."""
    return f"{description}\nmodel {model}"
