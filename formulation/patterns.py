"""Tier patterns: the columns of the MILP.

A tier is a set of operators that run together: an antichain of the layer
DAG (no operator depends on another in it), each member on the host or on a
group of k PIM channels.  A *pattern* is one such antichain with one engine
per member; its time, channel need, energy and resident bytes are
precomputed here with numpy:

    time     = max(max_{j on PIM} t^P_{j,k_j}, Σ_{j on host} t^H_j)
    channels = Σ_{j on PIM} k_j
    energy   = Σ_j e_j            resident = L · Σ_{j on PIM} R_j

Only patterns that can matter are kept:
* k ≤ the largest channel budget and one layer's R_j fits in k channels;
* a multi-operator tier with every member on the host is dropped — it costs
  exactly what the same operators cost as separate tiers;
* among patterns with the same operators on PIM (hence the same resident
  bytes), one that needs no fewer channels and is no faster (and, when energy
  matters, uses no less energy) than another is dropped.
Each removal keeps at least one optimal solution, so the MILP stays exact.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import networkx as nx
import numpy as np

from specpim.hardware.costs import CostTable
from specpim.mapping import HOST, PIM
from specpim.workload.operators import PhaseWorkload

HEAD_TIER = -1


@dataclass(frozen=True)
class TierPattern:
    """One candidate tier: operators, their engines, and what the tier costs."""

    phase: str
    ops: tuple[str, ...]
    engines: tuple[tuple[str, int], ...]   # (engine, channels) per member
    channels: int                          # channel groups used together
    time: float                            # s, one execution
    energy: float                          # J, one execution, one device
    resident: float                        # bytes kept in PIM, all executions' layers
    head: bool = False


def antichains(graph: nx.DiGraph) -> list[tuple[str, ...]]:
    """Every non-empty antichain, in a deterministic order."""
    order = {n: i for i, n in enumerate(nx.topological_sort(graph))}
    found = [tuple(sorted(a, key=order.__getitem__)) for a in nx.antichains(graph) if a]
    return sorted(found, key=lambda a: (len(a), [order[n] for n in a]))


def conflicting_sets(graph: nx.DiGraph, chains: list[tuple[str, ...]]) -> list[tuple[tuple[str, ...], ...]]:
    """Sets of disjoint multi-operator antichains that cannot all be tiers at
    once because no tier order respects the DAG (their quotient has a cycle).

    A cycle needs at least two multi-operator tiers, so singletons never
    appear.  Minimal sets only.
    """
    multi = [a for a in chains if len(a) > 1]
    reach = {n: nx.descendants(graph, n) for n in graph}
    bad: list[tuple[tuple[str, ...], ...]] = []
    for r in range(2, len(multi) + 1):
        for combo in itertools.combinations(multi, r):
            members = [n for a in combo for n in a]
            if len(members) != len(set(members)):
                continue
            if any(set(b) <= set(combo) for b in bad):
                continue
            q = nx.DiGraph()
            q.add_nodes_from(range(r))
            for i, a in enumerate(combo):
                for j, b in enumerate(combo):
                    if i != j and any(v in reach[u] for u in a for v in b):
                        q.add_edge(i, j)
            if not nx.is_directed_acyclic_graph(q):
                bad.append(combo)
    return bad


def tier_order(graph: nx.DiGraph, tiers: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Order chosen antichains consistently with the DAG."""
    where = {n: i for i, a in enumerate(tiers) for n in a}
    q = nx.DiGraph()
    q.add_nodes_from(range(len(tiers)))
    q.add_edges_from((where[u], where[v]) for u, v in graph.edges if where[u] != where[v])
    return [tiers[i] for i in nx.lexicographical_topological_sort(q)]


def _engine_choices(table: CostTable, work: PhaseWorkload, j: int, top: int, cap: float):
    """(engine, k, time, energy, resident-per-execution) for operator j."""
    op = work.all_ops[j]
    out = [(HOST, 0, table.host_time[j], table.host_energy[j], 0.0)]
    for col, k in enumerate(table.channels):
        if k <= top and op.resident_bytes <= k * cap:
            out.append((PIM, int(k), table.pim_time[j, col], table.pim_energy[j, col], op.resident_bytes))
    return out


def _prune(rows: np.ndarray, use_energy: bool) -> np.ndarray:
    """Indices of rows (channels, time, energy) not dominated by another row."""
    keys = rows[:, :3] if use_energy else rows[:, :2]
    order = np.lexsort(keys.T[::-1])
    keep: list[int] = []
    for i in order:
        r = keys[i]
        if any(np.all(keys[k] <= r) for k in keep):
            continue
        keep.append(i)
    return np.array(sorted(keep), dtype=int)


def phase_patterns(table: CostTable, work: PhaseWorkload, *, top_channels: int, channel_capacity: float,
                   use_energy: bool) -> list[TierPattern]:
    """All useful tier patterns of one phase (layer tiers, then the LM head)."""
    graph = work.graph()
    idx = {n: i for i, n in enumerate(table.names)}
    choices = {n: _engine_choices(table, work, idx[n], top_channels, channel_capacity) for n in idx}
    patterns: list[TierPattern] = []
    for chain in antichains(graph) + [(work.head.name,)]:
        head = chain == (work.head.name,)
        mult = 1 if head else work.layers
        combos = list(itertools.product(*(choices[n] for n in chain)))
        if len(chain) > 1:
            combos = [c for c in combos if any(e[0] == PIM for e in c)]
        if not combos:
            continue
        arr = np.array([[sum(e[1] for e in c),
                         max(max((e[2] for e in c if e[0] == PIM), default=0.0),
                             sum(e[2] for e in c if e[0] == HOST)),
                         sum(e[3] for e in c)] for c in combos])
        arr = arr[:, :3]
        fits = arr[:, 0] <= top_channels
        groups: dict[tuple[bool, ...], list[int]] = {}
        for i, c in enumerate(combos):
            if fits[i]:
                groups.setdefault(tuple(e[0] == PIM for e in c), []).append(i)
        for members in groups.values():
            sub = np.array(members)
            for i in sub[_prune(arr[sub], use_energy)]:
                c = combos[i]
                patterns.append(TierPattern(
                    phase=table.phase, ops=chain, engines=tuple((e[0], e[1]) for e in c),
                    channels=int(arr[i, 0]), time=float(arr[i, 1]), energy=float(arr[i, 2]),
                    resident=float(sum(e[4] for e in c)) * mult, head=head))
    return patterns
