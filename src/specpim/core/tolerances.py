"""Tolerances and unit factors shared by every rule, so that the solvers,
the evaluator and the checks before solving agree on what "fits" means."""

from __future__ import annotations

# Memory rules hold to one part per million: far below any physical meaning,
# and above the MILP solver's feasibility tolerance (its capacity rows are in
# channels, so 1e-7 absolute is at most 1e-7 relative).
CAPACITY_RTOL = 1e-6
# Area budgets, latency and energy bounds: exact up to floating-point rounding.
AREA_RTOL = 1e-9
LATENCY_RTOL = 1e-9
ENERGY_RTOL = 1e-9
# Two objectives closer than this (relative) are a tie, broken by block order.
TIE_RTOL = 1e-9
# The solver's objective and the evaluator's must agree to this (relative).
CROSS_CHECK_RTOL = 1e-6

GB = 1e9          # instance files give capacities in GB and bandwidths in GB/s (10⁹)
TFLOP = 1e12
GFLOP = 1e9
US = 1e-6         # µs
PJ = 1e-12        # pJ
BITS_PER_BYTE = 8.0
