"""The blocks of an instance's design space and their cheap lower bounds.

A block fixes the PIM option (or none) and γ; see formulation/milp.py.  The
bound lets a solver skip a block that cannot beat the incumbent: it relaxes
capacity and channel sharing, and uses that on every DAG path the tiers are
distinct, so a layer takes at least the sum of its cheapest operator times
along its longest path.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from specpim.formulation.milp import BlockSpec
from specpim.instance import DRAFT, ENERGY, Instance
from specpim.tables import InstanceTables


def make_blocks(instance: Instance, tables: InstanceTables) -> list[BlockSpec]:
    """Every (option, γ) block with at least one channel count within the area budget."""
    ds = instance.design_space
    blocks = []
    for option in instance.options():
        if option is None:
            counts = (0,)
        else:
            counts = tuple(n for n in ds.pim_channels
                           if ds.area_budget is None or n * option.area <= ds.area_budget * (1 + 1e-9))
            if not counts:
                continue
        for g in instance.draft_lens:
            phase_tables = tables.phase_tables(option, g)
            works = {p: instance.phase(p, g) for p in phase_tables}
            blocks.append(BlockSpec(option, g, counts, phase_tables, works))
    return blocks


def _cheapest(spec: BlockSpec, phase: str, instance: Instance, energy: bool) -> np.ndarray:
    """Per operator, the cheapest time (or energy) over the engines the MILP offers."""
    table = spec.tables[phase]
    base = table.host_energy if energy else table.host_time
    if spec.option is None or not len(table.channels):
        return base.copy()
    top = max(spec.channel_counts)
    cap = instance.system.memory.channel_capacity * 1e9
    work = spec.works[phase]
    resident = np.array([o.resident_bytes for o in work.all_ops])
    ok = (table.channels[None, :] <= top) & (resident[:, None] <= table.channels[None, :] * cap)
    pim = np.where(ok, table.pim_energy if energy else table.pim_time, np.inf)
    return np.minimum(base, pim.min(axis=1))


def block_lower_bound(instance: Instance, spec: BlockSpec) -> float:
    """A valid lower bound on the block's objective (s or J per token)."""
    e_tok = instance.expected_tokens(spec.draft_len)
    weight = {p: (spec.draft_len if p == DRAFT else 1) / e_tok for p in spec.tables}
    latency = 0.0
    energy = 0.0
    for p, table in spec.tables.items():
        work = spec.works[p]
        t = _cheapest(spec, p, instance, energy=False)
        idx = {name: i for i, name in enumerate(table.names)}
        graph = work.graph()
        # Node weights moved onto in-edges; a virtual root feeds every source.
        weighted = nx.DiGraph([(u, v, {"w": t[idx[v]]}) for u, v in graph.edges])
        weighted.add_edges_from(("__root__", n, {"w": t[idx[n]]}) for n in graph if graph.in_degree(n) == 0)
        layer = nx.dag_longest_path_length(weighted, weight="w")
        step = work.layers * (layer + table.layer_const_time) + t[-1] + table.step_const_time
        latency += weight[p] * step
        e = _cheapest(spec, p, instance, energy=True)
        step_e = work.layers * (e[:-1].sum() + table.layer_const_energy) + e[-1] + table.step_const_energy
        energy += weight[p] * step_e * instance.system.devices
    if instance.objective.metric != ENERGY:
        return latency
    static = instance.system.host.static_power * instance.system.devices
    return (energy + static * latency) / instance.workload.batch


def block_latency_bound(instance: Instance, spec: BlockSpec) -> float:
    """Lower bound on the block's latency per token, whatever the objective."""
    from dataclasses import replace

    lat_inst = replace(instance, objective=replace(instance.objective, metric="latency"))
    return block_lower_bound(lat_inst, spec)
