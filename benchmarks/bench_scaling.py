"""How solve time and memory grow with the design space, on variants of the paper-scale instance.

    python benchmarks/bench_scaling.py [--energy] [--batch1] [--quick | --goal-only] [--timeout S]

Variants of instances/llama2-70b-7b-a100x4-hbm3pim.yaml (area budget 300 mm² as
shipped): channel_step 16, 8, 4, 2, 1 with a PIM channel count at every step up
to 80; the first 1, 3 or all 5 of its PIM options; γ in 1–4, 1–8 or 1–16; the
latency objective at batch 16, plus the energy objective (``--energy``) and
batch 1 (``--batch1``).  The goal instances of the issue (every channel count
1–80, γ 1–16, the 5 options, latency and energy, batch 1 and 16; goal: proven
optimal in ≤ 10 s wall, baselines included) always run, except with
``--quick`` (a small subset of the grid); ``--goal-only`` runs only them.

Each variant is solved twice, each time in a fresh Python process that has
already imported specpim: ``specpim.solve(path)`` with baselines and with
``baselines=False``.  Per variant it prints both wall times, the status,
blocks solved and pruned by bound (``Solution.stats``) and the peak resident
memory (``ru_maxrss``) of the Python process and of its largest child process
(the CBC runs; the kernel's count for a child may include pages it shared with
Python when it was forked).
Variant files are written to a temporary folder.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "instances" / "llama2-70b-7b-a100x4-hbm3pim.yaml"
STEPS = (16, 8, 4, 2, 1)
OPTION_COUNTS = (1, 3, 5)
GAMMAS = (4, 8, 16)
TOP_CHANNELS = 80
GOAL_S = 10.0


@dataclass(frozen=True)
class Variant:
    step: int
    options: int
    gamma: int
    objective: str
    batch: int

    @property
    def name(self) -> str:
        return f"step{self.step}-opt{self.options}-g{self.gamma}-{self.objective}-b{self.batch}"

    @property
    def goal(self) -> bool:
        return self.step == 1 and self.options == 5 and self.gamma == 16

    def write(self, folder: Path) -> Path:
        doc = yaml.safe_load(BASE.read_text())
        doc["name"] = f"{doc['name']}-{self.name}"
        doc["workload"]["batch"] = self.batch
        doc["speculation"]["draft_len"] = list(range(1, self.gamma + 1))
        ds = doc["design_space"]
        ds["pim_options"] = ds["pim_options"][: self.options]
        ds["channel_step"] = self.step
        ds["pim_channels"] = list(range(self.step, TOP_CHANNELS + 1, self.step))
        doc["objective"] = self.objective
        path = folder / f"{self.name}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path


def variants(args) -> list[Variant]:
    objectives = ("latency", "energy") if args.energy else ("latency",)
    batches = (16, 1) if args.batch1 else (16,)
    if args.quick:
        grid = itertools.product((16, 8), (1, 5), (4,), objectives, batches)
    elif args.goal_only:
        grid = iter(())
    else:
        grid = itertools.product(STEPS, OPTION_COUNTS, GAMMAS, objectives, batches)
    out = [Variant(*v) for v in grid]
    if not args.quick:
        out += [v for v in (Variant(1, 5, 16, o, b) for o in ("latency", "energy") for b in (16, 1)) if v not in out]
    return out


def worker(path: str, baselines: bool) -> None:
    """One timed solve in this (fresh) process; prints one JSON line."""
    import resource

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import specpim.api  # the solver's imports stay outside the timed region

    t0 = time.perf_counter()
    sol = specpim.solve(path, baselines=baselines)
    wall = time.perf_counter() - t0
    print(json.dumps({
        "wall": wall, "status": str(sol.status), "objective": sol.objective, "stats": dict(sol.stats),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "child_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }))


def measure(path: Path, baselines: bool, timeout: float) -> dict | None:
    cmd = [sys.executable, __file__, "--worker", str(path)] + ([] if baselines else ["--no-baselines"])
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as exc:
        sys.exit(f"{path.name}: the solve failed:\n{exc.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--energy", action="store_true", help="also the energy objective")
    ap.add_argument("--batch1", action="store_true", help="also batch 1")
    ap.add_argument("--quick", action="store_true", help="step 16 and 8, 1 and 5 options, γ 1–4; no goal instances")
    ap.add_argument("--goal-only", action="store_true", help="only the goal instances")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per solve before it counts as not done")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--no-baselines", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, not args.no_baselines)
        return
    print(f"variants of {BASE.relative_to(ROOT)}; each solve in a fresh process; goal ≤ {GOAL_S:g} s with baselines")
    print(f"{'variant':<32} {'wall s':>8} {'no-bl s':>8} {'status':>8} {'blocks':>6} {'solved':>6} {'pruned':>6} "
          f"{'py MB':>6} {'child MB':>8}  objective")
    goal_rows = []
    with tempfile.TemporaryDirectory(prefix="specpim-scaling-") as tmp:
        for v in variants(args):
            path = v.write(Path(tmp))
            full = measure(path, True, args.timeout)
            bare = measure(path, False, args.timeout)
            if full is None:
                print(f"{v.name:<32} {'> ' + format(args.timeout, 'g'):>8} "
                      f"{'-' if bare is None else format(bare['wall'], '.2f'):>8}  timed out")
                if v.goal:
                    goal_rows.append((v, None, False))
                continue
            st = full["stats"]
            rss = max(full["rss_mb"], bare["rss_mb"]) if bare else full["rss_mb"]
            child = max(full["child_rss_mb"], bare["child_rss_mb"]) if bare else full["child_rss_mb"]
            bare_s = f"{bare['wall']:.2f}" if bare else f"> {args.timeout:g}"
            print(f"{v.name:<32} {full['wall']:>8.2f} {bare_s:>8} {full['status']:>8} {st.get('blocks', 0):>6} "
                  f"{st.get('solved', 0):>6} {st.get('pruned', 0):>6} {rss:>6.0f} {child:>8.0f}  "
                  f"{full['objective']:.9g}", flush=True)
            if v.goal:
                goal_rows.append((v, full["wall"], full["status"] == "optimal" and full["wall"] <= GOAL_S))
    if goal_rows:
        print(f"\ngoal: proven optimal in ≤ {GOAL_S:g} s wall, baselines included")
        for v, wall, ok in goal_rows:
            print(f"  {v.name:<32} {'timed out' if wall is None else f'{wall:.2f} s':>10}  "
                  f"{'holds' if ok else 'does NOT hold'}")


if __name__ == "__main__":
    main()
