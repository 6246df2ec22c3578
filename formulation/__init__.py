"""The co-design MILP (see milp.py's docstring and docs/formulation.md)."""

from .milp import ENERGY_SCALE, TIME_SCALE, BlockSpec, CoDesignMILP, PatternVar
from .patterns import TierPattern

__all__ = ["BlockSpec", "CoDesignMILP", "PatternVar", "TierPattern", "TIME_SCALE", "ENERGY_SCALE"]
