"""Quality labels on the 0-4 scale: schema, physics-derived labels, human scores, diagnostic labels."""

from vliqa.labels.schema import LEVEL_MEANINGS, LEVEL_NAMES, Distortion, QualityLabels, level_of

__all__ = ["LEVEL_MEANINGS", "LEVEL_NAMES", "Distortion", "QualityLabels", "level_of"]
