"""Golden results of the shipped instances: what `specpim solve` gives today.

For every instance in instances/ the file tests/golden/<name>.json pins the
status, the objective, the design, the optimal mapping and its metrics
(latency, energy, throughput, static power, the fullest channel, and per
phase the step, layer, tier, LM-head, element-wise and collective times and
the step energy), and the mapping and metrics of every baseline.
tests/test_golden.py solves each instance and compares; it also re-prices
the pinned mappings, which is how a change to any cost term shows.

Regenerate after a deliberate change of the model (and say why in the
commit and CHANGELOG.md):

    python tests/helpers/golden.py --write      # without --write: list the differences
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import specpim
from specpim.evaluation.evaluator import Metrics
from specpim.problem.mapping import Mapping

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
RTOL = 1e-9


def metrics_record(m: Metrics) -> dict[str, Any]:
    out: dict[str, Any] = {k: getattr(m, k) for k in ("objective", "latency_per_token", "energy_per_token",
                                                         "throughput", "iteration_time", "static_power",
                                                         "fullest_channel")}
    out["phases"] = {str(p): {"step_time": pm.step_time, "layer_time": pm.layer_time,
                              "tier_times": list(pm.tier_times), "head_time": pm.head_time,
                              "elementwise_time": pm.elementwise_time, "collective_time": pm.collective_time,
                              "step_energy": pm.step_energy}
                     for p, pm in m.phases.items()}
    return out


def snapshot(path: Path) -> dict[str, Any]:
    """What the golden file of one instance holds."""
    sol = specpim.solve(path)
    assert sol.mapping is not None and sol.metrics is not None, f"{path.name}: {sol.status}"
    return {
        "instance": path.name,
        "status": str(sol.status),
        "objective": sol.objective,
        "design": sol.mapping.architecture.to_dict(),
        "mapping": sol.mapping.to_dict(),
        "metrics": metrics_record(sol.metrics),
        "baselines": {name: None if b.mapping is None or b.metrics is None else
                      {"mapping": b.mapping.to_dict(), "metrics": metrics_record(b.metrics)}
                      for name, b in sol.baselines.items()},
    }


def pinned_mappings(golden: dict[str, Any]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """(mapping dict, metrics record) of the optimum and every baseline."""
    out = {"optimum": (golden["mapping"], golden["metrics"])}
    for name, b in golden["baselines"].items():
        if b is not None:
            out[name] = (b["mapping"], b["metrics"])
    return out


def reprice(path: Path, golden: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The metrics of every pinned mapping, evaluated afresh (baselines on their
    own instance variant: autoregressive ones without the draft model)."""
    inst = specpim.load_instance(path)
    out = {}
    for name, (mapping, _) in pinned_mappings(golden).items():
        target = inst
        if mapping["architecture"]["draft_len"] == 0 and inst.speculative:
            from dataclasses import replace

            from specpim.workload.speculation import Speculation
            target = replace(inst, draft=None, speculation=Speculation((0,), 1.0),
                             design_space=replace(inst.design_space, include_no_pim=True))
        elif mapping["architecture"]["pim_option"] is None:
            from dataclasses import replace
            target = replace(inst, design_space=replace(inst.design_space, include_no_pim=True))
        out[name] = metrics_record(specpim.evaluate(target, Mapping.from_dict(mapping)))
    return out


def differences(a: Any, b: Any, where: str = "") -> list[str]:
    """Every place two records differ (numbers to RTOL)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{where}.{k}: only in one" for k in set(a) ^ set(b)]
        for k in sorted(set(a) & set(b), key=str):
            out += differences(a[k], b[k], f"{where}.{k}" if where else str(k))
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items, then {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{where}[{i}]")]
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return [] if math.isclose(a, b, rel_tol=RTOL, abs_tol=1e-300) else [f"{where}: {a!r} → {b!r}"]
    return [] if a == b else [f"{where}: {a!r} → {b!r}"]


def golden_path(instance: Path) -> Path:
    return GOLDEN / f"{instance.stem}.json"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--write", action="store_true", help="write the golden files")
    args = p.parse_args(argv)
    changed = 0
    for path in sorted((ROOT / "instances").glob("*.yaml")):
        now = snapshot(path)
        file = golden_path(path)
        old = json.loads(file.read_text()) if file.exists() else None
        diff = differences(old, now) if old is not None else ["new"]
        if diff:
            changed += 1
            print(f"{path.name}: {len(diff)} differences" + "".join(f"\n  {d}" for d in diff[:8]))
        if args.write:
            GOLDEN.mkdir(parents=True, exist_ok=True)
            file.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{changed} of the shipped instances differ from their golden files"
          + (" (written)" if args.write else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
