"""Pure, seeded CT degradations (`CTImage -> CTImage`), each recording its parameters."""

from vliqa.simulate.recipe import degrade_with_artifact_field
from vliqa.simulate.registry import Degradation, get_degradation, list_degradations, register

__all__ = ["Degradation", "degrade_with_artifact_field", "get_degradation", "list_degradations", "register"]
