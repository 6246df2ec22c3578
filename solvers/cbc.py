"""CBC through PuLP: the default, exact solver.

The MILP of formulation/milp.py is block-angular: blocks (PIM option, γ) are
linked only by Σ z_b = 1.  Solving every block with z_b = 1 and keeping the
best is therefore the same optimisation; it lets blocks be skipped when a
valid lower bound (solvers/blocks.py) already loses to the incumbent, lets
CBC cut off nodes above the incumbent, and runs two blocks at a time.
``monolithic=True`` instead builds and solves the one MILP with selectors
(used by the tests to show both give the same optimum).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pulp

from specpim.errors import SolverError
from specpim.formulation.milp import ENERGY_SCALE, TIME_SCALE, BlockSpec, CoDesignMILP
from specpim.instance import ENERGY, Instance
from specpim.tables import InstanceTables

from .blocks import block_latency_bound, block_lower_bound, make_blocks
from .result import FEASIBLE, INFEASIBLE, NO_SOLUTION, OPTIMAL, SolverResult

_TOL = 1e-9


def cbc_path() -> str:
    """Path of the CBC binary shipped by the cbcbox wheel (or SPECPIM_CBC)."""
    override = os.environ.get("SPECPIM_CBC")
    if override:
        if not (os.path.isfile(override) and os.access(override, os.X_OK)):
            raise SolverError(f"SPECPIM_CBC={override!r} is not an executable CBC binary")
        return override
    try:
        import cbcbox
    except ImportError:
        raise SolverError("the CBC solver is not installed: pip install cbcbox "
                          "(or set SPECPIM_CBC to a cbc binary)") from None
    path = cbcbox.cbc_bin_path()
    if not os.path.isfile(path):
        raise SolverError(f"cbcbox is installed but its CBC binary is missing at {path}; "
                          "reinstall it: pip install --force-reinstall cbcbox")
    return path


@dataclass
class _BlockOutcome:
    status: str               # optimal | feasible | infeasible | no_solution | pruned
    objective: float | None
    bound: float | None
    milp: CoDesignMILP | None


def solve_milp(milp: CoDesignMILP, *, time_limit: float | None, cutoff: float | None = None,
               threads: int = 1) -> tuple[str, float | None, float | None]:
    """Run CBC on ``milp`` in a private temporary directory.

    Returns (status, objective, bound) in MILP units.  The status comes from
    PuLP's ``sol_status``: a run stopped by the time limit with a solution is
    ``feasible``, never ``optimal``.
    """
    path = cbc_path()
    tmp = tempfile.mkdtemp(prefix="specpim-cbc-")
    try:
        log = os.path.join(tmp, "cbc.log")
        options = [] if cutoff is None else ["cutoff", repr(cutoff)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            solver = pulp.COIN_CMD(path=path, msg=False, timeLimit=time_limit, threads=threads,
                                   logPath=log, options=options)
        solver.tmpDir = tmp
        try:
            milp.prob.solve(solver)
        except pulp.PulpSolverError as exc:
            raise SolverError(f"CBC failed ({exc}); check the binary at {path} runs, "
                              "or reinstall it: pip install --force-reinstall cbcbox") from None
        text = open(log).read() if os.path.exists(log) else ""
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sol = milp.prob.sol_status
    if sol == pulp.LpSolutionOptimal:
        obj = float(pulp.value(milp.prob.objective))
        return OPTIMAL, obj, obj
    bound = _log_bound(text)
    if sol == pulp.LpSolutionIntegerFeasible:
        return FEASIBLE, float(pulp.value(milp.prob.objective)), bound
    if sol == pulp.LpSolutionInfeasible:
        return INFEASIBLE, None, None
    if sol == pulp.LpSolutionUnbounded:
        raise SolverError("CBC reports the MILP unbounded; this is a bug in the formulation")
    return NO_SOLUTION, None, bound


def _log_bound(text: str) -> float | None:
    m = re.search(r"Lower bound:\s*([-+0-9.eE]+)", text)
    return float(m.group(1)) if m else None


class CbcSolver:
    name = "cbc"

    def __init__(self, *, workers: int = 2, monolithic: bool = False, use_bounds: bool = True):
        self.workers = workers
        self.monolithic = monolithic
        self.use_bounds = use_bounds

    def solve(self, instance: Instance, tables: InstanceTables, time_limit: float | None = None) -> SolverResult:
        t0 = time.perf_counter()
        blocks = make_blocks(instance, tables)
        scale = ENERGY_SCALE if instance.objective.metric == ENERGY else TIME_SCALE
        if not blocks:
            return SolverResult(self.name, INFEASIBLE, diagnosis="no PIM option fits the area budget "
                                "and the design space excludes a design without PIM")
        if self.monolithic:
            return self._solve_monolithic(instance, blocks, time_limit, scale, t0)
        return self._solve_blocks(instance, blocks, time_limit, scale, t0)

    # -- one MILP with selectors ------------------------------------------
    def _solve_monolithic(self, instance, blocks, time_limit, scale, t0) -> SolverResult:
        milp = CoDesignMILP(instance, blocks)
        build = time.perf_counter() - t0
        status, obj, bound = solve_milp(milp, time_limit=time_limit, threads=self.workers)
        solve_s = time.perf_counter() - t0 - build
        result = SolverResult(self.name, status, build_s=build, solve_s=solve_s,
                              stats={"blocks": len(blocks), "variables": len(milp.prob.variables()),
                                     "constraints": len(milp.prob.constraints())},
                              write_model=milp.prob.writeLP)
        if obj is not None:
            b = milp.chosen_block()
            result.mapping = milp.mapping(b)
            result.objective = obj / scale
            result.bound = bound / scale if bound is not None else None
        return result

    # -- block by block ----------------------------------------------------
    def _solve_blocks(self, instance, blocks: list[BlockSpec], time_limit, scale, t0) -> SolverResult:
        bounds = [block_lower_bound(instance, b) if self.use_bounds else 0.0 for b in blocks]
        order = sorted(range(len(blocks)), key=lambda i: bounds[i])
        outcomes: dict[int, _BlockOutcome] = {}
        lock = threading.Lock()
        best: dict[str, object] = {"obj": None, "idx": None}
        deadline = None if time_limit is None else t0 + time_limit
        build_total = [0.0]
        pending = list(order)
        stats = {"blocks": len(blocks), "solved": 0, "pruned": 0, "variables": 0, "constraints": 0}

        bound_limit = instance.objective.latency_bound if instance.objective.metric == ENERGY else None

        def next_block() -> int | None:
            with lock:
                while pending:
                    i = pending.pop(0)
                    inc = best["obj"]
                    if inc is not None and bounds[i] >= inc * (1 - _TOL):
                        outcomes[i] = _BlockOutcome("pruned", None, bounds[i], None)
                        stats["pruned"] += 1
                        continue
                    if bound_limit is not None and block_latency_bound(instance, blocks[i]) > bound_limit * (1 + 1e-9):
                        outcomes[i] = _BlockOutcome(INFEASIBLE, None, None, None)
                        stats["pruned"] += 1
                        continue
                    return i
                return None

        def work() -> None:
            while True:
                i = next_block()
                if i is None:
                    return
                remaining = None
                if deadline is not None:
                    remaining = deadline - time.perf_counter()
                    if remaining <= 0.05:
                        with lock:
                            outcomes[i] = _BlockOutcome(NO_SOLUTION, None, bounds[i], None)
                        continue
                tb = time.perf_counter()
                milp = CoDesignMILP(instance, [blocks[i]], name=f"specpim_b{i}")
                with lock:
                    build_total[0] += time.perf_counter() - tb
                    inc = best["obj"]
                    stats["variables"] += len(milp.prob.variables())
                    stats["constraints"] += len(milp.prob.constraints())
                cutoff = None if inc is None else inc * scale * (1 + 1e-7)
                status, obj, bnd = solve_milp(milp, time_limit=remaining, cutoff=cutoff)
                with lock:
                    stats["solved"] += 1
                    if obj is not None:
                        obj /= scale
                    bnd = max(bounds[i], bnd / scale) if bnd is not None else bounds[i]
                    if status == INFEASIBLE and cutoff is not None:
                        # Nothing better than the incumbent (or nothing at all).
                        outcomes[i] = _BlockOutcome("pruned", None, inc, None)
                        continue
                    outcomes[i] = _BlockOutcome(status, obj, bnd, milp)
                    if obj is not None and (best["obj"] is None or obj < best["obj"]):
                        best["obj"], best["idx"] = obj, i

        n_workers = max(1, min(self.workers, len(blocks)))
        if n_workers == 1:
            work()
        else:
            with ThreadPoolExecutor(n_workers) as pool:
                for f in [pool.submit(work) for _ in range(n_workers)]:
                    f.result()
        total = time.perf_counter() - t0
        build = build_total[0]
        result = SolverResult(self.name, NO_SOLUTION, build_s=build, solve_s=max(0.0, total - build), stats=stats)
        if best["idx"] is None:
            if all(o.status in (INFEASIBLE, "pruned") for o in outcomes.values()) and len(outcomes) == len(blocks):
                result.status = INFEASIBLE
            return result
        i = best["idx"]
        out = outcomes[i]
        result.mapping = out.milp.mapping(out.milp.blocks[0])
        result.objective = out.objective
        result.write_model = out.milp.prob.writeLP
        open_bounds = [o.bound for o in outcomes.values() if o.status in (FEASIBLE, NO_SOLUTION) and o.bound is not None]
        result.bound = min([out.objective] + open_bounds)
        unresolved = any(o.status in (FEASIBLE, NO_SOLUTION) for o in outcomes.values())
        result.status = FEASIBLE if unresolved else OPTIMAL
        return result
