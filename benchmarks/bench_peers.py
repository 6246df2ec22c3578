"""specpim's proof against search peers on the same cost model, measured in one run.

    python benchmarks/bench_peers.py [INSTANCE.yaml ...] [--seeds N] [--population P] [--generations G] [--quick]

For each instance: the wall time of ``specpim.solve(path)`` (loading, solving and
baselines, specpim already imported; the status must be "optimal"), then the GA of benchmarks/peers.py
with fixed seeds 0…N−1 and random search with the same number of evaluator
calls as the GA made with that seed.  It prints, per run, the best objective
reached and its gap to the certified optimum, the time to get within 1%
("never" when it did not) and that time over specpim's time to the proof, and
whether the project's goal holds: the proof arrives at least 10× sooner than
the GA gets within 1%, with every seed, on every instance.  A peer that beats
the optimum would be a bug in specpim: the script prints the mapping and exits
with status 1.

Default instances: every shipped one and benchmarks/instances/*.yaml.
``--quick``: 2 seeds, population 200, 5 generations (a smoke run).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
import warnings
from pathlib import Path

import specpim
import specpim.api  # the solver's imports stay outside the timed region
from peers import Trace, run_ga, run_random
from specpim import Metric

ROOT = Path(__file__).resolve().parent.parent
WITHIN = 0.01        # "within 1%" of the optimum
GOAL_RATIO = 10.0    # the proof at least this many times sooner than the GA within 1%
BEAT_RTOL = 1e-6     # the solver's own cross-check tolerance: a peer better than this is a bug


def default_instances() -> list[Path]:
    return sorted((ROOT / "instances").glob("*.yaml")) + sorted((ROOT / "benchmarks" / "instances").glob("*.yaml"))


def gap(value: float, optimum: float, maximise: bool) -> float:
    """Relative distance to the optimum, > 0 when worse."""
    return (optimum - value) / optimum if maximise else (value - optimum) / optimum


def time_within(trace: Trace, optimum: float, maximise: bool) -> float | None:
    return next((s for s, _, v in trace if gap(v, optimum, maximise) <= WITHIN), None)


def fmt_time(s: float | None) -> str:
    return "never" if s is None else f"{s:.2f}"


def fmt_ratio(t: float | None, proof: float) -> str:
    return "∞" if t is None else f"{t / proof:.1f}×"


def bench(path: Path, seeds: list[int], population: int, generations: int) -> tuple[bool, bool]:
    """Returns (goal holds on this instance, no peer beat the optimum)."""
    t0 = time.perf_counter()
    sol = specpim.solve(path)
    proof = time.perf_counter() - t0
    inst = sol.instance
    maximise = inst.objective.metric == Metric.THROUGHPUT
    print(f"\n{inst.name} · objective {inst.objective.metric} · specpim {sol.status} in {proof:.2f} s wall "
          f"(baselines included) · optimum {sol.objective:.9g}")
    if sol.status != specpim.Status.OPTIMAL:
        print("  no certified optimum: skipped")
        return False, True
    print(f"  {'peer':<7} {'seed':>4} {'evals':>6} {'run s':>7} {'best':>14} {'gap %':>8} {'t(1%) s':>8} "
          f"{'t(1%)/proof':>11}")
    sound, ga_times = True, []
    for seed in seeds:
        ga = run_ga(path, seed, population=population, generations=generations)
        rnd = run_random(path, seed, population=population, generations=generations, evaluations=ga.evaluations)
        for label, trace in (("ga", ga), ("random", rnd)):
            t1 = time_within(trace, sol.objective, maximise) if trace else None
            if label == "ga":
                ga_times.append(t1)
            best = trace.best
            g = gap(best, sol.objective, maximise) if best is not None else math.nan
            best_s = f"{best:.9g}" if best is not None else "none feasible"
            print(f"  {label:<7} {seed:>4} {trace.evaluations:>6} {trace.seconds:>7.1f} {best_s:>14} {100 * g:>8.3f} "
                  f"{fmt_time(t1):>8} {fmt_ratio(t1, proof):>11}")
            if g < -BEAT_RTOL:
                sound = False
                print(f"  BUG: {label} seed {seed} beats the certified optimum on {path}; its mapping:")
                print(json.dumps(trace.best_mapping.to_dict(), indent=1))
    reached = [t for t in ga_times if t is not None]
    worst = min((t / proof for t in reached), default=math.inf)
    holds = worst >= GOAL_RATIO
    median = statistics.median(t / proof if t is not None else math.inf for t in ga_times)
    print(f"  GA within 1%: {len(reached)} of {len(ga_times)} seeds; (t(1%) / proof) worst seed "
          f"{'∞' if math.isinf(worst) else f'{worst:.1f}×'}, median {'∞' if math.isinf(median) else f'{median:.1f}×'}"
          f" → goal ≥ {GOAL_RATIO:g}× {'holds' if holds else 'does NOT hold'}")
    return holds, sound


def main() -> None:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("instances", nargs="*", type=Path)
    ap.add_argument("--seeds", type=int, default=5, help="GA seeds 0…N−1 (default 5)")
    ap.add_argument("--population", type=int, default=1000)
    ap.add_argument("--generations", type=int, default=30)
    ap.add_argument("--quick", action="store_true", help="2 seeds, population 200, 5 generations")
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.population, args.generations = 2, 200, 5
    paths = args.instances or default_instances()
    print(f"GA: population {args.population}, {args.generations} generations, seeds 0–{args.seeds - 1}; "
          "random search: the GA's number of evaluations; fitness specpim.evaluate")
    results = {p: bench(p, list(range(args.seeds)), args.population, args.generations) for p in paths}
    failing = [p.stem for p, (holds, _) in results.items() if not holds]
    print(f"\ngoal: the proof ≥ {GOAL_RATIO:g}× sooner than the GA gets within 1% on every instance: "
          + ("holds" if not failing else f"does NOT hold ({', '.join(failing)})"))
    if not all(sound for _, sound in results.values()):
        sys.exit("a peer beat the certified optimum: see BUG above")


if __name__ == "__main__":
    main()
