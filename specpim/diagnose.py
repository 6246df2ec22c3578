"""Necessary conditions checked before solving, so an infeasible instance is
explained in terms of the binding resource rather than just "infeasible"."""

from __future__ import annotations

from .instance import Instance


def _gb(x: float) -> str:
    return f"{x / 1e9:.2f} GB"


def precheck(inst: Instance) -> str | None:
    """A diagnosis if the instance is infeasible for a reason visible up front."""
    mem = inst.system.memory
    g = max(inst.draft_lens)
    need = 0.0
    parts = []
    for p in inst.phases(g):
        work = inst.phase(p, g)
        w = work.model.weight_bytes / inst.system.devices
        kv = sum(o.resident_bytes for o in work.layer_ops if o.kind == "attention") * work.layers
        need += w + kv
        parts.append(f"{work.model.name}: weights {_gb(w)} + KV cache {_gb(kv)}")
    if need > mem.capacity_bytes:
        return (f"memory capacity: the models need {_gb(need)} per device ({'; '.join(parts)}), "
                f"but a device has {_gb(mem.capacity_bytes)} ({mem.channels} channels × "
                f"{mem.channel_capacity:g} GB)")
    ds = inst.design_space
    if ds.area_budget is not None and not ds.include_no_pim:
        smallest = min((inst.system.pim_option(n).area * min(ds.pim_channels), n) for n in ds.pim_options)
        if smallest[0] > ds.area_budget:
            return (f"area budget: the smallest PIM design ({smallest[1]} on {min(ds.pim_channels)} channels) "
                    f"needs {smallest[0]:g} mm², the budget is {ds.area_budget:g} mm²")
    return None
