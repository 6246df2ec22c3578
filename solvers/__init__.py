"""Solvers: CBC via PuLP (default), exhaustive enumeration for small spaces, and the factory."""

from .factory import SOLVERS, make_solver
from .result import FEASIBLE, INFEASIBLE, NO_SOLUTION, OPTIMAL, SolverResult

__all__ = ["SOLVERS", "make_solver", "SolverResult", "OPTIMAL", "FEASIBLE", "INFEASIBLE", "NO_SOLUTION"]
