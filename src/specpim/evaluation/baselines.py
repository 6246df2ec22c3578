"""Reference designs scored by the same cost model as the optimum.

* host_ar — autoregressive decoding, everything on the host;
* host_sd — speculative decoding on the host alone (GPU speculative inference),
  at its best γ from the instance's list;
* attacc_ar / attacc_sd — the fixed AttAcc-style mapping: attention (QKᵀ and
  score·V) on PIM with every PIM channel its model has, fully-connected layers
  and the LM head on the host, operators one per tier; the best PIM option,
  channel count, split and γ the design space allows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from specpim.core.enums import Engine, Metric, Phase
from specpim.core.errors import InstanceError
from specpim.costs.protocol import CostModel
from specpim.problem.instance import Instance
from specpim.problem.mapping import Architecture, Mapping, Placement
from specpim.workload.operators import Operator, OpKind
from specpim.workload.speculation import Speculation

from .evaluator import Metrics, evaluate

DESCRIPTIONS = {
    "host_ar": "host only, autoregressive",
    "host_sd": "host only, speculative (GPU speculative inference)",
    "attacc_ar": "AttAcc-style: attention on PIM, FC on host, autoregressive",
    "attacc_sd": "AttAcc-style: attention on PIM, FC on host, speculative",
}


@dataclass(frozen=True)
class Baseline:
    name: str
    description: str
    metrics: Metrics | None
    mapping: Mapping | None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description,
                "metrics": self.metrics.to_dict() if self.metrics else None,
                "architecture": self.mapping.architecture.to_dict() if self.mapping else None,
                "reason": self.reason}


def _fixed_mapping(inst: Instance, arch: Architecture, on_pim: Callable[[Operator], bool]) -> Mapping:
    """One operator per tier; ``on_pim`` operators on every PIM channel of their model."""
    phases = {}
    partition = inst.design_space.partitioned
    for p in inst.phases(arch.draft_len):
        work = inst.phase(p, arch.draft_len)
        budget = (arch.draft_channels if p == Phase.DRAFT else arch.target_channels) if partition \
            else arch.pim_channels
        start = arch.draft_channels if partition and p == Phase.VERIFY else 0
        ops = {}
        for tier, op in enumerate(work.layer_ops):
            pim = on_pim(op) and budget > 0
            ops[op.name] = Placement(Engine.PIM, budget, tier, start) if pim else Placement(Engine.HOST, 0, tier)
        ops[work.head.name] = Placement(Engine.HOST, 0, None)
        phases[p] = ops
    return Mapping(arch, phases)


def _best(inst: Instance, model: CostModel, candidates: Iterable[Mapping]) -> tuple[Metrics | None, Mapping | None,
                                                                                    str | None]:
    best: tuple[Metrics, Mapping] | None = None
    reason = None
    for mapping in candidates:
        try:
            m = evaluate(inst, mapping, model)
        except InstanceError as exc:
            reason = str(exc)
            continue
        if best is None or _score(m) < _score(best[0]):
            best = (m, mapping)
    if best is None:
        return None, None, reason or "no design of this kind exists in the design space"
    return best[0], best[1], None


def _score(m: Metrics) -> float:
    """Smaller is better, in the instance's own objective."""
    return -m.objective if m.metric == Metric.THROUGHPUT else m.objective


def _attacc_candidates(inst: Instance) -> Iterator[Mapping]:
    ds = inst.design_space
    for name in ds.pim_options:
        option = inst.system.pim_option(name)
        for n in ds.allowed_counts(option, inst.system):
            for g in inst.draft_lens:
                # AttAcc offloads the target's attention: the target keeps PIM channels.
                for d, t in (s for s in ds.splits(n, inst.speculative) if s[1] > 0):
                    yield _fixed_mapping(inst, Architecture(name, n, d, t, g), lambda op: op.kind == OpKind.ATTENTION)


def compute_baselines(inst: Instance, cost_model: CostModel) -> dict[str, Baseline]:
    ar = replace(inst, draft=None, speculation=Speculation((0,), 1.0),
                 design_space=replace(inst.design_space, include_no_pim=True))
    sd = replace(inst, design_space=replace(inst.design_space, include_no_pim=True))
    host_only = lambda i, g: _fixed_mapping(i, Architecture(None, 0, 0, 0, g), lambda op: False)
    runs = {"host_ar": _best(ar, cost_model, [host_only(ar, 0)])}
    if inst.speculative:
        runs["host_sd"] = _best(sd, cost_model, [host_only(sd, g) for g in sd.draft_lens])
    if inst.design_space.pim_options:
        runs["attacc_ar"] = _best(ar, cost_model, _attacc_candidates(ar))
        if inst.speculative:
            runs["attacc_sd"] = _best(sd, cost_model, _attacc_candidates(sd))
    return {k: Baseline(k, DESCRIPTIONS[k], m, mp, r) for k, (m, mp, r) in runs.items()}
