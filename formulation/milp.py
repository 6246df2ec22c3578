r"""The SpecPIM co-design MILP.

Blocks.  The design space is a disjoint union of blocks b = (PIM option o_b
or none, draft length γ_b): a block fixes which cost tables apply and how
much the draft phase weighs.  Inside a block, the channel count, the
draft/target split and the dataflow of both phases are decided together.
The full problem picks one block:

    min Σ_b obj_b    s.t.  Σ_b z_b = 1,  every row of block b scaled by z_b.

The blocks share nothing but that row, so solving each block with z_b = 1
and keeping the best is the same optimisation (solvers/cbc.py does this and
skips blocks whose lower bound cannot win).  ``CoDesignMILP`` builds one
block (z_b ≡ 1) or several with selector binaries z_b.

Sets, per block and phase p ∈ {draft, verify} (verify alone when γ = 0)
    J_p      layer operators; DAG edges E_p; h the LM head
    Q_p      tier patterns (formulation/patterns.py): an antichain A_q ⊆ J_p
             with an engine per member; t_q time, κ_q channels, e_q energy,
             R_q resident bytes; plus one pattern per LM-head engine
    N_b      PIM channel counts allowed (within the area budget)
    S        channel shares {0, step, 2·step, …}
    X        conflicting sets: antichains that cannot all be tiers together

Variables
    z_b            block selector (the constant 1 when solved alone)
    a_n ∈ {0,1}    n ∈ N_b channels per device carry PIM units
    s_{p,c} ∈ {0,1}   phase p may use c PIM channels (partition)
    x_q ∈ {0,1}    pattern q is one tier of its phase (the head's engine for head patterns)

Channels of phase p
    partition:  C_p = Σ_c c·s_{p,c},  Σ_p C_p = Σ_n n·a_n
    shared:     C_p = Σ_n n·a_n

Constraints (one ``add_*`` method each)
    architecture_choice  Σ_n a_n = z_b;  Σ_c s_{p,c} = z_b;  Σ_p Σ_c c s_{p,c} = Σ_n n a_n
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

from dataclasses import dataclass, field
from typing import Iterable

import pulp

from specpim.hardware.costs import CostTable
from specpim.hardware.devices import PimOption
from specpim.instance import DRAFT, ENERGY, PARTITION, VERIFY, Instance
from specpim.mapping import PIM, Architecture, Mapping, Placement
from specpim.workload.operators import PhaseWorkload

from .patterns import TierPattern, conflicting_sets, tier_order

TIME_SCALE = 1e6     # MILP times are µs
ENERGY_SCALE = 1e6   # MILP energies are µJ: CBC's absolute tolerances stay negligible (mJ were not)


@dataclass(frozen=True)
class BlockSpec:
    """One (PIM option, γ) block with its cost tables and workloads."""

    option: PimOption | None
    draft_len: int
    channel_counts: tuple[int, ...]        # candidate n (PIM channels per device)
    tables: dict[str, CostTable]
    works: dict[str, PhaseWorkload]
    patterns: dict[str, list[TierPattern]]

    @property
    def label(self) -> str:
        return f"{self.option.name if self.option else 'no-pim'}/g{self.draft_len}"


@dataclass(frozen=True)
class PatternVar:
    """A tier pattern and its binary."""

    pattern: TierPattern
    var: pulp.LpVariable


@dataclass
class _Block:
    spec: BlockSpec
    z: pulp.LpVariable | int
    index: int
    arch: dict[int, pulp.LpVariable] = field(default_factory=dict)
    share: dict[str, dict[int, pulp.LpVariable]] = field(default_factory=dict)
    patterns: dict[str, list[PatternVar]] = field(default_factory=dict)
    step_time: dict[str, pulp.LpAffineExpression] = field(default_factory=dict)
    step_energy: dict[str, pulp.LpAffineExpression] = field(default_factory=dict)
    latency: pulp.LpAffineExpression | None = None
    energy: pulp.LpAffineExpression | None = None


def _expr(pairs: Iterable[tuple[pulp.LpVariable, float]], constant: float = 0.0) -> pulp.LpAffineExpression:
    return pulp.LpAffineExpression(list(pairs), constant=constant)


class CoDesignMILP:
    """Builds the MILP for one or more blocks of an instance."""

    def __init__(self, instance: Instance, blocks: list[BlockSpec], name: str = "specpim"):
        self.instance = instance
        self.partition = instance.design_space.allocation == PARTITION
        self.selecting = len(blocks) > 1
        self.prob = pulp.LpProblem(name, pulp.LpMinimize)
        self.blocks: list[_Block] = []
        for i, spec in enumerate(blocks):
            b = _Block(spec=spec, z=self._binary(f"z_b{i}") if self.selecting else 1, index=i)
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
        if self.selecting:
            self.prob += pulp.lpSum(b.z for b in self.blocks) == 1, "block_selection"
        use_energy = instance.objective.metric == ENERGY
        self.prob.setObjective(pulp.lpSum(b.energy if use_energy else b.latency for b in self.blocks))

    # -- helpers ---------------------------------------------------------
    def _binary(self, name: str) -> pulp.LpVariable:
        return self.prob.add_variable(name, 0, 1, pulp.LpBinary)

    def _z(self, b: _Block, coef: float = 1.0) -> list[tuple[pulp.LpVariable, float]]:
        """``coef · z_b`` as expression pairs; empty when z_b ≡ 1 (see ``_zc``)."""
        return [(b.z, coef)] if self.selecting else []

    def _zc(self, coef: float = 1.0) -> float:
        """The constant part of ``coef · z_b``."""
        return 0.0 if self.selecting else coef

    def _add(self, constraint: pulp.LpConstraint, name: str) -> None:
        self.prob += constraint, name

    def _channels(self, b: _Block, phase: str) -> list[tuple[pulp.LpVariable, float]]:
        pool = b.share[phase] if self.partition else b.arch
        return [(v, c) for c, v in pool.items()]

    # -- constraint families -------------------------------------------
    def add_architecture_choice(self, b: _Block) -> None:
        """One channel count; under a partition, one share per phase, adding up to it."""
        i = b.index
        b.arch = {n: self._binary(f"a_b{i}_n{n}") for n in b.spec.channel_counts}
        self._add(_expr([(v, 1) for v in b.arch.values()] + self._z(b, -1), -self._zc()) == 0, f"arch_b{i}")
        if not self.partition:
            return
        step = self.instance.design_space.channel_step
        top = max(b.spec.channel_counts)
        for p in b.spec.tables:
            b.share[p] = {c: self._binary(f"s_b{i}_{p}_c{c}") for c in range(0, top + 1, step)}
            self._add(_expr([(v, 1) for v in b.share[p].values()] + self._z(b, -1), -self._zc()) == 0,
                      f"share_b{i}_{p}")
        split = [pair for p in b.spec.tables for pair in self._channels(b, p)]
        self._add(_expr(split + [(v, -n) for n, v in b.arch.items()]) == 0, f"split_b{i}")

    def add_patterns(self, b: _Block, phase: str) -> None:
        """One binary per useful tier pattern (formulation/patterns.py)."""
        b.patterns[phase] = [PatternVar(q, self._binary(f"x_b{b.index}_{phase}_{_tier_name(q)}"))
                             for q in b.spec.patterns[phase]]

    def add_cover(self, b: _Block, phase: str) -> None:
        """Every operator (and the LM head) sits in exactly one chosen tier."""
        work = b.spec.works[phase]
        for op in work.all_ops:
            mine = [(pv.var, 1) for pv in b.patterns[phase] if op.name in pv.pattern.ops]
            self._add(_expr(mine + self._z(b, -1), -self._zc()) == 0, f"cover_b{b.index}_{phase}_{op.name}")

    def add_channel_budget(self, b: _Block, phase: str) -> None:
        """A tier needing κ channels is allowed only if the phase has ≥ κ."""
        pool = b.share[phase] if self.partition else b.arch
        for op in b.spec.works[phase].all_ops:
            mine = sorted((pv for pv in b.patterns[phase] if op.name in pv.pattern.ops and pv.pattern.channels),
                          key=lambda pv: -pv.pattern.channels)
            levels = sorted({pv.pattern.channels for pv in mine})
            for lvl in levels:
                using = [(pv.var, 1) for pv in mine if pv.pattern.channels >= lvl]
                allowed = [(v, -1) for c, v in pool.items() if c >= lvl]
                self._add(_expr(using + allowed) <= 0, f"budget_b{b.index}_{phase}_{op.name}_{lvl}")

    def add_tier_order(self, b: _Block, phase: str) -> None:
        """Forbid sets of tiers that no order consistent with the DAG can hold."""
        for k, combo in enumerate(conflicting_sets(b.spec.works[phase].graph())):
            using = [(pv.var, 1) for pv in b.patterns[phase] if pv.pattern.ops in combo]
            self._add(_expr(using) <= len(combo) - 1, f"order_b{b.index}_{phase}_{k}")

    def add_pim_capacity(self, b: _Block) -> None:
        """Weights and KV caches of PIM operators fit in their model's PIM channels."""
        # In channels: CBC's absolute tolerance (1e-7) is then at most 1e-7 of the
        # room, inside the evaluator's CAPACITY_RTOL whatever a channel holds.
        cap = self.instance.system.memory.channel_capacity * 1e9      # bytes per channel
        used = {p: [(pv.var, pv.pattern.resident / cap) for pv in b.patterns[p] if pv.pattern.resident > 0]
                for p in b.spec.tables}
        if self.partition:
            for p, pairs in used.items():
                room = [(v, -c) for v, c in self._channels(b, p)]
                self._add(_expr(pairs + room) <= 0, f"cap_b{b.index}_{p}")
        else:
            room = [(v, -n) for n, v in b.arch.items()]
            self._add(_expr([pr for pairs in used.values() for pr in pairs] + room) <= 0, f"cap_b{b.index}")

    def add_block_objective(self, b: _Block) -> None:
        """Step time and energy of each phase; the block's latency and energy per token."""
        inst, spec = self.instance, b.spec
        devices = inst.system.devices
        for p, table in spec.tables.items():
            L = spec.works[p].layers
            pats = b.patterns[p]
            t_pairs = [(pv.var, pv.pattern.time * TIME_SCALE * (1 if pv.pattern.head else L)) for pv in pats]
            t_const = (L * table.layer_const_time + table.step_const_time) * TIME_SCALE
            b.step_time[p] = _expr(t_pairs + self._z(b, t_const), self._zc(t_const))
            e_pairs = [(pv.var, pv.pattern.energy * ENERGY_SCALE * devices * (1 if pv.pattern.head else L))
                       for pv in pats]
            e_const = (L * table.layer_const_energy + table.step_const_energy) * ENERGY_SCALE * devices
            b.step_energy[p] = _expr(e_pairs + self._z(b, e_const), self._zc(e_const))
        g = spec.draft_len
        e_tok = inst.expected_tokens(g)
        weight = {DRAFT: g / e_tok, VERIFY: 1.0 / e_tok}
        b.latency = _combine([(b.step_time[p], weight[p]) for p in spec.tables])
        # W × (latency in MILP time units) → MILP energy units
        static = inst.system.host.static_power * devices * ENERGY_SCALE / TIME_SCALE
        b.energy = _combine([(b.step_energy[p], weight[p] / inst.workload.batch) for p in spec.tables]
                            + [(b.latency, static / inst.workload.batch)])

    def add_latency_bound(self, b: _Block) -> None:
        bound = self.instance.objective.latency_bound
        if bound is not None and self.instance.objective.metric == ENERGY:
            limit = bound * TIME_SCALE
            self._add(_combine([(b.latency, 1.0), (_expr(self._z(b, -limit), -self._zc(limit)), 1.0)]) <= 0,
                      f"latbound_b{b.index}")

    # -- reading a solution ---------------------------------------------
    def chosen_block(self) -> _Block:
        if not self.selecting:
            return self.blocks[0]
        return max(self.blocks, key=lambda b: b.z.value() or 0.0)

    def mapping(self, b: _Block) -> Mapping:
        """The mapping encoded by the current variable values of block b."""
        spec = b.spec
        n = next((n for n, v in b.arch.items() if v.value() > 0.5), 0)
        if self.partition:
            share = {p: next((c for c, v in s.items() if v.value() > 0.5), 0) for p, s in b.share.items()}
            d, t = share.get(DRAFT, 0), share.get(VERIFY, n)
        else:
            d = t = n
        arch = Architecture(spec.option.name if spec.option else None, n, d, t, spec.draft_len)
        phases = {}
        for p, pats in b.patterns.items():
            chosen = [pv.pattern for pv in pats if pv.var.value() > 0.5]
            layer = [q for q in chosen if not q.head]
            by_ops = {q.ops: q for q in layer}
            ordered = tier_order(spec.works[p].graph(), list(by_ops))
            ops: dict[str, Placement] = {}
            for tier, members in enumerate(ordered):
                q = by_ops[members]
                for name, (engine, k) in zip(q.ops, q.engines):
                    ops[name] = Placement(engine, k, tier)
            for q in chosen:
                if q.head:
                    engine, k = q.engines[0]
                    ops[q.ops[0]] = Placement(engine, k, None)
            phases[p] = ops
        return Mapping(arch, phases)


def _tier_name(q: TierPattern) -> str:
    """Readable, unique variable suffix: operators with H (host) or P<k> (PIM on k channels)."""
    return "_".join(f"{op}{'P' + str(k) if engine == PIM else 'H'}" for op, (engine, k) in zip(q.ops, q.engines))


def _combine(terms: list[tuple[pulp.LpAffineExpression, float]]) -> pulp.LpAffineExpression:
    """Σ w·e over expressions, built in one pass."""
    pairs: dict[pulp.LpVariable, float] = {}
    const = 0.0
    for e, w in terms:
        for v, c in e.items():
            pairs[v] = pairs.get(v, 0.0) + c * w
        const += e.constant * w
    return _expr(pairs.items(), const)
