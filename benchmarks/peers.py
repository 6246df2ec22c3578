"""Search peers on specpim's own cost model: a genetic algorithm and random search.

SpecPIM (ASPLOS 2024) and the H²-LLM artifact explore the architecture and the
dataflow with a genetic algorithm.  This module runs that kind of search over
the same design space specpim solves exactly, with specpim's independent
evaluator (``specpim.evaluate``) as the fitness, so the two can be compared on
one cost model (benchmarks/bench_peers.py does).

A genome is an architecture (PIM option or none, PIM channel count, draft/target
split, γ) plus, per phase, a tiering of the layer DAG (a tier number per
operator, strictly increasing along every edge, so each tier is an antichain)
and an engine per operator: 0 for the host or k PIM channels.  Repair keeps
every tier's PIM groups within the phase's channels; the evaluator lays the
groups out (``first_channel`` left None) as the solver does.  A genome the
evaluator rejects, or one missing the energy objective's latency bound, gets a
penalty fitness.

    python benchmarks/peers.py INSTANCE.yaml [--seed S] [--random] [--population N] [--generations G]
                               [--target VALUE] [--time-limit S]

Python: ``run_ga(instance, seed)`` and ``run_random(instance, seed)`` return a
``Trace``: a list of (seconds, evaluations, best objective), one row each time
the best improves, with the best mapping and the totals as attributes.  The
objective is in the instance's metric (tokens/s for throughput); seconds count
from the first genome (the instance already loaded); evaluations count calls
of ``specpim.evaluate`` (a genome seen before is not evaluated again).
"""

from __future__ import annotations

import argparse
import math
import random
import time
from dataclasses import dataclass, replace
from pathlib import Path

import specpim
from specpim import Architecture, Engine, Mapping, Metric, Phase, Placement

INFEASIBLE = 2        # fitness class: the evaluator rejected the mapping
BOUND_MISSED = 1      # fitness class: feasible but over the latency bound
TOURNAMENT = 3
CROSSOVER_RATE = 0.9
ARCH_MUTATION = 0.1   # per architecture field
TIER_SLACK = 0.5      # chance that a random tiering delays an operator past its earliest tier


@dataclass(frozen=True)
class PhaseGene:
    tiers: tuple[int, ...]   # per layer operator, compressed to 0..T-1
    chans: tuple[int, ...]   # per operator (layer operators, then the LM head); 0 = host


@dataclass(frozen=True)
class Genome:
    option: str | None
    n: int
    draft: int               # the draft model's PIM channels (all n when shared)
    gamma: int
    phases: tuple[PhaseGene, ...]


class Trace(list):
    """(seconds, evaluations, best objective) each time the best improves."""

    def __init__(self) -> None:
        super().__init__()
        self.best_mapping: Mapping | None = None
        self.best_genome: Genome | None = None
        self.evaluations = 0
        self.seconds = 0.0

    @property
    def best(self) -> float | None:
        return self[-1][2] if self else None


class _Stop(Exception):
    """The target was reached or the time ran out."""


@dataclass(frozen=True)
class _PhaseShape:
    phase: Phase
    names: tuple[str, ...]                  # layer operators, then the LM head
    preds: tuple[tuple[int, ...], ...]      # per layer operator
    succs: tuple[tuple[int, ...], ...]
    topo: tuple[int, ...]                   # layer operators in a DAG order


def _shape(work, phase: Phase) -> _PhaseShape:
    layer = [o.name for o in work.layer_ops]
    idx = {name: i for i, name in enumerate(layer)}
    preds: list[list[int]] = [[] for _ in layer]
    succs: list[list[int]] = [[] for _ in layer]
    for u, v in work.edges:
        preds[idx[v]].append(idx[u])
        succs[idx[u]].append(idx[v])
    topo, indeg = [], [len(p) for p in preds]
    ready = [i for i, d in enumerate(indeg) if d == 0]
    while ready:
        i = ready.pop(0)
        topo.append(i)
        for j in succs[i]:
            indeg[j] -= 1
            if indeg[j] == 0:
                ready.append(j)
    return _PhaseShape(phase, tuple(layer) + (work.head.name,), tuple(map(tuple, preds)),
                       tuple(map(tuple, succs)), tuple(topo))


def _compress(tiers: list[int]) -> tuple[int, ...]:
    rank = {t: r for r, t in enumerate(sorted(set(tiers)))}
    return tuple(rank[t] for t in tiers)


class Space:
    """The genome space of one instance, read from its public design-space rules."""

    def __init__(self, instance: specpim.Instance):
        self.inst = instance
        ds, system = instance.design_space, instance.system
        self.options: list[str | None] = []
        self.counts: dict[str | None, tuple[int, ...]] = {}
        for opt in instance.options():
            counts = ds.allowed_counts(opt, system)
            if counts:   # an option the area budget rules out entirely is no design
                name = opt.name if opt is not None else None
                self.options.append(name)
                self.counts[name] = counts
        self.group_sizes = ds.channel_counts
        self.gammas = instance.draft_lens
        self.speculative = instance.speculative
        self.partitioned = ds.partitioned
        g0 = self.gammas[0]
        self.shapes = tuple(_shape(instance.phase(p, g0), p) for p in instance.phases(g0))
        metric = instance.objective.metric
        self.maximise = metric == Metric.THROUGHPUT
        self.by_energy = metric == Metric.ENERGY

    # -- architecture ------------------------------------------------------
    def splits(self, n: int) -> tuple[tuple[int, int], ...]:
        return self.inst.design_space.splits(n, self.speculative)

    def budget(self, g: Genome, phase: Phase) -> int:
        if g.option is None:
            return 0
        if not self.partitioned:
            return g.n
        return g.draft if phase == Phase.DRAFT else g.n - g.draft

    # -- random genomes ------------------------------------------------------
    def random_tiers(self, rng: random.Random, shape: _PhaseShape) -> tuple[int, ...]:
        tiers = [0] * len(shape.preds)
        for i in shape.topo:
            tiers[i] = max((tiers[u] + 1 for u in shape.preds[i]), default=0)
            if rng.random() < TIER_SLACK:
                tiers[i] += rng.randint(1, 2)
        return _compress(tiers)

    def random_size(self, rng: random.Random, budget: int) -> int:
        sizes = [k for k in self.group_sizes if k <= budget]
        return rng.choice(sizes) if sizes else 0

    def random_genome(self, rng: random.Random) -> Genome:
        option = rng.choice(self.options)
        n = rng.choice(self.counts[option])
        draft = rng.choice(self.splits(n))[0] if option is not None else 0
        g = Genome(option, n, draft, rng.choice(self.gammas), ())
        phases = []
        for shape in self.shapes:
            b = self.budget(g, shape.phase)
            chans = tuple(self.random_size(rng, b) if rng.random() < 0.5 else 0 for _ in shape.names)
            phases.append(PhaseGene(self.random_tiers(rng, shape), chans))
        return self.repair(replace(g, phases=tuple(phases)))

    # -- repair --------------------------------------------------------------
    def repair(self, g: Genome) -> Genome:
        """Bring the architecture into the space and every tier's groups within its phase's channels."""
        counts = self.counts[g.option]
        n = g.n if g.n in counts else min(counts, key=lambda c: (abs(c - g.n), c))
        if g.option is None:
            draft = 0
        else:
            shares = [d for d, _ in self.splits(n)]
            draft = g.draft if g.draft in shares else min(shares, key=lambda d: (abs(d - g.draft), d))
        g = replace(g, n=n, draft=draft)
        return replace(g, phases=tuple(self.repair_phase(pg, s, self.budget(g, s.phase))
                                       for pg, s in zip(g.phases, self.shapes, strict=True)))

    def repair_phase(self, pg: PhaseGene, shape: _PhaseShape, budget: int) -> PhaseGene:
        sizes = [k for k in self.group_sizes if k <= budget]
        chans = [max((k for k in sizes if k <= c), default=0) if c else 0 for c in pg.chans]
        head = len(shape.names) - 1
        groups: dict[int, list[int]] = {}
        for i, t in enumerate(pg.tiers):
            groups.setdefault(t, []).append(i)
        groups[-1] = [head]   # the LM head runs alone after the layers
        for members in groups.values():
            while sum(chans[i] for i in members) > budget:
                # shrink the largest group one size down (to the host below the smallest)
                i = max(members, key=lambda m: chans[m])
                chans[i] = max((k for k in sizes if k < chans[i]), default=0)
        return PhaseGene(pg.tiers, tuple(chans))

    # -- variation -----------------------------------------------------------
    def crossover(self, rng: random.Random, a: Genome, b: Genome) -> Genome:
        pick = lambda x, y: x if rng.random() < 0.5 else y
        option = pick(a.option, b.option)
        phases = []
        for pa, pb in zip(a.phases, b.phases, strict=True):
            if rng.random() < 0.5:   # a whole phase from one parent
                phases.append(pick(pa, pb))
            else:                    # one parent's tiering, engines mixed per operator
                chans = tuple(pick(x, y) for x, y in zip(pa.chans, pb.chans, strict=True))
                phases.append(PhaseGene(pick(pa, pb).tiers, chans))
        child = Genome(option, pick(a.n, b.n), pick(a.draft, b.draft), pick(a.gamma, b.gamma), tuple(phases))
        return self.repair(child)

    def mutate(self, rng: random.Random, g: Genome) -> Genome:
        option, n, draft, gamma = g.option, g.n, g.draft, g.gamma
        if rng.random() < ARCH_MUTATION:
            option = rng.choice(self.options)
        if rng.random() < ARCH_MUTATION:
            n = _step_or_jump(rng, self.counts.get(option, (0,)), n)
        if rng.random() < ARCH_MUTATION and option is not None:
            draft = _step_or_jump(rng, [d for d, _ in self.splits(n)], draft)
        if rng.random() < ARCH_MUTATION:
            gamma = _step_or_jump(rng, self.gammas, gamma)
        arch = self.repair(Genome(option, n, draft, gamma, g.phases))
        phases = []
        for pg, shape in zip(arch.phases, self.shapes, strict=True):
            budget = self.budget(arch, shape.phase)
            tiers, chans = list(pg.tiers), list(pg.chans)
            rate = 1.0 / len(shape.names)
            for i in range(len(shape.names)):
                if rng.random() >= rate:
                    continue
                kind = rng.randrange(3) if i < len(tiers) else rng.randrange(2)
                if kind == 0:     # engine: host ↔ PIM
                    chans[i] = 0 if chans[i] else self.random_size(rng, budget)
                elif kind == 1:   # group size: a neighbouring size, or any
                    sizes = [k for k in self.group_sizes if k <= budget]
                    if chans[i] and sizes:
                        chans[i] = _step_or_jump(rng, sizes, chans[i])
                else:             # tier move: to another tier its edges allow, or a new one between
                    tiers = _move(rng, shape, tiers, i)
            phases.append(PhaseGene(tuple(tiers), tuple(chans)))
        return self.repair(replace(arch, phases=tuple(phases)))

    # -- decoding ------------------------------------------------------------
    def mapping(self, g: Genome) -> Mapping:
        if g.option is None:
            arch = Architecture(None, 0, 0, 0, g.gamma)
        elif self.partitioned:
            arch = Architecture(g.option, g.n, g.draft, g.n - g.draft, g.gamma)
        else:
            arch = Architecture(g.option, g.n, g.n, g.n, g.gamma)
        phases = {}
        for pg, shape in zip(g.phases, self.shapes, strict=True):
            ops = {}
            for i, name in enumerate(shape.names):
                tier = pg.tiers[i] if i < len(pg.tiers) else None
                c = pg.chans[i]
                ops[name] = Placement(Engine.PIM, c, tier) if c else Placement(Engine.HOST, 0, tier)
            phases[shape.phase] = ops
        return Mapping(arch, phases)


def _step_or_jump(rng: random.Random, values, current):
    """A neighbour of ``current`` in ``values`` (sorted), or any value."""
    values = list(values)
    if current not in values or rng.random() < 0.3:
        return rng.choice(values)
    i = values.index(current) + rng.choice((-1, 1))
    return values[min(max(i, 0), len(values) - 1)]


def _move(rng: random.Random, shape: _PhaseShape, tiers: list[int], i: int) -> list[int]:
    # Doubled tier numbers: even = an existing tier, odd = a new tier between two.
    doubled = [2 * t for t in tiers]
    lo = max((doubled[u] + 1 for u in shape.preds[i]), default=-1)
    hi = min((doubled[w] - 1 for w in shape.succs[i]), default=max(doubled) + 1)
    doubled[i] = rng.randint(lo, hi)
    return list(_compress(doubled))


class _Fitness:
    """specpim.evaluate with a cache, a trace of improvements and the stopping rules."""

    def __init__(self, space: Space, target: float | None, time_limit: float | None, budget: int | None = None):
        self.space, self.target, self.time_limit, self.budget = space, target, time_limit, budget
        self.cache: dict[Genome, tuple[int, float]] = {}
        self.trace = Trace()
        self.best_key: tuple[int, float] = (INFEASIBLE + 1, 0.0)
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def __call__(self, g: Genome) -> tuple[int, float]:
        hit = self.cache.get(g)
        if hit is not None:
            return hit
        if self.budget is not None and self.trace.evaluations >= self.budget:
            raise _Stop
        if self.time_limit is not None and self.elapsed() >= self.time_limit:
            raise _Stop
        key, value, mapping = self.score(g)
        self.trace.evaluations += 1
        self.cache[g] = key
        if key < self.best_key:
            self.best_key = key
            if key[0] == 0:
                self.trace.append((self.elapsed(), self.trace.evaluations, value))
                self.trace.best_mapping, self.trace.best_genome = mapping, g
                if self.target is not None and (value >= self.target if self.space.maximise
                                                else value <= self.target):
                    raise _Stop
        return key

    def score(self, g: Genome) -> tuple[tuple[int, float], float, Mapping]:
        mapping = self.space.mapping(g)
        try:
            m = specpim.evaluate(self.space.inst, mapping)
        except specpim.InstanceError:
            return (INFEASIBLE, 0.0), math.nan, mapping
        if not m.latency_bound_met:
            return (BOUND_MISSED, m.latency_per_token), math.nan, mapping
        # throughput is maximised by minimising latency (docs/formulation.md §3)
        return (0, m.energy_per_token if self.space.by_energy else m.latency_per_token), m.objective, mapping

    def finish(self) -> Trace:
        self.trace.seconds = self.elapsed()
        return self.trace


def _load(instance) -> specpim.Instance:
    return instance if isinstance(instance, specpim.Instance) else specpim.load_instance(instance)


def run_ga(instance, seed: int, population: int = 1000, generations: int = 30, target: float | None = None,
           time_limit: float | None = None) -> Trace:
    """A generational GA: tournament selection, crossover, mutation, elitism (1% of the population)."""
    space = Space(_load(instance))
    rng = random.Random(seed)
    fit = _Fitness(space, target, time_limit)
    elite = max(1, population // 100)
    try:
        pop = [space.random_genome(rng) for _ in range(population)]
        keys = [fit(g) for g in pop]
        for _ in range(generations):
            order = sorted(range(population), key=keys.__getitem__)
            children = [pop[i] for i in order[:elite]]
            while len(children) < population:
                a = _tournament(rng, pop, keys)
                child = space.crossover(rng, a, _tournament(rng, pop, keys)) if rng.random() < CROSSOVER_RATE else a
                children.append(space.mutate(rng, child))
            pop = children
            keys = [fit(g) for g in pop]
    except _Stop:
        pass
    return fit.finish()


def _tournament(rng: random.Random, pop: list[Genome], keys: list[tuple[int, float]]) -> Genome:
    return pop[min(rng.sample(range(len(pop)), TOURNAMENT), key=keys.__getitem__)]


def run_random(instance, seed: int, population: int = 1000, generations: int = 30, target: float | None = None,
               time_limit: float | None = None, evaluations: int | None = None) -> Trace:
    """Random genomes until ``evaluations`` evaluator calls (default: the GA's nominal
    population × (generations + 1)), the target or the time limit."""
    space = Space(_load(instance))
    rng = random.Random(seed)
    budget = evaluations if evaluations is not None else population * (generations + 1)
    fit = _Fitness(space, target, time_limit, budget)
    try:
        for _ in range(20 * budget):   # repeats cost no evaluation; a small space may hold fewer genomes
            fit(space.random_genome(rng))
    except _Stop:
        pass
    return fit.finish()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("instance", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--random", action="store_true", help="random search instead of the GA")
    ap.add_argument("--population", type=int, default=1000)
    ap.add_argument("--generations", type=int, default=30)
    ap.add_argument("--target", type=float, help="stop once the objective reaches this value (instance's unit)")
    ap.add_argument("--time-limit", type=float)
    args = ap.parse_args()
    run = run_random if args.random else run_ga
    trace = run(args.instance, args.seed, args.population, args.generations, args.target, args.time_limit)
    print(f"{'seconds':>9} {'evals':>7}  best objective")
    for s, n, v in trace:
        print(f"{s:9.2f} {n:7d}  {v:.9g}")
    print(f"{trace.evaluations} evaluations in {trace.seconds:.1f} s")
    if trace.best_mapping is not None:
        print(trace.best_mapping.architecture)


if __name__ == "__main__":
    main()
