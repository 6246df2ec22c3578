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

import bisect
import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from specpim.core.enums import Engine, Phase
from specpim.costs.tables import CostTable
from specpim.problem.design_space import fits
from specpim.workload.dag import LayerDag, is_acyclic, lexicographic_order
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
def _chains(dag: LayerDag) -> list[tuple[str, ...]]:
    position = {n: i for i, n in enumerate(dag.order)}
    return sorted((tuple(sorted(a, key=position.__getitem__)) for a in dag.antichains),
                  key=lambda a: (len(a), [position[n] for n in a]))


def antichains(dag: LayerDag) -> list[tuple[str, ...]]:
    """Every non-empty antichain, in a deterministic order."""
    return list(_chains(dag))


def _quotient(dag: LayerDag, tiers) -> list[tuple[int, int]]:
    where = {n: i for i, a in enumerate(tiers) for n in a}
    return [(where[u], where[v]) for u, v in dag.edges if where[u] != where[v]]


def _orderable(dag: LayerDag, tiers) -> bool:
    return is_acyclic(range(len(tiers)), _quotient(dag, tiers))


def conflicting_sets(dag: LayerDag) -> list[tuple[tuple[str, ...], ...]]:
    """Minimal sets of disjoint multi-operator antichains that cannot all be
    tiers at once: no tier order respects the DAG (their quotient has a
    cycle).  A cycle needs two multi-operator tiers, so singletons never
    appear.  Empty for the transformer layer graphs."""
    multi = [a for a in antichains(dag) if len(a) > 1]
    reach = dag.descendants
    bad: list[tuple[tuple[str, ...], ...]] = []
    for r in range(2, len(multi) + 1):
        for combo in itertools.combinations(multi, r):
            members = [n for a in combo for n in a]
            if len(members) != len(set(members)) or any(set(b) <= set(combo) for b in bad):
                continue
            edges = [(i, j) for i, a in enumerate(combo) for j, b in enumerate(combo)
                     if i != j and any(v in reach[u] for u in a for v in b)]
            if not is_acyclic(range(r), edges):
                bad.append(combo)
    return bad


@lru_cache(maxsize=64)
def tier_partitions(dag: LayerDag) -> tuple[tuple[int, ...], ...]:
    """Every way to split the layer into tiers that some DAG order admits, as
    indices into ``antichains(dag)``."""
    chains = _chains(dag)
    index = {a: i for i, a in enumerate(chains)}
    by_first: dict[str, list[tuple[str, ...]]] = {}
    order = list(dag.order)
    for a in chains:
        by_first.setdefault(min(a, key=order.index), []).append(a)
    out: list[tuple[int, ...]] = []

    def extend(left: frozenset, picked: list[tuple[str, ...]]) -> None:
        if not left:
            if _orderable(dag, picked):
                out.append(tuple(index[a] for a in picked))
            return
        first = min(left, key=order.index)
        for a in by_first.get(first, []):
            if set(a) <= left:
                extend(left - set(a), picked + [a])

    extend(frozenset(dag.nodes), [])
    return tuple(out)


def tier_order(dag: LayerDag, tiers: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Order chosen antichains consistently with the DAG."""
    return [tiers[i] for i in lexicographic_order(range(len(tiers)), _quotient(dag, tiers))]


# -- patterns -------------------------------------------------------------------

@dataclass(frozen=True)
class EngineChoices:
    """One operator's engines: the host, and every PIM group of k channels
    that holds all its layers (arrays over those k)."""

    name: str
    host_time: float
    host_energy: float
    host_stream: float
    k: np.ndarray
    time: np.ndarray
    host_busy: np.ndarray
    energy: np.ndarray
    load: np.ndarray          # bytes per channel of the group: all layers ÷ k
    bytes: float              # bytes the operator keeps in PIM (all layers)


def engine_choices(table: CostTable, work: PhaseWorkload, top: int, cap: float) -> list[EngineChoices]:
    """Per operator (layer operators, then the LM head), its engine choices
    with k ≤ ``top`` channels."""
    out = []
    for j, op in enumerate(work.all_ops):
        total = (1 if op.name == work.head.name else work.layers) * op.resident_bytes
        cols = np.nonzero((table.channels <= top) & fits(total, table.channels * cap))[0]
        k = table.channels[cols].astype(int)
        out.append(EngineChoices(op.name, float(table.host_time[j]), float(table.host_energy[j]),
                                 float(table.host_stream[j]), k, table.pim_time[j, cols],
                                 table.pim_host[j, cols], table.pim_energy[j, cols],
                                 total / np.maximum(k, 1), total))
    return out


def pareto_rows(keys: np.ndarray) -> np.ndarray:
    """Sorted indices of the rows of ``keys`` (columns to minimise) that no
    other row weakly dominates; of equal rows the first in lexicographic
    order is kept."""
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
    if d == 3:
        return np.sort(order[_sweep3(s)])
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


def _sweep3(s: np.ndarray) -> np.ndarray:
    """Mask of the non-dominated rows of ``s`` (three columns, sorted
    lexicographically): in order of the first column, a row survives unless
    a kept row with a first column no larger has both other columns no
    larger.  The kept rows' (second, third) staircase answers that with one
    binary search; equal first columns are settled by the sort."""
    keep = np.zeros(len(s), dtype=bool)
    ys: list[float] = []      # staircase of kept rows: second column ascending ...
    zs: list[float] = []      # ... third column strictly descending
    for i, (_, y, z) in enumerate(s):
        at = bisect.bisect_right(ys, y) - 1     # kept rows with second column ≤ y: the best third column
        if at >= 0 and zs[at] <= z:
            continue
        keep[i] = True
        # insert (y, z) and drop the staircase points it dominates
        lo = bisect.bisect_left(ys, y)
        hi = lo
        while hi < len(ys) and zs[hi] >= z:
            hi += 1
        ys[lo:hi] = [y]
        zs[lo:hi] = [z]
    return keep


def _host_part(choices: list[EngineChoices], on_host: list[int]) -> tuple[float, float, float]:
    """(time, stream, energy) of a tier's host members, run one after another."""
    return (sum(choices[i].host_time for i in on_host), sum(choices[i].host_stream for i in on_host),
            sum(choices[i].host_energy for i in on_host))


def _pim_states(choices: list[EngineChoices], members: list[int], top: int, keys: list[str]) -> dict[str, np.ndarray]:
    """The Pareto-minimal ways to give ``members`` PIM groups with ≤ ``top``
    channels together: arrays κ (channels), the longest time, the summed host
    side, the heaviest load, the summed energy, and each member's k.  Built
    one member at a time, dropping dominated partial states on ``keys``: the
    tier's time, load and energy only grow with each of them."""
    first = choices[members[0]]
    st = {"kappa": first.k.copy(), "t": first.time.copy(), "h": first.host_busy.copy(), "l": first.load.copy(),
          "e": first.energy.copy(), "ks": first.k[:, None].copy()}
    for i in members[1:]:
        c = choices[i]
        grid_a, grid_b = np.meshgrid(np.arange(len(st["kappa"])), np.arange(len(c.k)), indexing="ij")
        a, b = grid_a.ravel(), grid_b.ravel()
        kappa = st["kappa"][a] + c.k[b]
        ok = kappa <= top
        a, b = a[ok], b[ok]
        st = {"kappa": kappa[ok], "t": np.maximum(st["t"][a], c.time[b]), "h": st["h"][a] + c.host_busy[b],
              "l": np.maximum(st["l"][a], c.load[b]), "e": st["e"][a] + c.energy[b],
              "ks": np.concatenate([st["ks"][a], c.k[b][:, None]], axis=1)}
        if len(st["kappa"]):
            keep = pareto_rows(np.stack([st["kappa"]] + [st[k] for k in keys], axis=1))
            st = {k: v[keep] for k, v in st.items()}
    return st


def phase_patterns(table: CostTable, work: PhaseWorkload, *, top_channels: int, channel_capacity: float,
                   use_energy: bool, capacity_binds: bool = True) -> list[TierPattern]:
    """All useful tier patterns of one phase with at most ``top_channels`` PIM
    channels: layer tiers, then the LM head."""
    dag = work.dag
    choices = engine_choices(table, work, top_channels, channel_capacity)
    index = {c.name: i for i, c in enumerate(choices)}
    varies = bool(np.ptp(table.pim_host, axis=1).max(initial=0.0) > 0) if table.pim_host.size else False
    partial = ["t"] + (["h"] if varies else []) + (["l"] if capacity_binds else []) + (["e"] if use_energy else [])
    patterns: list[TierPattern] = []
    for chain in antichains(dag) + [(work.head.name,)]:
        head = chain == (work.head.name,)
        members = [index[n] for n in chain]
        for mask in range(1 << len(chain)):
            on_pim = [m for b, m in enumerate(members) if mask >> b & 1]
            on_host = [m for b, m in enumerate(members) if not mask >> b & 1]
            host_t, host_s, host_e = _host_part(choices, on_host)
            if not on_pim:
                if len(chain) == 1:   # a multi-operator tier all on the host costs what its members do apart
                    patterns.append(TierPattern(table.phase, chain, ((Engine.HOST, 0),), 0, host_t, host_e,
                                                0.0, 0.0, head))
                continue
            if any(len(choices[m].k) == 0 for m in on_pim):
                continue
            st = _pim_states(choices, on_pim, top_channels, partial)
            if not len(st["kappa"]):
                continue
            contention = host_s if table.contended and on_host else 0.0
            time = np.maximum(host_t + st["h"], st["t"] + contention)
            energy = host_e + st["e"]
            keys = [st["kappa"], time] + ([st["l"]] if capacity_binds else []) + ([energy] if use_energy else [])
            pim_bytes = sum(choices[m].bytes for m in on_pim)
            for r in pareto_rows(np.stack(keys, axis=1)):
                ks = dict(zip(on_pim, st["ks"][r].tolist(), strict=True))
                engines = tuple((Engine.PIM, int(ks[m])) if m in ks else (Engine.HOST, 0) for m in members)
                loads = tuple((choices[m].name, float(choices[m].bytes / ks[m])) for m in members if m in ks)
                patterns.append(TierPattern(table.phase, chain, engines, int(st["kappa"][r]), float(time[r]),
                                            float(energy[r]), float(st["l"][r]), float(pim_bytes), head, loads))
    return patterns
