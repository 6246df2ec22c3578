"""Sweep throughput, measured in one run: a 1,000-scenario sweep of paper-scale
variants, the speed-up from one to two local workers, and the cost of the Ray
backend against local processes.

    python benchmarks/bench_sweep.py [--quick] [--subset N] [--no-ray]

The scenarios vary instances/llama2-70b-7b-a100x4-hbm3pim.yaml over
workload.batch × speculation.acceptance × design_space.area_budget ×
workload.prompt_len (10 × 5 × 4 × 5 = 1,000; --quick: 2 × 2 × 2 × 3 = 24).
The full sweep runs as `specpim sweep -o` runs it (every core, journal and
mapping.json files, baselines included).  The worker and backend comparisons
solve the same subset of scenarios (--subset, default 60; --quick 12) and
check that every variant gives the same rows.  Wall times are of this
machine, shared with whatever else runs on it: compare them within one run.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

import specpim
from specpim.sweeps import TIMING_COLUMNS, default_workers

ROOT = Path(__file__).resolve().parent.parent
PAPER = ROOT / "instances" / "llama2-70b-7b-a100x4-hbm3pim.yaml"

AXES = {
    "workload.batch": [1, 2, 4, 8, 16, 24, 32, 48, 64, 96],
    "speculation.acceptance": [0.5, 0.6, 0.7, 0.8, 0.9],
    "design_space.area_budget": [100, 200, 300, 400],
    "workload.prompt_len": [128, 256, 512, 1024, 2048],
}
QUICK_AXES = {
    "workload.batch": [4, 32],
    "speculation.acceptance": [0.6, 0.8],
    "design_space.area_budget": [200, 300],
    "workload.prompt_len": [256, 1024, 2048],
}


def _cpu() -> float:
    """CPU seconds of this process and of every finished process below it (workers, CBC)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(**kwargs) -> tuple[float, float, pd.DataFrame]:
    """Wall and CPU seconds of one sweep (CPU: local processes only; Ray's workers are not ours)."""
    c0, t0 = _cpu(), time.perf_counter()
    df = specpim.sweep(PAPER, progress=False, **kwargs)
    return time.perf_counter() - t0, _cpu() - c0, df


def _load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _same(a: pd.DataFrame, b: pd.DataFrame, what: str) -> None:
    cols = list(TIMING_COLUMNS)
    pd.testing.assert_frame_equal(a.drop(columns=cols), b.drop(columns=cols), obj=what)


def _subset(axes: dict[str, list], n: int) -> dict[str, list]:
    """The first ``n`` scenarios of the product (as the zip of their values)."""
    import itertools

    combos = list(itertools.product(*axes.values()))[:n]
    return {name: [c[i] for c in combos] for i, name in enumerate(axes)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="24 scenarios and a subset of 12")
    ap.add_argument("--subset", type=int, default=None, help="scenarios of the worker/backend comparison")
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray backend")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="pulp")
    axes = QUICK_AXES if args.quick else AXES
    n = 1
    for values in axes.values():
        n *= len(values)
    subset = _subset(axes, args.subset or (12 if args.quick else 60))
    k = len(next(iter(subset.values())))
    cores = default_workers()
    print(f"specpim {specpim.__version__} · {PAPER.name} · {cores} cores (os.cpu_count() = {os.cpu_count()})")

    print(f"\n1. one to two local workers, same {k} scenarios ({_load()})")
    t1, c1, one = _timed(axes=subset, zip=True, workers=1)
    t2, c2, two = _timed(axes=subset, zip=True, workers=2)
    _same(one, two, "1 vs 2 workers")
    print(f"   1 worker   {t1:8.2f} s  ({t1 / k * 1e3:.0f} ms per scenario; CPU {c1 / k * 1e3:.0f} ms per scenario, "
          f"{c1 / t1:.2f} cores busy)")
    print(f"   2 workers  {t2:8.2f} s  ({t2 / k * 1e3:.0f} ms per scenario; CPU {c2 / k * 1e3:.0f} ms per scenario, "
          f"{c2 / t2:.2f} cores busy)")
    print(f"   speed-up   {t1 / t2:8.2f}×  (goal ≥ 1.8×; identical rows; {_load()})")

    if not args.no_ray:
        print(f"\n2. Ray backend (a local Ray instance with {min(cores, 2)} CPUs) against 2 local workers, "
              f"same {k} scenarios")
        try:
            import ray
        except ImportError:
            print("   skipped: Ray is not installed (pip install 'specpim[ray]')")
        else:
            t0 = time.perf_counter()
            ray.init(num_cpus=min(cores, 2), include_dashboard=False, log_to_driver=False,
                     logging_level="ERROR")
            t_init = time.perf_counter() - t0
            try:
                specpim.sweep(PAPER, axes={"workload.batch": [16]}, backend="ray", progress=False)   # warm workers
                tr, _, by_ray = _timed(axes=subset, zip=True, backend="ray")
            finally:
                ray.shutdown()
            _same(two, by_ray, "local vs Ray")
            print(f"   starting Ray      {t_init:8.2f} s  (once per session)")
            print(f"   Ray, 2 CPUs       {tr:8.2f} s  ({tr / k * 1e3:.0f} ms per scenario)")
            print(f"   local, 2 workers  {t2:8.2f} s")
            print(f"   Ray / local       {tr / t2:8.2f}×  (identical rows; {_load()})")

    print(f"\n3. the whole sweep: {n} scenarios, every core ({cores}), written to a folder as `specpim sweep -o` "
          f"does ({_load()})")
    with tempfile.TemporaryDirectory() as tmp:
        tw, cw, df = _timed(axes=axes, outdir=Path(tmp) / "out")
    counts = df["status"].value_counts().to_dict()
    print(f"   wall time  {tw:8.1f} s  ({tw / 60:.2f} min; {tw / n * 1e3:.0f} ms per scenario)  "
          f"goal ≤ 5 min: {'met' if tw <= 300 else 'NOT met'}")
    print(f"   CPU        {cw:8.1f} s  ({cw / tw:.2f} cores busy; {_load()})")
    print(f"   statuses   {', '.join(f'{v} {s}' for s, v in counts.items())}")
    print(f"   solver time per scenario: median build {df['build_s'].median() * 1e3:.0f} ms, "
          f"solve {df['solve_s'].median() * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
