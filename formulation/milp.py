r"""The SpecPIM co-design MILP.

Blocks.  The design space is a disjoint union of blocks b = (PIM option o_b
or none, draft length γ_b): a block fixes which cost tables apply and how
much the draft phase weighs.  Inside a block, the channel count, the
draft/target split and the dataflow of both phases are decided together.
The full problem picks one block:

    min Σ_b obj_b    s.t.  Σ_b z_b = 1,  every row of block b scaled by z_b.

The blocks share nothing but that row, so solving each block with z_b fixed
to 1 and keeping the best is the same optimisation (solvers/cbc.py does this
and skips blocks whose lower bound cannot win).  ``CoDesignMILP`` builds one
block (its z_b fixed to 1) or several, linked by ``block_selection``.

Sets, per block and phase p ∈ {draft, verify} (verify alone when γ = 0)
    J_p      layer operators; DAG edges E_p; h the LM head
    Q_p      tier patterns (formulation/patterns.py): an antichain A_q ⊆ J_p
             with an engine per member; t_q time, κ_q channels, e_q energy,
             R_q resident bytes; plus one pattern per LM-head engine
    N_b      PIM channel counts allowed (within the area budget)
    S        channel shares {0, step, 2·step, …}
    X        conflicting sets: antichains that cannot all be tiers together

Variables
    z_b ∈ {0,1}    block selector (fixed to 1 when a block is solved alone)
    a_n ∈ {0,1}    n ∈ N_b channels per device carry PIM units
    s_{p,c} ∈ {0,1}   phase p may use c PIM channels (partition)
    x_q ∈ {0,1}    pattern q is one tier of its phase (the head's engine for head patterns)

Channels of phase p
    partition:  C_p = Σ_c c·s_{p,c},  Σ_p C_p = Σ_n n·a_n
    shared:     C_p = Σ_n n·a_n

Constraints (one ``add_*`` method each; rows are named after the family)
    architecture_choice  Σ_n a_n = z_b;  Σ_c s_{p,c} = z_b;  Σ_p Σ_c c s_{p,c} = Σ_n n a_n
    block_selection      Σ_b z_b = 1 (several blocks)
    cover                Σ_{q ∋ j} x_q = z_b  for every j ∈ J_p ∪ {h}
    channel_budget       Σ_{q ∋ j, κ_q ≥ ℓ} x_q ≤ [C_p ≥ ℓ]  for every j and level ℓ,
                         where [C_p ≥ ℓ] = Σ_{c ≥ ℓ} s_{p,c} (partition) or Σ_{n ≥ ℓ} a_n (shared)
    tier_order           Σ_{q: A_q ∈ X} x_q ≤ |X| − 1  for every conflicting set X
    pim_capacity         Σ_q R_q x_q ≤ cap·C_p (partition, per model);  Σ_p … ≤ cap·Σ n a_n (shared)
    latency_bound        latency_b ≤ bound · z_b  (energy objective)

Step time and objective
    step_p   = L_p (Σ_{layer q} t_q x_q + t^AR_p z_b) + Σ_{head q} t_q x_q + t^AG_p z_b
    energy_p = devices · [L_p (Σ e_q x_q + e^AR_p z_b) + Σ_{head q} e_q x_q + e^AG_p z_b]
    latency_b = (γ_b step_draft + step_verify) / E(γ_b)
    energy_b  = (γ_b energy_draft + energy_verify) / (batch · E(γ_b)) + P_static · devices · latency_b / batch
    minimise Σ_b latency_b (latency and throughput) or Σ_b energy_b (energy)

A tier's time is max(longest PIM operator, Σ host operators), fixed per
pattern; because every operator is covered once and tiers are antichains,
the chosen patterns can be ordered consistently with the DAG (guaranteed by
tier_order), and layer time is Σ of the chosen tier times.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pulp

from specpim.core.enums import Engine, Metric, Phase
from specpim.problem.mapping import Architecture, Mapping, Placement

from .blocks import BlockSpec
from .patterns import TierPattern, conflicting_sets, tier_order

TIME_SCALE = 1e6     # MILP times are µs
ENERGY_SCALE = 1e6   # MILP energies are µJ: CBC's absolute tolerances stay negligible (mJ were not)


@dataclass(frozen=True)
class PatternVar:
    """A tier pattern and its binary."""

    pattern: TierPattern
    var: pulp.LpVariable


@dataclass
class _Block:
    """One block's variables and expressions."""

    spec: BlockSpec
    z: pulp.LpVariable
    index: int
    arch: dict[int, pulp.LpVariable] = field(default_factory=dict)
    share: dict[Phase, dict[int, pulp.LpVariable]] = field(default_factory=dict)
    patterns: dict[Phase, list[PatternVar]] = field(default_factory=dict)
    step_time: dict[Phase, pulp.LpAffineExpression] = field(default_factory=dict)
    step_energy: dict[Phase, pulp.LpAffineExpression] = field(default_factory=dict)
    latency: pulp.LpAffineExpression = field(default_factory=pulp.LpAffineExpression)
    energy: pulp.LpAffineExpression = field(default_factory=pulp.LpAffineExpression)


def _expr(pairs: Iterable[tuple[pulp.LpVariable, float]], constant: float = 0.0) -> pulp.LpAffineExpression:
    return pulp.LpAffineExpression(list(pairs), constant=constant)


class CoDesignMILP:
    """Builds the MILP for one or more blocks of an instance."""

    def __init__(self, instance, blocks: list[BlockSpec], name: str = "specpim"):
        self.instance = instance
        self.partition = instance.design_space.partitioned
        self.prob = pulp.LpProblem(name, pulp.LpMinimize)
        self.blocks: list[_Block] = []
        alone = len(blocks) == 1
        for i, spec in enumerate(blocks):
            # Solved alone, the block is chosen: its selector is fixed to 1 (PuLP
            # resets the bounds of a binary to 0..1, hence an integer in [1, 1]).
            z = self.prob.add_variable(f"z_b{i}", 1, 1, pulp.LpInteger) if alone else self._binary(f"z_b{i}")
            b = _Block(spec=spec, z=z, index=i)
            self.blocks.append(b)
            self.add_architecture_choice(b)
            for phase in spec.tables:
                self.add_patterns(b, phase)
                self.add_cover(b, phase)
                self.add_channel_budget(b, phase)
                self.add_tier_order(b, phase)
            self.add_pim_capacity(b)
            self.add_block_objective(b)
            self.add_latency_bound(b)
        self.add_block_selection()
        use_energy = instance.objective.metric == Metric.ENERGY
        self.prob.setObjective(_combine([(b.energy if use_energy else b.latency, 1.0) for b in self.blocks]))

    # -- helpers ---------------------------------------------------------
    def _binary(self, name: str) -> pulp.LpVariable:
        return self.prob.add_variable(name, 0, 1, pulp.LpBinary)

    def _add(self, constraint: pulp.LpConstraint, name: str) -> None:
        self.prob += constraint, name

    def _channels(self, b: _Block, phase: Phase) -> list[tuple[pulp.LpVariable, float]]:
        """C_p as (variable, channels) pairs."""
        pool = b.share[phase] if self.partition else b.arch
        return [(v, c) for c, v in pool.items()]

    # -- constraint families -------------------------------------------
    def add_block_selection(self) -> None:
        """Σ_b z_b = 1: exactly one block is the design (a fixed z_b = 1 alone)."""
        if len(self.blocks) > 1:
            self._add(_expr((b.z, 1) for b in self.blocks) == 1, "block_selection")

    def add_architecture_choice(self, b: _Block) -> None:
        """Σ_n a_n = z_b; under a partition, Σ_c s_{p,c} = z_b per phase and Σ_p C_p = Σ_n n·a_n."""
        i = b.index
        b.arch = {n: self._binary(f"a_b{i}_n{n}") for n in b.spec.channel_counts}
        self._add(_expr([(v, 1) for v in b.arch.values()] + [(b.z, -1)]) == 0, f"architecture_choice_b{i}")
        if not self.partition:
            return
        top = max(b.spec.channel_counts)
        for p in b.spec.tables:
            b.share[p] = {c: self._binary(f"s_b{i}_{p}_c{c}") for c in self.instance.design_space.shares(top)}
            self._add(_expr([(v, 1) for v in b.share[p].values()] + [(b.z, -1)]) == 0,
                      f"architecture_choice_b{i}_{p}_share")
        split = [pair for p in b.spec.tables for pair in self._channels(b, p)]
        self._add(_expr(split + [(v, -n) for n, v in b.arch.items()]) == 0, f"architecture_choice_b{i}_split")

    def add_patterns(self, b: _Block, phase: Phase) -> None:
        """One binary x_q per useful tier pattern q (formulation/patterns.py)."""
        b.patterns[phase] = [PatternVar(q, self._binary(f"x_b{b.index}_{phase}_{_tier_name(q)}"))
                             for q in b.spec.patterns[phase]]

    def add_cover(self, b: _Block, phase: Phase) -> None:
        """Σ_{q ∋ j} x_q = z_b: every operator (and the LM head) sits in exactly one chosen tier."""
        for op in b.spec.works[phase].all_ops:
            mine = [(pv.var, 1) for pv in b.patterns[phase] if op.name in pv.pattern.ops]
            self._add(_expr(mine + [(b.z, -1)]) == 0, f"cover_b{b.index}_{phase}_{op.name}")

    def add_channel_budget(self, b: _Block, phase: Phase) -> None:
        """Σ_{q ∋ j, κ_q ≥ ℓ} x_q ≤ [C_p ≥ ℓ]: a tier needing κ channels only if the phase has ≥ κ."""
        pool = b.share[phase] if self.partition else b.arch
        for op in b.spec.works[phase].all_ops:
            mine = sorted((pv for pv in b.patterns[phase] if op.name in pv.pattern.ops and pv.pattern.channels),
                          key=lambda pv: -pv.pattern.channels)
            for lvl in sorted({pv.pattern.channels for pv in mine}):
                using = [(pv.var, 1) for pv in mine if pv.pattern.channels >= lvl]
                allowed = [(v, -1) for c, v in pool.items() if c >= lvl]
                self._add(_expr(using + allowed) <= 0, f"channel_budget_b{b.index}_{phase}_{op.name}_{lvl}")

    def add_tier_order(self, b: _Block, phase: Phase) -> None:
        """Σ_{q: A_q ∈ X} x_q ≤ |X| − 1: no set of tiers that no DAG order can hold."""
        for k, combo in enumerate(conflicting_sets(b.spec.works[phase].graph())):
            using = [(pv.var, 1) for pv in b.patterns[phase] if pv.pattern.ops in combo]
            self._add(_expr(using) <= len(combo) - 1, f"tier_order_b{b.index}_{phase}_{k}")

    def add_pim_capacity(self, b: _Block) -> None:
        """Σ_q R_q x_q ≤ cap·C_p per model (partition), or summed over models ≤ cap·Σ_n n·a_n (shared)."""
        # In channels: CBC's absolute tolerance (1e-7) is then at most 1e-7 of the
        # room, inside the evaluator's CAPACITY_RTOL whatever a channel holds.
        cap = self.instance.system.memory.channel_capacity_bytes
        used = {p: [(pv.var, pv.pattern.resident / cap) for pv in b.patterns[p] if pv.pattern.resident > 0]
                for p in b.spec.tables}
        if self.partition:
            for p, pairs in used.items():
                room = [(v, -c) for v, c in self._channels(b, p)]
                self._add(_expr(pairs + room) <= 0, f"pim_capacity_b{b.index}_{p}")
        else:
            room = [(v, -n) for n, v in b.arch.items()]
            self._add(_expr([pr for pairs in used.values() for pr in pairs] + room) <= 0, f"pim_capacity_b{b.index}")

    def add_block_objective(self, b: _Block) -> None:
        """step_p, energy_p, latency_b and energy_b of the module docstring."""
        inst, spec = self.instance, b.spec
        devices = inst.system.devices
        for p, table in spec.tables.items():
            L = spec.works[p].layers
            pats = b.patterns[p]
            t_pairs = [(pv.var, pv.pattern.time * TIME_SCALE * (1 if pv.pattern.head else L)) for pv in pats]
            t_const = (L * table.layer_const_time + table.step_const_time) * TIME_SCALE
            b.step_time[p] = _expr(t_pairs + [(b.z, t_const)])
            e_pairs = [(pv.var, pv.pattern.energy * ENERGY_SCALE * devices * (1 if pv.pattern.head else L))
                       for pv in pats]
            e_const = (L * table.layer_const_energy + table.step_const_energy) * ENERGY_SCALE * devices
            b.step_energy[p] = _expr(e_pairs + [(b.z, e_const)])
        g = spec.draft_len
        e_tok = inst.expected_tokens(g)
        weight = {Phase.DRAFT: g / e_tok, Phase.VERIFY: 1.0 / e_tok}
        b.latency = _combine([(b.step_time[p], weight[p]) for p in spec.tables])
        # W × (latency in MILP time units) → MILP energy units
        static = inst.system.host.static_power * devices * ENERGY_SCALE / TIME_SCALE
        b.energy = _combine([(b.step_energy[p], weight[p] / inst.workload.batch) for p in spec.tables]
                            + [(b.latency, static / inst.workload.batch)])

    def add_latency_bound(self, b: _Block) -> None:
        """latency_b ≤ bound · z_b (energy objective with a latency bound)."""
        bound = self.instance.objective.latency_bound
        if bound is not None and self.instance.objective.metric == Metric.ENERGY:
            limit = bound * TIME_SCALE
            self._add(_combine([(b.latency, 1.0), (_expr([(b.z, -limit)]), 1.0)]) <= 0, f"latency_bound_b{b.index}")

    # -- reading a solution ---------------------------------------------
    def chosen_block(self) -> _Block:
        return max(self.blocks, key=lambda b: b.z.value() or 0.0)

    def mapping(self, b: _Block) -> Mapping:
        """The mapping encoded by the current variable values of block b."""
        spec = b.spec
        n = next((n for n, v in b.arch.items() if v.value() > 0.5), 0)
        if self.partition:
            share = {p: next((c for c, v in s.items() if v.value() > 0.5), 0) for p, s in b.share.items()}
            d, t = share.get(Phase.DRAFT, 0), share.get(Phase.VERIFY, n)
        else:
            d = t = n
        arch = Architecture(spec.option.name if spec.option else None, n, d, t, spec.draft_len)
        phases = {}
        for p, pats in b.patterns.items():
            chosen = [pv.pattern for pv in pats if pv.var.value() > 0.5]
            by_ops = {q.ops: q for q in chosen if not q.head}
            ordered = tier_order(spec.works[p].graph(), list(by_ops))
            ops: dict[str, Placement] = {}
            for tier, members in enumerate(ordered):
                q = by_ops[members]
                for name, (engine, k) in zip(q.ops, q.engines, strict=True):
                    ops[name] = Placement(engine, k, tier)
            for q in chosen:
                if q.head:
                    engine, k = q.engines[0]
                    ops[q.ops[0]] = Placement(engine, k, None)
            phases[p] = ops
        return Mapping(arch, phases)


def _tier_name(q: TierPattern) -> str:
    """Readable, unique variable suffix: operators with H (host) or P<k> (PIM on k channels)."""
    return "_".join(f"{op}{'P' + str(k) if engine == Engine.PIM else 'H'}"
                    for op, (engine, k) in zip(q.ops, q.engines, strict=True))


def _combine(terms: list[tuple[pulp.LpAffineExpression, float]]) -> pulp.LpAffineExpression:
    """Σ w·e over expressions, built in one pass."""
    pairs: dict[pulp.LpVariable, float] = {}
    const = 0.0
    for e, w in terms:
        for v, c in e.items():
            pairs[v] = pairs.get(v, 0.0) + c * w
        const += e.constant * w
    return _expr(pairs.items(), const)
