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
from typing import Any

import pulp

from specpim.errors import SolverError
from specpim.formulation.milp import ENERGY_SCALE, TIME_SCALE, BlockSpec, CoDesignMILP
from specpim.instance import ENERGY, Instance
from specpim.tables import InstanceTables

from .blocks import block_bound, make_blocks
from .result import FEASIBLE, INFEASIBLE, NO_SOLUTION, OPTIMAL, SolverResult

_TOL = 1e-9


_INSTALL = "pip install --force-reinstall cbcbox"


def cbc_path() -> str:
    """Path of the CBC binary: $SPECPIM_CBC if set, else the one the cbcbox
    wheel ships.  Raises SolverError, saying how to fix it, when there is none."""
    override = os.environ.get("SPECPIM_CBC")
    if override:
        if not (os.path.isfile(override) and os.access(override, os.X_OK)):
            raise SolverError(f"CBC solver: SPECPIM_CBC={override!r} is not an executable file; point it at a "
                              "cbc binary, or unset it to use the CBC of the cbcbox wheel (pip install cbcbox)")
        return override
    try:
        import cbcbox
    except ImportError:
        raise SolverError("CBC solver: not installed; install it with: pip install cbcbox "
                          "(or set SPECPIM_CBC to a cbc binary)") from None
    path = cbcbox.cbc_bin_path()
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise SolverError(f"CBC solver: cbcbox is installed but its binary is missing or not executable at "
                          f"{path}; reinstall it: {_INSTALL}")
    return path


@dataclass
class _BlockOutcome:
    status: str               # optimal | feasible | infeasible | no_solution | pruned
    objective: float | None
    bound: float | None
    milp: CoDesignMILP | None


def solve_milp(milp: CoDesignMILP, *, time_limit: float | None, cutoff: float | None = None,
               threads: int = 1) -> tuple[str, float | None, float | None]:
    """Run CBC on ``milp`` in a private temporary directory, removed afterwards.

    Returns (status, objective, bound) in MILP units.  The status comes from
    PuLP's ``sol_status`` (and ``status`` for proven infeasibility): only a
    run CBC finished is ``optimal``; one stopped by the time limit with a
    solution is ``feasible``, without one ``no_solution``.  ``bound`` is a
    valid lower bound or None.  A missing, crashing or garbled solver raises
    SolverError.
    """
    path = cbc_path()
    tmp = tempfile.mkdtemp(prefix="specpim-cbc-")
    try:
        log = os.path.join(tmp, "cbc.log")
        # PuLP prefixes each option with "-" and splits on spaces: "cutoff X" → -cutoff X.
        # increment 0: CBC's default (1e-4, absolute) treats solutions less than that
        # much better as no better, and MILP objectives (µJ, µs) can be that close.
        options = ["increment 0"] + ([] if cutoff is None else [f"cutoff {cutoff!r}"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            # gapRel=0: "optimal" must mean proven optimal, whatever the build's default gap
            solver = pulp.COIN_CMD(path=path, msg=False, timeLimit=time_limit, threads=threads,
                                   logPath=log, options=options, gapRel=0)
        solver.tmpDir = tmp
        try:
            milp.prob.solve(solver)
        except pulp.PulpSolverError:   # the binary failed to start, crashed or wrote no solution
            raise SolverError(f"CBC solver failed: {path} did not run to completion{_log_tail(log)}; check that "
                              f"it runs, or reinstall it: {_INSTALL}") from None
        except Exception as exc:   # a failed exec, or a solution file PuLP cannot read
            raise SolverError(f"CBC solver failed: its output could not be read ({type(exc).__name__}: {exc})"
                              f"{_log_tail(log)}; check that {path} runs, or reinstall it: {_INSTALL}") from None
        text = open(log).read() if os.path.exists(log) else ""
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    sol = milp.prob.sol_status
    if sol == pulp.LpSolutionOptimal:
        obj = float(pulp.value(milp.prob.objective))
        return OPTIMAL, obj, obj
    bound = _log_bound(text)
    if sol == pulp.LpSolutionIntegerFeasible:
        obj = float(pulp.value(milp.prob.objective))
        return FEASIBLE, obj, None if bound is None else min(bound, obj)
    # CBC's "proven infeasible" (also what a cutoff that nothing beats gives)
    # reaches PuLP as status Infeasible with sol_status "no solution found".
    if sol == pulp.LpSolutionInfeasible or milp.prob.status == pulp.LpStatusInfeasible:
        return INFEASIBLE, None, None
    if sol == pulp.LpSolutionUnbounded:
        raise SolverError("CBC reports the MILP unbounded; this is a bug in the formulation")
    return NO_SOLUTION, None, bound


def _log_tail(log: str, lines: int = 3) -> str:
    try:
        with open(log, encoding="utf-8", errors="replace") as fh:
            tail = [ln.strip() for ln in fh if ln.strip()][-lines:]
    except OSError:
        return ""
    return f"; its log ends: {' | '.join(tail)}" if tail else ""


def _log_bound(text: str) -> float | None:
    """CBC's best lower bound, as printed in its log.

    CBC rounds it for printing (6731.2151 shows as 6731.22), so one unit of
    the last printed digit is taken off to keep it a valid lower bound.
    """
    m = re.search(r"Lower bound:\s*([-+]?[0-9]*\.?[0-9]+)(?:[eE]([-+]?[0-9]+))?", text)
    if not m:
        return None
    digits, exp = m.group(1), int(m.group(2) or 0)
    decimals = len(digits.partition(".")[2])
    return float(digits) * 10.0 ** exp - 10.0 ** (exp - decimals)


def _better(obj: float, idx: int, best_obj: float | None, best_idx: int | None) -> bool:
    if best_obj is None:
        return True
    if obj < best_obj * (1 - _TOL):
        return True
    return obj <= best_obj * (1 + _TOL) and idx < best_idx


class CbcSolver:
    name = "cbc"

    def __init__(self, *, workers: int = 2, monolithic: bool = False, use_bounds: bool = True):
        self.workers = workers
        self.monolithic = monolithic
        self.use_bounds = use_bounds

    def solve(self, instance: Instance, tables: InstanceTables, time_limit: float | None = None) -> SolverResult:
        cbc_path()   # a missing solver is reported before any work
        t0 = time.perf_counter()
        blocks = make_blocks(instance, tables)
        scale = ENERGY_SCALE if instance.objective.metric == ENERGY else TIME_SCALE
        if not blocks:
            return SolverResult(self.name, INFEASIBLE, build_s=time.perf_counter() - t0,
                                diagnosis="no PIM option fits the area budget and the design space "
                                "excludes a design without PIM")
        if self.monolithic:
            return self._solve_monolithic(instance, blocks, time_limit, scale, t0)
        return self._solve_blocks(instance, blocks, time_limit, scale, t0)

    # -- one MILP with selectors ------------------------------------------
    def _solve_monolithic(self, instance, blocks, time_limit, scale, t0) -> SolverResult:
        milp = CoDesignMILP(instance, blocks)
        build = time.perf_counter() - t0
        status, obj, bound = solve_milp(milp, time_limit=time_limit, threads=self.workers)
        result = SolverResult(self.name, status, build_s=build, solve_s=time.perf_counter() - t0 - build,
                              stats={"blocks": len(blocks), "variables": len(milp.prob.variables()),
                                     "constraints": len(milp.prob.constraints())},
                              write_model=milp.prob.writeLP)
        if obj is not None:
            result.mapping = milp.mapping(milp.chosen_block())
            result.objective = obj / scale
            result.bound = bound / scale if bound is not None else None
        return result

    # -- block by block ----------------------------------------------------
    def _solve_blocks(self, instance, blocks: list[BlockSpec], time_limit, scale, t0) -> SolverResult:
        found = [block_bound(instance, b) for b in blocks]
        # Pruning and order use the bounds only when asked; the reported
        # optimality gap always uses them, as they are valid either way.
        bounds = [f.objective if self.use_bounds else 0.0 for f in found]
        latency_limit = instance.objective.latency_bound if instance.objective.metric == ENERGY else None
        pending = sorted(range(len(blocks)), key=lambda i: (bounds[i], i))
        outcomes: dict[int, _BlockOutcome] = {}
        lock = threading.Lock()
        best: dict[str, Any] = {"obj": None, "idx": None}
        deadline = None if time_limit is None else t0 + time_limit
        spent = {"build": time.perf_counter() - t0, "solve": 0.0}
        stats = {"blocks": len(blocks), "solved": 0, "pruned": 0, "variables": 0, "constraints": 0}

        def next_block() -> int | None:
            with lock:
                while pending:
                    i = pending.pop(0)
                    inc = best["obj"]
                    # Ties go to the lowest block index, so results never depend on thread timing.
                    if inc is not None and (bounds[i] > inc * (1 + _TOL)
                                            or (bounds[i] >= inc * (1 - _TOL) and i > best["idx"])):
                        outcomes[i] = _BlockOutcome("pruned", None, bounds[i], None)
                    elif latency_limit is not None and found[i].latency > latency_limit * (1 + 1e-9):
                        outcomes[i] = _BlockOutcome(INFEASIBLE, None, None, None)
                    else:
                        return i
                    stats["pruned"] += 1
                return None

        def stop() -> None:
            with lock:
                pending.clear()

        def work() -> None:
            try:
                run()
            except BaseException:   # a solver failure or an interrupt: let the other worker stop too
                stop()
                raise

        def run() -> None:
            while (i := next_block()) is not None:
                remaining = None if deadline is None else deadline - time.perf_counter()
                if remaining is not None and remaining <= 0.05:
                    with lock:
                        outcomes[i] = _BlockOutcome(NO_SOLUTION, None, found[i].objective, None)
                    continue
                tb = time.perf_counter()
                milp = CoDesignMILP(instance, [blocks[i]], name=f"specpim_b{i}")
                with lock:
                    inc = best["obj"]
                    stats["variables"] += len(milp.prob.variables())
                    stats["constraints"] += len(milp.prob.constraints())
                # CBC discards nodes that cannot beat the incumbent.
                cutoff = None if inc is None else inc * scale * (1 + 1e-7)
                ts = time.perf_counter()
                status, obj, bnd = solve_milp(milp, time_limit=remaining, cutoff=cutoff)
                with lock:
                    spent["build"] += ts - tb
                    spent["solve"] += time.perf_counter() - ts
                    stats["solved"] += 1
                    obj = None if obj is None else obj / scale
                    bnd = found[i].objective if bnd is None else max(found[i].objective, bnd / scale)
                    if status == INFEASIBLE and cutoff is not None:
                        outcomes[i] = _BlockOutcome("pruned", None, inc, None)   # nothing beats the incumbent
                    else:
                        outcomes[i] = _BlockOutcome(status, obj, bnd, milp)
                        if obj is not None and _better(obj, i, best["obj"], best["idx"]):
                            best["obj"], best["idx"] = obj, i

        n_workers = max(1, min(self.workers, len(blocks)))
        if n_workers == 1:
            work()
        else:
            with ThreadPoolExecutor(n_workers) as pool:
                futures = [pool.submit(work) for _ in range(n_workers)]
                try:
                    for f in futures:
                        f.result()
                except BaseException:   # e.g. Ctrl-C: no new blocks; running ones finish
                    stop()
                    raise
        result = SolverResult(self.name, NO_SOLUTION, build_s=spent["build"], solve_s=spent["solve"], stats=stats)
        open_blocks = [o for o in outcomes.values() if o.status in (FEASIBLE, NO_SOLUTION)]
        if best["idx"] is None:
            if len(outcomes) == len(blocks) and all(o.status in (INFEASIBLE, "pruned") for o in outcomes.values()):
                result.status = INFEASIBLE
            elif open_blocks:
                result.bound = min(o.bound for o in open_blocks)
            return result
        out = outcomes[best["idx"]]
        result.mapping = out.milp.mapping(out.milp.blocks[0])
        result.objective = out.objective
        result.write_model = out.milp.prob.writeLP
        # Every block is settled (solved, pruned by a valid bound, or proven
        # infeasible) or open with a valid bound: optimal only if none is open.
        result.bound = min([out.objective] + [o.bound for o in open_blocks])
        result.status = FEASIBLE if open_blocks else OPTIMAL
        return result
