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
* k ≤ the largest channel budget, and one layer's R_j fits in k channels;
* a multi-operator tier with every member on the host is dropped: it costs
  exactly what the same operators cost as separate tiers;
* among patterns with the same operators on PIM (hence the same resident
  bytes), one that needs no fewer channels and is no faster (and, when
  energy matters, uses no less energy) than another is dropped.
Each removal keeps at least one optimal solution, so the MILP stays exact.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import networkx as nx
import numpy as np

from specpim.core.enums import Engine, Phase
from specpim.costs.tables import CostTable
from specpim.problem.design_space import fits
from specpim.workload.operators import PhaseWorkload


@dataclass(frozen=True)
class TierPattern:
    """One candidate tier: operators, their engines, and what the tier costs."""

    phase: Phase
    ops: tuple[str, ...]
    engines: tuple[tuple[Engine, int], ...]   # (engine, channels) per member
    channels: int                          # channels the members use together
    time: float                            # s, one execution
    energy: float                          # J, one execution, one device
    resident: float                        # bytes kept in PIM over all layers
    head: bool = False


# -- the layer DAG's tiers ------------------------------------------------------

@lru_cache(maxsize=64)
def _structure(edges: tuple[tuple[str, str], ...], nodes: tuple[str, ...]):
    graph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    order = {n: i for i, n in enumerate(nx.topological_sort(graph))}
    chains = sorted((tuple(sorted(a, key=order.__getitem__)) for a in nx.antichains(graph) if a),
                    key=lambda a: (len(a), [order[n] for n in a]))
    return graph, chains


def antichains(graph: nx.DiGraph) -> list[tuple[str, ...]]:
    """Every non-empty antichain, in a deterministic order."""
    return list(_structure(tuple(graph.edges), tuple(graph.nodes))[1])


def _orderable(graph: nx.DiGraph, tiers) -> bool:
    where = {n: i for i, a in enumerate(tiers) for n in a}
    q = nx.DiGraph()
    q.add_nodes_from(range(len(tiers)))
    q.add_edges_from((where[u], where[v]) for u, v in graph.edges if where[u] != where[v])
    return nx.is_directed_acyclic_graph(q)


def conflicting_sets(graph: nx.DiGraph) -> list[tuple[tuple[str, ...], ...]]:
    """Minimal sets of disjoint multi-operator antichains that cannot all be
    tiers at once: no tier order respects the DAG (their quotient has a
    cycle).  A cycle needs two multi-operator tiers, so singletons never
    appear.  Empty for the transformer layer graphs."""
    multi = [a for a in antichains(graph) if len(a) > 1]
    reach = {n: nx.descendants(graph, n) for n in graph}
    bad: list[tuple[tuple[str, ...], ...]] = []
    for r in range(2, len(multi) + 1):
        for combo in itertools.combinations(multi, r):
            members = [n for a in combo for n in a]
            if len(members) != len(set(members)) or any(set(b) <= set(combo) for b in bad):
                continue
            q = nx.DiGraph()
            q.add_nodes_from(range(r))
            q.add_edges_from((i, j) for i, a in enumerate(combo) for j, b in enumerate(combo)
                             if i != j and any(v in reach[u] for u in a for v in b))
            if not nx.is_directed_acyclic_graph(q):
                bad.append(combo)
    return bad


@lru_cache(maxsize=64)
def _partitions(edges: tuple[tuple[str, str], ...], nodes: tuple[str, ...]) -> tuple[tuple[int, ...], ...]:
    graph, chains = _structure(edges, nodes)
    index = {a: i for i, a in enumerate(chains)}
    by_first: dict[str, list[tuple[str, ...]]] = {}
    order = list(nx.topological_sort(graph))
    for a in chains:
        by_first.setdefault(min(a, key=order.index), []).append(a)
    out: list[tuple[int, ...]] = []

    def extend(left: frozenset, picked: list[tuple[str, ...]]) -> None:
        if not left:
            if _orderable(graph, picked):
                out.append(tuple(index[a] for a in picked))
            return
        first = min(left, key=order.index)
        for a in by_first.get(first, []):
            if set(a) <= left:
                extend(left - set(a), picked + [a])

    extend(frozenset(graph.nodes), [])
    return tuple(out)


def tier_partitions(graph: nx.DiGraph) -> tuple[tuple[int, ...], ...]:
    """Every way to split the layer into tiers that some DAG order admits, as
    indices into ``antichains(graph)``."""
    return _partitions(tuple(graph.edges), tuple(graph.nodes))


def tier_order(graph: nx.DiGraph, tiers: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Order chosen antichains consistently with the DAG."""
    where = {n: i for i, a in enumerate(tiers) for n in a}
    q = nx.DiGraph()
    q.add_nodes_from(range(len(tiers)))
    q.add_edges_from((where[u], where[v]) for u, v in graph.edges if where[u] != where[v])
    return [tiers[i] for i in nx.lexicographical_topological_sort(q)]


# -- patterns -------------------------------------------------------------------

def _choices(table: CostTable, work: PhaseWorkload, top: int, cap: float) -> dict[str, np.ndarray]:
    """Per operator, its engine choices as rows (k, time, energy, on_pim, resident)."""
    out = {}
    for j, op in enumerate(work.all_ops):
        rows = [(0, table.host_time[j], table.host_energy[j], 0.0, 0.0)]
        for col, k in enumerate(table.channels):
            if k <= top and fits(op.resident_bytes, k * cap):
                rows.append((k, table.pim_time[j, col], table.pim_energy[j, col], 1.0, op.resident_bytes))
        out[op.name] = np.array(rows, dtype=float)
    return out


def _pareto(keys: np.ndarray) -> np.ndarray:
    """Indices of rows not weakly dominated by an earlier-sorted row."""
    order = np.lexsort(keys.T[::-1])
    if keys.shape[1] == 2:
        t = keys[order, 1]
        best_before = np.concatenate(([np.inf], np.minimum.accumulate(t)[:-1]))
        return np.sort(order[t < best_before])
    kept: list[int] = []
    for i in order:
        if not kept or not np.any(np.all(keys[kept] <= keys[i], axis=1)):
            kept.append(i)
    return np.sort(np.array(kept, dtype=int))


def phase_patterns(table: CostTable, work: PhaseWorkload, *, top_channels: int, channel_capacity: float,
                   use_energy: bool) -> list[TierPattern]:
    """All useful tier patterns of one phase: layer tiers, then the LM head."""
    graph = work.graph()
    choices = _choices(table, work, top_channels, channel_capacity)
    patterns: list[TierPattern] = []
    for chain in antichains(graph) + [(work.head.name,)]:
        head = chain == (work.head.name,)
        mult = 1 if head else work.layers
        rows = [choices[n] for n in chain]
        grids = np.meshgrid(*[np.arange(len(r)) for r in rows], indexing="ij")
        pick = [g.ravel() for g in grids]
        k, t, e, on, res = (np.stack([r[p, c] for r, p in zip(rows, pick, strict=True)]) for c in range(5))
        channels = k.sum(axis=0)
        time = np.maximum((t * on).max(axis=0), (t * (1 - on)).sum(axis=0))
        energy = e.sum(axis=0)
        mask = (on.sum(axis=0) > 0) if len(chain) > 1 else np.ones_like(channels, dtype=bool)
        mask &= channels <= top_channels
        group = (on * (2 ** np.arange(len(chain)))[:, None]).sum(axis=0)
        for g in np.unique(group[mask]):
            idx = np.nonzero(mask & (group == g))[0]
            keys = np.stack([channels[idx], time[idx]] + ([energy[idx]] if use_energy else []), axis=1)
            for i in idx[_pareto(keys)]:
                patterns.append(TierPattern(
                    phase=table.phase, ops=chain,
                    engines=tuple((Engine.PIM if on[m, i] else Engine.HOST, int(k[m, i])) for m in range(len(chain))),
                    channels=int(channels[i]), time=float(time[i]), energy=float(energy[i]),
                    resident=float(res[:, i].sum()) * mult, head=head))
    return patterns


def best_step_time(patterns: list[TierPattern], work: PhaseWorkload, budgets: np.ndarray) -> np.ndarray:
    """For each channel budget, the fastest step time the patterns allow when
    PIM capacity is ignored: a lower bound on the phase's step time (without
    the collectives)."""
    graph = work.graph()
    chains = antichains(graph)
    slot = {a: i for i, a in enumerate(chains)}
    best = np.full((len(chains) + 1, len(budgets)), np.inf)
    for q in patterns:
        i = len(chains) if q.head else slot[q.ops]
        best[i] = np.minimum(best[i], np.where(q.channels <= budgets, q.time, np.inf))
    parts = tier_partitions(graph)
    layer = np.min([best[list(p)].sum(axis=0) for p in parts], axis=0)
    return work.layers * layer + best[-1]
