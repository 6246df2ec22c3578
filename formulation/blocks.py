"""The blocks of an instance's design space and their lower bounds.

A block fixes the PIM option (or none), the number n of PIM channels per
device and γ; see formulation/milp.py.  Everything that depends on the
architecture is then a constant of the block: the host's channels (when host
data lives only in the channels without PIM), the static power, the PIM
channel budgets.

Blocks are cheap: a block's tier patterns are built only when the block is
solved (``BlockSpec.patterns``).  Its lower bound comes from the cost tables
alone (formulation/bounds.py): for every draft/target split, each phase's
fastest step with capacity dropped; a block whose bound loses to the
incumbent cannot hold the optimum and is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from specpim.core.enums import MemoryModel, Metric, Phase
from specpim.costs.tables import CostTable, InstanceTables
from specpim.hardware.devices import PimOption
from specpim.problem.instance import Instance
from specpim.workload.operators import PhaseWorkload

from .bounds import PhaseBound, phase_bound
from .patterns import TierPattern, engine_choices, phase_patterns


@dataclass
class PatternSource:
    """Builds and remembers tier patterns and step bounds, shared by the
    blocks that read the same cost table."""

    instance: Instance
    patterns_built: int = 0
    _patterns: dict[tuple[int, int, bool], list[TierPattern]] = field(default_factory=dict)
    _bounds: dict[int, PhaseBound] = field(default_factory=dict)
    _tables: dict[int, CostTable] = field(default_factory=dict)   # keeps the tables the ids refer to alive

    @property
    def capacity(self) -> float:
        return self.instance.system.memory.channel_capacity_bytes

    def patterns(self, table: CostTable, work: PhaseWorkload, top: int, capacity_binds: bool) -> list[TierPattern]:
        key = (id(table), top, capacity_binds)
        if key not in self._patterns:
            self._tables[id(table)] = table
            self._patterns[key] = phase_patterns(table, work, top_channels=top, channel_capacity=self.capacity,
                                                 use_energy=self.instance.objective.metric == Metric.ENERGY,
                                                 capacity_binds=capacity_binds)
            self.patterns_built += 1
        return self._patterns[key]

    def bound(self, table: CostTable, work: PhaseWorkload, top: int) -> PhaseBound:
        """Step bounds of ``table`` for budgets 0, step, …, top (one computation per table)."""
        key = id(table)
        if key not in self._bounds or int(self._bounds[key].budgets[-1]) < top:
            self._tables[key] = table
            budgets = np.asarray(self.instance.design_space.shares(top) if top else (0,))
            self._bounds[key] = phase_bound(table, work, budgets, self.capacity)
        return self._bounds[key]


@dataclass(frozen=True)
class BlockSpec:
    """One (PIM option, n, γ) block with its cost tables and workloads."""

    option: PimOption | None
    pim_channels: int                      # n, PIM channels per device
    draft_len: int
    tables: dict[Phase, CostTable]
    works: dict[Phase, PhaseWorkload]
    static_power: float                    # W per device
    resident_total: float                  # bytes of weights and KV caches one device holds
    source: PatternSource = field(compare=False, repr=False)
    _built: dict[Phase, list[TierPattern]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def option_name(self) -> str | None:
        return self.option.name if self.option else None

    @property
    def patterns(self) -> dict[Phase, list[TierPattern]]:
        """Each phase's tier patterns (built on first use)."""
        if not self._built:
            binds = capacity_can_bind(self)
            for p, table in self.tables.items():
                self._built[p] = self.source.patterns(table, self.works[p], self.pim_channels, binds)
        return self._built


def capacity_can_bind(spec: BlockSpec) -> bool:
    """Whether some mapping of the block could overflow a channel: the most
    any model's range could hold (every operator on its smallest group, each
    in a tier of its own) plus the largest share of host data a channel can
    get exceeds a channel.  If not, patterns need no load key."""
    inst = spec.source.instance
    system = inst.system
    cap = system.memory.channel_capacity_bytes
    if spec.option is None:
        return False
    most = {}
    for p, table in spec.tables.items():
        choices = engine_choices(table, spec.works[p], spec.pim_channels, cap)
        most[p] = sum(float(c.load.max()) for c in choices if len(c.k))
    striped = system.memory_model == MemoryModel.STRIPED
    share = spec.resident_total / system.memory.channels if striped else 0.0
    ranges = [[p] for p in spec.tables] if inst.design_space.partitioned else [list(spec.tables)]
    return any(sum(most[p] for p in r) + share > cap for r in ranges)


@dataclass(frozen=True)
class BlockBound:
    latency: float     # s per token
    objective: float   # in the instance's minimised units (s or J per token)


def make_blocks(instance: Instance, tables: InstanceTables) -> list[BlockSpec]:
    """Every (option, n, γ) block the design space allows, in a fixed order:
    no PIM first, then the options in menu order, n ascending, γ ascending."""
    ds = instance.design_space
    source = PatternSource(instance)
    blocks = []
    for option in instance.options():
        for n in ds.allowed_counts(option, instance.system):
            static = instance.system.static_power(option, n)
            for g in instance.draft_lens:
                phase_tables = tables.phase_tables(option, g, n)
                works = {p: tables.work(p, g) for p in phase_tables}
                blocks.append(BlockSpec(option, n, g, phase_tables, works, static_power=static,
                                        resident_total=instance.memory_need(g), source=source))
    return blocks


def phase_step_bounds(instance: Instance, spec: BlockSpec) -> dict[Phase, np.ndarray]:
    """Per phase, a lower bound on the step time for each channel budget
    0, step, …, n (capacity ignored), constants included."""
    out = {}
    top = max(instance.design_space.allowed_counts(spec.option, instance.system))
    for p, table in spec.tables.items():
        bound = spec.source.bound(table, spec.works[p], top)
        upto = len(instance.design_space.shares(spec.pim_channels))
        const = spec.works[p].layers * table.layer_const_time + table.step_const_time
        out[p] = bound.step_time[:upto] + const
    return out


def block_bound(instance: Instance, spec: BlockSpec) -> BlockBound:
    """Valid lower bounds on the block's latency and objective."""
    e_tok = instance.expected_tokens(spec.draft_len)
    steps = phase_step_bounds(instance, spec)
    verify = steps[Phase.VERIFY]
    if Phase.DRAFT not in steps:
        latency = float(verify[-1]) / e_tok
    elif instance.design_space.partitioned:
        # draft gets budgets[i], verify the rest: n − budgets[i] = budgets[-1 − i]
        latency = float(np.min(spec.draft_len * steps[Phase.DRAFT] + verify[::-1])) / e_tok
    else:
        latency = float(spec.draft_len * steps[Phase.DRAFT][-1] + verify[-1]) / e_tok
    if instance.objective.metric != Metric.ENERGY:
        return BlockBound(latency, latency)
    top = max(instance.design_space.allowed_counts(spec.option, instance.system))
    upto = len(instance.design_space.shares(spec.pim_channels))
    energy = 0.0
    for p, table in spec.tables.items():
        L = spec.works[p].layers
        frugal = float(spec.source.bound(table, spec.works[p], top).step_energy[:upto].min())
        step_e = frugal + L * table.layer_const_energy + table.step_const_energy
        energy += (spec.draft_len if p == Phase.DRAFT else 1) / e_tok * step_e * instance.system.devices
    static = spec.static_power * instance.system.devices
    return BlockBound(latency, (energy + static * latency) / instance.workload.batch)
