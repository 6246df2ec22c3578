"""Tier patterns: the columns of the MILP.

A tier is a set of operators that run together: an antichain of the layer
DAG (no operator depends on another in it), each member on the host or on a
group of k PIM channels.  A *pattern* is one such antichain with one engine
per member; with L the layers (1 for the LM head) its constants are
computed here with numpy (docs/formulation.md §4):

    time     = max(Σ_{j on host} t^H_j + Σ_{j on PIM} h^P_{j,k_j},
                   max_{j on PIM} t^P_{j,k_j} + [host data striped] Σ_{j on host} s_j)
    channels = Σ_{j on PIM} k_j
    energy   = Σ_j e_j
    load     = max_{j on PIM} L·R_j / k_j     (bytes in each channel of the heaviest group)
    bytes    = Σ_{j on PIM} L·R_j            (bytes the tier keeps in PIM channels)

The first term of the time is the host, which runs its operators and the
host side of every offload one after another; the second is the busiest PIM
channel, which serves its operator and, when host data is striped over every
channel, its share of the tier's host reads (a channel in PIM mode serves no
host reads).

Only patterns that can matter are kept:
* k ≤ the largest channel budget, and all L layers of R_j fit in k channels;
* a multi-operator tier with every member on the host is dropped: it costs
  exactly what the same operators cost as separate tiers;
* among patterns with the same operators on PIM (hence the same bytes), one
  that needs no fewer channels, is no faster, loads its channels no less
  (when capacity can bind) and uses no less energy (when energy matters)
  than another is dropped.
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
    load: float                            # bytes in each channel of its heaviest PIM group
    bytes: float                           # bytes kept in PIM channels over all layers
    head: bool = False
    member_loads: tuple[tuple[str, float], ...] = ()   # bytes per channel of each PIM member's group


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

# Columns of an operator's engine-choice array.
K, TIME, ENERGY, ON_PIM, HOST_BUSY, STREAM, LOAD, BYTES = range(8)


def engine_choices(table: CostTable, work: PhaseWorkload, top: int, cap: float) -> dict[str, np.ndarray]:
    """Per operator, its engine choices as rows with the columns above: the
    host, then every PIM group of k ≤ top channels that holds all its layers."""
    out = {}
    for j, op in enumerate(work.all_ops):
        mult = 1 if op.name == work.head.name else work.layers
        rows = [(0, table.host_time[j], table.host_energy[j], 0.0, table.host_time[j], table.host_stream[j],
                 0.0, 0.0)]
        total = mult * op.resident_bytes
        for col, k in enumerate(table.channels):
            if k <= top and fits(total, k * cap):
                rows.append((k, table.pim_time[j, col], table.pim_energy[j, col], 1.0, table.pim_host[j, col],
                             0.0, total / k, total))
        out[op.name] = np.array(rows, dtype=float)
    return out


def pareto_rows(keys: np.ndarray) -> np.ndarray:
    """Sorted indices of the rows of ``keys`` (columns to minimise) that no
    other row weakly dominates; of equal rows the first is kept."""
    m, d = keys.shape
    if m <= 1:
        return np.arange(m)
    order = np.lexsort(keys.T[::-1])
    s = keys[order]
    if d == 1:
        return np.sort(order[:1])
    if d == 2:
        best_before = np.concatenate(([np.inf], np.minimum.accumulate(s[:, 1])[:-1]))
        return np.sort(order[s[:, 1] < best_before])
    # A row can only be dominated by one sorted before it: compare each block
    # of rows with the rows kept so far and with the earlier rows of its block.
    kept = np.zeros(m, dtype=bool)
    front = s[:0]
    step = 256
    for lo in range(0, m, step):
        block = s[lo:lo + step]
        alive = np.ones(len(block), dtype=bool)
        if len(front):
            alive &= ~np.any(np.all(front[None, :, :] <= block[:, None, :], axis=2), axis=1)
        inner = np.all(block[None, :, :] <= block[:, None, :], axis=2)   # inner[i, j]: row j ≤ row i
        inner &= np.tri(len(block), k=-1, dtype=bool)                     # only rows sorted before i
        for i in range(len(block)):   # kept earlier rows of the block dominate; dropped ones are covered
            if alive[i] and np.any(inner[i] & alive):
                alive[i] = False
        kept[lo:lo + step] = alive
        front = np.concatenate([front, block[alive]])
    return np.sort(order[kept])


def phase_patterns(table: CostTable, work: PhaseWorkload, *, top_channels: int, channel_capacity: float,
                   use_energy: bool, capacity_binds: bool = True) -> list[TierPattern]:
    """All useful tier patterns of one phase: layer tiers, then the LM head."""
    graph = work.graph()
    choices = engine_choices(table, work, top_channels, channel_capacity)
    patterns: list[TierPattern] = []
    for chain in antichains(graph) + [(work.head.name,)]:
        head = chain == (work.head.name,)
        rows = [choices[n] for n in chain]
        grids = np.meshgrid(*[np.arange(len(r)) for r in rows], indexing="ij")
        pick = [g.ravel() for g in grids]
        col = {c: np.stack([r[p, c] for r, p in zip(rows, pick, strict=True)])
               for c in (K, TIME, ENERGY, ON_PIM, HOST_BUSY, STREAM, LOAD, BYTES)}
        on = col[ON_PIM]
        channels = col[K].sum(axis=0)
        any_pim = on.max(axis=0)
        contention = col[STREAM].sum(axis=0) * any_pim if table.contended else 0.0
        time = np.maximum(col[HOST_BUSY].sum(axis=0), (col[TIME] * on).max(axis=0) + contention)
        energy = col[ENERGY].sum(axis=0)
        load = col[LOAD].max(axis=0)
        mask = (any_pim > 0) if len(chain) > 1 else np.ones_like(channels, dtype=bool)
        mask &= channels <= top_channels
        group = (on * (2 ** np.arange(len(chain)))[:, None]).sum(axis=0)
        for g in np.unique(group[mask]):
            idx = np.nonzero(mask & (group == g))[0]
            keys = [channels[idx], time[idx]] + ([load[idx]] if capacity_binds and g else []) \
                + ([energy[idx]] if use_energy else [])
            for i in idx[pareto_rows(np.stack(keys, axis=1))]:
                patterns.append(TierPattern(
                    phase=table.phase, ops=chain,
                    engines=tuple((Engine.PIM if on[m, i] else Engine.HOST, int(col[K][m, i]))
                                  for m in range(len(chain))),
                    channels=int(channels[i]), time=float(time[i]), energy=float(energy[i]),
                    load=float(load[i]), bytes=float(col[BYTES][:, i].sum()), head=head,
                    member_loads=tuple((chain[m], float(col[LOAD][m, i])) for m in range(len(chain)) if on[m, i])))
    return patterns


def best_step_time(patterns: list[TierPattern], work: PhaseWorkload, budgets: np.ndarray) -> np.ndarray:
    """For each channel budget, the fastest step time the patterns allow when
    PIM capacity is ignored: a lower bound on the phase's step time (without
    the per-layer and per-step constants)."""
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
