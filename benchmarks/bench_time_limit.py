"""Does ``--time-limit`` hold?  Wall time of ``specpim solve --time-limit S``
from process start to exit, against the promise of docs/errors.md: within
10% plus one second of S, on every instance.

    python benchmarks/bench_time_limit.py [INSTANCE.yaml ...] [--limits 0.5,1,2,5] [--no-baselines]

With no instances it runs the shipped ones and benchmarks/instances/*.yaml
(the fine design spaces of issue 9).  Each run is a fresh process, timed
from just before it starts; the table gives the wall time, the exit code
(0 optimal or feasible, 4 no solution in time) and the status line.  The
script exits 1 if any run overstays.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _instances(given: list[str]) -> list[Path]:
    if given:
        return [Path(p) for p in given]
    return sorted((ROOT / "instances").glob("*.yaml")) + sorted((ROOT / "benchmarks" / "instances").glob("*.yaml"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("instances", nargs="*")
    ap.add_argument("--limits", default="0.5,1,2,5", help="time limits in seconds, comma-separated")
    ap.add_argument("--no-baselines", action="store_true")
    args = ap.parse_args(argv)
    limits = [float(x) for x in args.limits.split(",")]
    command = [sys.executable, "-m", "specpim", "solve"]
    rows, late = [], 0
    for path in _instances(args.instances):
        for limit in limits:
            extra = ["--no-baselines"] if args.no_baselines else []
            t0 = time.perf_counter()
            done = subprocess.run([*command, str(path), "--time-limit", str(limit), *extra],
                                  capture_output=True, text=True)
            wall = time.perf_counter() - t0
            promise = 1.1 * limit + 1.0
            ok = wall <= promise
            late += not ok
            status = (done.stdout.splitlines() or done.stderr.splitlines() or [""])[0]
            status = status.split(": ", 1)[-1] if done.returncode == 0 else (done.stderr.strip().splitlines()
                                                                             or [""])[-1][:70]
            rows.append((path.stem, limit, wall, promise, done.returncode, "ok" if ok else "LATE", status))
            print(f"{path.stem:45s} limit {limit:5.1f} s  wall {wall:6.2f} s  (≤ {promise:5.2f})  "
                  f"exit {done.returncode}  {'ok' if ok else 'LATE'}  {status}", flush=True)
    worst = max(r[2] / r[3] for r in rows) if rows else 0.0
    print(f"\n{len(rows)} runs, {late} over 1.1 × limit + 1 s; worst wall / promise {worst:.2f}")
    return 1 if late else 0


if __name__ == "__main__":
    sys.exit(main())
