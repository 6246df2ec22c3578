"""CBC through PuLP: the default, exact solver.

The MILP of formulation/milp.py is block-angular: blocks (PIM option, γ) are
linked only by Σ z_b = 1.  Solving every block with z_b = 1 and keeping the
best is therefore the same optimisation; it lets blocks be skipped when a
valid lower bound (formulation/blocks.py) already loses to the incumbent, lets
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
from dataclasses import dataclass, field
from enum import StrEnum

import pulp

from specpim.core.enums import Metric, Status
from specpim.core.errors import SolverError
from specpim.core.tolerances import LATENCY_RTOL, TIE_RTOL
from specpim.costs.tables import InstanceTables
from specpim.formulation.blocks import BlockBound, BlockSpec, block_bound, make_blocks
from specpim.formulation.milp import ENERGY_SCALE, TIME_SCALE, CoDesignMILP
from specpim.problem.instance import Instance

from .result import SolverResult

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


class BlockStatus(StrEnum):
    """How one block ended: a solver status, or skipped by its bound."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    NO_SOLUTION = "no_solution"
    PRUNED = "pruned"        # its lower bound (or the CBC cutoff) cannot beat the incumbent

    @property
    def settled(self) -> bool:
        """Nothing in the block can beat what was found: it needs no more work."""
        return self in (BlockStatus.OPTIMAL, BlockStatus.INFEASIBLE, BlockStatus.PRUNED)


@dataclass
class _BlockOutcome:
    status: BlockStatus
    objective: float | None
    bound: float | None
    milp: CoDesignMILP | None


def solve_milp(milp: CoDesignMILP, *, time_limit: float | None, cutoff: float | None = None,
               threads: int = 1) -> tuple[BlockStatus, float | None, float | None]:
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
        return BlockStatus.OPTIMAL, obj, obj
    bound = _log_bound(text)
    if sol == pulp.LpSolutionIntegerFeasible:
        obj = float(pulp.value(milp.prob.objective))
        return BlockStatus.FEASIBLE, obj, None if bound is None else min(bound, obj)
    # CBC's "proven infeasible" (also what a cutoff that nothing beats gives)
    # reaches PuLP as status Infeasible with sol_status "no solution found".
    if sol == pulp.LpSolutionInfeasible or milp.prob.status == pulp.LpStatusInfeasible:
        return BlockStatus.INFEASIBLE, None, None
    if sol == pulp.LpSolutionUnbounded:
        raise SolverError("CBC reports the MILP unbounded; this is a bug in the formulation")
    return BlockStatus.NO_SOLUTION, None, bound


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


@dataclass
class _Incumbent:
    """The best block solution so far; ties go to the lower block index."""

    objective: float | None = None
    index: int | None = None

    def improved_by(self, objective: float, index: int) -> bool:
        if self.objective is None or self.index is None:
            return True
        if objective < self.objective * (1 - TIE_RTOL):
            return True
        return objective <= self.objective * (1 + TIE_RTOL) and index < self.index

    def prunes(self, bound: float, index: int) -> bool:
        """Whether a block with lower bound ``bound`` cannot beat (or tie-win against) the incumbent."""
        if self.objective is None or self.index is None:
            return False
        return bound > self.objective * (1 + TIE_RTOL) or (bound >= self.objective * (1 - TIE_RTOL)
                                                            and index > self.index)


@dataclass
class _SearchStats:
    blocks: int
    solved: int = 0
    pruned: int = 0
    variables: int = 0
    constraints: int = 0
    build_s: float = 0.0
    solve_s: float = 0.0

    def as_dict(self) -> dict[str, int]:
        return {"blocks": self.blocks, "solved": self.solved, "pruned": self.pruned,
                "variables": self.variables, "constraints": self.constraints}


@dataclass
class _BlockSearch:
    """Blocks solved in order of their lower bounds, skipping those that
    cannot win; shared by the worker threads under ``lock``."""

    instance: Instance
    blocks: list[BlockSpec]
    bounds: list[BlockBound]
    order_keys: list[float]          # the bounds, or 0 when pruning is off
    scale: float                     # instance units → MILP units
    deadline: float | None
    stats: _SearchStats
    pending: list[int] = field(default_factory=list)
    outcomes: dict[int, _BlockOutcome] = field(default_factory=dict)
    best: _Incumbent = field(default_factory=_Incumbent)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.pending = sorted(range(len(self.blocks)), key=lambda i: (self.order_keys[i], i))
        objective = self.instance.objective
        self.latency_limit = objective.latency_bound if objective.metric == Metric.ENERGY else None

    def next_block(self) -> int | None:
        """The next block worth solving; records the ones skipped on the way."""
        with self.lock:
            while self.pending:
                i = self.pending.pop(0)
                if self.best.prunes(self.order_keys[i], i):
                    self.outcomes[i] = _BlockOutcome(BlockStatus.PRUNED, None, self.order_keys[i], None)
                elif self.latency_limit is not None and \
                        self.bounds[i].latency > self.latency_limit * (1 + LATENCY_RTOL):
                    self.outcomes[i] = _BlockOutcome(BlockStatus.INFEASIBLE, None, None, None)
                else:
                    return i
                self.stats.pruned += 1
            return None

    def stop(self) -> None:
        with self.lock:
            self.pending.clear()

    def run_worker(self) -> None:
        try:
            while (i := self.next_block()) is not None:
                self.solve_block(i)
        except BaseException:   # a solver failure or an interrupt: let the other workers stop too
            self.stop()
            raise

    def solve_block(self, i: int) -> None:
        remaining = None if self.deadline is None else self.deadline - time.perf_counter()
        if remaining is not None and remaining <= 0.05:
            with self.lock:
                self.outcomes[i] = _BlockOutcome(BlockStatus.NO_SOLUTION, None, self.bounds[i].objective, None)
            return
        tb = time.perf_counter()
        milp = CoDesignMILP(self.instance, [self.blocks[i]], name=f"specpim_b{i}")
        with self.lock:
            incumbent = self.best.objective
            self.stats.variables += len(milp.prob.variables())
            self.stats.constraints += len(milp.prob.constraints())
        # CBC discards nodes that cannot beat the incumbent.
        cutoff = None if incumbent is None else incumbent * self.scale * (1 + 1e-7)
        ts = time.perf_counter()
        status, obj, bnd = solve_milp(milp, time_limit=remaining, cutoff=cutoff)
        with self.lock:
            self.stats.build_s += ts - tb
            self.stats.solve_s += time.perf_counter() - ts
            self.stats.solved += 1
            obj = None if obj is None else obj / self.scale
            bnd = self.bounds[i].objective if bnd is None else max(self.bounds[i].objective, bnd / self.scale)
            if status == BlockStatus.INFEASIBLE and cutoff is not None:
                # nothing in the block beats the incumbent
                self.outcomes[i] = _BlockOutcome(BlockStatus.PRUNED, None, incumbent, None)
            else:
                self.outcomes[i] = _BlockOutcome(status, obj, bnd, milp)
                if obj is not None and self.best.improved_by(obj, i):
                    self.best = _Incumbent(obj, i)

    def run(self, workers: int) -> None:
        n = max(1, min(workers, len(self.blocks)))
        if n == 1:
            self.run_worker()
            return
        with ThreadPoolExecutor(n) as pool:
            futures = [pool.submit(self.run_worker) for _ in range(n)]
            try:
                for f in futures:
                    f.result()
            except BaseException:   # e.g. Ctrl-C: no new blocks; running ones finish
                self.stop()
                raise

    def result(self, solver: str) -> SolverResult:
        """Optimal only if every block is settled: solved, pruned by a valid
        bound or proven infeasible; otherwise the best bound of the open ones."""
        result = SolverResult(solver, Status.NO_SOLUTION, build_s=self.stats.build_s, solve_s=self.stats.solve_s,
                              stats=self.stats.as_dict())
        open_blocks = [o for o in self.outcomes.values() if not o.status.settled]
        if self.best.index is None:
            if len(self.outcomes) == len(self.blocks) and not open_blocks:
                result.status = Status.INFEASIBLE
            elif open_blocks:
                result.bound = min(o.bound for o in open_blocks if o.bound is not None) \
                    if any(o.bound is not None for o in open_blocks) else None
            return result
        out = self.outcomes[self.best.index]
        assert out.milp is not None and out.objective is not None
        result.mapping = out.milp.mapping(out.milp.blocks[0])
        result.objective = out.objective
        result.write_model = out.milp.prob.writeLP
        result.bound = min([out.objective] + [o.bound for o in open_blocks if o.bound is not None])
        result.status = Status.FEASIBLE if open_blocks else Status.OPTIMAL
        return result


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
        scale = ENERGY_SCALE if instance.objective.metric == Metric.ENERGY else TIME_SCALE
        if not blocks:
            return SolverResult(self.name, Status.INFEASIBLE, build_s=time.perf_counter() - t0,
                                diagnosis="no PIM option fits the area budget and the design space "
                                "excludes a design without PIM")
        if self.monolithic:
            return self._solve_monolithic(instance, blocks, time_limit, scale, t0)
        bounds = [block_bound(instance, b) for b in blocks]
        # Pruning and order use the bounds only when asked; the reported
        # optimality gap always uses them, as they are valid either way.
        search = _BlockSearch(instance, blocks, bounds,
                              order_keys=[b.objective if self.use_bounds else 0.0 for b in bounds],
                              scale=scale, deadline=None if time_limit is None else t0 + time_limit,
                              stats=_SearchStats(len(blocks), build_s=time.perf_counter() - t0))
        search.run(self.workers)
        return search.result(self.name)

    def _solve_monolithic(self, instance: Instance, blocks: list[BlockSpec], time_limit: float | None,
                          scale: float, t0: float) -> SolverResult:
        """The one MILP with block selectors."""
        milp = CoDesignMILP(instance, blocks)
        build = time.perf_counter() - t0
        status, obj, bound = solve_milp(milp, time_limit=time_limit, threads=self.workers)
        result = SolverResult(self.name, Status(status), build_s=build, solve_s=time.perf_counter() - t0 - build,
                              stats={"blocks": len(blocks), "variables": len(milp.prob.variables()),
                                     "constraints": len(milp.prob.constraints())},
                              write_model=milp.prob.writeLP)
        if obj is not None:
            result.mapping = milp.mapping(milp.chosen_block())
            result.objective = obj / scale
            result.bound = bound / scale if bound is not None else None
        return result
