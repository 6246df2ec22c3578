"""The cost tables against the independent reference, place by place."""

from __future__ import annotations

import math

from specpim.costs.protocol import CostModel
from specpim.costs.roofline import RooflineCostModel
from specpim.costs.tables import InstanceTables
from specpim.evaluation.reference import ReferencePricer

RTOL = 1e-9


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=RTOL, abs_tol=1e-30)


def disagreements(inst, model: CostModel | None = None) -> list[str]:
    """Every place where the tables (of ``model``, the built-in one by default)
    and the reference differ (empty: they agree)."""
    tables, ref, system = InstanceTables(inst, model or RooflineCostModel()), ReferencePricer(), inst.system
    out = []
    counts = sorted({n for o in inst.options() for n in inst.design_space.allowed_counts(o, system)})
    for option in inst.options():
        for n in (counts if option is not None else [0]):
            for g in inst.draft_lens:
                host_channels = system.host_channels(n)
                for p, table in tables.phase_tables(option, g, n).items():
                    work = tables.work(p, g)
                    c = ref.constants(work, system, host_channels)
                    pairs = [("layer constant time", table.layer_const_time,
                              c.layer_elementwise_time + 2 * c.allreduce_time),
                             ("layer constant energy", table.layer_const_energy,
                              c.layer_elementwise_energy + 2 * c.allreduce_energy),
                             ("step constant time", table.step_const_time, c.step_elementwise_time + c.gather_time),
                             ("step constant energy", table.step_const_energy,
                              c.step_elementwise_energy + c.gather_energy)]
                    for j, op in enumerate(work.all_ops):
                        h = ref.host(work, op, system, host_channels)
                        pairs += [(f"{op.name} host time", table.host_time[j], h.time),
                                  (f"{op.name} host energy", table.host_energy[j], h.energy),
                                  (f"{op.name} host stream", table.host_stream[j], h.stream)]
                        for col, k in enumerate(table.channels):
                            r = ref.pim(work, op, system, option, int(k), host_channels)
                            pairs += [(f"{op.name} pim{k} time", table.pim_time[j, col], r.time),
                                      (f"{op.name} pim{k} energy", table.pim_energy[j, col], r.energy),
                                      (f"{op.name} pim{k} host", table.pim_host[j, col], r.host_busy)]
                    where = f"{p} {option.name if option else 'no-pim'} n={n} γ={g}"
                    out += [f"{where} {what}: table {a!r} reference {b!r}" for what, a, b in pairs
                            if not _close(float(a), float(b))]
    return out
