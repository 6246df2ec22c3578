r"""The SpecPIM co-design MILP.

Blocks.  The design space is a disjoint union of blocks b = (PIM option o_b
or none, PIM channels per device n_b, draft length γ_b): a block fixes which
cost tables apply (the host's channels depend on n when host data lives only
in the channels without PIM), the static power and how much the draft phase
weighs.  Inside a block, the draft/target split and the dataflow of both
phases are decided together.  The full problem picks one block:

    min Σ_b obj_b    s.t.  Σ_b z_b = 1,  every row of block b scaled by z_b.

The blocks share nothing but that row, so solving each block with z_b fixed
to 1 and keeping the best is the same optimisation (solvers/cbc.py does this
and skips blocks whose lower bound cannot win).  ``CoDesignMILP`` builds one
block (its z_b fixed to 1) or several, linked by ``block_selection``.

Sets, per block and phase p ∈ {draft, verify} (verify alone when γ = 0)
    J_p      layer operators; DAG edges E_p; h the LM head
    Q_p      tier patterns (formulation/patterns.py): an antichain A_q ⊆ J_p
             with an engine per member; t_q time, κ_q channels, e_q energy,
             m_q bytes per channel of its heaviest PIM group, B_q bytes in PIM;
             plus one pattern per LM-head engine
    S        channel shares {0, step, 2·step, …, n_b}
    X        conflicting sets: antichains that cannot all be tiers together

Constants: N channels per device of cap bytes each; T = the bytes of weights
and KV caches one device holds; N_h the host's channels.

Variables
    z_b ∈ {0,1}       block selector (fixed to 1 when a block is solved alone)
    s_{p,c} ∈ {0,1}   phase p's model gets c of the n_b PIM channels (partition, speculative)
    x_q ∈ {0,1}       pattern q is one tier of its phase (the head's engine for head patterns)
    U_{p,c}, Y_{j,ℓ}  running sums that write channel_budget sparsely (continuous, determined by s and x)

Channels of phase p: C_p = Σ_c c·s_{p,c} under a partition of a speculative
instance, otherwise C_p = n_b (patterns never ask for more than n_b).

Constraints (one ``add_*`` method each; rows are named after the family)
    architecture_choice  Σ_c s_{p,c} = z_b per phase;  Σ_p Σ_c c·s_{p,c} = n_b·z_b
    block_selection      Σ_b z_b = 1 (several blocks)
    cover                Σ_{q ∋ j} x_q = z_b  for every j ∈ J_p ∪ {h}
    channel_budget       Σ_{q ∋ j, κ_q ≥ ℓ} x_q ≤ Σ_{c ≥ ℓ} s_{p,c}  for every j and level ℓ
    tier_order           Σ_{q: A_q ∈ X} x_q ≤ |X| − 1  for every conflicting set X
    pim_capacity         the first channel of each model's range holds the most (canonical layout):
                           striped:      Σ_{q ∈ P} m_q x_q + (T − Σ_q B_q x_q)/N ≤ cap·z_b
                           partitioned:  Σ_{q ∈ P} m_q x_q ≤ cap·z_b
                         with P = the phase's patterns (partition) or both phases' (shared)
    host_capacity        host data fits its channels:  T − Σ_q B_q x_q ≤ N_h·cap·z_b
    alternatives         s_{draft,d} = 0 for every split d already reported (no-good cuts; one block,
                         when the K best architectures are asked for)
    latency_bound        latency_b ≤ bound · z_b  (energy objective)
    energy_bound         energy_b ≤ bound · z_b   (latency and throughput objectives)

Step time and objective (t^L_p, e^L_p: element-wise work and all-reduces of a
layer; t^S_p, e^S_p: of a step, with the LM head's all-gather)
    step_p   = L_p (Σ_{layer q} t_q x_q + t^L_p z_b) + Σ_{head q} t_q x_q + t^S_p z_b
    energy_p = D · [L_p (Σ e_q x_q + e^L_p z_b) + Σ_{head q} e_q x_q + e^S_p z_b]
    latency_b = (γ_b step_draft + step_verify) / E(γ_b)
    energy_b  = (γ_b energy_draft + energy_verify) / (batch · E(γ_b)) + P_b · D · latency_b / batch
    minimise Σ_b latency_b (latency and throughput) or Σ_b energy_b (energy)

P_b is the block's static power per device (host, memory background, PIM
logic on n_b channels).  A tier's time is fixed per pattern; because every
operator is covered once and tiers are antichains, the chosen patterns can be
ordered consistently with the DAG (guaranteed by tier_order), and layer time
is Σ of the chosen tier times.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pulp

from specpim.core.enums import Engine, MemoryModel, Metric, Phase
from specpim.problem.design_space import canonical_layout
from specpim.problem.mapping import Architecture, Mapping, Placement
from specpim.workload.dag import LayerDag

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
    share: dict[Phase, dict[int, pulp.LpVariable]] = field(default_factory=dict)
    patterns: dict[Phase, list[PatternVar]] = field(default_factory=dict)
    step_time: dict[Phase, pulp.LpAffineExpression] = field(default_factory=dict)
    step_energy: dict[Phase, pulp.LpAffineExpression] = field(default_factory=dict)
    latency: pulp.LpAffineExpression = field(default_factory=pulp.LpAffineExpression)
    energy: pulp.LpAffineExpression = field(default_factory=pulp.LpAffineExpression)


def _expr(pairs: Iterable[tuple[pulp.LpVariable, float]], constant: float = 0.0) -> pulp.LpAffineExpression:
    """Σ coef·var + constant; a variable given twice gets the sum of its
    coefficients (PuLP would keep only the last)."""
    merged: dict[pulp.LpVariable, float] = {}
    for v, c in pairs:
        merged[v] = merged.get(v, 0.0) + c
    return pulp.LpAffineExpression(list(merged.items()), constant=constant)


class CoDesignMILP:
    """Builds the MILP for one or more blocks of an instance."""

    def __init__(self, instance, blocks: list[BlockSpec], name: str = "specpim", exclude: tuple[int, ...] = ()):
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
            self.add_alternatives(b, exclude)
            for phase in spec.tables:
                self.add_patterns(b, phase)
                self.add_cover(b, phase)
                self.add_channel_budget(b, phase)
                self.add_tier_order(b, phase)
            self.add_pim_capacity(b)
            self.add_host_capacity(b)
            self.add_block_objective(b)
            self.add_latency_bound(b)
            self.add_energy_bound(b)
        self.add_block_selection()
        use_energy = instance.objective.metric == Metric.ENERGY
        self.prob.setObjective(_combine([(b.energy if use_energy else b.latency, 1.0) for b in self.blocks]))

    # -- helpers ---------------------------------------------------------
    def _binary(self, name: str) -> pulp.LpVariable:
        return self.prob.add_variable(name, 0, 1, pulp.LpBinary)

    def _add(self, constraint: pulp.LpConstraint, name: str) -> None:
        self.prob += constraint, name

    # -- constraint families -------------------------------------------
    def add_block_selection(self) -> None:
        """Σ_b z_b = 1: exactly one block is the design (a fixed z_b = 1 alone)."""
        if len(self.blocks) > 1:
            self._add(_expr((b.z, 1) for b in self.blocks) == 1, "block_selection")

    def add_architecture_choice(self, b: _Block) -> None:
        """Σ_c s_{p,c} = z_b per phase and Σ_p Σ_c c·s_{p,c} = n_b·z_b (partition of a speculative instance)."""
        if not self.partition or len(b.spec.tables) < 2:
            return   # every phase has all n_b channels
        i, n = b.index, b.spec.pim_channels
        for p in b.spec.tables:
            b.share[p] = {c: self._binary(f"s_b{i}_{p}_c{c}") for c in self.instance.design_space.shares(n)}
            self._add(_expr([(v, 1) for v in b.share[p].values()] + [(b.z, -1)]) == 0,
                      f"architecture_choice_b{i}_{p}")
        split = [(v, c) for p in b.spec.tables for c, v in b.share[p].items()]
        self._add(_expr(split + [(b.z, -n)]) == 0, f"architecture_choice_b{i}_split")

    def add_alternatives(self, b: _Block, exclude: tuple[int, ...]) -> None:
        """s_{draft,d} = 0 for each split d in ``exclude``: the block's
        architectures already reported are cut off (no-good cuts on the split)."""
        if not exclude:
            return
        draft = b.share.get(Phase.DRAFT)
        if draft is None:
            raise ValueError("only a block with a draft/target split has alternatives within it")
        for d in exclude:
            self._add(_expr([(draft[d], 1)]) == 0, f"alternatives_b{b.index}_d{d}")

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
        """Σ_{q ∋ j, κ_q ≥ ℓ} x_q ≤ Σ_{c ≥ ℓ} s_{p,c}: a tier needing κ channels only if the phase has ≥ κ.

        Written with running sums so that each x_q appears once per member
        (not once per level below κ_q), the same LP:
            U_{p,c} = s_{p,c} + U_{p,c⁺}                 (c⁺ the next share; U = Σ_{c' ≥ c} s_{p,c'})
            Y_{j,ℓ} = Σ_{q ∋ j, κ_q = ℓ} x_q + Y_{j,ℓ⁺}   (ℓ⁺ the next level of j's patterns)
            Y_{j,ℓ} ≤ U_{p,c(ℓ)}                          (c(ℓ) the smallest share ≥ ℓ)
        """
        pool = b.share.get(phase)
        if pool is None:
            return   # C_p = n_b, and no pattern asks for more
        tag = f"b{b.index}_{phase}"
        shares = sorted(c for c in pool if c > 0)
        at_least: dict[int, pulp.LpVariable] = {}
        for i in reversed(range(len(shares))):
            c = shares[i]
            at_least[c] = self.prob.add_variable(f"U_{tag}_c{c}", 0, 1, pulp.LpContinuous)
            tail = [(at_least[shares[i + 1]], -1)] if i + 1 < len(shares) else []
            self._add(_expr([(at_least[c], 1), (pool[c], -1)] + tail) == 0, f"channel_budget_{tag}_U{c}")
        for op in b.spec.works[phase].all_ops:
            by_level: dict[int, list[pulp.LpVariable]] = {}
            for pv in b.patterns[phase]:
                if pv.pattern.channels and op.name in pv.pattern.ops:
                    by_level.setdefault(pv.pattern.channels, []).append(pv.var)
            levels = sorted(by_level)
            running: pulp.LpVariable | None = None
            for lvl in reversed(levels):
                y = self.prob.add_variable(f"Y_{tag}_{op.name}_{lvl}", 0, 1, pulp.LpContinuous)
                tail = [(running, -1)] if running is not None else []
                self._add(_expr([(y, 1)] + [(v, -1) for v in by_level[lvl]] + tail) == 0,
                          f"channel_budget_{tag}_{op.name}_Y{lvl}")
                allowed = next(c for c in shares if c >= lvl)   # patterns never ask for more than n_b
                self._add(_expr([(y, 1), (at_least[allowed], -1)]) <= 0, f"channel_budget_{tag}_{op.name}_{lvl}")
                running = y

    def add_tier_order(self, b: _Block, phase: Phase) -> None:
        """Σ_{q: A_q ∈ X} x_q ≤ |X| − 1: no set of tiers that no DAG order can hold."""
        for k, combo in enumerate(conflicting_sets(b.spec.works[phase].dag)):
            using = [(pv.var, 1) for pv in b.patterns[phase] if pv.pattern.ops in combo]
            self._add(_expr(using) <= len(combo) - 1, f"tier_order_b{b.index}_{phase}_{k}")

    def add_pim_capacity(self, b: _Block) -> None:
        """Per model's channel range (both models' when shared): Σ m_q x_q (+ the
        channel's share of host data when striped) ≤ cap, in channel units."""
        if b.spec.option is None:
            return
        system = self.instance.system
        cap = system.memory.channel_capacity_bytes
        striped = system.memory_model == MemoryModel.STRIPED
        n_all = system.memory.channels
        groups = [[p] for p in b.spec.tables] if self.partition else [list(b.spec.tables)]
        for phases in groups:
            pairs = [(pv.var, pv.pattern.load / cap) for p in phases for pv in b.patterns[p] if pv.pattern.load]
            rhs = 1.0
            if striped:   # each channel also holds 1/N of the host data, T − Σ B_q x_q
                pairs += [(pv.var, -pv.pattern.bytes / (n_all * cap))
                          for p in b.spec.tables for pv in b.patterns[p] if pv.pattern.bytes]
                rhs -= b.spec.resident_total / (n_all * cap)
            name = f"pim_capacity_b{b.index}" + (f"_{phases[0]}" if self.partition else "")
            self._add(_combine([(_expr(pairs), 1.0), (_expr([(b.z, -rhs)]), 1.0)]) <= 0, name)

    def add_host_capacity(self, b: _Block) -> None:
        """T − Σ_q B_q x_q ≤ N_h·cap: host data fits the host's channels, in channel units."""
        system = self.instance.system
        cap = system.memory.channel_capacity_bytes
        host_channels = system.host_channels(b.spec.pim_channels)
        pairs = [(pv.var, -pv.pattern.bytes / cap) for p in b.spec.tables for pv in b.patterns[p] if pv.pattern.bytes]
        rhs = host_channels - b.spec.resident_total / cap
        self._add(_combine([(_expr(pairs), 1.0), (_expr([(b.z, -rhs)]), 1.0)]) <= 0, f"host_capacity_b{b.index}")

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
        static = spec.static_power * devices * ENERGY_SCALE / TIME_SCALE
        b.energy = _combine([(b.step_energy[p], weight[p] / inst.workload.batch) for p in spec.tables]
                            + [(b.latency, static / inst.workload.batch)])

    def add_latency_bound(self, b: _Block) -> None:
        """latency_b ≤ bound · z_b (energy objective with a latency bound)."""
        bound = self.instance.objective.latency_bound
        if bound is not None and self.instance.objective.metric == Metric.ENERGY:
            limit = bound * TIME_SCALE
            self._add(_combine([(b.latency, 1.0), (_expr([(b.z, -limit)]), 1.0)]) <= 0, f"latency_bound_b{b.index}")

    def add_energy_bound(self, b: _Block) -> None:
        """energy_b ≤ bound · z_b (latency or throughput objective with an energy bound)."""
        bound = self.instance.objective.energy_bound
        if bound is not None and self.instance.objective.metric != Metric.ENERGY:
            limit = bound * ENERGY_SCALE
            self._add(_combine([(b.energy, 1.0), (_expr([(b.z, -limit)]), 1.0)]) <= 0, f"energy_bound_b{b.index}")

    # -- reading a solution ---------------------------------------------
    def chosen_block(self) -> _Block:
        return max(self.blocks, key=lambda b: b.z.value() or 0.0)

    def mapping(self, b: _Block) -> Mapping:
        """The mapping encoded by the current variable values of block b, with
        every PIM group at its canonical place (``canonical_layout``)."""
        spec = b.spec
        n = spec.pim_channels
        if b.share:
            share = {p: next((c for c, v in s.items() if v.value() > 0.5), 0) for p, s in b.share.items()}
            d, t = share[Phase.DRAFT], share[Phase.VERIFY]
        elif self.partition:
            d, t = 0, n
        else:
            d = t = n
        arch = Architecture(spec.option_name, n, d, t, spec.draft_len)
        start = {Phase.DRAFT: 0, Phase.VERIFY: d if self.partition else 0}
        phases = {}
        for p, pats in b.patterns.items():
            chosen = [pv.pattern for pv in pats if pv.var.value() > 0.5]
            phases[p] = placements(chosen, spec.works[p].dag, start[p])
        return Mapping(arch, phases)


def placements(chosen: list[TierPattern], dag: LayerDag, start: int) -> dict[str, Placement]:
    """Placements of one phase from its chosen patterns: tiers in a DAG order,
    PIM groups laid out from channel ``start``."""
    by_ops = {q.ops: q for q in chosen if not q.head}
    ops: dict[str, Placement] = {}
    for tier, members in enumerate(tier_order(dag, list(by_ops))):
        q = by_ops[members]
        loads = dict(q.member_loads)
        pim = [(name, k, loads[name]) for name, (engine, k) in zip(q.ops, q.engines, strict=True)
               if engine == Engine.PIM]
        first = canonical_layout(pim, start)
        for name, (engine, k) in zip(q.ops, q.engines, strict=True):
            ops[name] = Placement(engine, k, tier, first.get(name))
    for q in chosen:
        if q.head:
            engine, k = q.engines[0]
            ops[q.ops[0]] = Placement(engine, k, None, start if engine == Engine.PIM else None)
    return ops


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
