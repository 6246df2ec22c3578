"""Solver factory: a name → a solver object with ``solve(instance, tables, deadline)``.

Each solver's module is imported when it is asked for: a CBC solve never
pays for the exhaustive solver's import, and the reverse.
"""

from __future__ import annotations

import importlib

from specpim.core.errors import InstanceError

# name → (module, class)
SOLVERS = {"cbc": ("specpim.solvers.cbc", "CbcSolver"),
           "exhaustive": ("specpim.solvers.exhaustive", "ExhaustiveSolver")}


def solver_class(name: str) -> type:
    try:
        module, cls = SOLVERS[name]
    except (KeyError, TypeError):
        raise InstanceError(f"unknown solver {name!r}; choose one of {', '.join(SOLVERS)}", field="solver") from None
    return getattr(importlib.import_module(module), cls)


def make_solver(name: str, **options):
    return solver_class(name)(**options)
