"""Calibrating the host model against measured kernels, and checking it on whole steps.

The mechanism is the built-in cost model's (docs/formulation.md §2): a
roofline whose ceilings are the measured achievable bandwidth and GEMM
throughput, plus a fixed time per kernel, and element-wise kernels with their
own fixed time and bandwidth.  What is fitted, and to what
(docs/calibration.md):

* η_b, η_c (fp16 and bf16): read off ``ceilings.csv`` (1 GiB read, 8192³ GEMMs);
* t0_fc and t0_att: least squares (scipy) on the log error of the layer
  operators and LM heads of ``ops.csv`` (``graph_us``), every other figure fixed;
* t0_ew and η_ew: least squares on the softmax chains of ``ops.csv``
  (``attn_bmm_softmax`` minus its two matmuls: .float(), softmax, .half(),
  20 bytes per score) — kernels the cost model prices as element-wise work.

Nothing is fitted to ``steps.csv``: whole decode steps are predicted with the
cost model and compared (``step_errors``), which is what docs/validation.md
reports.  Operator predictions go through ``RooflineCostModel`` itself, so the
calibration and the solver can never use different formulas.

    python -m specpim.costs.calibration DIR [--host-preset NAME] [--memory-preset NAME] [-o host.yaml]

reads DIR/ceilings.csv and DIR/ops.csv (as benchmarks/calibrate_host.py
writes them), fits, and prints a host preset file an instance can name
(``system: {preset: h100-sxm-gpu, host: {file: host.yaml}}``).
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import yaml

from specpim.core.enums import Phase
from specpim.core.errors import InstanceError
from specpim.hardware import catalog
from specpim.hardware.devices import ElementwiseKernels, Host, Memory, System
from specpim.workload.models import ModelConfig, model_preset
from specpim.workload.operators import PhaseWorkload, phase_workload

from .roofline import RooflineCostModel, elementwise_cost

MEASUREMENTS = Path(__file__).resolve().parent.parent / "hardware" / "measurements" / "h100-sxm-2026-11-26"
LAYER_OPS = ("q", "k", "v", "score", "context", "o", "ffn_up", "ffn_gate", "ffn_down", "lm_head")
# ops.csv cases: (model preset, devices)
CASES = {"llama2-7b": ("llama2-7b", 1), "llama2-70b-tp4": ("llama2-70b", 4)}
SOFTMAX_CHAIN_KERNELS = 3          # .float(), softmax, .half() as the measurement ran them
SOFTMAX_CHAIN_BYTES = 2 + 4 + 8 + 4 + 2   # per score: read fp16, write fp32, softmax r/w fp32, write fp16


@dataclass(frozen=True)
class OpRow:
    case: str
    batch: int
    m: int
    context: int
    op: str
    g: float
    M: float
    K: float
    N: float
    measured_us: float


@dataclass(frozen=True)
class StepRow:
    variant: str
    batch: int
    m: int
    context: int
    layers: int
    measured_us: float


@dataclass(frozen=True)
class Measurements:
    ceilings: dict[str, float]         # name → value (GB/s or TFLOP/s)
    ops: tuple[OpRow, ...]
    steps: tuple[StepRow, ...]
    source: str


def _read(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    except OSError as exc:
        raise InstanceError(f"cannot read the measurements ({exc.strerror or exc})", path=str(path)) from None


def load_measurements(folder: str | Path = MEASUREMENTS) -> Measurements:
    """The CSV files of one GPU's measurements (steps.csv is optional)."""
    folder = Path(folder)
    ceilings = {r["name"]: float(r["value"]) for r in _read(folder / "ceilings.csv")}
    ops = tuple(OpRow(r["case"], int(r["batch"]), int(r["m"]), int(r["context"]), r["op"], float(r["g"]),
                      float(r["M"]), float(r["K"]), float(r["N"]), float(r["graph_us"]))
                for r in _read(folder / "ops.csv") if r.get("graph_us") and not r.get("error"))
    steps: tuple[StepRow, ...] = ()
    if (folder / "steps.csv").exists():
        steps = tuple(StepRow(r["variant"], int(r["batch"]), int(r["m"]), int(r["context"]), int(r["layers"]),
                              float(r["graph_us"]))
                      for r in _read(folder / "steps.csv") if r.get("graph_us") and r.get("ok", "True") == "True")
    for name in ("read_gbs", "gemm_fp16_tflops"):
        if name not in ceilings:
            raise InstanceError(f"ceilings.csv has no {name!r} row", path=str(folder / "ceilings.csv"))
    shipped = folder.resolve() == MEASUREMENTS.resolve()
    return Measurements(ceilings, ops, steps, "hardware/measurements/" + folder.name if shipped else str(folder))


# -- the cost model on measured shapes ---------------------------------------------------

def _system(host: Host, memory: Memory) -> System:
    return System("calibration", 1, host, memory, ())


def _work(case: str, batch: int, m: int, context: float, model: ModelConfig | None = None) -> PhaseWorkload:
    name, devices = CASES[case]
    return phase_workload(Phase.VERIFY, model or model_preset(name), batch=batch, tokens=m, context=context,
                          max_context=context, devices=devices)


def predict_ops(rows: tuple[OpRow, ...] | list[OpRow], host: Host, memory: Memory) -> np.ndarray:
    """Predicted µs of each measured operator, by the built-in cost model (fp16)."""
    model, system = RooflineCostModel(), _system(host, memory)
    out, works = [], {}
    for r in rows:
        key = (r.case, r.batch, r.m, r.context)
        if key not in works:
            w = _work(r.case, r.batch, r.m, r.context)
            works[key] = (w, model.host(w, system, memory.channels))
        w, costs = works[key]
        j = [o.name for o in w.all_ops].index(r.op)
        out.append(costs.time[j] * 1e6)
    return np.array(out)


def check_shapes(rows: tuple[OpRow, ...] | list[OpRow]) -> None:
    """The measured shapes are the cost model's (workload/operators.py)."""
    for r in rows:
        w = _work(r.case, r.batch, r.m, r.context)
        o = w.op(r.op)
        if (o.batch, o.m, o.k, o.n) != (r.g, r.M, r.K, r.N):
            raise InstanceError(f"{r.case} {r.op} batch {r.batch} m {r.m}: measured shape "
                                f"{(r.g, r.M, r.K, r.N)} is not the workload's {(o.batch, o.m, o.k, o.n)}",
                                field="ops.csv")


def softmax_chains(meas: Measurements) -> list[tuple[float, float]]:
    """(score elements, measured µs) of each softmax chain: attn_bmm_softmax − score − context."""
    by = {(r.case, r.batch, r.m, r.op): r for r in meas.ops}
    out = []
    for (case, batch, m, op), r in by.items():
        if op != "attn_bmm_softmax" or (case, batch, m, "score") not in by:
            continue
        rest = r.measured_us - by[(case, batch, m, "score")].measured_us - by[(case, batch, m, "context")].measured_us
        out.append((r.g * r.M * r.N, rest))   # g × M query rows × N context positions
    return out


# -- fitting -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Calibration:
    host: Host
    memory: Memory
    operators: int                     # rows fitted
    median_error_above_10us: float     # |pred/meas − 1| over operators measured above 10 µs
    median_error_below_10us: float
    source: str

    def host_fields(self) -> dict[str, object]:
        h = self.host
        return {"name": h.name, "peak_flops": h.peak_flops, "compute_efficiency": round(h.compute_efficiency, 4),
                "compute_efficiency_bf16": None if h.compute_efficiency_bf16 is None
                else round(h.compute_efficiency_bf16, 4),
                "fc_kernel_overhead": round(h.fc_kernel_overhead, 3),
                "attention_kernel_overhead": round(h.attention_kernel_overhead, 3),
                "elementwise_kernel_overhead": round(h.elementwise_kernel_overhead, 3),
                "elementwise_bandwidth_efficiency": round(h.elementwise_bandwidth_efficiency, 4),
                "elementwise_kernels": str(h.elementwise_kernels), "energy_per_flop": h.energy_per_flop,
                "static_power": h.static_power, "source": self.source}

    def to_yaml(self) -> str:
        fields = {k: v for k, v in self.host_fields().items() if v is not None}
        note = (f"# Host preset fitted by specpim.costs.calibration to {self.source};\n"
                f"# the memory's achievable bandwidth fraction measured there is "
                f"{self.memory.bandwidth_efficiency:.4f} (set system.memory.bandwidth_efficiency).\n")
        return note + yaml.safe_dump(fields, sort_keys=False, allow_unicode=True)


def idle_power(folder: str | Path) -> float | None:
    """The board's idle power from ``power.csv`` (benchmarks/calibrate_host.py), if measured."""
    path = Path(folder) / "power.csv"
    if not path.exists():
        return None
    rows = [r for r in _read(path) if r.get("name") == "idle_power_w" and r.get("value")]
    return float(rows[0]["value"]) if rows else None


def calibrate(folder: str | Path = MEASUREMENTS, *, host_preset: str = "h100-sxm-datasheet",
              memory_preset: str = "hbm3-h100-sxm-datasheet", static_power: float | None = None) -> Calibration:
    """Fit the host model to the measurements in ``folder`` (see the module docstring).

    ``static_power`` is the host's share of the idle board power; by default
    the idle power measured in ``power.csv`` less the memory's background."""
    from scipy.optimize import least_squares

    meas = load_measurements(folder)
    base_host, base_mem = catalog.HOSTS[host_preset], catalog.MEMORIES[memory_preset]
    peak_bw = base_mem.channels * base_mem.channel_bandwidth
    memory = replace(base_mem, bandwidth_efficiency=meas.ceilings["read_gbs"] / peak_bw)
    eff = meas.ceilings["gemm_fp16_tflops"] / base_host.peak_flops
    eff_bf16 = meas.ceilings.get("gemm_bf16_tflops", meas.ceilings["gemm_fp16_tflops"]) / base_host.peak_flops
    rows = [r for r in meas.ops if r.op in LAYER_OPS]
    check_shapes(rows)
    measured = np.array([r.measured_us for r in rows])
    host0 = replace(base_host, compute_efficiency=eff, compute_efficiency_bf16=eff_bf16,
                    elementwise_kernels=ElementwiseKernels.EAGER, fc_kernel_overhead=0.0,
                    attention_kernel_overhead=0.0)
    # Operator time is t0 + roofline, so the roofline part is fitted once and the overheads added.
    roof = predict_ops(rows, host0, memory)
    attention = np.array([r.op in ("score", "context") for r in rows])

    def residual(x: np.ndarray) -> np.ndarray:
        return np.log((roof + np.where(attention, x[1], x[0])) / measured)

    fit = least_squares(residual, x0=[3.0, 3.0], bounds=([0.0, 0.0], [50.0, 50.0]))
    t0_fc, t0_att = (float(v) for v in fit.x)
    # Element-wise kernels: t0_ew + bytes / (η_ew · peak bandwidth), on the softmax chains.
    chains = softmax_chains(meas)
    if chains:
        elems = np.array([c[0] for c in chains])
        chain_us = np.array([c[1] for c in chains])

        def chain_residual(x: np.ndarray) -> np.ndarray:
            pred = SOFTMAX_CHAIN_KERNELS * x[0] + elems * SOFTMAX_CHAIN_BYTES / (x[1] * peak_bw * 1e3)
            return np.log(pred / chain_us)

        small = elems * SOFTMAX_CHAIN_BYTES < 8e6          # floor-dominated chains fix t0_ew
        t0_ew = float(np.median(chain_us[small])) / SOFTMAX_CHAIN_KERNELS if small.any() else 2.0
        eta = least_squares(lambda x: chain_residual(np.array([t0_ew, x[0]])), x0=[0.6], bounds=([0.05], [1.0]))
        eta_ew = float(eta.x[0])
    else:
        t0_ew, eta_ew = base_host.elementwise_kernel_overhead, base_host.elementwise_bandwidth_efficiency
    idle = static_power
    if idle is None:
        board = idle_power(folder)
        idle = base_host.static_power if board is None else board - base_mem.static_power * base_mem.channels
    host = replace(host0, name=f"{base_host.name.removesuffix('-datasheet')}-calibrated", fc_kernel_overhead=t0_fc,
                   attention_kernel_overhead=t0_att, elementwise_kernel_overhead=t0_ew,
                   elementwise_bandwidth_efficiency=eta_ew, static_power=idle,
                   source=f"fitted by specpim.costs.calibration to {meas.source}")
    pred = predict_ops(rows, host, memory)
    err = np.abs(pred / measured - 1)
    above = measured > 10
    return Calibration(host, memory, len(rows), float(np.median(err[above])) if above.any() else math.nan,
                       float(np.median(err[~above])) if (~above).any() else math.nan, meas.source)


# -- whole steps ---------------------------------------------------------------------------

@dataclass(frozen=True)
class StepError:
    variant: str
    batch: int
    m: int
    measured_us: float
    predicted_us: float

    @property
    def error(self) -> float:
        return self.predicted_us / self.measured_us - 1


def predict_step(host: Host, memory: Memory, *, model: str = "llama2-7b", batch: int, m: int, cached: int,
                 elementwise: bool = True) -> float:
    """µs of one decode step of ``model`` on one device, as the cost model prices
    an all-host mapping: every layer's operators, its element-wise work, the LM
    head and the step's element-wise work.  Attention reads the cache after
    the new tokens are written (``cached`` + m)."""
    w = phase_workload(Phase.VERIFY, model_preset(model), batch=batch, tokens=m, context=cached + m,
                       max_context=cached + m, devices=1)
    system = _system(host if elementwise else replace(host, elementwise_kernels=ElementwiseKernels.NONE), memory)
    cm = RooflineCostModel()
    costs, fixed = cm.host(w, system, memory.channels), cm.fixed(w, system, memory.channels)
    layer = float(costs.time[:-1].sum()) + fixed.layer_elementwise_time
    return (w.layers * layer + float(costs.time[-1]) + fixed.step_elementwise_time) * 1e6


def step_errors(host: Host, memory: Memory, meas: Measurements | None = None) -> list[StepError]:
    """Predicted against measured whole steps (``lean`` without element-wise work)."""
    meas = meas or load_measurements()
    out = []
    for s in meas.steps:
        if s.variant not in ("full-sdpa", "full-bmm", "lean"):
            continue
        pred = predict_step(host, memory, batch=s.batch, m=s.m, cached=s.context, elementwise=s.variant != "lean")
        if s.variant == "full-bmm":   # unfused attention: the softmax chain runs between the matmuls
            w = phase_workload(Phase.VERIFY, model_preset("llama2-7b"), batch=s.batch, tokens=s.m,
                               context=s.context + s.m, max_context=s.context + s.m, devices=1)
            chain = [w.softmax] if w.softmax is not None else []
            pred += s.layers * elementwise_cost(chain, _system(host, memory), memory.channels)[0] * 1e6
        out.append(StepError(s.variant, s.batch, s.m, s.measured_us, pred))
    return out


def summary(errors: list[StepError], variant: str) -> tuple[float, float]:
    """(median, max) of |error| over the steps of one variant."""
    e = [abs(x.error) for x in errors if x.variant == variant]
    return (statistics.median(e), max(e)) if e else (math.nan, math.nan)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m specpim.costs.calibration",
                                description="Fit a host preset to measurements taken by benchmarks/calibrate_host.py.")
    p.add_argument("folder", nargs="?", default=str(MEASUREMENTS), help="folder with ceilings.csv and ops.csv")
    p.add_argument("--host-preset", default="h100-sxm-datasheet", help="host preset with the datasheet peak")
    p.add_argument("--memory-preset", default="hbm3-h100-sxm-datasheet", help="memory preset with the peak bandwidth")
    p.add_argument("--static-power", type=float, default=None, help="idle board power, W")
    p.add_argument("-o", "--out", default=None, help="write the host preset file here (default: print it)")
    args = p.parse_args(argv)
    try:
        cal = calibrate(args.folder, host_preset=args.host_preset, memory_preset=args.memory_preset,
                        static_power=args.static_power)
    except (InstanceError, KeyError) as exc:
        print(f"calibration: error: {exc}", file=sys.stderr)
        return 2
    text = cal.to_yaml()
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    print(f"calibration: {cal.operators} operators, median |error| {cal.median_error_above_10us:.1%} above 10 µs, "
          f"{cal.median_error_below_10us:.1%} below", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
