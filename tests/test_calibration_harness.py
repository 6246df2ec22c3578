"""benchmarks/calibrate_host.py without PyTorch or a GPU: its command line, its dry run, its refusals, and
the operator shapes it would measure (against workload/operators.py and the reference measurements)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

from helpers import ROOT

SCRIPT = ROOT / "benchmarks" / "calibrate_host.py"
OPS = ("q", "k", "v", "score", "context", "o", "ffn_up", "ffn_gate", "ffn_down", "lm_head")
REFERENCE = ROOT / "hardware" / "measurements" / "h100-sxm-2026-11-26"   # the measurements it must reproduce


def harness(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=60, env=env)


def without_torch(tmp_path: Path) -> dict[str, str]:
    """An environment in which `import torch` fails, whether or not PyTorch is installed."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "torch.py").write_text("raise ImportError('torch is hidden by the test')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(shim), *filter(None, [env.get("PYTHONPATH")])])
    return env


def test_help_exits_0():
    p = harness("--help")
    assert p.returncode == 0, p.stderr
    for option in ("--out", "--force", "--repeats", "--quick", "--device", "--dry-run", "--host-preset",
                   "--memory-preset"):
        assert option in p.stdout


def test_dry_run_lists_every_measurement_without_torch(tmp_path):
    p = harness("--dry-run", env=without_torch(tmp_path))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    ops = [line.split() for line in lines if line.startswith("ops ")]
    cases = {(f[1], f[2], f[3]) for f in ops}
    assert cases == {(case, f"batch={b}", f"m={m}") for case in ("llama2-7b", "llama2-70b-tp4")
                     for b in (1, 16, 64) for m in (1, 5, 9)}
    assert len(ops) == 18 * 10
    assert {(f[1], f[2], f[3], f[5]) for f in ops} == {c + (op,) for c in cases for op in OPS}
    assert all("context=1152" in f for f in ops)
    steps = {(f[2], f[3], f[4]) for f in (line.split() for line in lines if line.startswith("steps "))}
    assert steps == {(v, f"batch={b}", f"m={m}") for v in ("lean", "full-sdpa") for b in (1, 16) for m in (1, 5)}
    ceilings = {line.split()[1] for line in lines if line.startswith("ceilings ")}
    assert ceilings == {"copy_gbs", "read_gbs", "write_gbs", "gemv_gbs", "gemm_bf16_tflops", "gemm_fp16_tflops"}
    assert "power.draw" in p.stdout


def test_quick_dry_run_is_llama2_7b_at_batch_1_16_and_m_1_5():
    p = harness("--dry-run", "--quick")
    assert p.returncode == 0, p.stderr
    ops = [line.split() for line in p.stdout.splitlines() if line.startswith("ops ")]
    assert len(ops) == 4 * 10
    assert {(f[1], f[2], f[3]) for f in ops} == {("llama2-7b", f"batch={b}", f"m={m}") for b in (1, 16) for m in (1, 5)}


def test_real_run_without_torch_exits_2_with_one_line(tmp_path):
    out = tmp_path / "out"
    p = harness("--out", out, env=without_torch(tmp_path))
    assert p.returncode == 2
    assert p.stderr.startswith("calibrate_host: error: ")
    assert len(p.stderr.strip().splitlines()) == 1
    assert "Traceback" not in p.stderr + p.stdout
    assert not out.exists()   # nothing is created before the run can start


def test_non_empty_out_without_force_exits_2(tmp_path):
    (tmp_path / "keep.txt").write_text("mine\n")
    p = harness("--out", tmp_path)
    assert p.returncode == 2
    assert p.stderr.startswith("calibrate_host: error: ") and "not empty" in p.stderr
    assert "Traceback" not in p.stderr
    assert [f.name for f in tmp_path.iterdir()] == ["keep.txt"]


def test_real_run_needs_out():
    p = harness()
    assert p.returncode == 2
    assert p.stderr.startswith("calibrate_host: error: ")


def test_shapes_are_those_of_the_cost_model():
    import calibrate_host as ch
    from specpim.core.enums import Phase
    from specpim.workload.models import model_preset
    from specpim.workload.operators import phase_workload

    models = {"llama2-7b": (model_preset("llama2-7b"), 1), "llama2-70b-tp4": (model_preset("llama2-70b"), 4)}
    plan = ch.make_plan(quick=False)
    for case in plan.ops:
        model, devices = models[case.case]
        wl = phase_workload(Phase.VERIFY, model, batch=case.batch, tokens=case.m, context=case.context,
                            max_context=case.context, devices=devices)
        ref = wl.op(case.op)
        assert (case.g, case.M, case.K, case.N) == (ref.batch, ref.m, ref.k, ref.n), case
        assert case.flops == ref.flops
        assert case.bytes == ref.memory_bytes + ref.act_in_bytes + ref.act_out_bytes


def test_columns_and_shapes_match_the_reference_measurements():
    import calibrate_host as ch

    for name, columns in (("ceilings.csv", ch.CEILING_COLUMNS), ("ops.csv", ch.OPS_COLUMNS),
                          ("steps.csv", ch.STEPS_COLUMNS)):
        with open(REFERENCE / name, newline="") as f:
            assert tuple(next(csv.reader(f))) == columns, name
    with open(REFERENCE / "ops.csv", newline="") as f:
        reference = {(r["case"], r["batch"], r["m"], r["op"]): r for r in csv.DictReader(f)}
    for case in ch.make_plan(quick=False).ops:
        ref = reference[(case.case, str(case.batch), str(case.m), case.op)]
        mine = {"context": case.context, "impl": case.impl, "g": case.g, "M": case.M, "K": case.K, "N": case.N,
                "flops": float(case.flops), "bytes": float(case.bytes), "n_copies": case.n_copies,
                "n_nodes": case.n_nodes}
        assert {k: ch._fmt(v) for k, v in mine.items()} == {k: ref[k] for k in mine}, case
    with open(REFERENCE / "ceilings.csv", newline="") as f:
        reference_ceilings = {r["name"]: r for r in csv.DictReader(f)}
    for c in ch.CEILINGS:
        ref = reference_ceilings[c.name]
        assert (c.unit, ch._fmt(c.bytes), ch._fmt(c.flops), c.detail) == (ref["unit"], ref["bytes"], ref["flops"],
                                                                         ref["detail"])
