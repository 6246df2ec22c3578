"""The blocks of an instance's design space and their lower bounds.

A block fixes the PIM option (or none), the number n of PIM channels per
device and γ; see formulation/milp.py.  Everything that depends on the
architecture is then a constant of the block: the host's channels (when host
data lives only in the channels without PIM), the static power, the PIM
channel budgets.  Its lower bound drops only the capacity rows: for every
draft/target split it takes each phase's fastest tiering
(``best_step_time``), so a block whose bound loses to the incumbent cannot
hold the optimum and is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from specpim.core.enums import Metric, Phase
from specpim.costs.tables import CostTable, InstanceTables
from specpim.hardware.devices import PimOption
from specpim.problem.instance import Instance
from specpim.workload.operators import PhaseWorkload

from .patterns import TierPattern, best_step_time, phase_patterns


@dataclass(frozen=True)
class BlockSpec:
    """One (PIM option, n, γ) block with its cost tables, workloads and patterns."""

    option: PimOption | None
    pim_channels: int                      # n, PIM channels per device
    draft_len: int
    tables: dict[Phase, CostTable]
    works: dict[Phase, PhaseWorkload]
    patterns: dict[Phase, list[TierPattern]]
    static_power: float                    # W per device
    resident_total: float                  # bytes of weights and KV caches one device holds

    @property
    def option_name(self) -> str | None:
        return self.option.name if self.option else None


@dataclass(frozen=True)
class BlockBound:
    latency: float     # s per token
    objective: float   # in the instance's minimised units (s or J per token)


@dataclass
class _PatternCache:
    """Patterns and step-time bounds shared by the blocks that use the same table."""

    patterns: dict[int, list[TierPattern]] = field(default_factory=dict)
    steps: dict[int, np.ndarray] = field(default_factory=dict)


def make_blocks(instance: Instance, tables: InstanceTables) -> list[BlockSpec]:
    """Every (option, n, γ) block the design space allows, in a fixed order:
    no PIM first, then the options in menu order, n ascending, γ ascending."""
    ds = instance.design_space
    use_energy = instance.objective.metric == Metric.ENERGY
    cap = instance.system.memory.channel_capacity_bytes
    cache = _PatternCache()
    blocks = []
    for option in instance.options():
        counts = ds.allowed_counts(option, instance.system)
        if not counts:
            continue
        top = max(counts)
        for n in counts:
            for g in instance.draft_lens:
                phase_tables = tables.phase_tables(option, g, n)
                works = {p: tables.work(p, g) for p in phase_tables}
                patterns = {}
                for p, table in phase_tables.items():
                    key = id(table)   # the draft table is shared by every γ, and by every n when host data is striped
                    if key not in cache.patterns:
                        cache.patterns[key] = phase_patterns(table, works[p], top_channels=top,
                                                             channel_capacity=cap, use_energy=use_energy)
                    patterns[p] = [q for q in cache.patterns[key] if q.channels <= n]
                blocks.append(BlockSpec(option, n, g, phase_tables, works, patterns,
                                        static_power=instance.system.static_power(option, n),
                                        resident_total=instance.memory_need(g)))
    return blocks


def phase_step_bounds(instance: Instance, spec: BlockSpec) -> dict[Phase, np.ndarray]:
    """Per phase, a lower bound on the step time for each channel budget
    0, step, …, n (capacity ignored), constants included."""
    budgets = np.asarray(instance.design_space.shares(spec.pim_channels))
    out = {}
    for p, table in spec.tables.items():
        const = spec.works[p].layers * table.layer_const_time + table.step_const_time
        out[p] = best_step_time(spec.patterns[p], spec.works[p], budgets) + const
    return out


def block_bound(instance: Instance, spec: BlockSpec) -> BlockBound:
    """Valid lower bounds on the block's latency and objective."""
    e_tok = instance.expected_tokens(spec.draft_len)
    steps = phase_step_bounds(instance, spec)
    verify = steps[Phase.VERIFY]
    if Phase.DRAFT not in steps:
        latency = verify[-1] / e_tok
    elif instance.design_space.partitioned:
        # draft gets budgets[i], verify the rest: n − budgets[i] = budgets[-1 − i]
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
    static = spec.static_power * instance.system.devices
    return BlockBound(latency, (energy + static * latency) / instance.workload.batch)
