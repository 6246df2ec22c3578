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

from .bounds import CombinedTiers, PhaseBound, combined_tiers, phase_bound
from .patterns import TierPattern, engine_choices, phase_patterns


@dataclass
class PatternSource:
    """Builds and remembers tier patterns and step bounds, shared by the
    blocks that read the same cost table."""

    instance: Instance
    patterns_built: int = 0
    _patterns: dict[tuple[int, int, bool], list[TierPattern]] = field(default_factory=dict)
    _bounds: dict[int, PhaseBound] = field(default_factory=dict)
    _combined: dict[tuple[int, float], CombinedTiers | None] = field(default_factory=dict)
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

    def combined(self, table: CostTable, work: PhaseWorkload, top: int, power: float) -> CombinedTiers | None:
        """The tiers' least energy + power × time per budget 0, step, …, top."""
        key = (id(table), power)
        if key not in self._combined:
            self._tables[id(table)] = table
            budgets = np.asarray(self.instance.design_space.shares(top) if top else (0,))
            self._combined[key] = combined_tiers(table, work, budgets, self.capacity, power)
        return self._combined[key]

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
        """Each phase's tier patterns with at most n channels (built on first
        use).  Patterns are built once per table for the largest channel count
        its blocks have and filtered here: a pattern dominated by one that
        needs fewer channels stays dominated whatever the budget."""
        if not self._built:
            binds = capacity_can_bind(self)
            inst = self.source.instance
            top = max(inst.design_space.allowed_counts(self.option, inst.system))
            for p, table in self.tables.items():
                every = self.source.patterns(table, self.works[p], top, binds)
                self._built[p] = [q for q in every if q.channels <= self.pim_channels]
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
    devices, batch = instance.system.devices, instance.workload.batch
    energy = 0.0
    for p, table in spec.tables.items():
        L = spec.works[p].layers
        frugal = float(spec.source.bound(table, spec.works[p], top).step_energy[:upto].min())
        step_e = frugal + L * table.layer_const_energy + table.step_const_energy
        energy += (spec.draft_len if p == Phase.DRAFT else 1) / e_tok * step_e * devices
    separate = (energy + spec.static_power * devices * latency) / batch
    # Energy and static energy priced together, tier by tier: what a fast design
    # saves in static energy it may spend in dynamic energy, and the reverse.
    power = spec.static_power
    per_phase = {}
    for p, table in spec.tables.items():
        work = spec.works[p]
        combined = spec.source.combined(table, work, top, power)
        if combined is None:
            return BlockBound(latency, separate)
        const = (work.layers * (table.layer_const_energy + power * table.layer_const_time)
                 + table.step_const_energy + power * table.step_const_time)
        weight = (spec.draft_len if p == Phase.DRAFT else 1) / e_tok * devices / batch
        per_phase[p] = weight * (combined.plain[:upto] + const)
    verify = per_phase[Phase.VERIFY]
    if Phase.DRAFT not in per_phase:
        joint = float(verify[-1])
    elif instance.design_space.partitioned:
        joint = float(np.min(per_phase[Phase.DRAFT] + verify[::-1]))
    else:
        joint = float(per_phase[Phase.DRAFT][-1] + verify[-1])
    return BlockBound(latency, max(separate, joint))


def capacity_bound(instance: Instance, spec: BlockSpec, bound: float) -> float:
    """A lower bound on the block's energy objective that sees capacity.

    Averaged over a model's range, the capacity rows give, with B_p the bytes
    phase p keeps in PIM and C_p its channels (docs/formulation.md §6):
    striped:  B_p/C_p + (T − B_d − B_t)/N ≤ cap per range (one range of n when shared);
    partitioned:  B_p/C_p ≤ cap per range, and T − B_d − B_t ≤ (N − n)·cap.
    Each row moved into the objective with a multiplier λ ≥ 0 (Lagrangian
    relaxation) leaves a problem that decomposes tier by tier, solved exactly
    by ``CombinedTiers.step_cost`` with a price per PIM byte; its minimum over
    splits is a valid bound for every λ, and the best over a grid of λ is
    returned (never below ``bound``, the bound the caller has)."""
    if instance.objective.metric != Metric.ENERGY or spec.option is None:
        return bound
    system, ds = instance.system, instance.design_space
    devices, batch = system.devices, instance.workload.batch
    cap, n_all, n = system.memory.channel_capacity_bytes, system.memory.channels, spec.pim_channels
    striped = system.memory_model == MemoryModel.STRIPED
    top = max(ds.allowed_counts(spec.option, system))
    full = np.asarray(ds.shares(top) if top else (0,), dtype=float)   # the grid the tier costs are on
    upto = len(ds.shares(n))                                          # the block's budgets 0 … n
    e_tok = instance.expected_tokens(spec.draft_len)
    power, total = spec.static_power, spec.resident_total
    phases = list(spec.tables)
    tiers, weight, const = {}, {}, {}
    for p in phases:
        work, table = spec.works[p], spec.tables[p]
        combined = spec.source.combined(table, work, top, power)
        if combined is None:
            return bound
        tiers[p] = combined
        weight[p] = (spec.draft_len if p == Phase.DRAFT else 1) / e_tok * devices / batch
        const[p] = (work.layers * (table.layer_const_energy + power * table.layer_const_time)
                    + table.step_const_energy + power * table.step_const_time)
    split = ds.partitioned and len(phases) == 2
    scale = max(bound, 1e-30) / cap

    def lagrangian(lam: dict[str, float]) -> float:
        """min over splits of the relaxed objective for multipliers ``lam``."""
        values = {}
        for p in phases:
            pool = full if split else np.full(len(full), float(n))   # the channels of p's range
            inv = np.where(pool > 0, 1.0 / np.maximum(pool, 1), 0.0)
            own = lam.get(p, 0.0) if ds.partitioned else lam.get("shared", 0.0)
            per_byte = own * inv
            if striped:
                per_byte = per_byte - sum(lam.values()) / n_all
            else:
                per_byte = per_byte - lam.get("host", 0.0)
            cost = tiers[p].step_cost(per_byte / weight[p])[:upto]
            values[p] = weight[p] * (cost + const[p])
        rows = sum(v for k, v in lam.items() if k != "host")
        if striped:
            offset = rows * (total / n_all - cap)
        else:
            offset = -rows * cap + lam.get("host", 0.0) * (total - (n_all - n) * cap)
        verify = values[Phase.VERIFY]
        if not split:
            return float(verify[-1]) + offset
        return float(np.min(values[Phase.DRAFT] + verify[::-1])) + offset

    best = bound
    grid = [scale * f for f in (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)]
    pools = [p for p in phases] if ds.partitioned else ["shared"]
    trials = [{q: lam for q in pools} for lam in grid] + [{q: lam} for q in pools for lam in grid]
    if not striped:
        trials += [{**t, "host": lam} for t in trials[: len(grid)] for lam in grid[::2]]
    for lam in trials:
        best = max(best, lagrangian({str(k): v for k, v in lam.items()}))
    return best
