"""Necessary conditions checked before solving, so an infeasible instance is
explained by its binding resource, with numbers, rather than just
"infeasible".

Each check compares what the instance needs with what it has: memory
capacity (weights + KV caches per device), area (the smallest PIM design
against the budget, when a design without PIM is excluded) and, for the
energy objective, the latency bound (a valid lower bound on the latency of
every design against the bound).  When all of them hold and the solver still
proves infeasibility, ``solver_proved`` says so and lists the checks that
passed, so the user knows the cause is a combination of constraints.
"""

from __future__ import annotations

from dataclasses import dataclass

from specpim.core.enums import Metric
from specpim.core.tolerances import ENERGY_RTOL, LATENCY_RTOL
from specpim.costs.tables import InstanceTables
from specpim.problem.design_space import fits
from specpim.problem.instance import Instance


@dataclass(frozen=True)
class Check:
    """One necessary condition: ``ok`` says whether it holds; ``text``
    states needed versus available either way."""

    resource: str
    ok: bool
    text: str


def _gb(x: float) -> str:
    return f"{x / 1e9:.2f} GB"


def _ms(s: float) -> str:
    return f"{s * 1e3:.4g} ms"


def memory_check(inst: Instance) -> Check:
    mem = inst.system.memory
    g = max(inst.draft_lens)
    need = inst.memory_need(g)
    parts = [f"{name}: weights {_gb(w)} + KV cache {_gb(kv)}" for name, w, kv in inst.memory_parts(g)]
    have = f"a device has {_gb(mem.capacity_bytes)} ({mem.channels} channels × {mem.channel_capacity:g} GB)"
    return Check("memory capacity", fits(need, mem.capacity_bytes),
                 f"the models need {_gb(need)} per device ({'; '.join(parts)}), {have}")


def area_check(inst: Instance) -> Check | None:
    ds = inst.design_space
    if ds.area_budget is None or ds.include_no_pim or not ds.pim_options:
        return None
    fewest = min(ds.pim_channels)
    area, name = min((inst.system.pim_option(n).area * fewest, n) for n in ds.pim_options)
    return Check("area budget", ds.within_area(inst.system.pim_option(name), fewest),
                 f"the smallest PIM design ({name} on {min(ds.pim_channels)} channels) needs {area:g} mm² "
                 f"per device, the budget is {ds.area_budget:g} mm²")


def _least_bound(inst: Instance, tables: InstanceTables, metric: str) -> float | None:
    """The least lower bound on ``metric`` ("latency" or "energy") over every block, or None
    when the design space has no block."""
    from specpim.formulation.blocks import block_bound, make_blocks  # not needed by `specpim validate`

    blocks = make_blocks(inst, tables)
    return min(getattr(block_bound(inst, b), metric) for b in blocks) if blocks else None


def latency_check(inst: Instance, tables: InstanceTables) -> Check | None:
    bound = inst.objective.latency_bound
    if bound is None or inst.objective.metric != Metric.ENERGY:
        return None
    fastest = _least_bound(inst, tables, "latency")
    if fastest is None:
        return None
    return Check("latency bound", fastest <= bound * (1 + LATENCY_RTOL),
                 f"the fastest design in the design space needs at least {_ms(fastest)} per token, "
                 f"the bound is {_ms(bound)}")


def energy_check(inst: Instance, tables: InstanceTables) -> Check | None:
    bound = inst.objective.energy_bound
    if bound is None or inst.objective.metric == Metric.ENERGY:
        return None
    frugal = _least_bound(inst, tables, "energy")
    if frugal is None:
        return None
    return Check("energy bound", frugal <= bound * (1 + ENERGY_RTOL),
                 f"the most frugal design in the design space needs at least {frugal * 1e3:.4g} mJ per token, "
                 f"the bound is {bound * 1e3:.4g} mJ")


def _failed(checks) -> str | None:
    bad = next((c for c in checks if c is not None and not c.ok), None)
    return None if bad is None else f"{bad.resource}: {bad.text}"


def precheck(inst: Instance) -> str | None:
    """A diagnosis if memory or area makes the instance infeasible (cheap; no cost tables)."""
    return _failed([memory_check(inst), area_check(inst)])


def precheck_latency(inst: Instance, tables: InstanceTables) -> str | None:
    """A diagnosis if no design can meet the objective's latency or energy bound."""
    return _failed([latency_check(inst, tables), energy_check(inst, tables)])


def solver_proved(inst: Instance, tables: InstanceTables) -> str:
    """The diagnosis when only the solver found the instance infeasible."""
    checks = (memory_check(inst), area_check(inst), latency_check(inst, tables), energy_check(inst, tables))
    passed = [c for c in checks if c is not None and c.ok]
    held = "; ".join(f"{c.resource}: {c.text}" for c in passed)
    return ("the solver alone proved that no design satisfies all constraints together; each necessary "
            f"condition checked before solving holds on its own ({held})")
