"""Build and solve times on the shipped instances, and speed ratios of the
solver variants measured in the same run.

    python benchmarks/bench_solve.py [INSTANCE.yaml ...] [--repeat N]

For each instance it prints the default solve (bounded blocks, two CBC runs
at a time) and, for comparison, every block solved without bounds and the
one MILP with block selectors.  All variants must reach the same optimum;
the script fails if they do not.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
import warnings
from pathlib import Path

import specpim

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = [ROOT / "instances" / "llama2-70b-7b-a100x4-hbm3pim.yaml"]
VARIANTS = {
    "bounded blocks (default)": {},
    "all blocks, no bounds": {"use_bounds": False},
    "one MILP with selectors": {"monolithic": True},
}


def run(path: Path, repeat: int) -> None:
    inst = specpim.load_instance(path)
    print(f"\n{inst.name}")
    print(f"  {'variant':<26} {'wall s':>8} {'build s':>8} {'solve s':>8} {'blocks':>7} {'vars':>7}  objective")
    walls = {}
    reference = None
    for label, opts in VARIANTS.items():
        times, sol = [], None
        for _ in range(repeat):
            t0 = time.perf_counter()
            sol = specpim.solve(inst, baselines=False, **opts)
            times.append(time.perf_counter() - t0)
        wall = statistics.median(times)
        walls[label] = wall
        st = sol.stats
        solved = st.get("solved", st.get("blocks"))
        print(f"  {label:<26} {wall:8.3f} {sol.build_s:8.3f} {sol.solve_s:8.3f} {solved:>7} "
              f"{st.get('variables', 0):>7}  {sol.objective:.9g} ({sol.status})")
        if reference is None:
            reference = sol.objective
        elif not math.isclose(sol.objective, reference, rel_tol=1e-6):
            sys.exit(f"variants disagree: {sol.objective} vs {reference}")
    base = walls["bounded blocks (default)"]
    for label, wall in walls.items():
        if wall is not base:
            print(f"  default is {wall / base:.1f}× faster than {label}")


def main() -> None:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    ap = argparse.ArgumentParser()
    ap.add_argument("instances", nargs="*", type=Path, default=DEFAULT)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    for path in args.instances:
        run(path, args.repeat)


if __name__ == "__main__":
    main()
