"""Reference designs scored by the same cost model as the optimum.

* host_ar — autoregressive decoding, everything on the host;
* host_sd — speculative decoding on the host alone (GPU speculative inference),
  at its best γ from the instance's list;
* attacc_ar / attacc_sd — the fixed AttAcc-style mapping: attention (QKᵀ and
  score·V) on PIM with every PIM channel its model has, fully-connected layers
  and the LM head on the host, operators one per tier; the best PIM option,
  channel count, split and γ the design space allows.

The AttAcc designs are screened with numpy from the cost tables (every
option, channel count, γ and split, with the capacity rules), and the best is
then scored by the evaluator, which has the last word: a design it refuses is
dropped and the next best scored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from specpim.core.deadline import Deadline, OutOfTime
from specpim.core.enums import Engine, MemoryModel, Metric, Phase
from specpim.core.errors import InstanceError
from specpim.costs.protocol import CostModel
from specpim.costs.tables import CostTable, InstanceTables
from specpim.problem.instance import Instance
from specpim.problem.mapping import Architecture, Mapping, Placement
from specpim.workload.operators import Operator, OpKind, PhaseWorkload
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


def _best(inst: Instance, model: CostModel, candidates: Iterable[Mapping], *,
          first: bool = False) -> tuple[Metrics | None, Mapping | None, str | None]:
    """The best candidate the evaluator accepts (``first``: candidates come
    best first, so the first accepted one)."""
    best: tuple[Metrics, Mapping] | None = None
    reason = None
    for mapping in candidates:
        try:
            m = evaluate(inst, mapping, model)
        except InstanceError as exc:
            reason = str(exc)
            continue
        if bound_missed(inst, m):
            reason = "misses the latency bound"
            continue
        if best is None or _score(m) < _score(best[0]):
            best = (m, mapping)
        if first:
            break
    if best is None:
        return None, None, reason or "no design of this kind exists in the design space"
    return best[0], best[1], None


def bound_missed(inst: Instance, m: Metrics) -> bool:
    return not (m.latency_bound_met and m.energy_bound_met)


def _score(m: Metrics) -> float:
    """Smaller is better, in the instance's own objective."""
    return -m.objective if m.metric == Metric.THROUGHPUT else m.objective


def _attention(op: Operator) -> bool:
    return op.kind == OpKind.ATTENTION


@dataclass(frozen=True)
class _AttentionSums:
    """One cost table summed the AttAcc way: per layer, the operators other
    than attention on the host, attention on the host or on PIM (per channel
    count of the table)."""

    host_t: float
    host_e: float
    att_host_t: float
    att_host_e: float
    att_pim_t: np.ndarray
    att_pim_e: np.ndarray
    need: float          # the largest attention operator's bytes, all layers
    resident: float      # every attention operator's bytes, all layers


def _attention_sums(table: CostTable, work: PhaseWorkload) -> _AttentionSums:
    att = np.array([_attention(o) for o in work.layer_ops])
    sizes = [work.layers * o.resident_bytes for o in work.layer_ops if _attention(o)]
    return _AttentionSums(float(table.host_time[:-1][~att].sum()), float(table.host_energy[:-1][~att].sum()),
                          float(table.host_time[:-1][att].sum()), float(table.host_energy[:-1][att].sum()),
                          table.pim_time[:-1][att].sum(axis=0), table.pim_energy[:-1][att].sum(axis=0),
                          max(sizes, default=0.0), float(sum(sizes)))


def _attacc_screen(inst: Instance, model: CostModel, deadline: Deadline) -> Iterator[Architecture]:
    """Every AttAcc-style design the space allows that meets the capacity
    rules and the latency bound, best first, priced from the cost tables
    (vectorised over the draft/target splits)."""
    ds, system = inst.design_space, inst.system
    tables = InstanceTables(inst, model)
    mem = system.memory
    cap, n_all = mem.channel_capacity_bytes, mem.channels
    limit = cap * (1 + 1e-6)
    striped = system.memory_model == MemoryModel.STRIPED
    energy_metric = inst.objective.metric == Metric.ENERGY
    bound = inst.objective.latency_bound if energy_metric else None
    sums: dict[int, _AttentionSums] = {}
    keep: list[CostTable] = []          # the tables the ids in ``sums`` refer to
    values, rows = [], []               # per kept split: its objective, and (option, n, draft, target, γ)
    for o, name in enumerate(ds.pim_options):
        deadline.check()
        option = system.pim_option(name)
        for n in ds.allowed_counts(option, system):
            static = system.static_power(option, n)
            # AttAcc offloads the target's attention: the target keeps PIM channels.
            splits = np.array([s for s in ds.splits(n, inst.speculative) if s[1] > 0], dtype=int).reshape(-1, 2)
            for g in inst.draft_lens:
                total = inst.memory_need(g)
                ok = np.ones(len(splits), dtype=bool)
                time, energy, pim_bytes, load = {}, {}, {}, {}
                for p in inst.phases(g):
                    work, table = tables.work(p, g), tables.table(p, option, g, n)
                    if id(table) not in sums:
                        sums[id(table)] = _attention_sums(table, work)
                        keep.append(table)
                    a = sums[id(table)]
                    budget = splits[:, 0] if p == Phase.DRAFT else splits[:, 1]
                    on = budget > 0
                    col = np.minimum(np.searchsorted(table.channels, budget), max(len(table.channels) - 1, 0))
                    listed = table.channels[col] == budget if len(table.channels) else np.zeros(len(budget), bool)
                    ok &= ~on | (listed & (a.need <= budget * limit))
                    att_t = np.where(on, a.att_pim_t[col] if len(table.channels) else 0.0, a.att_host_t)
                    att_e = np.where(on, a.att_pim_e[col] if len(table.channels) else 0.0, a.att_host_e)
                    L = work.layers
                    time[p] = (L * (a.host_t + att_t + table.layer_const_time) + table.host_time[-1]
                               + table.step_const_time)
                    energy[p] = (L * (a.host_e + att_e + table.layer_const_energy) + table.host_energy[-1]
                                 + table.step_const_energy) * system.devices
                    pim_bytes[p] = np.where(on, a.resident, 0.0)
                    load[p] = np.where(on, a.resident / np.maximum(budget, 1), 0.0)
                e_tok = inst.expected_tokens(g)
                steps = {Phase.DRAFT: g, Phase.VERIFY: 1}
                latency = sum(steps[p] * time[p] for p in time) / e_tok
                joules = (sum(steps[p] * energy[p] for p in energy) + static * system.devices * latency * e_tok) \
                    / (inst.workload.batch * e_tok)
                in_pim = sum(pim_bytes.values())
                if striped:
                    share = (total - in_pim) / n_all
                    ok &= share <= limit
                    if ds.partitioned:
                        ok &= np.all([load[p] + share <= limit for p in load], axis=0)
                    else:
                        ok &= sum(load.values()) + share <= limit
                else:
                    ok &= total - in_pim <= (n_all - n) * limit
                    ok &= (np.all([load[p] <= limit for p in load], axis=0) if ds.partitioned
                           else sum(load.values()) <= limit)
                if bound is not None:
                    ok &= latency <= bound * (1 + 1e-9)
                value = np.broadcast_to(joules if energy_metric else latency, ok.shape)
                values.append(value[ok])
                picked = splits[ok]
                rows.append(np.column_stack([np.full(len(picked), o), np.full(len(picked), n), picked,
                                             np.full(len(picked), g)]))
    if not values:
        return
    value = np.concatenate(values)
    row = np.concatenate(rows)
    for j in np.argsort(value, kind="stable"):     # best first; ties in the order found
        o, n, d, t, g = (int(x) for x in row[j])
        yield Architecture(ds.pim_options[o], n, d, t, g)


def _attacc_candidates(inst: Instance, model: CostModel, deadline: Deadline) -> Iterator[Mapping]:
    for arch in _attacc_screen(inst, model, deadline):
        yield _fixed_mapping(inst, arch, _attention)


def compute_baselines(inst: Instance, cost_model: CostModel, deadline: Deadline | None = None) -> dict[str, Baseline]:
    """The baselines of ``inst``; those not done when ``deadline`` passes are
    reported as skipped."""
    deadline = deadline or Deadline.none()
    ar = replace(inst, draft=None, speculation=Speculation((0,), 1.0),
                 design_space=replace(inst.design_space, include_no_pim=True))
    sd = replace(inst, design_space=replace(inst.design_space, include_no_pim=True))

    def host_only(i: Instance, g: int) -> Mapping:
        return _fixed_mapping(i, Architecture(None, 0, 0, 0, g), lambda op: False)

    jobs: dict[str, Callable[[], tuple[Metrics | None, Mapping | None, str | None]]] = {
        "host_ar": lambda: _best(ar, cost_model, [host_only(ar, 0)])}
    if inst.speculative:
        jobs["host_sd"] = lambda: _best(sd, cost_model, [host_only(sd, g) for g in sd.draft_lens])
    if inst.design_space.pim_options:
        jobs["attacc_ar"] = lambda: _best(ar, cost_model, _attacc_candidates(ar, cost_model, deadline), first=True)
        if inst.speculative:
            jobs["attacc_sd"] = lambda: _best(sd, cost_model, _attacc_candidates(sd, cost_model, deadline),
                                              first=True)
    out = {}
    for name, job in jobs.items():
        result: tuple[Metrics | None, Mapping | None, str | None]
        if deadline.expired():
            result = (None, None, "skipped: the time limit was reached")
        else:
            try:
                result = job()
            except OutOfTime:
                result = (None, None, "skipped: the time limit was reached")
        out[name] = Baseline(name, DESCRIPTIONS[name], *result)
    return out
