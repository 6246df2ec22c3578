"""The independent evaluator: check one mapping and score it, without a solver.

It re-checks every rule on the concrete mapping — the architecture is in
the design space, every operator is placed once, tiers respect the DAG,
channel groups fit their model's channels and, within a tier, sit on
disjoint physical channels, and every physical channel holds what lives in
it — and recomputes every metric by direct aggregation.  Operators are
priced one at a time: by the independent reference (reference.py) for the
built-in cost model, or by the user's cost model itself; never from the cost
tables the solvers read.  The solver's objective must equal the result to
1e-6 (``specpim.solve`` checks it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from specpim.core.enums import Engine, MemoryModel, Metric, Phase
from specpim.core.errors import InstanceError
from specpim.core.tolerances import CAPACITY_RTOL, ENERGY_RTOL, LATENCY_RTOL
from specpim.costs.protocol import CostModel
from specpim.costs.roofline import RooflineCostModel
from specpim.hardware.devices import PimOption, System
from specpim.problem.design_space import canonical_layout, fits
from specpim.problem.instance import Instance
from specpim.problem.mapping import Architecture, Mapping, Placement
from specpim.workload.operators import Operator, PhaseWorkload

from .reference import PhaseConstants, Priced, ReferencePricer


@dataclass(frozen=True)
class OperatorMetrics:
    """One operator as mapped: per execution on one device."""

    name: str
    tier: int | None
    engine: str
    channels: int
    first_channel: int | None
    time: float            # s
    energy: float          # J
    host_busy: float       # s of ``time`` that occupy the host
    flops: float
    memory_bytes: float    # weights + KV cache read
    intensity: float       # FLOP per byte read

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if k == "engine" else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class PhaseMetrics:
    """One step of one phase.  Times in s; energy in J over all devices."""

    phase: Phase
    steps: int
    step_time: float
    layer_time: float
    tier_times: tuple[float, ...]
    collective_time: float       # all-reduces and the all-gather of one step
    elementwise_time: float      # the host's element-wise kernels of one step
    head_time: float
    step_energy: float
    host_busy: float
    pim_busy: float
    pim_resident_bytes: float    # bytes the phase's PIM operators keep in PIM channels
    operators: tuple[OperatorMetrics, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k not in ("tier_times", "operators")}
        d["phase"] = str(self.phase)
        d["tier_times"] = list(self.tier_times)
        d["operators"] = [o.to_dict() for o in self.operators]
        return d


@dataclass(frozen=True)
class Metrics:
    metric: Metric
    objective: float
    draft_len: int
    expected_tokens: float
    iteration_time: float        # s
    latency_per_token: float     # s per generated token of one request
    throughput: float            # generated tokens/s over the batch
    energy_per_token: float      # J per generated token
    iteration_energy: float      # J, static energy included
    static_power: float          # W per device
    area: float                  # mm² per device
    fullest_channel: float       # the most any channel holds, as a fraction of its capacity
    latency_bound_met: bool
    energy_bound_met: bool = True
    phases: dict[Phase, PhaseMetrics] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "phases"}
        d["metric"] = str(self.metric)
        d["phases"] = {str(p): m.to_dict() for p, m in self.phases.items()}
        return d


def objective_value(metric: str, latency: float, energy: float, throughput: float) -> float:
    return {Metric.LATENCY: latency, Metric.ENERGY: energy, Metric.THROUGHPUT: throughput}[Metric(metric)]


def evaluate(instance: Instance, mapping: Mapping, cost_model: CostModel | None = None,
             *, file: str | None = None) -> Metrics:
    """Check ``mapping`` against ``instance`` and compute its metrics.

    ``cost_model`` None (or the built-in one) prices operators with the
    independent reference; any other model is asked directly.  Raises
    InstanceError naming the operator and the rule when the mapping does not
    fit the instance.
    """
    if cost_model is not None and not _is_builtin(cost_model):
        pricer: Pricer = ModelPricer(cost_model)
    elif cost_model is None and instance.cost_model is not None:
        from specpim.costs.plugins import resolve_cost_model

        pricer = ModelPricer(resolve_cost_model(instance))
    else:
        pricer = ReferencePricer()
    return _Evaluator(instance, mapping, pricer, file).run()


def _is_builtin(model: CostModel) -> bool:
    inner = getattr(model, "model", model)   # a CheckedCostModel wraps the user's object
    return type(inner) is RooflineCostModel


# -- pricing -----------------------------------------------------------------------

class Pricer(Protocol):
    """How the evaluator prices one operator: the reference, or a user's model."""

    def host(self, work: PhaseWorkload, op: Operator, system: System, host_channels: int) -> Priced: ...

    def pim(self, work: PhaseWorkload, op: Operator, system: System, option: PimOption, k: int,
            host_channels: int) -> Priced: ...

    def constants(self, work: PhaseWorkload, system: System, host_channels: int) -> PhaseConstants: ...


class ModelPricer:
    """A user's cost model, asked for the operators of one phase at a time."""

    def __init__(self, model: CostModel):
        self.model = model

    def host(self, work: PhaseWorkload, op: Operator, system: System, host_channels: int) -> Priced:
        j = work.all_ops.index(op)
        c = self.model.host(work, system, host_channels)
        return Priced(float(c.time[j]), float(c.energy[j]), float(c.time[j]), float(c.stream[j]))

    def pim(self, work: PhaseWorkload, op: Operator, system: System, option: PimOption, k: int,
            host_channels: int) -> Priced:
        j = work.all_ops.index(op)
        c = self.model.pim(work, system, option, np.array([k]), host_channels)
        return Priced(float(c.time[j, 0]), float(c.energy[j, 0]), float(c.host[j, 0]))

    def constants(self, work: PhaseWorkload, system: System, host_channels: int) -> PhaseConstants:
        f = self.model.fixed(work, system, host_channels)
        return PhaseConstants(f.layer_elementwise_time, f.layer_elementwise_energy, f.step_elementwise_time,
                              f.step_elementwise_energy, f.allreduce_time, f.allreduce_energy, f.gather_time,
                              f.gather_energy)


# -- the evaluator ---------------------------------------------------------------------

@dataclass
class _PhaseRun:
    """One phase being checked and scored."""

    phase: Phase
    work: PhaseWorkload
    placed: dict[str, Placement]
    budget: int                      # the model's PIM channels
    start: int                       # its first PIM channel
    priced: dict[str, Priced] = field(default_factory=dict)
    tiers: dict[int, list[str]] = field(default_factory=dict)


class _Evaluator:
    def __init__(self, instance: Instance, mapping: Mapping, pricer: Pricer, file: str | None):
        self.inst, self.map, self.pricer, self.file = instance, mapping, pricer, file
        self.system = instance.system

    def fail(self, field_path: str, message: str) -> InstanceError:
        return InstanceError(message, path=self.file, field=field_path)

    def budget_field(self, phase: Phase) -> str:
        if not self.inst.design_space.partitioned:
            return "pim_channels"
        return "draft_channels" if phase == Phase.DRAFT else "target_channels"

    def run(self) -> Metrics:
        a = self.map.architecture
        option = self.check_architecture(a)
        for p in self.map.phases:
            if p not in self.inst.phases(a.draft_len):
                raise self.fail(f"phases.{p}", f"unknown phase {p!r}; expected {list(self.inst.phases(a.draft_len))}")
        host_channels = self.system.host_channels(a.pim_channels)
        runs, phases = [], {}
        for p in self.inst.phases(a.draft_len):
            run = self.phase_run(p, a)
            self.check_placements(run, option)
            self.price(run, option, host_channels)
            self.check_tiers(run)
            self.lay_out(run)
            runs.append(run)
            phases[p] = self.phase_metrics(run, host_channels)
        fullest = self.check_channels(runs, a, option)
        static = self.system.static_power(option, a.pim_channels)
        area = option.area * a.pim_channels if option else 0.0
        return summarize(self.inst, a.draft_len, phases, area, static, fullest)

    # -- architecture ----------------------------------------------------
    def check_architecture(self, a: Architecture) -> PimOption | None:
        ds, sysm = self.inst.design_space, self.system
        if a.draft_len not in self.inst.draft_lens:
            raise self.fail("architecture.draft_len",
                            f"draft length {a.draft_len} is not among the allowed {list(self.inst.draft_lens)}")
        option = None
        if a.pim_option is None:
            if a.pim_channels or a.draft_channels or a.target_channels:
                raise self.fail("architecture.pim_channels", "no PIM option is chosen, so PIM channels must be 0")
            if not ds.include_no_pim:
                raise self.fail("architecture.pim_option", "the design space requires a PIM option")
        else:
            if a.pim_option not in ds.pim_options:
                raise self.fail("architecture.pim_option",
                                f"unknown PIM option {a.pim_option!r}; the design space allows {list(ds.pim_options)}")
            option = sysm.pim_option(a.pim_option)
            if a.pim_channels not in ds.pim_channels:
                raise self.fail("architecture.pim_channels",
                                f"{a.pim_channels} PIM channels is not among the allowed {list(ds.pim_channels)}")
            if not ds.within_area(option, a.pim_channels):
                raise self.fail("architecture.pim_channels",
                                f"area {a.pim_channels * option.area:g} mm² exceeds the budget {ds.area_budget:g} mm²")
            if a.pim_channels not in ds.allowed_counts(option, sysm):
                raise self.fail("architecture.pim_channels",
                                f"with host data only in the channels without PIM, {a.pim_channels} PIM channels "
                                f"of {sysm.memory.channels} leave the host no memory")
        if ds.partitioned:
            for name, c in (("draft_channels", a.draft_channels), ("target_channels", a.target_channels)):
                if c < 0 or c % ds.channel_step:
                    raise self.fail(f"architecture.{name}",
                                    f"{c} is not a non-negative multiple of channel_step {ds.channel_step}")
            if not self.inst.speculative and a.draft_channels:
                raise self.fail("architecture.draft_channels", "there is no draft model to give channels to")
            if a.draft_channels + a.target_channels != a.pim_channels:
                raise self.fail("architecture.target_channels",
                                f"draft {a.draft_channels} + target {a.target_channels} channels must equal "
                                f"the {a.pim_channels} PIM channels (static partition)")
        elif a.draft_channels != a.pim_channels or a.target_channels != a.pim_channels:
            raise self.fail("architecture.draft_channels",
                            "with shared allocation both models use all PIM channels")
        return option

    # -- one phase -------------------------------------------------------
    def phase_run(self, p: Phase, a: Architecture) -> _PhaseRun:
        placed = self.map.phases.get(p)
        if placed is None:
            raise self.fail(f"phases.{p}", f"the mapping has no {p!r} phase")
        partition = self.inst.design_space.partitioned
        budget = (a.draft_channels if p == Phase.DRAFT else a.target_channels) if partition else a.pim_channels
        start = a.draft_channels if partition and p == Phase.VERIFY else 0
        return _PhaseRun(p, self.inst.phase(p, a.draft_len), dict(placed), budget, start)

    def check_placements(self, run: _PhaseRun, option: PimOption | None) -> None:
        """Every operator once, on an engine that exists, with a channel group the phase has."""
        expected = [o.name for o in run.work.all_ops]
        where = f"phases.{run.phase}"
        for name in run.placed:
            if name not in expected:
                raise self.fail(f"{where}.{name}", f"unknown operator {name!r}; the {run.phase} phase has "
                                f"{sorted(expected)}")
        for name in expected:
            if name not in run.placed:
                raise self.fail(where, f"operator {name!r} has no placement")
        counts = self.inst.design_space.channel_counts
        for name in expected:
            pl, at = run.placed[name], f"{where}.{name}"
            if pl.engine == Engine.HOST:
                if pl.channels:
                    raise self.fail(f"{at}.channels", f"operator {name!r} runs on the host, so it uses 0 PIM "
                                    f"channels; found {pl.channels}")
                if pl.first_channel is not None:
                    raise self.fail(f"{at}.first_channel", f"operator {name!r} runs on the host and has no PIM "
                                    "channels; expected null")
                continue
            if option is None:
                raise self.fail(f"{at}.engine", f"operator {name!r} is on PIM but no PIM option is built")
            if pl.channels not in counts:
                raise self.fail(f"{at}.channels", f"operator {name!r} uses {pl.channels} channels; groups come in "
                                f"{list(counts)}")
            if pl.channels > run.budget:
                raise self.fail(f"{at}.channels", f"operator {name!r} uses {pl.channels} PIM channels but the "
                                f"{run.phase} phase has {run.budget} (architecture.{self.budget_field(run.phase)})")

    def price(self, run: _PhaseRun, option: PimOption | None, host_channels: int) -> None:
        for op in run.work.all_ops:
            pl = run.placed[op.name]
            if pl.engine == Engine.HOST:
                run.priced[op.name] = self.pricer.host(run.work, op, self.system, host_channels)
            else:
                assert option is not None
                run.priced[op.name] = self.pricer.pim(run.work, op, self.system, option, pl.channels, host_channels)

    def check_tiers(self, run: _PhaseRun) -> None:
        """Every layer operator has a tier, the LM head none, and tiers follow the DAG."""
        head = run.work.head.name
        if run.placed[head].tier is not None:
            raise self.fail(f"phases.{run.phase}.{head}.tier", f"the LM head runs once after all layers and takes "
                            f"no tier; found {run.placed[head].tier}, expected null")
        tier_of: dict[str, int] = {}
        for op in run.work.layer_ops:
            t = run.placed[op.name].tier
            if t is None or t < 0:
                raise self.fail(f"phases.{run.phase}.{op.name}.tier", f"operator {op.name!r} needs a tier ≥ 0, "
                                f"found {t}")
            tier_of[op.name] = t
        for u, v in run.work.edges:
            if tier_of[u] >= tier_of[v]:
                raise self.fail(f"phases.{run.phase}.{v}.tier", f"operator {v!r} (tier {tier_of[v]}) depends on "
                                f"{u!r} (tier {tier_of[u]}); it must sit in a later tier")
        for name, t in tier_of.items():
            run.tiers.setdefault(t, []).append(name)

    def lay_out(self, run: _PhaseRun) -> None:
        """Give PIM groups without a first channel the solver's layout, then
        check that every group lies in the model's channels and that a tier's
        groups do not share a channel."""
        groups = [run.tiers[t] for t in sorted(run.tiers)] + [[run.work.head.name]]
        for members in groups:
            pim = [n for n in members if run.placed[n].engine == Engine.PIM]
            missing = [n for n in pim if run.placed[n].first_channel is None]
            if missing:
                if len(missing) != len(pim):
                    raise self.fail(f"phases.{run.phase}.{missing[0]}.first_channel",
                                    "give first_channel for every PIM operator of the tier, or for none")
                loads = [(n, run.placed[n].channels, self._per_channel(run, n)) for n in pim]
                for n, first in canonical_layout(loads, run.start).items():
                    pl = run.placed[n]
                    run.placed[n] = Placement(pl.engine, pl.channels, pl.tier, first)
            used: dict[int, str] = {}
            for n in pim:
                span = run.placed[n].channel_range
                if span.start < run.start or span.stop > run.start + run.budget:
                    raise self.fail(f"phases.{run.phase}.{n}.first_channel",
                                    f"operator {n!r} uses channels {span.start}–{span.stop - 1}, outside the "
                                    f"{run.phase} phase's PIM channels {run.start}–{run.start + run.budget - 1}")
                clash = next((c for c in span if c in used), None)
                if clash is not None:
                    raise self.fail(f"phases.{run.phase}.{n}.first_channel",
                                    f"operators {used[clash]!r} and {n!r} run in the same tier on channel {clash}; "
                                    "a tier's PIM groups need disjoint channels")
                used.update(dict.fromkeys(span, n))

    def _per_channel(self, run: _PhaseRun, name: str) -> float:
        """Bytes one channel of the operator's group holds: all its layers over its channels."""
        op = run.work.op(name)
        layers = 1 if name == run.work.head.name else run.work.layers
        return layers * op.resident_bytes / run.placed[name].channels

    def phase_metrics(self, run: _PhaseRun, host_channels: int) -> PhaseMetrics:
        work, system = run.work, self.system
        striped = system.memory_model == MemoryModel.STRIPED
        tier_times, host_busy, pim_busy = [], 0.0, 0.0
        for t in sorted(run.tiers):
            members = run.tiers[t]
            on_host = [n for n in members if run.placed[n].engine == Engine.HOST]
            on_pim = [n for n in members if run.placed[n].engine == Engine.PIM]
            host_side = sum(run.priced[n].host_busy for n in members)
            channel_side = 0.0
            if on_pim:   # the busiest PIM channel also serves its share of the tier's striped host reads
                channel_side = max(run.priced[n].time for n in on_pim)
                if striped:
                    channel_side += sum(run.priced[n].stream for n in on_host)
            tier_times.append(max(host_side, channel_side))
            host_busy += host_side
            pim_busy += max((run.priced[n].time for n in on_pim), default=0.0)
        const = self.pricer.constants(work, system, host_channels)
        head = run.priced[work.head.name]
        layer_time = sum(tier_times) + const.layer_elementwise_time + 2 * const.allreduce_time
        step_time = work.layers * layer_time + head.time + const.step_elementwise_time + const.gather_time
        layer_energy = sum(run.priced[o.name].energy for o in work.layer_ops)
        step_energy = (work.layers * (layer_energy + const.layer_elementwise_energy + 2 * const.allreduce_energy)
                       + head.energy + const.step_elementwise_energy + const.gather_energy) * system.devices
        head_on_pim = run.placed[work.head.name].engine == Engine.PIM
        resident = sum((1 if o.name == work.head.name else work.layers) * o.resident_bytes
                       for o in work.all_ops if run.placed[o.name].engine == Engine.PIM)
        operators = tuple(
            OperatorMetrics(name=o.name, tier=run.placed[o.name].tier, engine=run.placed[o.name].engine,
                            channels=run.placed[o.name].channels, first_channel=run.placed[o.name].first_channel,
                            time=run.priced[o.name].time, energy=run.priced[o.name].energy,
                            host_busy=run.priced[o.name].host_busy, flops=o.flops, memory_bytes=o.memory_bytes,
                            intensity=o.intensity)
            for o in work.all_ops)
        return PhaseMetrics(
            phase=run.phase, steps=self.map.architecture.draft_len if run.phase == Phase.DRAFT else 1,
            step_time=step_time, layer_time=layer_time, tier_times=tuple(tier_times),
            collective_time=work.layers * 2 * const.allreduce_time + const.gather_time,
            elementwise_time=work.layers * const.layer_elementwise_time + const.step_elementwise_time,
            head_time=head.time, step_energy=step_energy,
            host_busy=work.layers * host_busy + head.host_busy,
            pim_busy=work.layers * pim_busy + (head.time if head_on_pim else 0.0),
            pim_resident_bytes=resident, operators=operators)

    # -- memory, channel by channel -----------------------------------------
    def check_channels(self, runs: list[_PhaseRun], a: Architecture, option: PimOption | None) -> float:
        """Every physical channel holds what lives in it: all layers of every
        PIM group that uses it, and its share of the host data.  Returns the
        fullest channel's fill (fraction of a channel)."""
        mem = self.system.memory
        cap = mem.channel_capacity_bytes
        total = self.inst.memory_need(a.draft_len)
        if not fits(total, mem.capacity_bytes):
            # A property of the instance, not of the mapping: name the instance file.
            raise InstanceError(f"weights and KV caches need {total / 1e9:.2f} GB per device, the memory holds "
                                f"{mem.capacity_bytes / 1e9:.2f} GB; no mapping fits",
                                path=self.inst.source, field="system.memory")
        fill = [0.0] * mem.channels
        owners: list[list[str]] = [[] for _ in range(mem.channels)]
        in_pim = 0.0
        for run in runs:
            for o in run.work.all_ops:
                pl = run.placed[o.name]
                if pl.engine != Engine.PIM:
                    continue
                per = self._per_channel(run, o.name)
                for c in pl.channel_range:
                    fill[c] += per
                    owners[c].append(f"{run.phase}.{o.name}")
                in_pim += per * pl.channels
        host_data = total - in_pim
        if self.system.memory_model == MemoryModel.PARTITIONED:
            host = range(a.pim_channels, mem.channels)
        else:
            host = range(mem.channels)
        for c in host:
            fill[c] += host_data / len(host)
        worst = max(range(mem.channels), key=lambda c: fill[c])
        if fill[worst] > cap * (1 + CAPACITY_RTOL):
            what = ", ".join(owners[worst]) or "host data only"
            host_part = f" and {host_data / len(host) / 1e9:.3g} GB of host data" if worst in host else ""
            raise self.fail("phases", f"channel {worst} is over capacity: it holds {fill[worst] / 1e9:.4g} GB "
                            f"({what}{host_part}), a channel holds {cap / 1e9:.4g} GB")
        return fill[worst] / cap


def summarize(inst: Instance, draft_len: int, phases: dict[Phase, PhaseMetrics], area: float,
              static_power: float, fullest_channel: float) -> Metrics:
    """Iteration-level metrics from per-phase step metrics."""
    e_tok = inst.expected_tokens(draft_len)
    it_time = sum(m.steps * m.step_time for m in phases.values())
    it_energy = sum(m.steps * m.step_energy for m in phases.values())
    it_energy += static_power * inst.system.devices * it_time
    latency = it_time / e_tok
    throughput = inst.workload.batch * e_tok / it_time
    energy = it_energy / (inst.workload.batch * e_tok)
    bound = inst.objective.latency_bound
    return Metrics(
        metric=inst.objective.metric,
        objective=objective_value(inst.objective.metric, latency, energy, throughput),
        draft_len=draft_len, expected_tokens=e_tok, iteration_time=it_time,
        latency_per_token=latency, throughput=throughput, energy_per_token=energy,
        iteration_energy=it_energy, static_power=static_power, area=area, fullest_channel=fullest_channel,
        latency_bound_met=bound is None or latency <= bound * (1 + LATENCY_RTOL),
        energy_bound_met=(inst.objective.energy_bound is None
                          or energy <= inst.objective.energy_bound * (1 + ENERGY_RTOL)),
        phases=phases,
    )


__all__ = ["Metrics", "OperatorMetrics", "PhaseMetrics", "evaluate", "summarize"]
