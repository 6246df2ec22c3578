"""The independent evaluator: score one mapping without any solver.

It re-checks every rule the MILP encodes (placement, DAG order of tiers,
channel groups, capacity, area) on the concrete mapping and recomputes all
metrics from the cost tables, by direct aggregation: tier time = max(longest
PIM operator, sum of host operators), step time = layers × (Σ tiers +
collectives) + LM head.  The MILP's objective must equal this to 1e-6.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from specpim.core.enums import Engine, Metric, Phase
from specpim.core.errors import InstanceError
from specpim.core.tolerances import LATENCY_RTOL
from specpim.costs.protocol import CostModel
from specpim.costs.tables import CostTable, InstanceTables
from specpim.hardware.devices import PimOption
from specpim.problem.design_space import fits
from specpim.problem.instance import Instance
from specpim.problem.mapping import Mapping


@dataclass(frozen=True)
class OperatorMetrics:
    """One operator as mapped: per execution on one device."""

    name: str
    tier: int | None
    engine: str
    channels: int
    time: float            # s
    energy: float          # J
    flops: float
    memory_bytes: float    # weights + KV cache read
    intensity: float       # FLOP per byte read

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PhaseMetrics:
    """One step of one phase.  Times in s; energy in J over all devices."""

    phase: Phase
    steps: int
    step_time: float
    layer_time: float
    tier_times: tuple[float, ...]
    collective_time: float
    head_time: float
    step_energy: float
    host_busy: float
    pim_busy: float
    pim_resident_bytes: float
    operators: tuple[OperatorMetrics, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k not in ("tier_times", "operators")}
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
    iteration_energy: float      # J
    area: float                  # mm² per device
    latency_bound_met: bool
    phases: dict[Phase, PhaseMetrics] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "phases"}
        d["phases"] = {p: m.to_dict() for p, m in self.phases.items()}
        return d


def objective_value(metric: str, latency: float, energy: float, throughput: float) -> float:
    return {Metric.LATENCY: latency, Metric.ENERGY: energy, Metric.THROUGHPUT: throughput}[Metric(metric)]


def evaluate(instance: Instance, mapping: Mapping, cost_model: CostModel | None = None,
             *, tables: InstanceTables | None = None, file: str | None = None) -> Metrics:
    """Check ``mapping`` against ``instance`` and compute its metrics.

    Raises InstanceError naming the operator and the rule when the mapping
    does not fit the instance.
    """
    if tables is None:
        from specpim.costs.plugins import resolve_cost_model

        tables = InstanceTables(instance, resolve_cost_model(instance, cost_model))
    ev = _Evaluator(instance, mapping, tables, file)
    return ev.run()


class _Evaluator:
    def __init__(self, instance: Instance, mapping: Mapping, tables: InstanceTables, file: str | None):
        self.inst, self.map, self.tables, self.file = instance, mapping, tables, file

    def fail(self, field_path: str, message: str) -> InstanceError:
        return InstanceError(message, path=self.file, field=field_path)

    def budget_field(self, phase: str) -> str:
        if not self.inst.design_space.partitioned:
            return "pim_channels"
        return "draft_channels" if phase == Phase.DRAFT else "target_channels"

    # -- architecture ---------------------------------------------------
    def check_architecture(self):
        a, ds, sysm = self.map.architecture, self.inst.design_space, self.inst.system
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

    # -- one phase ------------------------------------------------------
    def phase_metrics(self, phase: Phase, table: CostTable, budget: int, option: PimOption | None) -> PhaseMetrics:
        inst, a = self.inst, self.map.architecture
        work = self.tables.work(phase, a.draft_len)
        placed = self.map.phases.get(phase)
        if placed is None:
            raise self.fail(f"phases.{phase}", f"the mapping has no {phase!r} phase")
        expected = set(table.names)
        for name in placed:
            if name not in expected:
                raise self.fail(f"phases.{phase}.{name}",
                                f"unknown operator {name!r}; the {phase} phase has {sorted(expected)}")
        for name in table.names:
            if name not in placed:
                raise self.fail(f"phases.{phase}", f"operator {name!r} has no placement")
        time = np.zeros(len(table.names))
        energy = np.zeros(len(table.names))
        resident = 0.0
        for i, name in enumerate(table.names):
            pl = placed[name]
            where = f"phases.{phase}.{name}"
            if pl.engine == Engine.HOST:
                if pl.channels:
                    raise self.fail(f"{where}.channels", f"operator {name!r} runs on the host, so it uses 0 PIM "
                                    f"channels; found {pl.channels}")
                time[i], energy[i] = table.host_time[i], table.host_energy[i]
                continue
            if option is None:
                raise self.fail(f"{where}.engine", f"operator {name!r} is on PIM but no PIM option is built")
            if pl.channels not in table.channels:
                raise self.fail(f"{where}.channels",
                                f"operator {name!r} uses {pl.channels} channels; groups come in "
                                f"{list(map(int, table.channels))}")
            if pl.channels > budget:
                raise self.fail(f"{where}.channels",
                                f"operator {name!r} uses {pl.channels} PIM channels but the {phase} phase has "
                                f"{budget} (architecture.{self.budget_field(phase)})")
            col = table.column(pl.channels)
            time[i], energy[i] = table.pim_time[i, col], table.pim_energy[i, col]
            op = work.op(name)
            room = pl.channels * inst.system.memory.channel_capacity_bytes
            if not fits(op.resident_bytes, room):
                raise self.fail(f"{where}.channels",
                                f"PIM capacity exceeded: operator {name!r} keeps {op.resident_bytes / 1e9:.3g} GB "
                                f"in PIM, more than its {pl.channels} channels hold ({room / 1e9:.3g} GB)")
            resident += op.resident_bytes * (work.layers if name != work.head.name else 1)

        # Tiers: every layer operator has one, the DAG order is respected.
        if placed[work.head.name].tier is not None:
            raise self.fail(f"phases.{phase}.{work.head.name}.tier",
                            f"the LM head runs once after all layers and takes no tier; "
                            f"found {placed[work.head.name].tier}, expected null")
        layer_names = [o.name for o in work.layer_ops]
        tiers: dict[str, int] = {}
        for name in layer_names:
            t = placed[name].tier
            if t is None or t < 0:
                raise self.fail(f"phases.{phase}.{name}.tier", f"operator {name!r} needs a tier ≥ 0, found {t}")
            tiers[name] = t
        for u, v in work.edges:
            if tiers[u] >= tiers[v]:
                raise self.fail(f"phases.{phase}.{v}.tier",
                                f"operator {v!r} (tier {tiers[v]}) depends on {u!r} (tier {tiers[u]}); "
                                "it must sit in a later tier")
        tier_times = []
        host_busy = pim_busy = 0.0
        for t in sorted(set(tiers.values())):
            members = [i for i, n in enumerate(layer_names) if tiers[n] == t]
            host = [i for i in members if placed[layer_names[i]].engine == Engine.HOST]
            pim = [i for i in members if placed[layer_names[i]].engine == Engine.PIM]
            used = sum(placed[layer_names[i]].channels for i in pim)
            if used > budget:
                raise self.fail(f"phases.{phase}.{layer_names[pim[-1]]}.channels",
                                f"tier {t} runs {[layer_names[i] for i in pim]} on PIM at once, on {used} "
                                f"channels together, more than the {budget} the {phase} phase has "
                                f"(architecture.{self.budget_field(phase)})")
            host_sum = float(time[host].sum())
            pim_max = float(time[pim].max()) if pim else 0.0
            tier_times.append(max(host_sum, pim_max))
            host_busy += host_sum
            pim_busy += pim_max
        head = len(layer_names)
        head_engine = placed[work.head.name].engine
        layer_time = sum(tier_times) + table.layer_const_time
        step_time = work.layers * layer_time + time[head] + table.step_const_time
        step_energy = (work.layers * (energy[:head].sum() + table.layer_const_energy)
                       + energy[head] + table.step_const_energy) * inst.system.devices
        operators = tuple(
            OperatorMetrics(name=op.name, tier=placed[op.name].tier, engine=placed[op.name].engine,
                            channels=placed[op.name].channels, time=float(time[i]), energy=float(energy[i]),
                            flops=op.flops, memory_bytes=op.memory_bytes, intensity=op.intensity)
            for i, op in enumerate(work.all_ops))
        return PhaseMetrics(
            operators=operators,
            phase=phase, steps=a.draft_len if phase == Phase.DRAFT else 1,
            step_time=float(step_time), layer_time=float(layer_time), tier_times=tuple(tier_times),
            collective_time=float(work.layers * table.layer_const_time + table.step_const_time),
            head_time=float(time[head]), step_energy=float(step_energy),
            host_busy=float(work.layers * host_busy + (time[head] if head_engine == Engine.HOST else 0)),
            pim_busy=float(work.layers * pim_busy + (time[head] if head_engine == Engine.PIM else 0)),
            pim_resident_bytes=float(resident),
        )

    def check_capacity(self, phases: dict[Phase, PhaseMetrics]) -> None:
        inst, a = self.inst, self.map.architecture
        mem = inst.system.memory
        cap = mem.channel_capacity_bytes
        total = inst.memory_need(a.draft_len)
        if not fits(total, mem.capacity_bytes):
            # A property of the instance, not of the mapping: name the instance file.
            raise InstanceError(f"weights and KV caches need {total / 1e9:.2f} GB per device, "
                                f"the memory holds {mem.capacity_bytes / 1e9:.2f} GB; no mapping fits",
                                path=inst.source, field="system.memory")
        def on_pim(ms) -> str:
            return ", ".join(f"{m.phase}.{o.name}" for m in ms for o in m.operators if o.engine == Engine.PIM)

        if inst.design_space.partitioned:
            for p, m in phases.items():
                budget = a.draft_channels if p == Phase.DRAFT else a.target_channels
                if not fits(m.pim_resident_bytes, budget * cap):
                    raise self.fail(f"phases.{p}",
                                    f"PIM capacity exceeded: the operators on PIM ({on_pim([m])}) keep "
                                    f"{m.pim_resident_bytes / 1e9:.3g} GB in the {budget} channels of the {p} "
                                    f"phase, which hold {budget * cap / 1e9:.3g} GB")
        else:
            used = sum(m.pim_resident_bytes for m in phases.values())
            if not fits(used, a.pim_channels * cap):
                raise self.fail("phases",
                                f"PIM capacity exceeded: the operators on PIM ({on_pim(phases.values())}) keep "
                                f"{used / 1e9:.3g} GB in the {a.pim_channels} PIM channels, which hold "
                                f"{a.pim_channels * cap / 1e9:.3g} GB")

    def run(self) -> Metrics:
        inst, a = self.inst, self.map.architecture
        option = self.check_architecture()
        for p in self.map.phases:
            if p not in inst.phases(a.draft_len):
                raise self.fail(f"phases.{p}", f"unknown phase {p!r}; expected {list(inst.phases(a.draft_len))}")
        phases = {}
        for p in inst.phases(a.draft_len):
            table = self.tables.table(p, option, a.draft_len)
            budget = a.draft_channels if p == Phase.DRAFT else a.target_channels
            phases[p] = self.phase_metrics(p, table, budget, option)
        self.check_capacity(phases)
        return summarize(inst, a.draft_len, phases, option.area * a.pim_channels if option else 0.0)


def summarize(inst: Instance, draft_len: int, phases: dict[Phase, PhaseMetrics], area: float) -> Metrics:
    """Iteration-level metrics from per-phase step metrics."""
    e_tok = inst.expected_tokens(draft_len)
    it_time = sum(m.steps * m.step_time for m in phases.values())
    it_energy = sum(m.steps * m.step_energy for m in phases.values())
    it_energy += inst.system.host.static_power * inst.system.devices * it_time
    latency = it_time / e_tok
    throughput = inst.workload.batch * e_tok / it_time
    energy = it_energy / (inst.workload.batch * e_tok)
    bound = inst.objective.latency_bound
    return Metrics(
        metric=inst.objective.metric,
        objective=objective_value(inst.objective.metric, latency, energy, throughput),
        draft_len=draft_len, expected_tokens=e_tok, iteration_time=it_time,
        latency_per_token=latency, throughput=throughput, energy_per_token=energy,
        iteration_energy=it_energy, area=area,
        latency_bound_met=bound is None or latency <= bound * (1 + LATENCY_RTOL),
        phases=phases,
    )


__all__ = ["Metrics", "OperatorMetrics", "PhaseMetrics", "evaluate", "summarize"]
