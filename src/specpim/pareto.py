"""Exact Pareto fronts over latency, energy and area (docs/formulation.md §10).

Every point is proven by solves of the co-design MILP (or, with
``solver="exhaustive"``, by enumeration), with the ε-constraint method:

* latency and energy: from ε = ∞ down, the least energy with latency ≤ ε,
  then the least latency with energy ≤ that energy (so the point is not
  dominated by a design of equal energy), then ε just below its latency;
  the loop ends when no design is faster.  The first point is the energy
  optimum, the last the latency optimum.
* one of them and area: area is a constant of the architecture, so the
  least latency (or energy) within an area cap is one solve with that cap
  as the area budget; the cap then drops to the next area the design space
  has below the point's.
* all three: the latency–energy front within an area cap, then the cap
  drops below the largest area on that front: a design off this front but
  on the three-way front must be smaller than every point of it that
  dominates it in latency and energy.

Points closer than ``rtol`` (relative) in every objective are one point; a
final filter drops any point another dominates (equal latency and energy at
a smaller area, for instance).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .api import Solution, solve
from .core.deadline import Deadline
from .core.enums import Metric, Status
from .core.errors import InstanceError
from .evaluation.evaluator import Metrics
from .problem.instance import Instance, Objective
from .problem.loader import load_instance
from .problem.mapping import Mapping

OBJECTIVES = ("latency", "energy", "area")
# Points whose objectives all agree to this (relative) are one point.
FRONT_RTOL = 1e-6


@dataclass(frozen=True)
class ParetoPoint:
    """One non-dominated design: its metrics, proven by the solves that found it."""

    latency: float       # s per token
    energy: float        # J per token
    area: float          # mm² per device
    mapping: Mapping
    metrics: Metrics

    def value(self, objective: str) -> float:
        return {"latency": self.latency, "energy": self.energy, "area": self.area}[objective]

    def row(self, index: int) -> dict[str, Any]:
        a = self.mapping.architecture
        return {"point": index, "latency_s_per_token": self.latency, "energy_j_per_token": self.energy,
                "area_mm2": self.area, "throughput_tokens_per_s": self.metrics.throughput,
                "pim_option": a.pim_option or "", "pim_channels": a.pim_channels,
                "draft_channels": a.draft_channels, "target_channels": a.target_channels, "draft_len": a.draft_len,
                "status": "optimal"}


@dataclass
class ParetoFront:
    """The non-dominated designs of an instance over ``objectives``, in
    order of the first objective.  ``complete`` is False when the time limit
    stopped the search: the points found are non-dominated among themselves
    and each is proven, but others may be missing."""

    instance: Instance
    objectives: tuple[str, ...]
    points: list[ParetoPoint] = field(default_factory=list)
    complete: bool = True
    solves: int = 0
    seconds: float = 0.0

    def rows(self) -> list[dict[str, Any]]:
        return [p.row(i) for i, p in enumerate(self.points)]

    def to_frame(self):
        """The points as a pandas DataFrame (the columns of pareto.csv)."""
        import pandas as pd

        return pd.DataFrame(self.rows())

    def to_dict(self) -> dict[str, Any]:
        return {"instance": self.instance.name, "objectives": list(self.objectives), "complete": self.complete,
                "solves": self.solves, "points": [{**p.row(i), "mapping": p.mapping.to_dict(),
                                                  "metrics": p.metrics.to_dict()}
                                                 for i, p in enumerate(self.points)]}


def parse_objectives(objectives: str | Sequence[str]) -> tuple[str, ...]:
    """``"latency,energy"`` or a sequence → the objectives in canonical order."""
    names = [o.strip() for o in objectives.split(",")] if isinstance(objectives, str) else list(objectives)
    bad = [o for o in names if o not in OBJECTIVES]
    if bad or len(set(names)) != len(names) or len(names) < 2:
        raise InstanceError(f"expected two or three of {', '.join(OBJECTIVES)}, each once, found "
                            f"{','.join(map(str, names)) or 'none'}", field="objectives")
    return tuple(o for o in OBJECTIVES if o in names)


class _Search:
    def __init__(self, inst: Instance, objectives: tuple[str, ...], solver: str, deadline: Deadline,
                 options: dict[str, Any]):
        self.inst, self.objectives, self.solver, self.deadline = inst, objectives, solver, deadline
        self.options = options
        self.solves = 0
        self.complete = True
        self.found: list[ParetoPoint] = []     # every point proven so far, kept if the deadline stops the search

    def run(self, objective: Objective, area_cap: float | None) -> Solution | None:
        """One solve of the instance with ``objective`` and the area budget
        lowered to ``area_cap``; None when infeasible.  A solve the deadline
        stops ends the search (``complete`` False)."""
        ds = self.inst.design_space
        budget = ds.area_budget if area_cap is None else \
            area_cap if ds.area_budget is None else min(area_cap, ds.area_budget)
        inst = replace(self.inst, objective=objective, design_space=replace(ds, area_budget=budget))
        if self.deadline.expired():
            raise _Stop
        self.solves += 1
        sol = solve(inst, self.solver, baselines=False, deadline=self.deadline, **self.options)
        if sol.status == Status.INFEASIBLE:
            return None
        if sol.status != Status.OPTIMAL:
            raise _Stop
        return sol

    def point(self, sol: Solution) -> ParetoPoint:
        m = sol.metrics
        assert m is not None and sol.mapping is not None
        p = ParetoPoint(m.latency_per_token, m.energy_per_token, m.area, sol.mapping, m)
        self.found.append(p)
        return p

    def two(self, area_cap: float | None) -> list[ParetoPoint]:
        """The latency–energy front within ``area_cap``, energy optimum first."""
        out: list[ParetoPoint] = []
        eps: float | None = None
        while True:
            frugal = self.run(Objective(Metric.ENERGY, latency_bound=eps), area_cap)
            if frugal is None:
                return out
            assert frugal.metrics is not None
            fast = self.run(Objective(Metric.LATENCY, energy_bound=frugal.metrics.energy_per_token), area_cap)
            best = fast or frugal     # never None: the frugal design meets its own energy
            out.append(self.point(best))
            eps = out[-1].latency * (1 - FRONT_RTOL)

    def one(self, objective: str, area_cap: float | None) -> list[ParetoPoint]:
        metric = Metric.LATENCY if objective == "latency" else Metric.ENERGY
        sol = self.run(Objective(metric), area_cap)
        return [] if sol is None else [self.point(sol)]

    def front(self) -> None:
        """Fill ``found``."""
        others = tuple(o for o in self.objectives if o != "area")
        inner = (lambda cap: self.two(cap)) if len(others) == 2 else (lambda cap: self.one(others[0], cap))
        if "area" not in self.objectives:
            inner(None)
            return
        levels = _area_levels(self.inst)
        cap: float | None = None
        while True:
            part = inner(cap)
            if not part:
                return
            largest = max(p.area for p in part)
            below = [a for a in levels if a < largest * (1 - FRONT_RTOL)]
            if not below:
                return
            cap = max(below)


class _Stop(Exception):
    """The deadline ended the search."""


def _area_levels(inst: Instance) -> list[float]:
    """Every area a design of the space can have (0 without PIM)."""
    ds, system = inst.design_space, inst.system
    levels = {0.0} if ds.include_no_pim else set()
    for name in ds.pim_options:
        option = system.pim_option(name)
        if option.area <= 0:
            raise InstanceError(f"area as an objective needs every PIM option's area; {name!r} has none "
                                "published (0): give it an area or drop it from design_space.pim_options",
                                field="objectives")
        levels |= {n * option.area for n in ds.allowed_counts(option, system)}
    return sorted(levels)


def _dominates(a: ParetoPoint, b: ParetoPoint, objectives: tuple[str, ...]) -> bool:
    """a is no worse than b in every objective (to FRONT_RTOL) and better in one."""
    no_worse = all(a.value(o) <= b.value(o) * (1 + FRONT_RTOL) + 1e-300 for o in objectives)
    better = any(a.value(o) < b.value(o) * (1 - FRONT_RTOL) for o in objectives)
    return no_worse and better


def _same(a: ParetoPoint, b: ParetoPoint, objectives: tuple[str, ...]) -> bool:
    return all(abs(a.value(o) - b.value(o)) <= FRONT_RTOL * max(abs(a.value(o)), abs(b.value(o)))
               for o in objectives)


def pareto_front(instance: Instance | str | Path | dict, objectives: str | Sequence[str] = ("latency", "energy"),
                 *, solver: str = "cbc", time_limit: float | None = None, deadline: Deadline | None = None,
                 **solver_options) -> ParetoFront:
    """The exact Pareto front of ``instance`` over two or three of latency,
    energy and area (see the module docstring for the method).  Every point
    is re-scored by the independent evaluator, as every solve is.  The time
    limit bounds the whole search; a search it stops returns the points
    proven so far with ``complete`` False."""
    inst = instance if isinstance(instance, Instance) else load_instance(instance)
    chosen = parse_objectives(objectives)
    if deadline is None:
        from .api import _check_time_limit

        deadline = Deadline(_check_time_limit(time_limit))
    t0 = time.perf_counter()
    search = _Search(inst, chosen, solver, deadline, solver_options)
    if "area" in chosen:
        _area_levels(inst)        # refuses options of unknown area before any solve
    try:
        search.front()
    except _Stop:
        search.complete = False
    # keep one of each set of equal points, and none another dominates
    unique: list[ParetoPoint] = []
    for p in search.found:
        if not any(_same(p, q, chosen) for q in unique):
            unique.append(p)
    points = [p for p in unique if not any(_dominates(q, p, chosen) for q in unique if q is not p)]
    points.sort(key=lambda p: tuple(p.value(o) for o in chosen))
    return ParetoFront(inst, chosen, points, search.complete, search.solves, time.perf_counter() - t0)


__all__ = ["OBJECTIVES", "ParetoFront", "ParetoPoint", "pareto_front", "parse_objectives"]
