"""Element-wise work of a decoder layer and of a decode step, as kernels.

The GEMM-like operators (workload/operators.py) are what the solver places;
around them every layer also runs normalisations, rotary embeddings, the
KV-cache write, residual adds and the FFN activation, and every step an
embedding lookup, a final norm and the sampling.  They always run on the
host (SpecPIM merges them into the host side), on the critical path between
tiers, so each costs its kernels' fixed times plus its bytes over the host's
element-wise bandwidth (costs/roofline.py).

Each :class:`ElementwiseOp` is one operation of the model's PyTorch code with
``kernels`` kernels when run eagerly (one per primitive; an RMSNorm written
as in Hugging Face's LLaMA is eight) and the bytes those kernels read and
write together.  Per device, under tensor parallelism over D devices: norms
and residual adds work on the whole hidden vector, RoPE, the KV-cache write
and the FFN activation on the device's share.  Activations are in the
model's dtype (s bytes); RMSNorm computes in fp32 (4 bytes).  The kernel
lists were checked against measured decode steps of LLaMA-2-7B on an H100
(docs/validation.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import ModelConfig

FP32 = 4


@dataclass(frozen=True)
class ElementwiseOp:
    """One element-wise operation: its eager kernel count and the bytes they move."""

    name: str
    kernels: int
    bytes: float


def _rmsnorm(name: str, r: float, h: float, s: int) -> ElementwiseOp:
    # x.float(), pow(2), mean(-1), +eps, rsqrt, x*rstd, .to(dtype), *weight
    f = FP32
    moved = ((s + f) * r * h + 2 * f * r * h + (f * r * h + f * r) + 2 * f * r + 2 * f * r
             + (2 * f * r * h + f * r) + (f + s) * r * h + (2 * s * r * h + s * h))
    return ElementwiseOp(name, 8, moved)


def _layernorm(name: str, r: float, h: float, s: int) -> ElementwiseOp:
    # torch's layer_norm is one fused kernel: read x, weight and bias, write y
    return ElementwiseOp(name, 1, 2 * s * r * h + 2 * s * h)


def _rope(name: str, r: float, width: float, head_dim: float, s: int) -> ElementwiseOp:
    # rotate_half form: x*cos, neg(x2), cat, rotated*sin, add
    moved = (2 * s * r * width + s * r * head_dim) * 2 + s * r * width + 2 * s * r * width + 3 * s * r * width
    return ElementwiseOp(name, 5, moved)


def layer_elementwise(model: ModelConfig, *, batch: int, tokens: int, devices: int) -> tuple[ElementwiseOp, ...]:
    """The element-wise operations of one layer of one step."""
    s = model.dtype_bytes
    r = float(batch * tokens)
    h, d = float(model.hidden), float(devices)
    kv_local = model.kv_heads * model.head_dim / d
    q_local = h / d
    ffn_local = model.ffn / d
    ops: list[ElementwiseOp] = []
    if model.gated_ffn:   # LLaMA family: RMSNorm, rotary embeddings, SwiGLU
        ops += [_rmsnorm("attention_norm", r, h, s), _rope("rope_q", r, q_local, model.head_dim, s),
                _rope("rope_k", r, kv_local, model.head_dim, s)]
    else:                 # OPT family: LayerNorm, learned positions (added once per step), ReLU
        ops += [_layernorm("attention_norm", r, h, s), ElementwiseOp("q_scale", 1, 2 * s * r * q_local)]
    ops += [ElementwiseOp("kv_write_k", 1, 2 * s * r * kv_local), ElementwiseOp("kv_write_v", 1, 2 * s * r * kv_local)]
    if tokens > 1:        # the attention output of several tokens per request is transposed by a copy
        ops.append(ElementwiseOp("attention_transpose", 1, 2 * s * r * q_local))
    ops.append(ElementwiseOp("residual_attention", 1, 3 * s * r * h))
    if model.gated_ffn:
        ops += [_rmsnorm("ffn_norm", r, h, s), ElementwiseOp("silu", 1, 2 * s * r * ffn_local),
                ElementwiseOp("gate_mul", 1, 3 * s * r * ffn_local)]
    else:
        ops += [_layernorm("ffn_norm", r, h, s), ElementwiseOp("relu", 1, 2 * s * r * ffn_local)]
    ops.append(ElementwiseOp("residual_ffn", 1, 3 * s * r * h))
    return tuple(ops)


def step_elementwise(model: ModelConfig, *, batch: int, tokens: int) -> tuple[ElementwiseOp, ...]:
    """The element-wise operations of one step outside the layers: embedding
    lookup, positions, the final norm and greedy sampling over the whole
    (gathered) vocabulary."""
    s = model.dtype_bytes
    r = float(batch * tokens)
    h = float(model.hidden)
    ops = [ElementwiseOp("embedding", 1, 2 * s * r * h)]
    if model.gated_ffn:
        ops += [ElementwiseOp("rope_cos", 1, 2 * s * r * model.head_dim),
                ElementwiseOp("rope_sin", 1, 2 * s * r * model.head_dim), _rmsnorm("final_norm", r, h, s)]
    else:
        ops += [ElementwiseOp("positions", 1, 2 * s * r * h), ElementwiseOp("add_positions", 1, 3 * s * r * h),
                _layernorm("final_norm", r, h, s)]
    ops.append(ElementwiseOp("argmax", 1, s * r * model.vocab))
    return tuple(ops)


def softmax_on_host(model: ModelConfig, *, elements: float, tokens: int) -> ElementwiseOp:
    """The attention softmax as the host runs it between QKᵀ and score·V when
    score·V is offloaded: scale, to fp32, softmax, back (and the causal mask
    when a request verifies several tokens)."""
    s = model.dtype_bytes
    moved = 2 * s * elements + (s + FP32) * elements + 2 * FP32 * elements + (FP32 + s) * elements
    kernels = 4
    if tokens > 1:
        moved += 3 * s * elements
        kernels += 1
    return ElementwiseOp("softmax", kernels, moved)
