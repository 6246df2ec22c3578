#!/usr/bin/env python3
"""Measure your own NVIDIA GPU so that specpim can calibrate its host model for it.

The measurements are taken the same way as the reference measurements of one
H100 80GB HBM3 SXM (hardware/measurements/h100-sxm-2026-11-26/, whose README
explains them), and the files have the same columns with the same meanings:

* ``ceilings.csv``: achieved copy / read / write bandwidth over 1 GiB, the weight
  bandwidth of a large GEMV (``F.linear`` of 1×8192 by 28672×8192) and the
  throughput of an 8192³ GEMM in bf16 and fp16;
* ``ops.csv``: the ten costed operators of a decoder layer (q, k, v, score,
  context, o, ffn_up, ffn_gate, ffn_down, lm_head) at the per-device shapes of
  workload/operators.py (g × (M × K)·(K × N)), for LLaMA-2-7B on one device and
  one device's quarter of a 4-way tensor-parallel LLaMA-2-70B, m ∈ {1, 5, 9}
  tokens per request, batch ∈ {1, 16, 64}, context 1,152. Each operator is
  timed replayed back to back inside a CUDA graph (``graph_us`` and its
  spread), launched eagerly in a loop (``eager_loop_us``) and launched and
  synchronised on its own (``eager_single_us``);
* ``steps.csv``: whole decode steps of a LLaMA-2-7B-shaped model with random
  weights (32 layers, KV cache of 1,024 tokens, batch 1 and 16, m 1 and 5):
  ``lean`` runs only the costed operators, ``full-sdpa`` a complete LLaMA layer
  written as eager PyTorch (RMSNorm, RoPE, KV-cache write, SDPA, SwiGLU,
  residual adds) plus the final norm, LM head and argmax; both eagerly and
  captured in a CUDA graph. The step starts from the hidden states (no
  embedding lookup); its m new tokens fill the last m of the 1,024 cache
  positions and attend to all of them. ``ok`` says the step's logits were
  finite; ``cache_len_after`` is left empty, as in the reference, because
  this model's cache is allocated once;
* ``power.csv``: the board power nvidia-smi reports at the start (idle);
  ``environment.csv``: the GPU, PyTorch and CUDA versions and the options used.

How: fp16 weights and activations with random values, one GPU, CUDA events;
every figure is the median of ``--repeats`` repetitions after warm-up. Each
operator cycles through at least 256 MB of distinct weight / KV-cache copies
(``n_copies``) so that the L2 cache cannot serve it. A measurement that
fails (out of memory on a smaller GPU, say) leaves its timings empty and says
why in its row's ``error``; the others go on. Run it on an otherwise idle GPU;
the whole run takes a few minutes on an H100.

Use::

    python benchmarks/calibrate_host.py --dry-run              # what it would measure
    python benchmarks/calibrate_host.py --out my-gpu           # measure, then fit host.yaml
    python -m specpim.costs.calibration my-gpu                  # fit later, if not done above

then point an instance's system at the fitted host::

    system: {preset: h100-sxm-gpu, host: {file: my-gpu/host.yaml}}

PyTorch with CUDA is needed only for a real run; ``--help`` and ``--dry-run``
work without it. Exit codes: 0 done; 1 measured, but fitting host.yaml failed;
2 bad arguments, or no PyTorch or CUDA.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import functools
import io
import math
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROG = "calibrate_host"
FP16_BYTES = 2
GIB = 1 << 30
L2_DEFEAT_BYTES = 256e6   # distinct bytes each operator cycles through: 5× the 50 MB L2 of an H100
MIN_GRAPH_NODES = 8       # kernels per timed sequence, a whole number of passes over the copies
WARMUP = 3
RMS_EPS = 1e-5            # LLaMA-2's rms_norm_eps
ROPE_THETA = 10000.0

OP_NAMES = ("q", "k", "v", "score", "context", "o", "ffn_up", "ffn_gate", "ffn_down", "lm_head")
OPS_CONTEXT = 1152
OPS_TOKENS = (1, 5, 9)     # autoregressive, verify with γ = 4, verify with γ = 8
OPS_BATCHES = (1, 16, 64)
QUICK_TOKENS = (1, 5)
QUICK_BATCHES = (1, 16)
STEP_CONTEXT = 1024
STEP_TOKENS = (1, 5)
STEP_BATCHES = (1, 16)
STEP_VARIANTS = ("lean", "full-sdpa")
STEP_IMPL = "mini"

CEILING_COLUMNS = ("name", "value", "unit", "median_us", "min_us", "bytes", "flops", "detail")
OPS_COLUMNS = ("case", "batch", "m", "context", "op", "impl", "g", "M", "K", "N", "flops", "bytes", "n_copies",
               "n_nodes", "eager_single_us", "eager_loop_us", "graph_us", "graph_min_us", "graph_p25_us",
               "graph_p75_us", "graph_gbs", "graph_tflops", "error")
STEPS_COLUMNS = ("impl", "variant", "batch", "m", "context", "layers", "eager_us", "eager_min_us", "graph_us",
                 "graph_min_us", "graph_p25_us", "graph_p75_us", "ok", "cache_len_after", "error")
POWER_COLUMNS = ("name", "value", "unit", "detail")
ENV_COLUMNS = ("name", "value")
POWER_QUERY = ("nvidia-smi", "--query-gpu=power.draw", "--format=csv,noheader,nounits")

Row = dict[str, Any]


class HarnessError(Exception):
    """A problem the user can fix (arguments, PyTorch, CUDA): one line, exit code 2."""


# ----------------------------------------------------------------------------- what is measured

@dataclass(frozen=True)
class ModelShape:
    """The per-device shape of a LLaMA-style model under ``devices``-way tensor parallelism."""

    name: str
    hidden: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    layers: int
    devices: int = 1

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


LLAMA2_7B = ModelShape("llama2-7b", hidden=4096, heads=32, kv_heads=32, ffn=11008, vocab=32000, layers=32)
LLAMA2_70B_TP4 = ModelShape("llama2-70b-tp4", hidden=8192, heads=64, kv_heads=8, ffn=28672, vocab=32000,
                            layers=80, devices=4)


@dataclass(frozen=True)
class OpCase:
    """One operator at one (case, batch, m): ``g`` independent (M × K)·(K × N) products."""

    case: str
    batch: int
    m: int
    context: int
    op: str
    impl: str
    g: int
    M: int
    K: int
    N: int
    memory_bytes: int   # what each copy holds: the weights, or one of K/V of the cache
    act_bytes: int      # activations in + out

    @property
    def flops(self) -> int:
        return 2 * self.g * self.M * self.K * self.N

    @property
    def bytes(self) -> int:
        return self.memory_bytes + self.act_bytes

    @property
    def n_copies(self) -> int:
        return max(1, math.ceil(L2_DEFEAT_BYTES / self.memory_bytes))

    @property
    def n_nodes(self) -> int:
        return self.n_copies * math.ceil(MIN_GRAPH_NODES / self.n_copies)


@dataclass(frozen=True)
class StepCase:
    variant: str
    batch: int
    m: int
    context: int = STEP_CONTEXT
    layers: int = LLAMA2_7B.layers


@dataclass(frozen=True)
class Ceiling:
    name: str
    unit: str
    bytes: int | None
    flops: int | None
    detail: str


GEMV_OUT, GEMV_IN = 28672, 8192
GEMM_SIZE = 8192
GEMM_BACK_TO_BACK = 5
CEILINGS = (
    Ceiling("copy_gbs", "GB/s", 2 * GIB, None, "dst.copy_(src), 1 GiB each way; counts read + write"),
    Ceiling("read_gbs", "GB/s", GIB, None, "src.sum() over 1 GiB (read only)"),
    Ceiling("write_gbs", "GB/s", GIB, None, "dst.fill_ over 1 GiB"),
    Ceiling("gemv_gbs", "GB/s", GEMV_OUT * GEMV_IN * FP16_BYTES, None,
            f"F.linear(1x{GEMV_IN}, {GEMV_OUT}x{GEMV_IN}) graph, weight bytes only (LLaMA-2-70B FFN up, unsharded)"),
    Ceiling("gemm_bf16_tflops", "TFLOP/s", None, 2 * GEMM_SIZE**3,
            f"torch.matmul {GEMM_SIZE}^3, {GEMM_BACK_TO_BACK} back-to-back per rep"),
    Ceiling("gemm_fp16_tflops", "TFLOP/s", None, 2 * GEMM_SIZE**3,
            f"torch.matmul {GEMM_SIZE}^3, {GEMM_BACK_TO_BACK} back-to-back per rep"),
)


def _exact(a: int, b: int) -> int:
    if a % b:
        raise ValueError(f"{a} is not divisible by {b}")
    return a // b


def op_cases(shape: ModelShape, batch: int, m: int, context: int) -> list[OpCase]:
    """The ten operators of one step at the per-device shapes of workload/operators.py."""
    s, h, hd, dev = FP16_BYTES, shape.hidden, shape.head_dim, shape.devices
    rows = batch * m
    groups = _exact(batch * shape.kv_heads, dev)      # (request, KV head) pairs on this device
    q_rows = _exact(m * shape.heads, shape.kv_heads)  # query rows per KV head (GQA)
    cache = groups * context * hd * s                 # one of K or V

    def fc(name: str, k: int, n: int) -> OpCase:
        return OpCase(shape.name, batch, m, context, name, "F.linear", 1, rows, k, n,
                      memory_bytes=k * n * s, act_bytes=rows * k * s + rows * n * s)

    def attention(name: str, impl: str, k: int, n: int) -> OpCase:
        return OpCase(shape.name, batch, m, context, name, impl, groups, q_rows, k, n,
                      memory_bytes=cache, act_bytes=groups * q_rows * (k + n) * s)

    return [
        fc("q", h, _exact(h, dev)),
        fc("k", h, _exact(shape.kv_heads * hd, dev)),
        fc("v", h, _exact(shape.kv_heads * hd, dev)),
        attention("score", "matmul(Q, K^T)", hd, context),
        attention("context", "matmul(P, V)", context, hd),
        fc("o", _exact(h, dev), h),
        fc("ffn_up", h, _exact(shape.ffn, dev)),
        fc("ffn_gate", h, _exact(shape.ffn, dev)),
        fc("ffn_down", _exact(shape.ffn, dev), h),
        fc("lm_head", h, _exact(shape.vocab, dev)),
    ]


@dataclass(frozen=True)
class Plan:
    ceilings: tuple[Ceiling, ...]
    ops: tuple[OpCase, ...]
    steps: tuple[StepCase, ...]


def make_plan(quick: bool) -> Plan:
    shapes = (LLAMA2_7B,) if quick else (LLAMA2_7B, LLAMA2_70B_TP4)
    batches = QUICK_BATCHES if quick else OPS_BATCHES
    tokens = QUICK_TOKENS if quick else OPS_TOKENS
    ops = [op for shape in shapes for batch in batches for m in tokens
           for op in op_cases(shape, batch, m, OPS_CONTEXT)]
    steps = [StepCase(v, b, m) for b in STEP_BATCHES for m in STEP_TOKENS for v in STEP_VARIANTS]
    return Plan(CEILINGS, tuple(ops), tuple(steps))


def print_plan(plan: Plan, args: argparse.Namespace) -> None:
    print(f"{PROG}: dry run; a real run (--out DIR) takes these measurements, each the median of "
          f"{args.repeats} repetitions:")
    for c in plan.ceilings:
        size = f"bytes={c.bytes}" if c.bytes is not None else f"flops={c.flops}"
        print(f"ceilings  {c.name}  {c.unit}  {size}  {c.detail}")
    for o in plan.ops:
        print(f"ops  {o.case}  batch={o.batch} m={o.m} context={o.context}  {o.op}  {o.impl}  "
              f"g={o.g} M={o.M} K={o.K} N={o.N}  flops={o.flops} bytes={o.bytes}  "
              f"copies={o.n_copies} nodes={o.n_nodes}")
    for st in plan.steps:
        print(f"steps  {STEP_IMPL}  {st.variant}  batch={st.batch} m={st.m} context={st.context} layers={st.layers}  "
              f"shape={LLAMA2_7B.name}")
    print(f"power  idle_power_w  W  {' '.join(POWER_QUERY)}, once at the start")
    print(f"then   host.yaml from specpim.costs.calibration.calibrate(DIR, host_preset={args.host_preset!r}, "
          f"memory_preset={args.memory_preset!r})")
    print(f"{len(plan.ceilings)} ceilings, {len(plan.ops)} operator timings, {len(plan.steps)} step timings, "
          "1 power reading")


# ----------------------------------------------------------------------------- output files

def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool | int | str):
        return str(value)
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"   # six significant digits, as the reference
    return str(value)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers never see a half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")   # same folder, so os.replace is atomic
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_fmt(row.get(c)) for c in columns])
    write_atomic(path, buf.getvalue())
    print(f"wrote {path}", flush=True)


def check_out_dir(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise HarnessError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise HarnessError(f"--out {out} is not empty; pass --force to write into it anyway")


# ----------------------------------------------------------------------------- timing

@dataclass(frozen=True)
class Stats:
    median: float
    min: float
    p25: float
    p75: float


def summarize(samples: Sequence[float]) -> Stats:
    if len(samples) == 1:
        return Stats(samples[0], samples[0], samples[0], samples[0])
    p25, _, p75 = statistics.quantiles(samples, n=4, method="inclusive")
    return Stats(statistics.median(samples), min(samples), p25, p75)


def time_cuda(fns: Sequence[Callable[[], object]], repeats: int, per: int = 1, isolate: bool = False) -> list[float]:
    """µs per unit of each of ``repeats`` runs, by CUDA events; run ``i`` calls ``fns[i % len(fns)]``.

    ``per`` divides a run's time (kernels in a sequence); ``isolate`` waits for the GPU to be idle before
    each run, so that a single kernel's time includes its launch.
    """
    import torch

    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    samples = []
    for i in range(repeats):
        if isolate:
            torch.cuda.synchronize()
        start.record()
        fns[i % len(fns)]()
        end.record()
        end.synchronize()
        samples.append(start.elapsed_time(end) * 1e3 / per)
    return samples


def capture_graph(fn: Callable[[], object]) -> Any:
    """``fn`` captured in a CUDA graph, after a warm-up on a side stream as PyTorch asks."""
    import torch

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(WARMUP):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph


def graph_samples(graph: Any, repeats: int, per: int) -> list[float]:
    """µs per kernel of ``repeats`` replays of ``graph`` (``per`` kernels each), after warm-up replays."""
    for _ in range(WARMUP):
        graph.replay()
    return time_cuda([graph.replay], repeats, per=per)


def _describe(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:300]


def _release() -> None:
    import gc

    import torch

    gc.collect()
    torch.cuda.empty_cache()


# ----------------------------------------------------------------------------- ceilings

def _bandwidth_samples(device: Any, repeats: int) -> dict[str, list[float]]:
    """copy / read / write over 1 GiB buffers, far larger than any L2: one kernel each, launched eagerly."""
    import torch

    src = torch.empty(GIB // 4, dtype=torch.float32, device=device).uniform_()
    dst = torch.empty_like(src)
    kernels: dict[str, Callable[[], object]] = {
        "copy_gbs": lambda: dst.copy_(src), "read_gbs": src.sum, "write_gbs": lambda: dst.fill_(1.0)}
    samples = {}
    for name, fn in kernels.items():
        for _ in range(WARMUP):
            fn()
        samples[name] = time_cuda([fn], repeats)
    return samples


def _gemv_samples(device: Any, repeats: int) -> list[float]:
    """µs per GEMV, replayed back to back in a CUDA graph (the weights alone exceed the L2-defeating size)."""
    import torch
    import torch.nn.functional as F

    n_copies = max(1, math.ceil(L2_DEFEAT_BYTES / (GEMV_OUT * GEMV_IN * FP16_BYTES)))
    nodes = n_copies * math.ceil(MIN_GRAPH_NODES / n_copies)
    x = torch.randn(1, GEMV_IN, device=device, dtype=torch.float16)
    weights = [torch.randn(GEMV_OUT, GEMV_IN, device=device, dtype=torch.float16) for _ in range(n_copies)]

    def sequence() -> None:
        for i in range(nodes):
            F.linear(x, weights[i % n_copies])

    return graph_samples(capture_graph(sequence), repeats, nodes)


def _gemm_samples(device: Any, repeats: int, dtype_name: str) -> list[float]:
    """µs per 8192³ GEMM, several back to back per repetition so that launch gaps do not count."""
    import torch

    dtype = getattr(torch, dtype_name)
    a = torch.randn(GEMM_SIZE, GEMM_SIZE, device=device, dtype=dtype)
    b = torch.randn(GEMM_SIZE, GEMM_SIZE, device=device, dtype=dtype)
    c = torch.empty_like(a)

    def gemms() -> None:
        for _ in range(GEMM_BACK_TO_BACK):
            torch.matmul(a, b, out=c)

    for _ in range(WARMUP):
        gemms()
    return time_cuda([gemms], repeats, per=GEMM_BACK_TO_BACK)


def measure_ceilings(device: Any, repeats: int) -> list[Row]:
    samples = _bandwidth_samples(device, repeats)
    _release()
    samples["gemv_gbs"] = _gemv_samples(device, repeats)
    _release()
    for name, dtype_name in (("gemm_bf16_tflops", "bfloat16"), ("gemm_fp16_tflops", "float16")):
        samples[name] = _gemm_samples(device, repeats, dtype_name)
        _release()
    rows = []
    for ceiling in CEILINGS:
        st = summarize(samples[ceiling.name])
        if ceiling.bytes is not None:
            value = ceiling.bytes / st.median / 1e3        # B/µs → GB/s
        else:
            value = (ceiling.flops or 0) / st.median / 1e6   # FLOP/µs → TFLOP/s
        rows.append({"name": ceiling.name, "value": value, "unit": ceiling.unit, "median_us": st.median,
                     "min_us": st.min, "bytes": ceiling.bytes, "flops": ceiling.flops, "detail": ceiling.detail})
        print(f"ceilings  {ceiling.name}: {value:.6g} {ceiling.unit}", flush=True)
    return rows


# ----------------------------------------------------------------------------- operators

def make_op_calls(case: OpCase, device: Any) -> list[Callable[[], object]]:
    """One call per distinct copy of the operator's weights or KV cache, at the shapes of ``case``."""
    import torch
    import torch.nn.functional as F

    def randn(*shape: int) -> Any:
        return torch.randn(*shape, device=device, dtype=torch.float16)

    copies = range(case.n_copies)
    if case.op == "score":       # Q (g, M, d) · Kᵀ, the K cache stored (g, context, d) as the model keeps it
        q = randn(case.g, case.M, case.K)
        return [functools.partial(lambda q, k: torch.matmul(q, k.transpose(-1, -2)), q, randn(case.g, case.N, case.K))
                for _ in copies]
    if case.op == "context":     # P (g, M, context) · V (g, context, d)
        p = randn(case.g, case.M, case.K)
        return [functools.partial(torch.matmul, p, randn(case.g, case.K, case.N)) for _ in copies]
    x = randn(case.M, case.K)    # F.linear's weight is (out, in) = (N, K)
    return [functools.partial(F.linear, x, randn(case.N, case.K)) for _ in copies]


def measure_op(case: OpCase, device: Any, repeats: int) -> Row:
    import torch

    calls = make_op_calls(case, device)
    nodes = case.n_nodes

    def sequence() -> None:
        for i in range(nodes):
            calls[i % len(calls)]()

    sequence()
    torch.cuda.synchronize()
    single = summarize(time_cuda(calls, repeats, isolate=True))
    loop = summarize(time_cuda([sequence], repeats, per=nodes))
    graph = summarize(graph_samples(capture_graph(sequence), repeats, per=nodes))
    return {"eager_single_us": single.median, "eager_loop_us": loop.median, "graph_us": graph.median,
            "graph_min_us": graph.min, "graph_p25_us": graph.p25, "graph_p75_us": graph.p75,
            "graph_gbs": case.bytes / graph.median / 1e3, "graph_tflops": case.flops / graph.median / 1e6}


def measure_ops(cases: Sequence[OpCase], device: Any, repeats: int) -> list[Row]:
    rows = []
    for i, case in enumerate(cases, 1):
        row: Row = {"case": case.case, "batch": case.batch, "m": case.m, "context": case.context, "op": case.op,
                    "impl": case.impl, "g": case.g, "M": case.M, "K": case.K, "N": case.N,
                    "flops": float(case.flops), "bytes": float(case.bytes), "n_copies": case.n_copies,
                    "n_nodes": case.n_nodes}
        try:
            row.update(measure_op(case, device, repeats))
            note = f"graph {row['graph_us']:.2f} µs, {row['graph_gbs']:.0f} GB/s"
        except Exception as exc:  # an out-of-memory or unsupported shape costs one row, not the run
            row["error"] = _describe(exc)
            note = row["error"]
        _release()
        print(f"ops {i}/{len(cases)}  {case.case} batch={case.batch} m={case.m} {case.op}: {note}", flush=True)
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- whole decode steps

class MiniLlama:
    """A LLaMA-2-shaped decoder with random fp16 weights, written as eager PyTorch, for timing decode steps.

    Weights are scaled by 1/√fan-in and the KV cache so that scores and attention outputs keep unit variance:
    even the lean variant, which skips norms and softmax, then ends with finite logits.
    """

    def __init__(self, shape: ModelShape, layers: int, context: int, device: Any) -> None:
        import torch

        if shape.devices != 1 or shape.heads != shape.kv_heads:
            raise ValueError("MiniLlama models one device without grouped-query attention")
        self.shape, self.context, self.device = shape, context, device
        h, f = shape.hidden, shape.ffn

        def weight(out: int, inp: int) -> Any:
            return torch.randn(out, inp, device=device, dtype=torch.float16).mul_(inp**-0.5)

        def ones() -> Any:
            return torch.ones(h, device=device, dtype=torch.float16)

        self.layers = [{"wq": weight(h, h), "wk": weight(h, h), "wv": weight(h, h), "wo": weight(h, h),
                        "up": weight(f, h), "gate": weight(f, h), "down": weight(h, f),
                        "norm_attn": ones(), "norm_ffn": ones()} for _ in range(layers)]
        self.norm = ones()
        self.lm_head = weight(shape.vocab, h)
        self.k_cache: list[Any] = []
        self.v_cache: list[Any] = []
        self.batch = 0

    def reset_cache(self, batch: int) -> None:
        """A KV cache of ``context`` random tokens per request for ``batch`` requests.

        Refilled before every case: the rows a full step writes are not scaled down, and the lean variant's
        unnormalised scores would grow on them from layer to layer.
        """
        import torch

        if batch != self.batch:
            self.k_cache, self.v_cache, self.batch = [], [], 0
            _release()   # free the old cache before allocating the new one
            shape = (batch, self.shape.kv_heads, self.context, self.shape.head_dim)
            for _ in self.layers:
                self.k_cache.append(torch.empty(shape, device=self.device, dtype=torch.float16))
                self.v_cache.append(torch.empty(shape, device=self.device, dtype=torch.float16))
            self.batch = batch
        for kc, vc in zip(self.k_cache, self.v_cache, strict=True):
            kc.normal_(0.0, self.shape.head_dim**-0.5)
            vc.normal_(0.0, self.context**-0.5)

    def lean_step(self, x: Any) -> Any:
        """Only the costed operators, back to back; ``x`` is (batch·m, hidden).

        Q and the attention output are reinterpreted by ``view`` (no copy kernel): the values are not a real
        model's, but every kernel has the shape and bytes of workload/operators.py.
        """
        import torch
        import torch.nn.functional as F

        rows, h, d = x.shape[0], self.shape.hidden, self.shape.head_dim
        g = self.batch * self.shape.kv_heads
        for lw, kc, vc in zip(self.layers, self.k_cache, self.v_cache, strict=True):
            q = F.linear(x, lw["wq"])
            F.linear(x, lw["wk"])
            F.linear(x, lw["wv"])
            scores = torch.matmul(q.view(g, -1, d), kc.view(g, self.context, d).transpose(-1, -2))
            attn = torch.matmul(scores, vc.view(g, self.context, d))
            o = F.linear(attn.view(rows, h), lw["wo"])
            up = F.linear(o, lw["up"])
            F.linear(o, lw["gate"])
            x = F.linear(up, lw["down"])
        return F.linear(x, self.lm_head)

    def full_step(self, x: Any, cos: Any, sin: Any, mask: Any) -> Any:
        """A complete LLaMA decode step as eager PyTorch; ``x`` is (batch, m, hidden), the new tokens' rows
        are written to the last m positions of the cache and attend to all ``context`` of them."""
        import torch
        import torch.nn.functional as F

        batch, m, h = x.shape
        heads, d = self.shape.heads, self.shape.head_dim
        pos = self.context - m
        for lw, kc, vc in zip(self.layers, self.k_cache, self.v_cache, strict=True):
            r = rms_norm(x, lw["norm_attn"])
            q = F.linear(r, lw["wq"]).view(batch, m, heads, d).transpose(1, 2)
            k = F.linear(r, lw["wk"]).view(batch, m, heads, d).transpose(1, 2)
            v = F.linear(r, lw["wv"]).view(batch, m, heads, d).transpose(1, 2)
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
            kc[:, :, pos:] = k
            vc[:, :, pos:] = v
            attn = F.scaled_dot_product_attention(q, kc, vc, attn_mask=mask)
            x = x + F.linear(attn.transpose(1, 2).reshape(batch, m, h), lw["wo"])
            r = rms_norm(x, lw["norm_ffn"])
            x = x + F.linear(F.silu(F.linear(r, lw["gate"])) * F.linear(r, lw["up"]), lw["down"])
        logits = F.linear(rms_norm(x, self.norm), self.lm_head)
        return logits, torch.argmax(logits, dim=-1)

    def rope_tables(self, m: int) -> tuple[Any, Any]:
        """cos and sin, (1, 1, m, head_dim), for positions context−m … context−1."""
        import torch

        d = self.shape.head_dim
        inv_freq = 1.0 / ROPE_THETA ** (torch.arange(0, d, 2, device=self.device, dtype=torch.float32) / d)
        positions = torch.arange(self.context - m, self.context, device=self.device, dtype=torch.float32)
        freqs = torch.outer(positions, inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().half()[None, None], emb.sin().half()[None, None]

    def causal_mask(self, m: int) -> Any:
        """None for one token; else new token i sees cache positions ≤ context − m + i."""
        import torch

        if m == 1:
            return None
        cols = torch.arange(self.context, device=self.device)
        rows = torch.arange(self.context - m, self.context, device=self.device)
        return cols[None, :] <= rows[:, None]


def rms_norm(x: Any, weight: Any) -> Any:
    """LLaMA's RMSNorm as Hugging Face writes it: eight eager kernels."""
    import torch

    xf = x.float()
    variance = xf.pow(2).mean(-1, keepdim=True)
    xf = xf * torch.rsqrt(variance + RMS_EPS)
    return weight * xf.half()


def rotate_half(x: Any) -> Any:
    import torch

    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(x: Any, cos: Any, sin: Any) -> Any:
    return x * cos + rotate_half(x) * sin


def measure_step(model: MiniLlama, case: StepCase, repeats: int) -> Row:
    import torch

    x = torch.randn(case.batch, case.m, model.shape.hidden, device=model.device, dtype=torch.float16)
    outputs: dict[str, Any] = {}
    if case.variant == "lean":
        flat = x.view(case.batch * case.m, model.shape.hidden)

        def step() -> None:
            outputs["logits"] = model.lean_step(flat)
    else:
        cos, sin = model.rope_tables(case.m)
        mask = model.causal_mask(case.m)

        def step() -> None:
            outputs["logits"], outputs["tokens"] = model.full_step(x, cos, sin, mask)

    for _ in range(WARMUP):
        step()
    torch.cuda.synchronize()
    eager = summarize(time_cuda([step], repeats))
    graph_obj = capture_graph(step)   # the capture is step()'s last call: outputs now hold the graph's tensors
    graph = summarize(graph_samples(graph_obj, repeats, per=1))
    ok = bool(torch.isfinite(outputs["logits"]).all().item())
    del graph_obj
    return {"eager_us": eager.median, "eager_min_us": eager.min, "graph_us": graph.median,
            "graph_min_us": graph.min, "graph_p25_us": graph.p25, "graph_p75_us": graph.p75, "ok": ok}


def measure_steps(cases: Sequence[StepCase], device: Any, repeats: int) -> list[Row]:
    rows: list[Row] = []
    model: MiniLlama | None = None
    failure = ""
    try:
        model = MiniLlama(LLAMA2_7B, LLAMA2_7B.layers, STEP_CONTEXT, device)
    except Exception as exc:  # the 13 GB of weights may not fit: every step row says why
        failure = _describe(exc)
    if model is None:
        _release()
    for case in cases:
        row: Row = {"impl": STEP_IMPL, "variant": case.variant, "batch": case.batch, "m": case.m,
                    "context": case.context, "layers": case.layers}
        try:
            if model is None:
                raise RuntimeError(failure)
            model.reset_cache(case.batch)
            row.update(measure_step(model, case, repeats))
            note = f"graph {row['graph_us'] / 1e3:.3f} ms, eager {row['eager_us'] / 1e3:.3f} ms, ok {row['ok']}"
        except Exception as exc:  # e.g. the KV cache of batch 16 does not fit beside the weights
            row.update(ok=False, error=_describe(exc))
            note = row["error"]
            if model is not None:
                model.batch = 0   # a failed allocation may have left the cache partial: make it anew
        _release()
        print(f"steps  {case.variant} batch={case.batch} m={case.m}: {note}", flush=True)
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- power, environment

def read_idle_power(device_index: int) -> list[Row]:
    """Board power from nvidia-smi, read once before any measurement; no row where it cannot be read."""
    exe = shutil.which(POWER_QUERY[0])
    if exe is None:
        print("note: nvidia-smi not found; power.csv has no reading", flush=True)
        return []
    try:
        out = subprocess.run([exe, *POWER_QUERY[1:]], capture_output=True, text=True, timeout=30, check=True).stdout
        lines = [line.strip() for line in out.splitlines() if line.strip()]
        # nvidia-smi lists every GPU in PCI order; with one visible GPU there is no ambiguity.
        index = 0 if len(lines) == 1 else device_index
        value = float(lines[index])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        print(f"note: nvidia-smi gave no power reading ({_describe(exc)}); power.csv has none", flush=True)
        return []
    detail = "nvidia-smi power.draw at the start, before any measurement"
    if len(lines) > 1:
        detail += f"; GPU {index} of {len(lines)} in nvidia-smi's order"
    return [{"name": "idle_power_w", "value": value, "unit": "W", "detail": detail}]


def environment(device: Any, args: argparse.Namespace) -> list[Row]:
    import torch

    props = torch.cuda.get_device_properties(device)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    facts = {"gpu": props.name, "compute_capability": f"{props.major}.{props.minor}",
             "memory_gib": f"{props.total_memory / GIB:.1f}", "torch": torch.__version__,
             "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(), "date": now,
             "repeats": args.repeats, "quick": args.quick, "command": " ".join(sys.argv)}
    return [{"name": k, "value": v} for k, v in facts.items()]


# ----------------------------------------------------------------------------- specpim glue

def fit_host(out: Path, host_preset: str, memory_preset: str) -> int:
    """Write host.yaml with specpim's calibration where this specpim has it; the exit code."""
    try:
        from specpim.costs.calibration import calibrate
    except ImportError as exc:
        print(f"note: specpim's calibration is not available here ({exc}); "
              f"run `python -m specpim.costs.calibration {out}` later to write host.yaml", flush=True)
        return 0
    try:
        host = calibrate(out, host_preset=host_preset, memory_preset=memory_preset)
        write_atomic(out / "host.yaml", host.to_yaml())
    except Exception as exc:  # the measurements are kept; the fit can be rerun on them
        print(f"{PROG}: error: fitting host.yaml failed ({_describe(exc)}); the measurements in {out} are kept",
              file=sys.stderr)
        return 1
    print(f"wrote {out / 'host.yaml'}; use it as  system: {{preset: h100-sxm-gpu, host: {{file: {out}/host.yaml}}}}")
    return 0


# ----------------------------------------------------------------------------- command line

def load_torch(device_name: str) -> Any:
    """The CUDA device to measure; HarnessError where PyTorch or CUDA is missing."""
    try:
        import torch
    except Exception as exc:  # ImportError, or a broken install failing to load its libraries
        raise HarnessError(f"a real run needs PyTorch with CUDA; `import torch` failed ({_describe(exc)})") from None
    try:
        device = torch.device(device_name)
    except RuntimeError as exc:
        raise HarnessError(f"--device {device_name!r}: {_describe(exc)}") from None
    if device.type != "cuda":
        raise HarnessError(f"--device {device_name!r} is not a CUDA device")
    if not torch.cuda.is_available():
        raise HarnessError(f"CUDA is not available to PyTorch {torch.__version__} (no NVIDIA GPU or driver?)")
    index = device.index if device.index is not None else 0
    if index >= torch.cuda.device_count():
        raise HarnessError(f"--device {device_name!r}: only {torch.cuda.device_count()} CUDA device(s)")
    return torch.device("cuda", index)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Measure this machine's NVIDIA GPU (bandwidth and GEMM ceilings, per-operator and "
        "whole-step decode timings) for calibrating specpim's host model.",
        epilog="Then use the fit in an instance: system: {preset: h100-sxm-gpu, host: {file: DIR/host.yaml}}")
    parser.add_argument("--out", type=Path, metavar="DIR", help="folder for the CSVs and host.yaml (needed for a "
                        "real run; must be empty or new unless --force)")
    parser.add_argument("--force", action="store_true", help="write into a non-empty --out folder")
    parser.add_argument("--repeats", type=_positive_int, default=20, metavar="N",
                        help="repetitions per figure, after warm-up; the median is reported (default 20)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer operator cases: llama2-7b only, batch 1 and 16, m 1 and 5")
    parser.add_argument("--device", default="cuda:0", help="CUDA device to measure (default cuda:0)")
    parser.add_argument("--dry-run", action="store_true", help="list the measurements and exit; needs no PyTorch")
    parser.add_argument("--host-preset", default="h100-sxm-datasheet",
                        help="host preset the calibration starts from (default h100-sxm-datasheet)")
    parser.add_argument("--memory-preset", default="hbm3-h100-sxm-datasheet",
                        help="memory preset the calibration starts from (default hbm3-h100-sxm-datasheet)")
    return parser.parse_args(argv)


def fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = make_plan(args.quick)
    if args.dry_run:
        print_plan(plan, args)
        return 0
    if args.out is None:
        return fail("--out DIR is needed for a real run (or list the measurements with --dry-run)")
    out: Path = args.out
    try:
        check_out_dir(out, args.force)
        device = load_torch(args.device)
    except HarnessError as exc:
        return fail(str(exc))
    import torch

    out.mkdir(parents=True, exist_ok=True)
    with torch.cuda.device(device):
        write_csv(out / "power.csv", POWER_COLUMNS, read_idle_power(device.index))   # before the GPU warms up
        write_csv(out / "environment.csv", ENV_COLUMNS, environment(device, args))
        # Each file is written as soon as its part is done: a later failure keeps the earlier parts.
        write_csv(out / "ceilings.csv", CEILING_COLUMNS, measure_ceilings(device, args.repeats))
        write_csv(out / "ops.csv", OPS_COLUMNS, measure_ops(plan.ops, device, args.repeats))
        write_csv(out / "steps.csv", STEPS_COLUMNS, measure_steps(plan.steps, device, args.repeats))
    return fit_host(out, args.host_preset, args.memory_preset)


if __name__ == "__main__":
    sys.exit(main())
