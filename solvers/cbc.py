"""CBC through PuLP: the default, exact solver.

The MILP of formulation/milp.py is block-angular: blocks (PIM option, n, γ)
are linked only by Σ z_b = 1.  Solving every block with z_b = 1 and keeping
the best is therefore the same optimisation; it lets blocks be skipped when a
valid lower bound (formulation/blocks.py) already loses to the incumbent,
lets CBC cut off nodes above the incumbent, and runs up to ``workers`` CBC
processes at a time.  ``monolithic=True`` instead builds and solves the one
MILP with selectors (used by the tests to show both give the same optimum).

Each CBC run: PuLP writes the block's MPS file into a private temporary
folder, CBC runs as a child process (solvers/processes.py: it never outlives
specpim), PuLP reads the solution back, and the folder is removed whatever
happens.  One thread starts, watches and reaps the processes, so a signal
(Ctrl-C, SIGTERM) reaches the search loop, which kills every running CBC and
removes every folder before it lets the signal end the run.  A time limit is
a deadline for the whole run (core/deadline.py): CBC gets what is left, and a
run that overstays is killed.
"""

from __future__ import annotations

import bisect
import heapq
import os
import re
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import IO, Any

import numpy as np
import pulp

from specpim.core.deadline import Deadline, OutOfTime
from specpim.core.enums import Metric, Phase, Status
from specpim.core.errors import SolverError
from specpim.core.tolerances import ENERGY_RTOL, LATENCY_RTOL, TIE_RTOL
from specpim.costs.tables import InstanceTables
from specpim.formulation.blocks import REFINEMENTS, BlockBound, BlockSpec, block_bound, make_blocks
from specpim.formulation.milp import ENERGY_SCALE, TIME_SCALE, CoDesignMILP
from specpim.problem.instance import Instance
from specpim.problem.mapping import Mapping

from . import processes
from .result import SolverResult

_INSTALL = "pip install --force-reinstall cbcbox"
# A CBC run may overstay its -sec limit by this much (it checks the clock
# between nodes) before it is killed.
_GRACE_S = 1.0
_POLL_S = 0.005


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


class CbcRun:
    """One CBC process solving one MILP, from its MPS file to its solution.

    ``start`` writes the files and starts CBC; ``done`` polls; ``finish``
    reads the answer (status, objective, bound in MILP units); ``abort``
    kills it.  Every path ends in ``_cleanup``, which removes the folder.
    """

    def __init__(self, milp: CoDesignMILP, *, time_limit: float | None, cutoff: float | None = None,
                 threads: int = 0):
        self.milp, self.time_limit, self.cutoff, self.threads = milp, time_limit, cutoff, threads
        self.path = cbc_path()
        self.tmp: str | None = None
        self.proc: Any = None
        self.started = 0.0
        self.killed = False          # by us, for overstaying its time limit
        self._log: IO[str] | None = None

    def start(self) -> CbcRun:
        try:
            self.tmp = tempfile.mkdtemp(prefix="specpim-cbc-")
        except OSError as exc:
            raise SolverError(f"CBC solver: cannot create a temporary folder ({exc.strerror or exc}) in "
                              f"{tempfile.gettempdir()}; free some space there or set TMPDIR") from None
        try:
            mps, self.sol, self.logfile = (os.path.join(self.tmp, f) for f in ("model.mps", "model.sol", "cbc.log"))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                self.names = self.milp.prob.writeMPS(mps, rename=1)
            args = [self.path, mps]
            # increment 0: CBC's default (1e-4, absolute) treats solutions less than that
            # much better as no better, and MILP objectives (µJ, µs) can be that close.
            # ratio 0: "optimal" must mean proven optimal, whatever the build's default gap.
            # threads 0 is CBC's serial code; 1 would start its threaded search with one
            # worker, which costs 5-10% on the small blocks specpim solves.
            args += ["-increment", "0", "-ratio", "0", "-threads", str(self.threads)]
            if self.cutoff is not None:
                args += ["-cutoff", repr(self.cutoff)]
            if self.time_limit is not None:
                args += ["-sec", repr(max(self.time_limit, 0.01))]
            args += ["-solve", "-printingOptions", "all", "-solution", self.sol]
            self._log = open(self.logfile, "w")
            self.proc = processes.start(args, stdout=self._log, stderr=self._log)
            self.started = time.monotonic()
        except OSError as exc:
            self._cleanup()
            raise SolverError(f"CBC solver failed to start: {exc.strerror or exc} ({self.path}); check that it "
                              f"runs, or reinstall it: {_INSTALL}") from None
        except BaseException:
            self._cleanup()
            raise
        return self

    def overdue(self) -> bool:
        return self.time_limit is not None and time.monotonic() - self.started > self.time_limit + _GRACE_S

    def done(self) -> bool:
        """Whether CBC has ended (killing it first when it overstays its limit)."""
        if self.proc.poll() is not None:
            return True
        if self.overdue():
            self.killed = True
            processes.kill(self.proc)
            return True
        return False

    def wait(self) -> None:
        while not self.done():
            time.sleep(_POLL_S)

    def abort(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            processes.kill(self.proc)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.proc is not None:
            processes.forget(self.proc)
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def finish(self) -> tuple[BlockStatus, float | None, float | None]:
        """The answer of a CBC run that has ended; the folder is removed."""
        try:
            return self._read()
        finally:
            self._cleanup()

    def _read(self) -> tuple[BlockStatus, float | None, float | None]:
        assert self.tmp is not None and self._log is not None
        self._log.flush()
        log = self.logfile
        killed = self.killed
        if not killed and (self.proc.returncode != 0 or not os.path.exists(self.sol)):
            raise SolverError(f"CBC solver failed: {self.path} did not run to completion{_log_tail(log)}; check "
                              f"that it runs, or reinstall it: {_INSTALL}")
        text = open(log, encoding="utf-8", errors="replace").read() if os.path.exists(log) else ""
        if killed or not os.path.exists(self.sol):
            # killed for overstaying: whatever it proved is in the log
            return BlockStatus.NO_SOLUTION, None, _log_bound(text)
        prob = self.milp.prob
        variables, var_names, con_names, _ = self.names
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                reader = pulp.COIN_CMD(path=self.path, msg=False)
            status, values, _, _, _, sol_status = reader.readsol_MPS(self.sol, prob, variables, var_names, con_names)
        except Exception as exc:   # a solution file PuLP cannot read
            raise SolverError(f"CBC solver failed: its output could not be read ({type(exc).__name__}: {exc})"
                              f"{_log_tail(log)}; check that {self.path} runs, or reinstall it: {_INSTALL}") from None
        prob.assignVarsVals(values)
        prob.assignStatus(status, sol_status)
        sol = prob.sol_status
        if sol == pulp.LpSolutionOptimal:
            obj = float(pulp.value(prob.objective))
            return BlockStatus.OPTIMAL, obj, obj
        bound = _log_bound(text)
        if sol == pulp.LpSolutionIntegerFeasible:
            obj = float(pulp.value(prob.objective))
            return BlockStatus.FEASIBLE, obj, None if bound is None else min(bound, obj)
        # CBC's "proven infeasible" (also what a cutoff that nothing beats gives)
        # reaches PuLP as status Infeasible with sol_status "no solution found".
        if sol == pulp.LpSolutionInfeasible or prob.status == pulp.LpStatusInfeasible:
            return BlockStatus.INFEASIBLE, None, None
        if sol == pulp.LpSolutionUnbounded:
            raise SolverError("CBC reports the MILP unbounded; this is a bug in the formulation")
        return BlockStatus.NO_SOLUTION, None, bound


def solve_milp(milp: CoDesignMILP, *, time_limit: float | None, cutoff: float | None = None,
               threads: int = 0) -> tuple[BlockStatus, float | None, float | None]:
    """Run CBC on ``milp`` to the end (see ``CbcRun``); (status, objective, bound)."""
    run = CbcRun(milp, time_limit=time_limit, cutoff=cutoff, threads=threads).start()
    try:
        run.wait()
    except BaseException:
        run.abort()
        raise
    return run.finish()


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
    alternative_milps: int = 0   # MILPs solved after the optimum, for the top-K list
    variables: int = 0
    constraints: int = 0
    build_s: float = 0.0
    solve_s: float = 0.0

    def as_dict(self) -> dict[str, int]:
        out = {"blocks": self.blocks, "solved": self.solved, "pruned": self.pruned,
               "variables": self.variables, "constraints": self.constraints}
        if self.alternative_milps:
            out["alternative_milps"] = self.alternative_milps
        return out


@dataclass
class _BlockSearch:
    """Blocks solved in order of their lower bounds, skipping those that
    cannot win, with up to ``workers`` CBC runs at a time."""

    instance: Instance
    blocks: list[BlockSpec]
    bounds: list[BlockBound]
    order_keys: list[float]          # the bounds, or 0 when pruning is off
    scale: float                     # instance units → MILP units
    deadline: Deadline
    stats: _SearchStats
    pending: list[tuple[float, int]] = field(default_factory=list)   # a heap of (bound, block)
    outcomes: dict[int, _BlockOutcome] = field(default_factory=dict)
    best: _Incumbent = field(default_factory=_Incumbent)
    running: dict[int, tuple[CbcRun, float | None]] = field(default_factory=dict)
    stage: dict[int, int] = field(default_factory=dict)     # refinements a block's bound has had

    def __post_init__(self) -> None:
        self.pending = sorted((self.order_keys[i], i) for i in range(len(self.blocks)))
        self.refine = self.instance.objective.metric == Metric.ENERGY and any(k > 0 for k in self.order_keys)
        objective = self.instance.objective
        self.latency_limit = objective.latency_bound if objective.metric == Metric.ENERGY else None
        self.energy_limit = objective.energy_bound if objective.metric != Metric.ENERGY else None

    def next_block(self) -> int | None:
        """The next block worth solving, best bound first; records the ones
        skipped on the way.  With the energy objective a block's cheap bound
        is refined when it comes up, one stage at a time (REFINEMENTS), and
        the block goes back in line: costly bounds are computed only for
        blocks that are still the most promising."""
        while self.pending:
            key, i = heapq.heappop(self.pending)
            if self.best.prunes(key, i):
                self.outcomes[i] = _BlockOutcome(BlockStatus.PRUNED, None, key, None)
            elif self.latency_limit is not None and \
                    self.bounds[i].latency > self.latency_limit * (1 + LATENCY_RTOL):
                self.outcomes[i] = _BlockOutcome(BlockStatus.INFEASIBLE, None, None, None)
            elif self.energy_limit is not None and self.bounds[i].energy > self.energy_limit * (1 + ENERGY_RTOL):
                self.outcomes[i] = _BlockOutcome(BlockStatus.INFEASIBLE, None, None, None)
            elif self.refine and self.stage.get(i, 0) < len(REFINEMENTS):
                heapq.heappush(self.pending, (self._refined(i), i))
                continue
            else:
                return i
            self.stats.pruned += 1
        return None

    def splits(self, i: int) -> tuple[tuple[int, int], ...]:
        """The block's draft/target splits when it has a choice of them, else ()."""
        spec = self.blocks[i]
        if not self.instance.design_space.partitioned or Phase.DRAFT not in spec.tables:
            return ()
        return self.instance.design_space.splits(spec.pim_channels, True)

    def _refined(self, i: int) -> float:
        """The block's bound after its next refinement stage."""
        b = self.bounds[i]
        stage = self.stage.get(i, 0)
        self.stage[i] = stage + 1
        enough = np.inf if self.best.objective is None else self.best.objective * (1 + TIE_RTOL)
        better = REFINEMENTS[stage](self.instance, self.blocks[i], b.objective, enough)
        self.bounds[i] = replace(b, objective=better, energy=max(b.energy, better))
        return better

    def start_block(self, i: int) -> None:
        tb = time.perf_counter()
        milp = CoDesignMILP(self.instance, [self.blocks[i]], name=f"specpim_b{i}")
        self.stats.variables += len(milp.prob.variables())
        self.stats.constraints += len(milp.prob.constraints())
        incumbent = self.best.objective
        # CBC discards nodes that cannot beat the incumbent.
        cutoff = None if incumbent is None else incumbent * self.scale * (1 + 1e-7)
        run = CbcRun(milp, time_limit=self.deadline.for_solver(), cutoff=cutoff).start()
        self.stats.build_s += time.perf_counter() - tb
        self.running[i] = (run, incumbent)

    def finish_block(self, i: int) -> None:
        run, incumbent = self.running.pop(i)
        status, obj, bnd = run.finish()
        self.stats.solve_s += time.monotonic() - run.started
        self.stats.solved += 1
        obj = None if obj is None else obj / self.scale
        bnd = self.bounds[i].objective if bnd is None else max(self.bounds[i].objective, bnd / self.scale)
        if status == BlockStatus.INFEASIBLE and run.cutoff is not None:
            # nothing in the block beats the incumbent it was given
            self.outcomes[i] = _BlockOutcome(BlockStatus.PRUNED, None, incumbent, None)
        else:
            self.outcomes[i] = _BlockOutcome(status, obj, bnd, run.milp)
            if obj is not None and self.best.improved_by(obj, i):
                self.best = _Incumbent(obj, i)

    def out_of_time(self) -> None:
        """Every block not settled yet stays open with its bound."""
        for _, i in self.pending:
            self.outcomes[i] = _BlockOutcome(BlockStatus.NO_SOLUTION, None, self.bounds[i].objective, None)
        self.pending.clear()

    def run(self, workers: int) -> None:
        slots = max(1, workers)
        try:
            while True:
                while len(self.running) < slots and not self.deadline.expired():
                    i = self.next_block()
                    if i is None:
                        break
                    self.start_block(i)
                if self.deadline.expired():
                    self.out_of_time()
                if not self.running:
                    if not self.pending:
                        return
                    continue
                ended = [i for i, (run, _) in self.running.items() if run.done()]
                for i in sorted(ended):
                    self.finish_block(i)
                if not ended:
                    time.sleep(_POLL_S)
        except OutOfTime:
            self.out_of_time()
            self._finish_running()
        except BaseException:   # a solver failure, an interrupt or a signal: no CBC outlives the search
            for run, _ in self.running.values():
                run.abort()
            self.running.clear()
            raise

    def _finish_running(self) -> None:
        for i in list(self.running):
            self.running[i][0].wait()
            self.finish_block(i)

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


@dataclass(order=True)
class _Entry:
    """A heap entry of the alternatives search: a proven architecture
    (``mapping`` set) or a part of a block not solved yet, keyed by its
    objective or its lower bound."""

    key: float
    block: int
    exact: bool = field(compare=False)
    exclude: tuple[int, ...] = field(default=(), compare=False)
    mapping: Mapping | None = field(default=None, compare=False)


def _alternatives(search: _BlockSearch, top: int) -> list[tuple[float, Mapping]]:
    """The ``top`` best distinct architectures (option, n, split, γ), best first.

    Entries come off a heap in order of their keys, and a bound is never above
    what it bounds, so proven entries come off in order of their objectives:
    the first ``top`` of them are the answer.  A block's part comes off as a
    bound, is solved (CBC, with the ``top``-th best value proven so far as a
    cutoff) and goes back as its optimum plus, when the block has a
    draft/target split, the rest of the block (that split excluded by a
    no-good cut) keyed by that optimum.  Blocks the main search solved enter
    with their optimum, the others with their bound."""
    heap: list[_Entry] = []
    for i, out in search.outcomes.items():
        if out.status == BlockStatus.OPTIMAL and out.milp is not None and out.objective is not None:
            mapping = out.milp.mapping(out.milp.blocks[0])
            heap.append(_Entry(out.objective, i, True, mapping=mapping))
            if search.splits(i):
                heap.append(_Entry(out.objective, i, False, (mapping.architecture.draft_channels,)))
        elif out.status == BlockStatus.PRUNED:
            heap.append(_Entry(max(search.bounds[i].objective, out.bound or -np.inf), i, False))
    heapq.heapify(heap)
    found: list[tuple[float, Mapping]] = []
    proven: list[float] = sorted(e.key for e in heap if e.exact)
    while heap and len(found) < top and not search.deadline.expired():
        entry = heapq.heappop(heap)
        if entry.exact:
            assert entry.mapping is not None
            found.append((entry.key, entry.mapping))
            continue
        if not entry.exclude and search.refine and search.stage.get(entry.block, 0) < len(REFINEMENTS):
            heapq.heappush(heap, _Entry(max(entry.key, search._refined(entry.block)), entry.block, False))
            continue
        cutoff = proven[top - 1] if len(proven) >= top else None
        if cutoff is not None and entry.key > cutoff * (1 + TIE_RTOL):
            break                          # nothing left can enter the list
        milp = CoDesignMILP(search.instance, [search.blocks[entry.block]], name=f"specpim_b{entry.block}",
                            exclude=entry.exclude)
        limit = None if cutoff is None else cutoff * search.scale * (1 + 1e-7)
        status, obj, _ = solve_milp(milp, time_limit=search.deadline.for_solver(), cutoff=limit)
        search.stats.alternative_milps += 1
        if status != BlockStatus.OPTIMAL or obj is None:
            if status in (BlockStatus.FEASIBLE, BlockStatus.NO_SOLUTION):
                break                      # out of time: what was proven stands
            continue                       # infeasible, or nothing under the cutoff
        value = obj / search.scale
        mapping = milp.mapping(milp.blocks[0])
        heapq.heappush(heap, _Entry(value, entry.block, True, mapping=mapping))
        bisect.insort(proven, value)
        excluded = entry.exclude + (mapping.architecture.draft_channels,)
        if len(excluded) < len(search.splits(entry.block)):
            heapq.heappush(heap, _Entry(value, entry.block, False, excluded))
    return found


class CbcSolver:
    name = "cbc"

    def __init__(self, *, workers: int = 2, monolithic: bool = False, use_bounds: bool = True, top: int = 1):
        self.workers = workers
        self.monolithic = monolithic
        self.use_bounds = use_bounds
        self.top = top

    def solve(self, instance: Instance, tables: InstanceTables, deadline: Deadline | None = None) -> SolverResult:
        cbc_path()   # a missing solver is reported before any work
        deadline = deadline or Deadline.none()
        t0 = time.perf_counter()
        blocks = make_blocks(instance, tables)
        scale = ENERGY_SCALE if instance.objective.metric == Metric.ENERGY else TIME_SCALE
        if not blocks:
            return SolverResult(self.name, Status.INFEASIBLE, build_s=time.perf_counter() - t0,
                                diagnosis="no PIM option fits the area budget and the design space "
                                "excludes a design without PIM")
        if self.monolithic:
            return self._solve_monolithic(instance, blocks, deadline, scale, t0)
        bounds = []
        for b in blocks:
            if deadline.expired():   # not even the bounds in time: no design, no bound
                return SolverResult(self.name, Status.NO_SOLUTION, build_s=time.perf_counter() - t0,
                                    stats={"blocks": len(blocks), "solved": 0, "pruned": 0})
            bounds.append(block_bound(instance, b))
        # Pruning and order use the bounds only when asked; the reported
        # optimality gap always uses them, as they are valid either way.
        search = _BlockSearch(instance, blocks, bounds,
                              order_keys=[b.objective if self.use_bounds else 0.0 for b in bounds],
                              scale=scale, deadline=deadline,
                              stats=_SearchStats(len(blocks), build_s=time.perf_counter() - t0))
        search.run(self.workers)
        result = search.result(self.name)
        if self.top > 1 and result.status == Status.OPTIMAL:
            result.alternatives = _alternatives(search, self.top)
            result.stats = search.stats.as_dict()
        return result

    def _solve_monolithic(self, instance: Instance, blocks: list[BlockSpec], deadline: Deadline,
                          scale: float, t0: float) -> SolverResult:
        """The one MILP with block selectors."""
        milp = CoDesignMILP(instance, blocks)
        build = time.perf_counter() - t0
        status, obj, bound = solve_milp(milp, time_limit=deadline.for_solver(), threads=self.workers)
        result = SolverResult(self.name, Status(status), build_s=build, solve_s=time.perf_counter() - t0 - build,
                              stats={"blocks": len(blocks), "variables": len(milp.prob.variables()),
                                     "constraints": len(milp.prob.constraints())},
                              write_model=milp.prob.writeLP)
        if obj is not None:
            result.mapping = milp.mapping(milp.chosen_block())
            result.objective = obj / scale
            result.bound = bound / scale if bound is not None else None
        return result
