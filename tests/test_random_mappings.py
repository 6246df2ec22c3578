"""No mapping the evaluator accepts beats the MILP optimum.

Three attacks, all scored by the independent evaluator only: random
mappings drawn from the design space's definition (random architecture,
random DAG-respecting tiers, random engines and channel groups within each
tier's budget); every single-step change of the optimal mapping (one
operator's engine or channel group, one operator to another tier, two
adjacent tiers merged, a tier split, another γ, split, channel count or PIM
option); and local search from random mappings that keeps any improving
single-step change.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import partial

import networkx as nx
import numpy as np
import pytest

import specpim
from helpers import with_fields
from helpers.random_instances import CBC_INCREMENT_CASE, TINY, random_instance
from specpim.core.enums import Allocation, Metric, Phase
from specpim.core.errors import InstanceError
from specpim.evaluation.evaluator import evaluate
from specpim.problem.mapping import HOST, PIM, Architecture, Mapping, Placement

RTOL = 1e-9


def _tiny(**changes) -> dict:
    return with_fields(TINY, {path.replace("__", "."): value for path, value in changes.items()})


CASES = {
    "tiny": _tiny(),
    "tiny-energy-shared": _tiny(objective="energy", design_space__allocation="shared"),
    "tiny-throughput-tight": _tiny(objective="throughput", system__memory__channel_capacity=0.03),
    "tiny-energy-bound": _tiny(objective={"metric": "energy", "latency_bound": 0.7}),
    "cbc-increment": CBC_INCREMENT_CASE,
    **{f"random-{seed}": random_instance(seed) for seed in (1, 3, 4, 7, 13, 20)},
}


class Scorer:
    """The evaluator, with the quantity the objective minimises (latency for
    latency and throughput) or None when the mapping breaks a rule.  Channel
    groups sit where the solver puts them (the evaluator's default when a
    mapping names no first channel): the solver is optimal for that layout."""

    def __init__(self, inst):
        self.inst = inst
        self.energy = inst.objective.metric == Metric.ENERGY
        self.scored = self.rejected = 0

    def __call__(self, mapping: Mapping) -> float | None:
        canonical = Mapping(mapping.architecture, {
            p: {n: Placement(pl.engine, pl.channels, pl.tier) for n, pl in ops.items()}
            for p, ops in mapping.phases.items()})
        try:
            m = evaluate(self.inst, canonical)
        except InstanceError:
            self.rejected += 1
            return None
        self.scored += 1
        if self.energy and not m.latency_bound_met:
            return None
        return m.energy_per_token if self.energy else m.latency_per_token


def _optimum(inst) -> tuple[Mapping, float]:
    sol = specpim.solve(inst, baselines=False)
    assert sol.status == "optimal"
    value = sol.metrics.energy_per_token if inst.objective.metric == Metric.ENERGY else sol.metrics.latency_per_token
    if inst.objective.metric == Metric.THROUGHPUT:
        # throughput = batch / latency: the best mapping has the highest throughput
        assert np.isclose(sol.objective, inst.workload.batch / value, rtol=1e-9)
    return sol.mapping, value


# -- random mappings from the definition of the space -------------------------------

def _architectures(inst) -> list[Architecture]:
    ds = inst.design_space
    out = []
    for option in inst.options():
        counts = [0] if option is None else [
            n for n in ds.pim_channels if (ds.area_budget is None or n * option.area <= ds.area_budget * (1 + 1e-9))
            and (inst.system.memory_model == "striped" or n < inst.system.memory.channels)]
        for n, g in itertools.product(counts, inst.draft_lens):
            if ds.allocation != Allocation.PARTITION:
                splits = [(n, n)]
            elif Phase.DRAFT in inst.phases(g):
                splits = [(d, n - d) for d in range(0, n + 1, ds.channel_step)]
            else:
                splits = [(0, n)]
            out += [Architecture(option.name if option else None, n, d, t, g) for d, t in splits]
    return out


def _random_tiers(graph: nx.DiGraph, rng: np.random.Generator) -> list[list[str]]:
    """A random ordered tiering: each tier a non-empty random subset of the
    operators whose predecessors are all placed."""
    placed: set[str] = set()
    tiers = []
    while len(placed) < len(graph):
        ready = [v for v in graph if v not in placed and all(u in placed for u in graph.predecessors(v))]
        pick = [v for v in ready if rng.random() < 0.5] or [ready[int(rng.integers(len(ready)))]]
        tiers.append(pick)
        placed.update(pick)
    return tiers


def _random_engine(inst, budget: int, rng: np.random.Generator, pim_share: float) -> tuple[str, int]:
    groups = [k for k in inst.design_space.channel_counts if k <= budget]
    if not groups or rng.random() >= pim_share:
        return HOST, 0
    return PIM, int(rng.choice(groups))


def random_mapping(inst, rng: np.random.Generator) -> Mapping:
    """A mapping that meets every structural rule by construction (capacity
    may still reject it)."""
    archs = _architectures(inst)
    arch = archs[int(rng.integers(len(archs)))]
    pim_share = float(rng.uniform(0.2, 0.9)) if arch.pim_option else 0.0
    phases = {}
    for p in inst.phases(arch.draft_len):
        budget = arch.draft_channels if p == Phase.DRAFT else arch.target_channels
        work = inst.phase(p, arch.draft_len)
        ops = {}
        for tier, members in enumerate(_random_tiers(work.graph(), rng)):
            left = budget
            for name in rng.permutation(members):
                engine, k = _random_engine(inst, left, rng, pim_share)
                ops[str(name)] = Placement(engine, k, tier)
                left -= k
        engine, k = _random_engine(inst, budget, rng, pim_share)
        ops[work.head.name] = Placement(engine, k, None)
        phases[p] = ops
    return Mapping(arch, phases)


# -- single-step changes ------------------------------------------------------------

def _with_phase(mapping: Mapping, phase: str, ops: dict[str, Placement], arch: Architecture | None = None) -> Mapping:
    phases = {p: dict(o) for p, o in mapping.phases.items()}
    phases[phase] = ops
    return Mapping(arch or mapping.architecture, phases)


def _renumber(ops: dict[str, Placement]) -> dict[str, Placement]:
    order = sorted({pl.tier for pl in ops.values() if pl.tier is not None})
    new = {t: i for i, t in enumerate(order)}
    return {n: Placement(pl.engine, pl.channels, None if pl.tier is None else new[pl.tier]) for n, pl in ops.items()}


def moves(inst, mapping: Mapping) -> list[Callable[[], Mapping]]:
    """Every single-step change of ``mapping``, each built on demand (some
    break rules; the evaluator sorts them out)."""
    a = mapping.architecture
    engines = [(HOST, 0)] + [(PIM, k) for k in inst.design_space.channel_counts]
    out: list[Callable[[], Mapping]] = []

    def phase_move(p: str, change: Callable[[dict[str, Placement]], dict[str, Placement]]) -> None:
        out.append(lambda: _with_phase(mapping, p, change(dict(mapping.phases[p]))))

    def engine_move(ops, name, engine, k):
        return {**ops, name: Placement(engine, k, ops[name].tier)}

    def tier_move(ops, name, t):
        # tiers at even slots; odd slots are new tiers between them
        moved = {n: Placement(q.engine, q.channels, None if q.tier is None else 2 * q.tier) for n, q in ops.items()}
        moved[name] = Placement(ops[name].engine, ops[name].channels, t)
        return _renumber(moved)

    def merge(ops, t):
        return _renumber({n: Placement(q.engine, q.channels, t if q.tier == t + 1 else q.tier)
                          for n, q in ops.items()})

    def split(ops, t, first):
        return _renumber({n: Placement(q.engine, q.channels,
                                       None if q.tier is None else 2 * q.tier + (q.tier == t and n not in first))
                          for n, q in ops.items()})

    for p, ops in mapping.phases.items():
        tiers = sorted({pl.tier for pl in ops.values() if pl.tier is not None})
        for name, pl in ops.items():
            for engine, k in engines:                           # another engine or channel group
                if (engine, k) != (pl.engine, pl.channels):
                    phase_move(p, partial(engine_move, name=name, engine=engine, k=k))
            if pl.tier is not None:                             # to another or a new tier
                for t in [2 * x for x in tiers if x != pl.tier] + [2 * x + 1 for x in [-1] + tiers]:
                    phase_move(p, partial(tier_move, name=name, t=t))
        for t in tiers[:-1]:                                    # merge tier t with the next
            phase_move(p, partial(merge, t=t))
        for t in tiers:                                         # split tier t in two
            members = [n for n, q in ops.items() if q.tier == t]
            for r in range(1, len(members)):
                for first in itertools.combinations(members, r):
                    phase_move(p, partial(split, t=t, first=first))
    ds = inst.design_space
    archs = []
    for g in inst.draft_lens:                                   # another γ, same placements
        archs.append(Architecture(a.pim_option, a.pim_channels, a.draft_channels, a.target_channels, g))
    for option in ds.pim_options:                               # another PIM option
        archs.append(Architecture(option, a.pim_channels, a.draft_channels, a.target_channels, a.draft_len))
    for n in ds.pim_channels:                                   # another channel count
        if ds.allocation == Allocation.PARTITION:
            archs += [Architecture(a.pim_option, n, a.draft_channels, n - a.draft_channels, a.draft_len),
                      Architecture(a.pim_option, n, n - a.target_channels, a.target_channels, a.draft_len)]
        else:
            archs.append(Architecture(a.pim_option, n, n, n, a.draft_len))
    if ds.allocation == Allocation.PARTITION:                              # another split
        for d in range(0, a.pim_channels + 1, ds.channel_step):
            archs.append(Architecture(a.pim_option, a.pim_channels, d, a.pim_channels - d, a.draft_len))
    for arch in archs:
        phases = inst.phases(arch.draft_len)
        if arch != a and set(phases) <= set(mapping.phases):
            out.append(partial(Mapping, arch, {p: mapping.phases[p] for p in phases}))
    return out


# -- the tests --------------------------------------------------------------------------

@pytest.fixture(scope="module", params=sorted(CASES), ids=str)
def case(request):
    inst = specpim.load_instance(CASES[request.param])
    mapping, value = _optimum(inst)
    return inst, mapping, value


def test_random_mappings_do_not_beat_the_optimum(case):
    inst, _, best = case
    score = Scorer(inst)
    rng = np.random.default_rng(7)
    values = [v for v in (score(random_mapping(inst, rng)) for _ in range(300)) if v is not None]
    # Capacity rejects some; a latency bound may leave few that count.
    assert score.scored >= 100, f"the evaluator accepted only {score.scored} of 300 random mappings"
    assert min(values, default=np.inf) >= best * (1 - RTOL), (min(values), best)


def test_no_single_change_improves_the_optimum(case):
    inst, mapping, best = case
    score = Scorer(inst)
    assert np.isclose(score(mapping), best, rtol=1e-9)
    values = [v for v in (score(move()) for move in moves(inst, mapping)) if v is not None]
    assert len(values) >= 10, "the neighbourhood is (almost) empty: the moves are broken"
    assert min(values) >= best * (1 - RTOL), (min(values), best)


def descend(inst, score: Scorer, mapping: Mapping, value: float, rng: np.random.Generator) -> float:
    """First-improvement local search over ``moves`` until no single change
    improves; returns the value reached."""
    improved = True
    while improved:
        improved = False
        options = moves(inst, mapping)
        for i in rng.permutation(len(options)):
            trial = options[i]()
            v = score(trial)
            if v is not None and v < value * (1 - 1e-12):
                mapping, value, improved = trial, v, True
                break
    return value


def _valid_start(inst, score: Scorer, rng: np.random.Generator) -> tuple[Mapping, float] | None:
    """A random mapping the evaluator accepts, if one turns up within 500 draws
    (where capacity is tight, most random mappings overflow a channel)."""
    for _ in range(500):
        start = random_mapping(inst, rng)
        value = score(start)
        if value is not None:
            return start, value
    return None


def test_local_search_does_not_beat_the_optimum(case):
    inst, _, best = case
    score = Scorer(inst)
    rng = np.random.default_rng(11)
    starts = 0
    for _ in range(10):
        found = _valid_start(inst, score, rng)
        if found is None:
            continue
        starts += 1
        reached = descend(inst, score, *found, rng)
        assert reached >= best * (1 - RTOL), (reached, best)
    assert starts >= 3, "random mappings are (almost) never valid: the generator is broken"


def test_neighbourhood_reaches_an_improvement_when_there_is_one(tiny):
    # The moves must be able to find something: from a poor mapping (all on
    # the host, one operator per tier, on the best architecture) some single
    # change is an improvement.
    mapping, best = _optimum(tiny)
    score = Scorer(tiny)
    host = {p: {n: Placement(HOST, 0, pl.tier) for n, pl in ops.items()} for p, ops in mapping.phases.items()}
    poor = Mapping(mapping.architecture, host)
    assert score(poor) > best
    assert min(v for v in (score(move()) for move in moves(tiny, poor)) if v is not None) < score(poor)
