"""Per-phase operators of a decoder layer, with their GEMM shapes and bytes.

Every quantity is per device: with tensor parallelism over ``devices``
devices, column-parallel layers (Q, K, V, FFN up/gate, LM head) split their
output columns, row-parallel layers (O, FFN down) split their input rows and
attention splits its KV heads.  Element-wise operations (norms, softmax,
residual adds, activation functions) always run on the host; their kernels
are listed in workload/elementwise.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from specpim.core.enums import Phase

from .dag import LayerDag
from .elementwise import ElementwiseOp, layer_elementwise, softmax_on_host, step_elementwise
from .models import ModelConfig

if TYPE_CHECKING:
    import networkx as nx


class OpKind(StrEnum):
    FC = "fc"                 # a weight GEMM/GEMV
    ATTENTION = "attention"   # a batched GEMM over the KV cache


FC, ATTENTION = OpKind.FC, OpKind.ATTENTION

LM_HEAD = "lm_head"


@dataclass(frozen=True)
class Operator:
    """One GEMM-like operator of one phase, per device.

    The shape is a batched GEMM: ``batch`` independent (m × k) · (k × n)
    products.  Bytes are what one execution moves: ``weight_bytes`` and
    ``kv_bytes`` are read from memory, ``act_in_bytes``/``act_out_bytes``
    are the activations in and out.  ``resident_bytes`` is what must stay
    in the memory that holds the operator: its weights plus its KV cache at
    the longest context.
    """

    name: str
    kind: OpKind
    batch: float
    m: float
    k: float
    n: float
    weight_bytes: float
    kv_bytes: float
    act_in_bytes: float
    act_out_bytes: float
    resident_bytes: float
    broadcast_input: bool
    softmax_first: bool = False     # the attention softmax runs between this operator and its input

    @property
    def flops(self) -> float:
        return 2.0 * self.batch * self.m * self.k * self.n

    @property
    def memory_bytes(self) -> float:
        return self.weight_bytes + self.kv_bytes

    @property
    def intensity(self) -> float:
        """FLOPs per byte read from memory (weights + KV cache)."""
        return self.flops / self.memory_bytes


@dataclass(frozen=True)
class PhaseWorkload:
    """What one step of one phase executes on one device.

    ``layer_ops`` run once per layer, in the order of ``edges`` (a DAG over
    their names); ``head`` runs once per step.  ``allreduce_bytes`` is the
    activation size all-reduced twice per layer under tensor parallelism.
    ``layer_elementwise`` and ``step_elementwise`` are the host's element-wise
    work per layer and per step (workload/elementwise.py); ``softmax`` is what
    the host runs between QKᵀ and score·V when score·V is offloaded to PIM
    units without a softmax unit.
    """

    phase: Phase
    model: ModelConfig
    tokens: int
    layers: int
    layer_ops: tuple[Operator, ...]
    head: Operator
    edges: tuple[tuple[str, str], ...]
    allreduce_bytes: float
    gather_bytes: float
    layer_elementwise: tuple[ElementwiseOp, ...] = ()
    step_elementwise: tuple[ElementwiseOp, ...] = ()
    softmax: ElementwiseOp | None = None

    @property
    def resident_bytes(self) -> float:
        """Bytes of every operator of the model on one device: all layers and the LM head."""
        return self.layers * sum(o.resident_bytes for o in self.layer_ops) + self.head.resident_bytes

    def op(self, name: str) -> Operator:
        for o in self.all_ops:
            if o.name == name:
                return o
        raise KeyError(name)

    @property
    def all_ops(self) -> tuple[Operator, ...]:
        return self.layer_ops + (self.head,)

    @property
    def dag(self) -> LayerDag:
        """The layer DAG (workload/dag.py answers the formulation's questions about it)."""
        return LayerDag(tuple(o.name for o in self.layer_ops), self.edges)

    def graph(self) -> nx.DiGraph:
        """The layer DAG as a networkx graph (imported only when asked for)."""
        import networkx as nx

        g = nx.DiGraph()
        g.add_nodes_from(o.name for o in self.layer_ops)
        g.add_edges_from(self.edges)
        return g


def _fc(name: str, rows: float, k: float, n: float, dt: int) -> Operator:
    weights = k * n * dt
    return Operator(
        name=name, kind=FC, batch=1.0, m=rows, k=k, n=n,
        weight_bytes=weights, kv_bytes=0.0,
        act_in_bytes=rows * k * dt, act_out_bytes=rows * n * dt,
        resident_bytes=weights, broadcast_input=True,
    )


def _attention(name: str, groups: float, m: float, k: float, n: float, cache_bytes: float,
               resident_cache_bytes: float, dt: int, softmax_first: bool = False) -> Operator:
    return Operator(
        name=name, kind=ATTENTION, batch=groups, m=m, k=k, n=n,
        weight_bytes=0.0, kv_bytes=cache_bytes,
        act_in_bytes=groups * m * k * dt, act_out_bytes=groups * m * n * dt,
        resident_bytes=resident_cache_bytes, broadcast_input=False, softmax_first=softmax_first,
    )


def layer_edges(gated: bool) -> tuple[tuple[str, str], ...]:
    edges = [("q", "score"), ("k", "score"), ("score", "context"), ("v", "context"),
             ("context", "o"), ("o", "ffn_up"), ("ffn_up", "ffn_down")]
    if gated:
        edges += [("o", "ffn_gate"), ("ffn_gate", "ffn_down")]
    return tuple(edges)


def phase_workload(phase: Phase, model: ModelConfig, *, batch: int, tokens: int,
                   context: float, max_context: float, devices: int) -> PhaseWorkload:
    """Operators of one step in which each of ``batch`` requests processes
    ``tokens`` new tokens against ``context`` cached tokens (``max_context``
    sizes the resident KV cache)."""
    dt = model.dtype_bytes
    h, hd, d = model.hidden, model.head_dim, float(devices)
    rows = float(batch * tokens)
    kv_dim = model.kv_heads * hd
    groups = batch * model.kv_heads / d          # (request, KV head) pairs per device
    q_per_kv = tokens * model.heads // model.kv_heads  # query rows per KV head (GQA)
    cache = groups * context * hd * dt            # one of K or V, per device
    resident_cache = groups * max_context * hd * dt
    ops = [
        _fc("q", rows, h, h / d, dt),
        _fc("k", rows, h, kv_dim / d, dt),
        _fc("v", rows, h, kv_dim / d, dt),
        _attention("score", groups, q_per_kv, hd, context, cache, resident_cache, dt),
        _attention("context", groups, q_per_kv, context, hd, cache, resident_cache, dt, softmax_first=True),
        _fc("o", rows, h / d, h, dt),
        _fc("ffn_up", rows, h, model.ffn / d, dt),
    ]
    if model.gated_ffn:
        ops.append(_fc("ffn_gate", rows, h, model.ffn / d, dt))
    ops.append(_fc("ffn_down", rows, model.ffn / d, h, dt))
    head = _fc(LM_HEAD, rows, h, model.vocab / d, dt)
    return PhaseWorkload(
        phase=phase, model=model, tokens=tokens, layers=model.layers,
        layer_ops=tuple(ops), head=head, edges=layer_edges(model.gated_ffn),
        allreduce_bytes=rows * h * dt, gather_bytes=rows * model.vocab * dt,
        layer_elementwise=layer_elementwise(model, batch=batch, tokens=tokens, devices=devices),
        step_elementwise=step_elementwise(model, batch=batch, tokens=tokens),
        softmax=softmax_on_host(model, elements=groups * q_per_kv * context, tokens=tokens),
    )
