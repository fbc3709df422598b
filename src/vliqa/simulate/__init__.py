"""Pure, seeded CT degradations (`CTImage -> CTImage`), each recording its parameters."""

from vliqa.simulate.registry import ASPECTS, Degradation, get_degradation, list_degradations, register

__all__ = ["ASPECTS", "Degradation", "get_degradation", "list_degradations", "register"]
