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
    _patterns: dict[tuple[int, int, bool], list[TierPattern]] = field(default_factory=dict)
    _bounds: dict[int, PhaseBound] = field(default_factory=dict)
    _combined: dict[int, CombinedTiers] = field(default_factory=dict)
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
        return self._patterns[key]

    def combined(self, table: CostTable, work: PhaseWorkload, top: int) -> CombinedTiers:
        """The tiers' least energy + power × time per budget 0, step, …, top, for any power."""
        key = id(table)
        if key not in self._combined:
            self._tables[key] = table
            budgets = np.asarray(self.instance.design_space.shares(top) if top else (0,))
            self._combined[key] = combined_tiers(table, work, budgets, self.capacity)
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
    top_channels: int                      # the option's largest channel count: the grid the bounds are on
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
            top = self.top_channels
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
    energy: float      # J per token (0 when neither the objective nor a bound needs it)


def make_blocks(instance: Instance, tables: InstanceTables) -> list[BlockSpec]:
    """Every (option, n, γ) block the design space allows, in a fixed order:
    no PIM first, then the options in menu order, n ascending, γ ascending."""
    ds = instance.design_space
    source = PatternSource(instance)
    blocks = []
    for option in instance.options():
        counts = ds.allowed_counts(option, instance.system)
        for n in counts:
            static = instance.system.static_power(option, n)
            for g in instance.draft_lens:
                phase_tables = tables.phase_tables(option, g, n)
                works = {p: tables.work(p, g) for p in phase_tables}
                blocks.append(BlockSpec(option, n, g, phase_tables, works, static_power=static,
                                        resident_total=instance.memory_need(g), top_channels=max(counts),
                                        source=source))
    return blocks


def phase_step_bounds(instance: Instance, spec: BlockSpec) -> dict[Phase, np.ndarray]:
    """Per phase, a lower bound on the step time for each channel budget
    0, step, …, n (capacity ignored), constants included."""
    out = {}
    top = spec.top_channels
    for p, table in spec.tables.items():
        bound = spec.source.bound(table, spec.works[p], top)
        upto = len(instance.design_space.shares(spec.pim_channels))
        const = spec.works[p].layers * table.layer_const_time + table.step_const_time
        out[p] = bound.step_time[:upto] + const
    return out


def block_bound(instance: Instance, spec: BlockSpec) -> BlockBound:
    """Cheap valid lower bounds on the block's latency, energy and objective:
    each phase's fastest step, and (energy objective or bound) its least
    energy plus static power times the least latency, each minimised on its
    own."""
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
    objective = instance.objective
    if objective.metric != Metric.ENERGY and objective.energy_bound is None:
        return BlockBound(latency, latency, 0.0)
    top = spec.top_channels
    upto = len(instance.design_space.shares(spec.pim_channels))
    devices, batch = instance.system.devices, instance.workload.batch
    energy = 0.0
    for p, table in spec.tables.items():
        L = spec.works[p].layers
        frugal = float(spec.source.bound(table, spec.works[p], top).step_energy[:upto].min())
        step_e = frugal + L * table.layer_const_energy + table.step_const_energy
        energy += (spec.draft_len if p == Phase.DRAFT else 1) / e_tok * step_e * devices
    energy = (energy + spec.static_power * devices * latency) / batch
    return BlockBound(latency, energy if objective.metric == Metric.ENERGY else latency, energy)


def _energy_terms(instance: Instance, spec: BlockSpec) -> tuple[dict[Phase, CombinedTiers], dict[Phase, float],
                                                                 dict[Phase, float]]:
    """Per phase: the combined tiers, the weight of one step in the objective
    (J/token per J) and the step's constants priced at the block's power."""
    top = spec.top_channels
    e_tok = instance.expected_tokens(spec.draft_len)
    devices, batch, power = instance.system.devices, instance.workload.batch, spec.static_power
    tiers, weight, const = {}, {}, {}
    for p, table in spec.tables.items():
        work = spec.works[p]
        tiers[p] = spec.source.combined(table, work, top)
        weight[p] = (spec.draft_len if p == Phase.DRAFT else 1) / e_tok * devices / batch
        const[p] = (work.layers * (table.layer_const_energy + power * table.layer_const_time)
                    + table.step_const_energy + power * table.step_const_time)
    return tiers, weight, const


def joint_bound(instance: Instance, spec: BlockSpec, bound: float, enough: float = np.inf) -> float:
    """A tighter lower bound on the block's energy objective than ``bound``
    (the cheap one): energy and static energy priced together, tier by tier,
    so what a fast design saves in static energy it may spend in dynamic
    energy and the reverse.  ``enough`` is unused (the signature is that of
    every refinement stage)."""
    if instance.objective.metric != Metric.ENERGY:
        return bound
    tiers, weight, const = _energy_terms(instance, spec)
    upto = len(instance.design_space.shares(spec.pim_channels))
    per_phase = {p: weight[p] * (tiers[p].step_cost(spec.static_power)[:upto] + const[p]) for p in tiers}
    verify = per_phase[Phase.VERIFY]
    if Phase.DRAFT not in per_phase:
        joint = float(verify[-1])
    elif instance.design_space.partitioned:
        joint = float(np.min(per_phase[Phase.DRAFT] + verify[::-1]))
    else:
        joint = float(per_phase[Phase.DRAFT][-1] + verify[-1])
    return max(bound, joint)



def capacity_bound(instance: Instance, spec: BlockSpec, bound: float, enough: float = np.inf) -> float:
    """A lower bound on the block's energy objective that sees capacity.

    The capacity rows (docs/formulation.md §3, §5) bound, per model's range, the
    bytes of the range's first channel: one group of every tier, at least
    bytes/κ for a tier of κ channels, plus (striped) the channel's share of
    host data; and (partitioned memory) the host data by the host channels:
        striped:      Σ_tiers B_q/κ_q + (T − B_d − B_t)/N ≤ cap per range
        partitioned:  Σ_tiers B_q/κ_q ≤ cap per range,  T − B_d − B_t ≤ (N − n)·cap
    (one range of n channels for both models when they share).  Each row
    moved into the objective with a multiplier λ ≥ 0 (Lagrangian relaxation)
    leaves a problem that decomposes tier by tier, solved exactly by
    ``CombinedTiers.step_cost``; its minimum over splits is a valid bound for
    every λ ≥ 0.  The dual function is concave, so a golden-section search
    per multiplier, in turn, climbs it; the best value seen is returned
    (never below ``bound``), or the first that reaches ``enough``."""
    if instance.objective.metric != Metric.ENERGY or spec.option is None:
        return bound
    system, ds = instance.system, instance.design_space
    cap, n_all, n = system.memory.channel_capacity_bytes, system.memory.channels, spec.pim_channels
    striped = system.memory_model == MemoryModel.STRIPED
    upto = len(ds.shares(n))                                          # the block's budgets 0 … n
    power, total = spec.static_power, spec.resident_total
    phases = list(spec.tables)
    tiers, weight, const = _energy_terms(instance, spec)
    split = ds.partitioned and len(phases) == 2
    ranges = [str(p) for p in phases] if ds.partitioned else ["shared"]
    names = ranges + ([] if striped else ["host"])

    def dual(lam: dict[str, float]) -> float:
        """min over splits of the relaxed objective for multipliers ``lam``."""
        rows = sum(lam[r] for r in ranges)
        per_byte = -rows / n_all if striped else -lam["host"]
        values = {}
        for p in phases:
            per_load = lam[str(p)] if ds.partitioned else lam["shared"]
            cost = tiers[p].step_cost(power, per_byte / weight[p], per_load / weight[p])[:upto]
            values[p] = weight[p] * (cost + const[p])
        if striped:
            offset = rows * (total / n_all - cap)
        else:
            offset = -rows * cap + lam["host"] * (total - (n_all - n) * cap)
        verify = values[Phase.VERIFY]
        if not split:     # every phase has all n channels
            return float(sum(v[-1] for v in values.values())) + offset
        return float(np.min(values[Phase.DRAFT] + verify[::-1])) + offset

    scale = max(bound, 1e-30) / cap     # λ in objective units per byte: bound/cap moves the objective ~1×
    lam = dict.fromkeys(names, 0.0)
    best = max(bound, dual(lam))
    for _ in range(2):                  # rounds of coordinate ascent
        for name in names:
            value, x = _golden_max(lambda v, name=name: dual({**lam, name: v}), scale * 1e-4, scale * 1e3)
            if value > dual(lam):
                lam[name] = x
            best = max(best, value)
            if best >= enough:
                return best
    return best


def _golden_max(f, lo: float, hi: float, evaluations: int = 24) -> tuple[float, float]:
    """Maximise f, unimodal on [lo, hi], by golden-section search in log λ
    (unimodality survives the change of variable); (best value, its λ)."""
    ratio = (np.sqrt(5.0) - 1) / 2
    a, b = np.log(lo), np.log(hi)
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = f(np.exp(c)), f(np.exp(d))
    best = max((fc, np.exp(c)), (fd, np.exp(d)))
    for _ in range(evaluations - 2):
        if fc >= fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = f(np.exp(c))
            best = max(best, (fc, np.exp(c)))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = f(np.exp(d))
            best = max(best, (fd, np.exp(d)))
    return float(best[0]), float(best[1])


# Bounds tried in turn on a block the ones before cannot prune, cheapest first.
REFINEMENTS = (joint_bound, capacity_bound)
