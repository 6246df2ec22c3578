"""Exhaustive enumeration: an independent check of the MILP on small spaces.

Nothing here comes from ``specpim.formulation``, and the design space is
walked by this module's own enumeration (deliberately independent of the
rules in specpim.problem.design_space, so that a mistake there shows up as a
disagreement): every PIM option (or none), every channel count within
the area budget, every draft/target split, every γ and, for each phase,
every ordered tiering of the layer DAG (a tier is a non-empty set of
operators whose predecessors all sit in earlier tiers) × every engine per
operator (host, or PIM on k channels), plus the LM head's engine.

What makes that practical without losing exactness: every quantity the
objective and the constraints read is additive over tiers — time, ``cost``
(energy plus the static energy charged over that time), ``load`` (the bytes
per channel of each tier's heaviest PIM group: with the canonical layout of
specpim.problem.design_space, a model's first channel holds their sum) and
the bytes kept in PIM channels — and the objective and every constraint
only get worse when time, cost or load grows or the PIM bytes shrink.  A
partial mapping that is no better in any of them than another with the
same operators left to place is no better in any completion.  So each tier
keeps its Pareto-minimal engine choices, and the tierings are walked by
recursion over the set of operators already placed, keeping per set the
Pareto front of the ways to place the rest.  Load and bytes are keys only
where the capacity rules can bind.  Phases are then paired by brute force
over their fronts, with the capacity rules of docs/formulation.md §3
checked on each pair.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from specpim.core.deadline import Deadline
from specpim.core.enums import Allocation, Engine, MemoryModel, Metric, Phase, Status
from specpim.core.errors import InstanceError
from specpim.core.tolerances import CAPACITY_RTOL
from specpim.costs.tables import CostTable, InstanceTables
from specpim.hardware.devices import PimOption
from specpim.problem.design_space import canonical_layout
from specpim.problem.instance import Instance
from specpim.problem.mapping import Architecture, Mapping, Placement
from specpim.workload.operators import OpKind, PhaseWorkload

from .result import SolverResult

DRAFT, VERIFY = Phase.DRAFT, Phase.VERIFY
HOST, PIM = Engine.HOST, Engine.PIM
OPTIMAL, FEASIBLE, INFEASIBLE, NO_SOLUTION = Status.OPTIMAL, Status.FEASIBLE, Status.INFEASIBLE, Status.NO_SOLUTION

TIME, COST, LOAD, NEG = 0, 1, 2, 3   # key columns: s, J (energy + static), bytes per channel, −bytes in PIM
NKEYS = 4
_TOL = 1e-9                  # the evaluator's relative slack on area and the latency bound
_PAIR_CHUNK = 1 << 22        # draft × verify pairs scored at once

# Refusal threshold, in work units: engine combinations of every tier of every
# phase front, weighted ×10 when the fronts have three keys (energy with a
# latency bound).  Measured on one core: about 15 µs per unit with three keys
# and 0.6–2 µs with two, so the limit is roughly a minute at worst;
# tiny.yaml needs 1e4 units, the paper-scale instance 4.4e5.
DEFAULT_MAX_WORK = 5e6
_THREE_KEY_WEIGHT = 10


def pareto(keys: np.ndarray) -> np.ndarray:
    """Indices of rows of ``keys`` (columns to minimise, one to three) such
    that every row is weakly dominated by a kept row and no kept row by
    another (of equal rows one is kept)."""
    m, d = keys.shape
    if m <= 1:
        return np.arange(m)
    if d == 1:
        return np.array([int(np.argmin(keys[:, 0]))])
    if d == 2:
        order = np.lexsort(keys.T[::-1])
        return order[_staircase(keys[order])]
    if d > 3:
        return _pareto_any(keys)
    # Sweep the distinct values of the last column upwards: a row is
    # dominated by a row of its own group (2-D staircase) or by the staircase
    # of everything kept from smaller values (one binary search).
    order = np.lexsort((keys[:, 1], keys[:, 0], keys[:, 2]))
    s = keys[order]
    starts = np.flatnonzero(np.concatenate(([True], s[1:, 2] != s[:-1, 2])))
    ends = np.append(starts[1:], m)
    keep = np.zeros(m, dtype=bool)
    stair = s[:0, :2]
    for lo, hi in zip(starts, ends, strict=True):
        block = s[lo:hi, :2]
        alive = _staircase(block)
        if len(stair):
            pos = np.searchsorted(stair[:, 0], block[:, 0], side="right") - 1
            alive &= ~((pos >= 0) & (stair[np.maximum(pos, 0), 1] <= block[:, 1]))
        keep[lo:hi] = alive
        merged = np.concatenate([stair, block[alive]])
        merged = merged[np.lexsort(merged.T[::-1])]
        stair = merged[_staircase(merged)]
    return order[keep]


def _pareto_any(keys: np.ndarray) -> np.ndarray:
    """``pareto`` for any number of columns: each row against the rows kept
    before it in lexicographic order (only those can dominate it)."""
    order = np.lexsort(keys.T[::-1])
    kept: list[int] = []
    for i in order:
        if not kept or not np.any(np.all(keys[kept] <= keys[i], axis=1)):
            kept.append(int(i))
    return np.array(kept, dtype=int)


def _staircase(rows: np.ndarray) -> np.ndarray:
    """For two columns sorted lexicographically: mask of the rows no earlier
    row weakly dominates (column 1 strictly below every earlier value)."""
    best = np.minimum.accumulate(rows[:, 1])
    return np.concatenate(([True], rows[1:, 1] < best[:-1]))


class Dag:
    """The layer DAG of one phase, operators as bits of an int."""

    def __init__(self, work: PhaseWorkload):
        self.names = [o.name for o in work.layer_ops]
        index = {n: i for i, n in enumerate(self.names)}
        self.preds = [0] * len(self.names)
        for u, v in work.edges:
            self.preds[index[v]] |= 1 << index[u]
        self.full = (1 << len(self.names)) - 1

    def members(self, mask: int) -> list[int]:
        return [i for i in range(len(self.names)) if mask >> i & 1]

    def next_tiers(self, placed: int) -> Iterator[int]:
        """Every non-empty set of operators whose predecessors are all in
        ``placed``: exactly the tiers that may come next."""
        ready = sum(1 << i for i, p in enumerate(self.preds) if not placed >> i & 1 and p & ~placed == 0)
        sub = ready
        while sub:
            yield sub
            sub = (sub - 1) & ready

    def states(self) -> list[int]:
        """Every set of operators some sequence of tiers places first."""
        seen, todo = {0}, [0]
        while todo:
            placed = todo.pop()
            for a in self.next_tiers(placed):
                if placed | a not in seen:
                    seen.add(placed | a)
                    todo.append(placed | a)
        return sorted(seen)

    def count(self, weight) -> int:
        """Σ over ordered tierings of Π weight(tier) (weight ≡ 1: the number
        of tierings)."""
        memo = {self.full: 1}

        def rest(placed: int) -> int:
            if placed not in memo:
                memo[placed] = sum(weight(a) * rest(placed | a) for a in self.next_tiers(placed))
            return memo[placed]

        return rest(0)


@dataclass
class _Front:
    """Pareto-minimal partial mappings: ``keys`` rows (time, cost, load, −bytes)
    and, per row, how to rebuild it (meaning depends on the owner)."""

    keys: np.ndarray
    how: tuple[np.ndarray, ...]

    def __len__(self) -> int:
        return len(self.keys)


class _OutOfTime(Exception):
    pass


# Columns of an engine-choice row: channels, time, energy, host-busy time,
# host stream time, bytes per channel, bytes in PIM.
_K, _T, _E, _BUSY, _STREAM, _PER_CH, _BYTES = range(7)


class _Phase:
    """One phase under one PIM option, n PIM channels and a channel budget C:
    the Pareto front of whole-step mappings over ``dims``, and how to turn a
    row back into placements.  Every row meets the per-operator and per-tier
    rules, and no channel of it holds more than a channel can."""

    def __init__(self, table: CostTable, work: PhaseWorkload, budget: int, *, cap: float, devices: int,
                 static: float, dims: list[int], deadline: Deadline):
        self.table, self.work, self.budget, self.dag = table, work, budget, Dag(work)
        self.dims, self.devices, self.static, self.deadline = dims, devices, static, deadline
        self.limit = cap * (1 + CAPACITY_RTOL)       # no channel holds more, whatever else is in it
        self.choices = [self._engines(j, cap) for j in range(len(work.all_ops))]
        self.tier_fronts: dict[int, tuple[_Front, np.ndarray]] = {}
        self.rest: dict[int, _Front] = {}
        self.work_units = 0
        self.front = self._step_front()

    def _engines(self, j: int, cap: float) -> np.ndarray:
        """Rows for operator j: the host (k = 0), then every PIM group of
        k ≤ C channels that holds all its layers."""
        t = self.table
        op = self.work.all_ops[j]
        layers = 1 if j == len(self.work.all_ops) - 1 else self.work.layers
        rows = [(0.0, t.host_time[j], t.host_energy[j], t.host_time[j], t.host_stream[j], 0.0, 0.0)]
        for col, k in enumerate(t.channels):
            total = layers * op.resident_bytes
            if k <= self.budget and total <= k * cap * (1 + CAPACITY_RTOL):
                rows.append((float(k), t.pim_time[j, col], t.pim_energy[j, col], t.pim_host[j, col], 0.0,
                             total / k, total))
        return np.array(rows, dtype=float)

    def _keys(self, t: np.ndarray, e: np.ndarray, load: np.ndarray, pim_bytes: np.ndarray) -> np.ndarray:
        return np.stack([t, self.devices * (e + self.static * t), load, -pim_bytes], axis=1)

    def _tier(self, members: int) -> tuple[_Front, np.ndarray]:
        """Pareto front of one tier's engine choices whose channels add up to
        at most C, and the engine row (k per member) of each."""
        if members not in self.tier_fronts:
            opts = [self.choices[i] for i in self.dag.members(members)]
            grids = np.meshgrid(*[np.arange(len(o)) for o in opts], indexing="ij")
            pick = [g.ravel() for g in grids]
            self.work_units += len(pick[0])
            c = [np.stack([o[p, col] for o, p in zip(opts, pick, strict=True)]) for col in range(7)]
            fits = c[_K].sum(axis=0) <= self.budget
            c = [x[:, fits] for x in c]
            on = c[_K] > 0
            any_on = on.any(axis=0)
            # The host runs its operators and its side of every offload one after
            # another; the busiest PIM channel serves its operator and, when host
            # data is striped, its share of the tier's host reads.
            host_side = c[_BUSY].sum(axis=0)
            channel_side = np.where(on, c[_T], 0.0).max(axis=0)
            if self.table.contended:
                channel_side = channel_side + np.where(any_on, c[_STREAM].sum(axis=0), 0.0)
            tier_time = np.maximum(host_side, channel_side)
            keys = self._keys(tier_time, c[_E].sum(axis=0), c[_PER_CH].max(axis=0), c[_BYTES].sum(axis=0))
            keep = pareto(keys[:, self.dims])
            self.tier_fronts[members] = (_Front(keys[keep], ()), c[_K][:, keep].T.astype(int))
        return self.tier_fronts[members]

    def _rest(self, placed: int) -> _Front:
        """Front of the ways to place, in tiers, every layer operator not in
        ``placed``; ``how`` = (tier, row of the tier's front, row of the front after it)."""
        if placed == self.dag.full:
            return _Front(np.zeros((1, NKEYS)), ())
        if placed in self.rest:
            return self.rest[placed]
        if self.deadline.expired():
            raise _OutOfTime
        parts, tiers, rows, nexts = [], [], [], []
        for a in self.dag.next_tiers(placed):
            tier, _ = self._tier(a)
            nxt = self._rest(placed | a)
            self.work_units += len(tier) * len(nxt)
            keys = (tier.keys[:, None, :] + nxt.keys[None, :, :]).reshape(-1, NKEYS)
            # The load on a model's first channel only grows as tiers are added.
            idx = np.nonzero(keys[:, LOAD] <= self.limit)[0]
            idx = idx[pareto(keys[idx][:, self.dims])]
            parts.append(keys[idx])
            tiers.append(np.full(len(idx), a))
            rows.append(idx // len(nxt))
            nexts.append(idx % len(nxt))
        keys = np.concatenate(parts)
        keep = pareto(keys[:, self.dims])
        front = _Front(keys[keep], tuple(np.concatenate(h)[keep] for h in (tiers, rows, nexts)))
        self.rest[placed] = front
        return front

    def _step_front(self) -> _Front:
        """Front of whole steps: layers × (tiers + per-layer constants) + LM
        head + per-step constants; ``how`` = (row of the layer front, LM head
        engine row).  Load and bytes already count every layer."""
        layer = self._rest(0)
        t, L = self.table, self.work.layers
        head = self.choices[-1]
        head_keys = self._keys(head[:, _T], head[:, _E], head[:, _PER_CH], head[:, _BYTES])
        const = self._keys(np.array([L * t.layer_const_time + t.step_const_time]),
                           np.array([L * t.layer_const_energy + t.step_const_energy]), np.zeros(1), np.zeros(1))
        per_layer = np.array([L, L, 1.0, 1.0])
        keys = (layer.keys[:, None, :] * per_layer + head_keys[None, :, :] + const).reshape(-1, NKEYS)
        idx = np.nonzero(keys[:, LOAD] <= self.limit)[0]
        idx = idx[pareto(keys[idx][:, self.dims])]
        return _Front(keys[idx], (idx // len(head), idx % len(head)))

    def placements(self, row: int, start: int) -> dict[str, Placement]:
        """The placements of front row ``row``, tiers numbered 0.. in order,
        PIM groups laid out from channel ``start`` as the solver lays them out."""
        layer_row, head_row = (int(h[row]) for h in self.front.how)
        out: dict[str, Placement] = {}
        placed, tier = 0, 0
        while placed != self.dag.full:
            a, tier_row, layer_row = (int(h[layer_row]) for h in self.rest[placed].how)
            _, engines = self.tier_fronts[a]
            members = [(self.dag.names[i], int(k), self.choices[i][self._row_of(i, k), _PER_CH])
                       for i, k in zip(self.dag.members(a), engines[tier_row], strict=True)]
            first = canonical_layout([m for m in members if m[1]], start)
            for name, k, _ in members:
                out[name] = Placement(PIM if k else HOST, k, tier, first.get(name))
            placed, tier = placed | a, tier + 1
        k = int(self.choices[-1][head_row, _K])
        out[self.work.head.name] = Placement(PIM if k else HOST, k, None, start if k else None)
        return out

    def _row_of(self, j: int, k: int) -> int:
        return int(np.nonzero(self.choices[j][:, _K] == k)[0][0])


@dataclass
class _Best:
    objective: float = math.inf
    mapping: Mapping | None = None


class ExhaustiveSolver:
    """Exact optimum by enumeration (see the module docstring).  Refuses, with
    InstanceError and before any enumeration, design spaces whose estimated
    work exceeds ``max_work`` units."""

    name = "exhaustive"

    def __init__(self, *, max_work: float = DEFAULT_MAX_WORK, top: int = 1):
        self.max_work = max_work
        self.top = top

    def solve(self, instance: Instance, tables: InstanceTables, deadline: Deadline | None = None) -> SolverResult:
        t0 = time.perf_counter()
        run = _Run(instance, tables, deadline or Deadline.none())
        work, mappings = run.estimate()
        if work > self.max_work:
            raise InstanceError(
                f"the design space holds {mappings:.3g} mappings, about {work:.3g} units of enumeration "
                f"work where the exhaustive solver stops at {self.max_work:.3g}; use --solver cbc",
                field="solver")
        build = time.perf_counter() - t0
        try:
            run.search(self.top)
            status = OPTIMAL if run.best.mapping is not None else INFEASIBLE
        except _OutOfTime:
            status = FEASIBLE if run.best.mapping is not None else NO_SOLUTION
        result = SolverResult(self.name, status, build_s=build, solve_s=time.perf_counter() - t0 - build,
                              stats={"designs": run.designs, "phase_fronts": len(run.fronts),
                                     "work": run.work_units})
        if run.best.mapping is not None:
            result.mapping = run.best.mapping
            result.objective = run.best.objective
            result.bound = run.best.objective if status == OPTIMAL else None
            if self.top > 1 and status == OPTIMAL:
                result.alternatives = run.best_designs(self.top)
        elif status == INFEASIBLE and not run.designs:
            result.diagnosis = "no architecture of the design space fits the area budget and the memory"
        return result


@dataclass(frozen=True)
class _Design:
    option: PimOption | None
    n: int
    g: int
    d: int
    t: int


class _Run:
    """One solve: the architectures, the phase fronts they need, the pairing."""

    def __init__(self, instance: Instance, tables: InstanceTables, deadline: Deadline):
        self.inst, self.tables, self.deadline = instance, tables, deadline
        ds = instance.design_space
        self.partition = ds.allocation == Allocation.PARTITION
        self.energy = instance.objective.metric == Metric.ENERGY
        self.bound = instance.objective.latency_bound if self.energy else None
        self.energy_bound = instance.objective.energy_bound if not self.energy else None
        self.striped = instance.system.memory_model == MemoryModel.STRIPED
        self.channels = instance.system.memory.channels
        # Key columns the objective reads; load and bytes join where capacity can bind.
        self.dims = ([TIME] if not self.energy or self.bound is not None else []) + \
            ([COST] if self.energy or self.energy_bound is not None else [])
        self.cap = instance.system.memory.channel_capacity * 1e9   # its own arithmetic, on purpose
        self.fronts: dict[tuple, _Phase] = {}
        self.best = _Best()
        self.scored: list[tuple] = []      # (objective, order, design, phases, rows) with keep > 1
        self.designs = self.work_units = 0

    def architectures(self) -> Iterator[_Design]:
        """Every design the space allows whose models fit the memory."""
        ds, inst = self.inst.design_space, self.inst
        for option in inst.options():
            if option is None:
                counts = [0]
            else:
                counts = [n for n in ds.pim_channels
                          if (ds.area_budget is None or n * option.area <= ds.area_budget * (1 + _TOL))
                          and (self.striped or n < self.channels)]
            for n in counts:
                for g in inst.draft_lens:
                    if not self.fits_memory(g):
                        continue
                    if not self.partition:
                        splits = [(n, n)]
                    elif DRAFT in inst.phases(g):
                        splits = [(c, n - c) for c in range(0, n + 1, ds.channel_step)]
                    else:
                        splits = [(0, n)]
                    for d, t in splits:
                        yield _Design(option, n, g, d, t)

    def total(self, g: int) -> float:
        """Weights and KV caches of the models of one device."""
        inst = self.inst
        total = 0.0
        for p in inst.phases(g):
            work = self.tables.work(p, g)
            kv = sum(o.resident_bytes for o in work.layer_ops if o.kind == OpKind.ATTENTION) * work.layers
            total += work.model.weight_bytes / inst.system.devices + kv
        return total

    def fits_memory(self, g: int) -> bool:
        return self.total(g) <= self.channels * self.cap * (1 + CAPACITY_RTOL)

    def host_channels(self, n: int) -> int:
        return self.channels if self.striped else self.channels - n

    def binding(self, x: _Design) -> dict[Phase, list[int]]:
        """Per phase, the capacity keys its front needs: load where the first
        channel of a range can overflow, −bytes where the host data's share
        decides it (or whether the host data fits at all)."""
        phases = self.inst.phases(x.g)
        total = self.total(x.g)
        most = {p: _most_load(self.tables.work(p, x.g), x.d if p == DRAFT and self.partition else
                              (x.t if self.partition else x.n), self.inst.design_space.channel_counts)
                for p in phases}
        host_share = total / self.host_channels(x.n) if self.host_channels(x.n) else math.inf
        if self.striped:
            if self.partition:
                load = {p: most[p] + host_share > self.cap for p in phases}
            else:
                load = dict.fromkeys(phases, sum(most.values()) + host_share > self.cap)
            neg = dict.fromkeys(phases, any(load.values()))
        else:   # PIM channels hold PIM data only; the fronts drop rows over a channel, so load is a key
            # wherever tiers can stack past it (else a faster, fuller row could hide a slower one that fits)
            load = {p: most[p] > self.cap for p in phases} if self.partition else \
                dict.fromkeys(phases, sum(most.values()) > self.cap)
            neg = dict.fromkeys(phases, host_share > self.cap)
        return {p: [LOAD] * load[p] + [NEG] * neg[p] for p in phases}

    def phase(self, p: Phase, x: _Design, budget: int, extra: list[int]) -> _Phase:
        dims = self.dims + extra
        host_channels = self.host_channels(x.n if x.option else 0)
        key = (p, x.option.name if x.option else None, 0 if p == DRAFT else x.g, budget, host_channels, x.n,
               tuple(dims))
        if key not in self.fronts:
            if self.deadline.expired():
                raise _OutOfTime
            static = self.inst.system.static_power(x.option, x.n)
            ph = _Phase(self.tables.table(p, x.option, x.g, x.n), self.tables.work(p, x.g), budget, cap=self.cap,
                        devices=self.inst.system.devices, static=static, dims=dims, deadline=self.deadline)
            self.fronts[key] = ph
            self.work_units += ph.work_units
        return self.fronts[key]

    def estimate(self) -> tuple[float, float]:
        """(work units, mappings) of the whole space from choice counts alone:
        every operator may take every engine, ignoring the channel rules, so
        both are upper bounds."""
        ds = self.inst.design_space
        per_phase: dict[tuple, tuple[float, int]] = {}
        weight = _THREE_KEY_WEIGHT if len(self.dims) >= 2 else 1
        work, mappings = 0.0, 0
        for x in self.architectures():
            count = 1
            for p in self.inst.phases(x.g):
                budget = x.d if p == DRAFT else x.t
                engines = 1 + (sum(1 for k in ds.channel_counts if k <= budget) if x.option else 0)
                key = (p, x.option.name if x.option else None, 0 if p == DRAFT else x.g, budget)
                if key not in per_phase:
                    dag = Dag(self.tables.work(p, x.g))

                    def per_tier(a: int, engines: int = engines) -> int:
                        return engines ** bin(a).count("1")

                    units = sum(per_tier(a) for s in dag.states() for a in dag.next_tiers(s))
                    per_phase[key] = (units * weight, dag.count(per_tier) * engines)
                    work += per_phase[key][0]
                count *= per_phase[key][1]
            mappings += count
        return work, float(mappings)

    def search(self, keep: int = 1) -> None:
        """Score every design; keeps the first strictly best in ``best`` and,
        with ``keep`` > 1, every design's optimum in ``scored``."""
        for x in self.architectures():
            self.designs += 1
            extra = self.binding(x)
            verify = self.phase(VERIFY, x, x.t, extra[VERIFY])
            draft = self.phase(DRAFT, x, x.d, extra[DRAFT]) if DRAFT in extra else None
            found = self.pair(draft, verify, x)
            if found is None:
                continue
            if keep > 1:
                self.scored.append((found[0], len(self.scored), x, draft, verify, found[1], found[2]))
            if found[0] < self.best.objective:
                self.best = _Best(found[0], self.mapping(x, draft, verify, found[1], found[2]))

    def mapping(self, x: _Design, draft: _Phase | None, verify: _Phase, draft_row: int, verify_row: int) -> Mapping:
        phases = {VERIFY: verify.placements(verify_row, x.d if self.partition else 0)}
        if draft is not None:
            phases[DRAFT] = draft.placements(draft_row, 0)
        arch = Architecture(x.option.name if x.option else None, x.n, x.d, x.t, x.g)
        return Mapping(arch, phases)

    def best_designs(self, top: int) -> list[tuple[float, Mapping]]:
        """The ``top`` best designs of ``scored``, best first (ties in enumeration order)."""
        return [(obj, self.mapping(x, d, v, dr, vr)) for obj, _, x, d, v, dr, vr in sorted(self.scored)[:top]]

    def pair(self, draft: _Phase | None, verify: _Phase, x: _Design) -> tuple[float, int, int] | None:
        """The best (objective, draft row, verify row) over every pair of front
        rows that meets the capacity rules and the latency bound, or None.
        The objective is s/token (latency, throughput) or J/token (energy)."""
        inst = self.inst
        e_tok = inst.expected_tokens(x.g)
        V = verify.front.keys
        D = draft.front.keys if draft is not None else np.zeros((1, NKEYS))
        steps = x.g if draft is not None else 0
        col = COST if self.energy else TIME
        scale = inst.workload.batch * e_tok if self.energy else e_tok
        total = self.total(x.g)
        limit = self.cap * (1 + CAPACITY_RTOL)
        host_channels = self.host_channels(x.n if x.option else 0)
        best = None
        chunk = max(1, _PAIR_CHUNK // max(1, len(V)))
        for lo in range(0, len(D), chunk):
            if self.deadline.expired():
                raise _OutOfTime
            d = D[lo:lo + chunk]
            value = (steps * d[:, None, col] + V[None, :, col]) / scale
            host_data = total + d[:, None, NEG] + V[None, :, NEG]        # NEG is −bytes in PIM
            ok = host_data <= host_channels * limit
            if self.striped:
                share = host_data / self.channels
                if self.partition:
                    ok &= (d[:, None, LOAD] + share <= limit) & (V[None, :, LOAD] + share <= limit)
                else:
                    ok &= d[:, None, LOAD] + V[None, :, LOAD] + share <= limit
            elif not self.partition:
                ok &= d[:, None, LOAD] + V[None, :, LOAD] <= limit
            if self.bound is not None:
                ok &= (steps * d[:, None, TIME] + V[None, :, TIME]) / e_tok <= self.bound * (1 + _TOL)
            if self.energy_bound is not None:
                joules = (steps * d[:, None, COST] + V[None, :, COST]) / (inst.workload.batch * e_tok)
                ok &= joules <= self.energy_bound * (1 + _TOL)
            value = np.where(ok, value, np.inf)
            i = int(np.argmin(value))
            if np.isfinite(value.flat[i]) and (best is None or value.flat[i] < best[0]):
                best = (float(value.flat[i]), lo + i // len(V), i % len(V))
        return best


def _most_load(work: PhaseWorkload, budget: int, counts: tuple[int, ...]) -> float:
    """The most a phase can put on one channel of its range: every operator
    on its smallest group within the budget, all tiers stacked."""
    smallest = min((k for k in counts if k <= budget), default=None)
    if smallest is None:
        return 0.0
    return (work.layers * sum(o.resident_bytes for o in work.layer_ops) + work.head.resident_bytes) / smallest
