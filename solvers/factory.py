"""Solver factory: a name → a solver object with ``solve(instance, tables, time_limit)``."""

from __future__ import annotations

from specpim.core.errors import InstanceError

from .cbc import CbcSolver
from .exhaustive import ExhaustiveSolver

SOLVERS = {"cbc": CbcSolver, "exhaustive": ExhaustiveSolver}


def make_solver(name: str, **options):
    try:
        cls = SOLVERS[name]
    except KeyError:
        raise InstanceError(f"unknown solver {name!r}; choose one of {', '.join(SOLVERS)}", field="solver") from None
    return cls(**options)
