"""The Python API: load, solve, evaluate.

    inst = specpim.load_instance("instances/tiny.yaml")
    sol = specpim.solve(inst)                # Solution
    specpim.evaluate(inst, sol.mapping)      # Metrics, recomputed independently
"""

from __future__ import annotations

import math
import numbers
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from specpim.core.deadline import Deadline
from specpim.core.enums import Metric, Status
from specpim.core.errors import InstanceError, SolverError, quote
from specpim.core.tolerances import CROSS_CHECK_RTOL
from specpim.costs.plugins import resolve_cost_model
from specpim.costs.protocol import CostModel
from specpim.costs.tables import InstanceTables
from specpim.evaluation.baselines import Baseline, compute_baselines
from specpim.evaluation.evaluator import Metrics
from specpim.evaluation.evaluator import evaluate as _evaluate
from specpim.problem.instance import Instance
from specpim.problem.loader import load_instance, read_yaml
from specpim.problem.mapping import Architecture, Mapping
from specpim.solvers.diagnose import precheck, precheck_latency, solver_proved
from specpim.solvers.factory import SOLVERS, make_solver, solver_class


@dataclass(frozen=True)
class Alternative:
    """One of the K best distinct architectures (PIM option, channels,
    draft/target split, γ), with the best mapping it admits.

    ``objective`` is proven optimal for this architecture, in the instance's
    metric; ``gap`` is how much worse than the optimum it is, relative
    (0 for the optimum itself, rank 1)."""

    rank: int
    objective: float
    gap: float
    mapping: Mapping
    metrics: Metrics

    @property
    def design(self) -> Architecture:
        return self.mapping.architecture

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "objective": self.objective, "gap": self.gap,
                "design": self.design.to_dict(), "mapping": self.mapping.to_dict(),
                "metrics": self.metrics.to_dict()}


@dataclass(frozen=True)
class Solution:
    """A solve's answer.

    ``objective`` is in the instance's metric: seconds per token (latency),
    joules per token (energy) or tokens per second (throughput).  ``bound``
    is the best value the solver proved possible, in the same unit, and
    ``gap`` = |bound − objective| / objective is the proven relative
    optimality gap: 0 when ``status == "optimal"``, None when no bound is
    known.  ``status`` is "optimal" only when the solver proved it; a run
    stopped by its time limit with a design is "feasible", without one
    "no_solution"; "infeasible" comes with a ``diagnosis``.
    """

    instance: Instance
    solver: str
    status: Status
    objective: float | None
    mapping: Mapping | None
    metrics: Metrics | None
    gap: float | None
    bound: float | None
    build_s: float
    solve_s: float
    baselines: dict[str, Baseline] = field(default_factory=dict)
    diagnosis: str | None = None
    stats: dict[str, int] = field(default_factory=dict)
    _write_model: Any = field(default=None, repr=False, compare=False)
    alternatives: list[Alternative] = field(default_factory=list)

    @property
    def design(self) -> Architecture | None:
        return self.mapping.architecture if self.mapping else None

    def write_model(self, path: str | Path) -> bool:
        """Write the solver's MILP (the block holding the optimum) as an LP file."""
        if self._write_model is None:
            return False
        self._write_model(str(path))
        return True

    def speedups(self) -> dict[str, dict[str, float | None]]:
        """Per baseline: latency ratio (baseline / optimum) and energy ratio."""
        out: dict[str, dict[str, float | None]] = {}
        for name, b in self.baselines.items():
            if self.metrics is None or b.metrics is None:
                out[name] = {"speedup": None, "energy_gain": None}
                continue
            out[name] = {"speedup": b.metrics.latency_per_token / self.metrics.latency_per_token,
                         "energy_gain": b.metrics.energy_per_token / self.metrics.energy_per_token}
        return out

    def to_dict(self, *, timings: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "instance": self.instance.name,
            "solver": self.solver,
            "status": str(self.status),
            "objective": {"metric": str(self.instance.objective.metric), "value": self.objective,
                          "unit": {"latency": "s/token", "energy": "J/token",
                                   "throughput": "tokens/s"}[self.instance.objective.metric]},
            "gap": self.gap,
            "design": self.design.to_dict() if self.design else None,
            "mapping": self.mapping.to_dict() if self.mapping else None,
            "metrics": self.metrics.to_dict() if self.metrics else None,
            "baselines": {k: {**b.to_dict(), **self.speedups()[k]} for k, b in self.baselines.items()},
            "diagnosis": self.diagnosis,
        }
        if self.alternatives:
            d["alternatives"] = [a.to_dict() for a in self.alternatives]
        if timings:
            d["timings"] = {"build_s": self.build_s, "solve_s": self.solve_s}
            d["stats"] = dict(self.stats)
        return d


def _as_instance(instance: Instance | str | Path | dict) -> Instance:
    return instance if isinstance(instance, Instance) else load_instance(instance)


def _real(value: Any) -> float | None:
    """``value`` as a finite float when it is a real number (numpy's included, bool not), else None."""
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        return None
    try:
        f = float(value)
    except (OverflowError, ValueError, TypeError):   # 10**400, or a number type that refuses
        return None
    return f if math.isfinite(f) else None


def _check_time_limit(time_limit: Any) -> float | None:
    if time_limit is None:
        return None
    limit = _real(time_limit)
    if limit is None or not limit > 0:
        raise InstanceError(f"expected a finite number > 0 (seconds) or None, found {quote(time_limit)}",
                            field="time_limit")
    return limit


def _check_solver_options(cls: Any, options: dict[str, Any]) -> None:
    """Each solver option has the type its solver declares (an int, a float, a bool), and
    numbers are finite and ≥ 0 (``workers`` ≥ 1): a bad one is bad input, named."""
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:   # annotations it cannot resolve: the solver checks its own options
        return
    for name, value in options.items():
        hint = hints.get(name)
        if hint is None:
            continue   # not one of its options: the solver's constructor says so
        kinds = set(typing.get_args(hint)) or {hint}
        if value is None and type(None) in kinds:
            continue
        expected = "true or false" if bool in kinds else "a whole number" if int in kinds and float not in kinds \
            else "a number" if float in kinds else None
        if expected is None:
            continue
        if bool in kinds:
            ok = isinstance(value, (bool, np.bool_))
        elif float in kinds:
            ok = _real(value) is not None and float(value) >= 0
        else:
            ok = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)) \
                and 0 <= int(value) <= 10 ** 6
        if ok and name == "workers":
            ok = value >= 1
        if not ok:
            floor = " ≥ 1" if name == "workers" else " ≥ 0" if expected != "true or false" else ""
            raise InstanceError(f"solver option {name}: expected {expected}{floor}, found {quote(value)}",
                                field="solver")


def _make_engine(solver: Any, options: dict[str, Any]):
    if not isinstance(solver, str):
        raise InstanceError(f"expected a solver name, found {quote(solver)}", field="solver")
    if solver in SOLVERS:
        _check_solver_options(solver_class(solver), options)
    try:
        return make_solver(solver, **options)
    except TypeError as exc:   # an option the solver does not take
        raise InstanceError(f"solver {solver!r} does not accept the options {sorted(options)} ({exc})",
                            field="solver") from None


def solve(instance: Instance | str | Path | dict, solver: str = "cbc", time_limit: float | None = None, *,
          cost_model: CostModel | None = None, allow_imports: bool = False, baselines: bool = True,
          deadline: Deadline | None = None, top: int = 1, **solver_options) -> Solution:
    """Find the optimal co-design of ``instance``.

    Bad input of any kind (instance, cost model, options) raises
    InstanceError; a missing or failing solver raises SolverError.  An
    infeasible instance is not an error: the Solution has status
    "infeasible" and a diagnosis naming the binding resource.  The returned
    mapping is re-scored by the independent evaluator; a mismatch with the
    solver's own objective raises SolverError.

    ``time_limit`` bounds the whole call, the baselines included: when it
    runs out the solver reports what it has (status "feasible" with its gap,
    or "no_solution") and baselines not computed yet are skipped.  A
    ``deadline`` (specpim.core.deadline.Deadline) shared with other work
    replaces it; the CLI starts one when the process starts.

    ``top`` = K > 1 also finds the K best distinct architectures (PIM
    option, channel count, draft/target split, γ), each with its proven
    optimum and its gap to the optimum (``Solution.alternatives``, the
    optimum first); when the time runs out, those proven by then.
    """
    if deadline is None:
        deadline = Deadline(_check_time_limit(time_limit))
    inst = _as_instance(instance)
    model = resolve_cost_model(inst, cost_model, allow_imports=allow_imports)
    top = _check_top(top)
    engine = _make_engine(solver, {**solver_options, "top": top} if top > 1 else solver_options)
    diagnosis = precheck(inst)
    tables = InstanceTables(inst, model)
    if diagnosis is None:
        diagnosis = precheck_latency(inst, tables)
    if diagnosis is not None:
        return Solution(inst, engine.name, Status.INFEASIBLE, None, None, None, None, None, 0.0, 0.0,
                        diagnosis=diagnosis)
    res = engine.solve(inst, tables, deadline)
    metrics = None
    objective = None
    if res.mapping is not None:
        metrics = _checked(inst, res.mapping, res.objective, model, engine.name)
        objective = metrics.objective
    alternatives = []
    for rank, (value, mapping) in enumerate(res.alternatives, start=1):
        m = _checked(inst, mapping, value, model, engine.name)
        assert objective is not None
        loss = (objective - m.objective if inst.objective.metric == Metric.THROUGHPUT else m.objective - objective)
        alternatives.append(Alternative(rank, m.objective, max(0.0, loss / abs(objective)) if objective else 0.0,
                                        mapping, m))
    bound = res.bound
    gap = res.gap
    if inst.objective.metric == Metric.THROUGHPUT and bound is not None:
        # latency lower bound → throughput upper bound; the gap follows the metric:
        # (ub − tp) / tp = lat / lb − 1 = g / (1 − g) for the latency gap g
        bound = inst.workload.batch / bound if bound > 0 else None
        gap = None if gap is None or gap >= 1 else gap / (1 - gap)
    diagnosis = res.diagnosis
    if res.status == Status.INFEASIBLE and diagnosis is None:
        diagnosis = solver_proved(inst, tables)
    found = compute_baselines(inst, model, deadline) if baselines else {}
    return Solution(inst, res.solver, res.status, objective, res.mapping, metrics, gap, bound,
                    res.build_s, res.solve_s, found, diagnosis, res.stats, res.write_model, alternatives)


def _checked(inst: Instance, mapping: Mapping, value: float | None, model: CostModel, solver: str) -> Metrics:
    """The evaluator's metrics of a solver's mapping, which must agree with
    the solver's own objective ``value`` (s or J per token)."""
    metrics = _evaluate(inst, mapping, model)
    solver_value = metrics.latency_per_token if inst.objective.metric in (Metric.LATENCY, Metric.THROUGHPUT) \
        else metrics.energy_per_token
    if value is None or abs(value - solver_value) > CROSS_CHECK_RTOL * abs(solver_value):
        raise SolverError(
            f"internal check failed: {solver} reports {value!r} but the evaluator "
            f"gives {solver_value!r} for the same mapping; please report this instance")
    return metrics


def _check_top(top: Any) -> int:
    if not isinstance(top, numbers.Integral) or isinstance(top, (bool, np.bool_)) or not 1 <= int(top) <= 1000:
        raise InstanceError(f"expected a whole number from 1 to 1000, found {quote(top)}", field="top")
    return int(top)


def evaluate(instance: Instance | str | Path | dict, mapping: Mapping | dict | str | Path, *,
             cost_model: CostModel | None = None, allow_imports: bool = False) -> Metrics:
    """Score ``mapping`` (a Mapping, its dict, or a mapping.json/.yaml path)
    on ``instance`` without any solver.

    A mapping that does not fit the instance raises InstanceError naming
    the operator and the violated rule (and the file, when given one).
    """
    inst = _as_instance(instance)
    file = None
    if isinstance(mapping, (str, Path)):
        if "\0" in str(mapping):
            raise InstanceError(f"expected the path of a mapping file, found {quote(str(mapping))}: a file name "
                                "cannot hold a NUL character", field="mapping")
        file = str(mapping)
        mapping = read_yaml(Path(mapping))   # JSON is YAML
    if isinstance(mapping, Mapping):
        # A Mapping built in Python skipped the mapping file's checks: give it them (a tier that is
        # text, a channel count that is not a number) by reading back what it would write.
        try:
            mapping = mapping.to_dict()
        except Exception:
            raise InstanceError("the Mapping cannot be read: its architecture or placements are not of the "
                                "expected types", field="mapping") from None
    mapping = Mapping.from_dict(mapping, file=file)
    return _evaluate(inst, mapping, resolve_cost_model(inst, cost_model, allow_imports=allow_imports), file=file)


__all__ = ["Alternative", "Solution", "solve", "evaluate", "load_instance"]
