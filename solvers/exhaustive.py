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
(energy plus the static energy charged over that time) and PIM-resident
bytes — and the objective and every constraint only get worse when one of
them grows.  A partial mapping that is no better in any of them than
another with the same operators left to place is no better in any
completion.  So each tier keeps its Pareto-minimal engine choices, and the
tierings are walked by recursion over the set of operators already placed,
keeping per set the Pareto front of the ways to place the rest.  Resident
bytes are a key only where the capacity rule can bind.  Phases are then
paired by brute force over their fronts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from specpim.core.enums import Allocation, Engine, Metric, Phase, Status
from specpim.core.errors import InstanceError
from specpim.core.tolerances import CAPACITY_RTOL
from specpim.costs.tables import CostTable, InstanceTables
from specpim.hardware.devices import PimOption
from specpim.problem.instance import Instance
from specpim.problem.mapping import Architecture, Mapping, Placement
from specpim.workload.operators import OpKind, PhaseWorkload

from .result import SolverResult

DRAFT, VERIFY = Phase.DRAFT, Phase.VERIFY
HOST, PIM = Engine.HOST, Engine.PIM
OPTIMAL, FEASIBLE, INFEASIBLE, NO_SOLUTION = Status.OPTIMAL, Status.FEASIBLE, Status.INFEASIBLE, Status.NO_SOLUTION

TIME, COST, RES = 0, 1, 2    # key columns: seconds, joules (energy + static), bytes
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
    if d != 3:
        raise ValueError(f"pareto takes 1 to 3 columns, got {d}")
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
    """Pareto-minimal partial mappings: ``keys`` rows (time, cost, resident)
    and, per row, how to rebuild it (meaning depends on the owner)."""

    keys: np.ndarray
    how: tuple[np.ndarray, ...]

    def __len__(self) -> int:
        return len(self.keys)


class _OutOfTime(Exception):
    pass


class _Phase:
    """One phase under one PIM option and one channel budget C: the Pareto
    front of whole-step mappings over ``dims``, and how to turn a row back
    into placements.  Every row meets the per-operator, per-tier and
    ``resident ≤ C × capacity`` rules."""

    def __init__(self, table: CostTable, work: PhaseWorkload, budget: int, *, cap: float, devices: int,
                 static: float, dims: list[int], deadline: float | None):
        self.table, self.work, self.budget, self.dag = table, work, budget, Dag(work)
        self.dims, self.devices, self.static, self.deadline = dims, devices, static, deadline
        self.limit = budget * cap * (1 + CAPACITY_RTOL)     # no phase keeps more than its C channels hold
        self.choices = [self._engines(j, cap) for j in range(len(work.all_ops))]
        self.tier_fronts: dict[int, tuple[_Front, np.ndarray]] = {}
        self.rest: dict[int, _Front] = {}
        self.work_units = 0
        self.front = self._step_front()

    def _engines(self, j: int, cap: float) -> np.ndarray:
        """Rows (k, time, energy, resident) for operator j: host (k = 0), then
        every PIM group of k ≤ C channels that holds one layer's bytes."""
        t = self.table
        rows = [(0.0, t.host_time[j], t.host_energy[j], 0.0)]
        resident = self.work.all_ops[j].resident_bytes
        for col, k in enumerate(t.channels):
            if k <= self.budget and resident <= k * cap * (1 + CAPACITY_RTOL):
                rows.append((float(k), t.pim_time[j, col], t.pim_energy[j, col], resident))
        return np.array(rows, dtype=float)

    def _keys(self, t: np.ndarray, e: np.ndarray, r: np.ndarray) -> np.ndarray:
        return np.stack([t, self.devices * (e + self.static * t), r], axis=1)

    def _tier(self, members: int) -> tuple[_Front, np.ndarray]:
        """Pareto front of one tier's engine choices whose channels add up to
        at most C (one layer), and the engine row (k per member) of each."""
        if members not in self.tier_fronts:
            opts = [self.choices[i] for i in self.dag.members(members)]
            grids = np.meshgrid(*[np.arange(len(o)) for o in opts], indexing="ij")
            pick = [g.ravel() for g in grids]
            self.work_units += len(pick[0])
            k, t, e, r = (np.stack([o[p, c] for o, p in zip(opts, pick, strict=True)]) for c in range(4))
            fits = k.sum(axis=0) <= self.budget
            k, t, e, r = k[:, fits], t[:, fits], e[:, fits], r[:, fits]
            on = k > 0
            tier_time = np.maximum(np.where(on, t, 0.0).max(axis=0), np.where(on, 0.0, t).sum(axis=0))
            keys = self._keys(tier_time, e.sum(axis=0), r.sum(axis=0))
            keep = pareto(keys[:, self.dims])
            self.tier_fronts[members] = (_Front(keys[keep], ()), k[:, keep].T.astype(int))
        return self.tier_fronts[members]

    def _rest(self, placed: int) -> _Front:
        """Front of the ways to place, in tiers, every layer operator not in
        ``placed``; ``how`` = (tier, row of the tier's front, row of the front after it)."""
        if placed == self.dag.full:
            return _Front(np.zeros((1, 3)), ())
        if placed in self.rest:
            return self.rest[placed]
        if self.deadline is not None and time.perf_counter() > self.deadline:
            raise _OutOfTime
        L = self.work.layers
        parts, tiers, rows, nexts = [], [], [], []
        for a in self.dag.next_tiers(placed):
            tier, _ = self._tier(a)
            nxt = self._rest(placed | a)
            self.work_units += len(tier) * len(nxt)
            keys = (tier.keys[:, None, :] + nxt.keys[None, :, :]).reshape(-1, 3)
            # Resident bytes only grow as operators are added.
            idx = np.nonzero(keys[:, RES] * L <= self.limit)[0]
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
        """Front of whole steps: layers × (tiers + collectives) + LM head +
        all-gather; ``how`` = (row of the layer front, LM head engine row)."""
        layer = self._rest(0)
        t, L = self.table, self.work.layers
        head = self.choices[-1]
        head_keys = self._keys(head[:, 1], head[:, 2], head[:, 3])
        const = self._keys(np.array([L * t.layer_const_time + t.step_const_time]),
                           np.array([L * t.layer_const_energy + t.step_const_energy]), np.zeros(1))
        keys = (layer.keys[:, None, :] * L + head_keys[None, :, :] + const).reshape(-1, 3)
        idx = np.nonzero(keys[:, RES] <= self.limit)[0]
        idx = idx[pareto(keys[idx][:, self.dims])]
        return _Front(keys[idx], (idx // len(head), idx % len(head)))

    def placements(self, row: int) -> dict[str, Placement]:
        """The placements of front row ``row``, tiers numbered 0.. in order."""
        layer_row, head_row = (int(h[row]) for h in self.front.how)
        out: dict[str, Placement] = {}
        placed, tier = 0, 0
        while placed != self.dag.full:
            a, tier_row, layer_row = (int(h[layer_row]) for h in self.rest[placed].how)
            _, engines = self.tier_fronts[a]
            for i, k in zip(self.dag.members(a), engines[tier_row], strict=True):
                out[self.dag.names[i]] = Placement(PIM if k else HOST, int(k), tier)
            placed, tier = placed | a, tier + 1
        k = int(self.choices[-1][head_row, 0])
        out[self.work.head.name] = Placement(PIM if k else HOST, k, None)
        return out


@dataclass
class _Best:
    objective: float = math.inf
    mapping: Mapping | None = None


class ExhaustiveSolver:
    """Exact optimum by enumeration (see the module docstring).  Refuses, with
    InstanceError and before any enumeration, design spaces whose estimated
    work exceeds ``max_work`` units."""

    name = "exhaustive"

    def __init__(self, *, max_work: float = DEFAULT_MAX_WORK):
        self.max_work = max_work

    def solve(self, instance: Instance, tables: InstanceTables, time_limit: float | None = None) -> SolverResult:
        t0 = time.perf_counter()
        run = _Run(instance, tables, None if time_limit is None else t0 + time_limit)
        work, mappings = run.estimate()
        if work > self.max_work:
            raise InstanceError(
                f"the design space holds {mappings:.3g} mappings, about {work:.3g} units of enumeration "
                f"work where the exhaustive solver stops at {self.max_work:.3g}; use --solver cbc",
                field="solver")
        build = time.perf_counter() - t0
        try:
            run.search()
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
        elif status == INFEASIBLE and not run.designs:
            result.diagnosis = "no architecture of the design space fits the area budget and the memory"
        return result


class _Run:
    """One solve: the architectures, the phase fronts they need, the pairing."""

    def __init__(self, instance: Instance, tables: InstanceTables, deadline: float | None):
        self.inst, self.tables, self.deadline = instance, tables, deadline
        ds = instance.design_space
        self.partition = ds.allocation == Allocation.PARTITION
        self.energy = instance.objective.metric == Metric.ENERGY
        self.bound = instance.objective.latency_bound if self.energy else None
        # Key columns the objective and the constraints read.
        self.dims = ([TIME] if not self.energy or self.bound is not None else []) \
            + ([COST] if self.energy else []) + [RES]
        self.cap = instance.system.memory.channel_capacity * 1e9   # its own arithmetic, on purpose
        self.fronts: dict[tuple, _Phase] = {}
        self.best = _Best()
        self.designs = self.work_units = 0

    def architectures(self) -> Iterator[tuple[PimOption | None, int, int, int, int]]:
        """(option, n, γ, draft channels, target channels) of every design
        the space allows whose models fit the memory."""
        ds, inst = self.inst.design_space, self.inst
        for option in inst.options():
            if option is None:
                counts = [0]
            else:
                counts = [n for n in ds.pim_channels
                          if ds.area_budget is None or n * option.area <= ds.area_budget * (1 + _TOL)]
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
                        yield option, n, g, d, t

    def fits_memory(self, g: int) -> bool:
        """Weights and KV caches of the models fit one device's memory."""
        inst = self.inst
        total = 0.0
        for p in inst.phases(g):
            work = self.tables.work(p, g)
            kv = sum(o.resident_bytes for o in work.layer_ops if o.kind == OpKind.ATTENTION) * work.layers
            total += work.model.weight_bytes / inst.system.devices + kv
        return total <= inst.system.memory.capacity_bytes * (1 + CAPACITY_RTOL)

    def binding(self, g: int, n: int, d: int, t: int) -> dict[str, bool]:
        """Per phase: can the capacity rule reject some mapping of this design?
        If not, resident bytes need not be a front key."""
        phases = self.inst.phases(g)
        most = {p: _most_resident(self.tables.work(p, g)) for p in phases}
        if self.partition:
            return {p: most[p] > (d if p == DRAFT else t) * self.cap for p in phases}
        return dict.fromkeys(phases, sum(most.values()) > n * self.cap)

    def phase(self, p: Phase, option: PimOption | None, g: int, budget: int, binding: bool) -> _Phase:
        dims = self.dims if binding else [c for c in self.dims if c != RES]
        key = (p, option.name if option else None, 0 if p == DRAFT else g, budget, len(dims))
        if key not in self.fronts:
            if self.deadline is not None and time.perf_counter() > self.deadline:
                raise _OutOfTime
            ph = _Phase(self.tables.table(p, option, g), self.tables.work(p, g), budget, cap=self.cap,
                        devices=self.inst.system.devices, static=self.inst.system.host.static_power,
                        dims=dims, deadline=self.deadline)
            self.fronts[key] = ph
            self.work_units += ph.work_units
        return self.fronts[key]

    def estimate(self) -> tuple[float, float]:
        """(work units, mappings) of the whole space from choice counts alone:
        every operator may take every engine, ignoring the channel rules, so
        both are upper bounds."""
        ds = self.inst.design_space
        per_phase: dict[tuple, tuple[float, int]] = {}
        weight = _THREE_KEY_WEIGHT if len(self.dims) == 3 else 1
        work, mappings = 0.0, 0
        for option, _n, g, d, t in self.architectures():
            count = 1
            for p in self.inst.phases(g):
                budget = d if p == DRAFT else t
                engines = 1 + (sum(1 for k in ds.channel_counts if k <= budget) if option else 0)
                key = (p, option.name if option else None, 0 if p == DRAFT else g, budget)
                if key not in per_phase:
                    dag = Dag(self.tables.work(p, g))
                    def per_tier(a: int, engines: int = engines) -> int:
                        return engines ** bin(a).count("1")

                    units = sum(per_tier(a) for s in dag.states() for a in dag.next_tiers(s))
                    per_phase[key] = (units * weight, dag.count(per_tier) * engines)
                    work += per_phase[key][0]
                count *= per_phase[key][1]
            mappings += count
        return work, float(mappings)

    def search(self) -> None:
        """Score every design; keeps the first strictly best in ``best``."""
        for option, n, g, d, t in self.architectures():
            self.designs += 1
            binding = self.binding(g, n, d, t)
            verify = self.phase(VERIFY, option, g, t, binding[VERIFY])
            draft = self.phase(DRAFT, option, g, d, binding[DRAFT]) if DRAFT in binding else None
            found = self.pair(draft, verify, g, n)
            if found is None or found[0] >= self.best.objective:
                continue
            obj, draft_row, verify_row = found
            phases = {VERIFY: verify.placements(verify_row)}
            if draft is not None:
                phases[DRAFT] = draft.placements(draft_row)
            arch = Architecture(option.name if option else None, n, d, t, g)
            self.best = _Best(obj, Mapping(arch, phases))

    def pair(self, draft: _Phase | None, verify: _Phase, g: int, n: int) -> tuple[float, int, int] | None:
        """The best (objective, draft row, verify row) over every pair of front
        rows that meets the shared capacity and the latency bound, or None.
        The objective is s/token (latency, throughput) or J/token (energy)."""
        inst = self.inst
        e_tok = inst.expected_tokens(g)
        V = verify.front.keys
        D = draft.front.keys if draft is not None else np.zeros((1, 3))
        steps = g if draft is not None else 0
        col = COST if self.energy else TIME
        scale = inst.workload.batch * e_tok if self.energy else e_tok
        best = None
        chunk = max(1, _PAIR_CHUNK // max(1, len(V)))
        for lo in range(0, len(D), chunk):
            if self.deadline is not None and time.perf_counter() > self.deadline:
                raise _OutOfTime
            d = D[lo:lo + chunk]
            value = (steps * d[:, None, col] + V[None, :, col]) / scale
            ok = np.ones(value.shape, dtype=bool)
            if not self.partition:
                ok &= d[:, None, RES] + V[None, :, RES] <= n * self.cap * (1 + CAPACITY_RTOL)
            if self.bound is not None:
                ok &= (steps * d[:, None, TIME] + V[None, :, TIME]) / e_tok <= self.bound * (1 + _TOL)
            value = np.where(ok, value, np.inf)
            i = int(np.argmin(value))
            if np.isfinite(value.flat[i]) and (best is None or value.flat[i] < best[0]):
                best = (float(value.flat[i]), lo + i // len(V), i % len(V))
        return best


def _most_resident(work: PhaseWorkload) -> float:
    """Bytes a phase keeps in PIM with every operator there."""
    return work.layers * sum(o.resident_bytes for o in work.layer_ops) + work.head.resident_bytes
