"""The blocks of an instance's design space and their lower bounds.

A block fixes the PIM option (or none) and γ; see formulation/milp.py.  Its
lower bound drops only the PIM capacity rows: for every channel split it
takes each phase's fastest tiering (``best_step_time``), so a block whose
bound loses to the incumbent cannot hold the optimum and is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from specpim.core.enums import Metric, Phase
from specpim.costs.tables import CostTable, InstanceTables
from specpim.hardware.devices import PimOption
from specpim.problem.instance import Instance
from specpim.workload.operators import PhaseWorkload

from .patterns import TierPattern, best_step_time, phase_patterns


@dataclass(frozen=True)
class BlockSpec:
    """One (PIM option, γ) block with its cost tables, workloads and patterns."""

    option: PimOption | None
    draft_len: int
    channel_counts: tuple[int, ...]        # candidate n (PIM channels per device)
    tables: dict[Phase, CostTable]
    works: dict[Phase, PhaseWorkload]
    patterns: dict[Phase, list[TierPattern]]


@dataclass(frozen=True)
class BlockBound:
    latency: float     # s per token
    objective: float   # in the instance's minimised units (s or J per token)


def make_blocks(instance: Instance, tables: InstanceTables) -> list[BlockSpec]:
    """Every (option, γ) block with at least one channel count within the area budget."""
    ds = instance.design_space
    use_energy = instance.objective.metric == Metric.ENERGY
    cap = instance.system.memory.channel_capacity_bytes
    cache: dict[tuple[int, int], list[TierPattern]] = {}
    blocks = []
    for option in instance.options():
        counts = ds.allowed_counts(option)
        if not counts:
            continue
        for g in instance.draft_lens:
            phase_tables = tables.phase_tables(option, g)
            works = {p: tables.work(p, g) for p in phase_tables}
            patterns = {}
            for p, table in phase_tables.items():
                key = (id(table), max(counts))   # the draft table is shared by every γ
                if key not in cache:
                    cache[key] = phase_patterns(table, works[p], top_channels=max(counts),
                                                channel_capacity=cap, use_energy=use_energy)
                patterns[p] = cache[key]
            blocks.append(BlockSpec(option, g, counts, phase_tables, works, patterns))
    return blocks


def block_bound(instance: Instance, spec: BlockSpec) -> BlockBound:
    """Valid lower bounds on the block's latency and objective."""
    top = max(spec.channel_counts)
    e_tok = instance.expected_tokens(spec.draft_len)
    budgets = np.asarray(instance.design_space.shares(top) if top else (0,))
    steps = {}
    for p, table in spec.tables.items():
        const = spec.works[p].layers * table.layer_const_time + table.step_const_time
        steps[p] = best_step_time(spec.patterns[p], spec.works[p], budgets) + const
    verify = steps[Phase.VERIFY]
    if Phase.DRAFT not in steps:
        latency = verify[-1] / e_tok
    elif instance.design_space.partitioned:
        # draft gets budgets[i], verify the rest: top − budgets[i] = budgets[-1 − i]
        latency = float(np.min(spec.draft_len * steps[Phase.DRAFT] + verify[::-1])) / e_tok
    else:
        latency = (spec.draft_len * steps[Phase.DRAFT][-1] + verify[-1]) / e_tok
    if instance.objective.metric != Metric.ENERGY:
        return BlockBound(latency, latency)
    energy = 0.0
    for p, table in spec.tables.items():
        L = spec.works[p].layers
        per_op: dict[str, float] = {}
        for q in spec.patterns[p]:
            if len(q.ops) == 1:
                per_op[q.ops[0]] = min(per_op.get(q.ops[0], np.inf), q.energy)
        head = spec.works[p].head.name
        layer = sum(v for k, v in per_op.items() if k != head)
        step_e = L * (layer + table.layer_const_energy) + per_op[head] + table.step_const_energy
        energy += (spec.draft_len if p == Phase.DRAFT else 1) / e_tok * step_e * instance.system.devices
    static = instance.system.host.static_power * instance.system.devices
    return BlockBound(latency, (energy + static * latency) / instance.workload.batch)
