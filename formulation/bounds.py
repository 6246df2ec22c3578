"""Lower bounds on a phase's step time and energy for every channel budget,
computed from the cost tables alone (no patterns).

For an antichain A, a budget of C channels and a choice P ⊆ A of members on
PIM (the rest on the host), the fastest tier is

    max( H_P + Σ_{j∈P} min_k h^P_{j,k},  M_P(C) + [striped] S_P )

with H_P and S_P the host members' time and stream time, and
M_P(C) = min over k_j with Σ_{j∈P} k_j ≤ C of max_j t^P_{j,k_j}: a min-max
convolution of the members' prefix minima over the budget grid.  The best
over P is the antichain's best tier time; the best over the tier partitions
of the layer is the layer's.  Only capacity is dropped (and the host side of
an offload is taken at its smallest), so every value is a valid lower bound,
and an exact one whenever capacity does not bind and the host side does not
depend on k — which lets blocks be pruned before any pattern is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from specpim.costs.tables import CostTable
from specpim.workload.operators import PhaseWorkload

from .patterns import EngineChoices, antichains, engine_choices, tier_partitions


def _prefix_min(choices: EngineChoices, budgets: np.ndarray, values: np.ndarray) -> np.ndarray:
    """f(c) = min over the operator's groups with k ≤ c of ``values`` (inf if none)."""
    out = np.full(len(budgets), np.inf)
    for k, v in zip(choices.k, values, strict=True):
        out[budgets >= k] = np.minimum(out[budgets >= k], v)
    return out


def _minmax_conv(f: np.ndarray, g: np.ndarray) -> np.ndarray:
    """h[i] = min over a ≤ i of max(f[a], g[i − a]) on a uniform budget grid."""
    n = len(f)
    i, a = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    valid = a <= i
    vals = np.maximum(f[a], g[np.where(valid, i - a, 0)])
    return np.where(valid, vals, np.inf).min(axis=1)


@dataclass(frozen=True)
class PhaseBound:
    """Per budget of the grid ``budgets`` (0, step, …, top): lower bounds on
    one step's time and energy, without the per-layer and per-step constants."""

    budgets: np.ndarray
    step_time: np.ndarray
    step_energy: np.ndarray


def phase_bound(table: CostTable, work: PhaseWorkload, budgets: np.ndarray, channel_capacity: float) -> PhaseBound:
    top = int(budgets[-1]) if len(budgets) else 0
    choices = engine_choices(table, work, top, channel_capacity)
    index = {c.name: i for i, c in enumerate(choices)}
    fastest = [_prefix_min(c, budgets, c.time) for c in choices]
    host_side = [float(c.host_busy.min()) if len(c.k) else np.inf for c in choices]

    def best_tier(chain: tuple[str, ...]) -> np.ndarray:
        members = [index[n] for n in chain]
        best = np.full(len(budgets), np.inf)
        for mask in range(1 << len(members)):
            on_pim = [m for b, m in enumerate(members) if mask >> b & 1]
            on_host = [m for b, m in enumerate(members) if not mask >> b & 1]
            host_t = sum(choices[m].host_time for m in on_host)
            if not on_pim:
                best = np.minimum(best, host_t)
                continue
            longest = fastest[on_pim[0]]
            for m in on_pim[1:]:
                longest = _minmax_conv(longest, fastest[m])
            stream = sum(choices[m].host_stream for m in on_host) if table.contended and on_host else 0.0
            best = np.minimum(best, np.maximum(host_t + sum(host_side[m] for m in on_pim), longest + stream))
        return best

    graph = work.graph()
    chains = antichains(graph)
    tiers = np.array([best_tier(a) for a in chains])
    layer = np.min([tiers[list(p)].sum(axis=0) for p in tier_partitions(graph)], axis=0)
    head = best_tier((work.head.name,))
    # Energy: every operator on its most frugal engine within the budget.
    cheapest = [np.minimum(c.host_energy, _prefix_min(c, budgets, c.energy)) for c in choices]
    layer_e = np.sum(cheapest[:-1], axis=0)
    return PhaseBound(budgets, work.layers * layer + head, work.layers * layer_e + cheapest[-1])


# Enumerating every k-tuple of a tier's PIM members is exact; past this many
# tuples the looser separate bounds (time, energy) are used instead.
_MAX_TUPLES = 400_000


@dataclass(frozen=True)
class CombinedTiers:
    """Per antichain (and the LM head last) and per choice of PIM members: the
    bytes those members keep in PIM (all layers) and, per budget, the least
    energy + power × time of the tier (capacity aside)."""

    layers: int
    options: tuple[tuple[tuple[float, np.ndarray], ...], ...]
    partitions: tuple[tuple[int, ...], ...]

    @cached_property
    def plain(self) -> np.ndarray:
        """``step_cost()`` without a price on bytes."""
        return self.step_cost(0.0)

    def step_cost(self, per_byte: np.ndarray | float = 0.0) -> np.ndarray:
        """Per budget, the least Σ over one step of (energy + power × time
        + ``per_byte`` × bytes in PIM), constants aside."""
        def best(i: int, rho: np.ndarray | float) -> np.ndarray:
            return np.min([cost + rho * b for b, cost in self.options[i]], axis=0)

        rho = np.asarray(per_byte, dtype=float)
        tiers = np.array([best(i, rho / self.layers) for i in range(len(self.options) - 1)])
        layer = np.min([tiers[list(p)].sum(axis=0) for p in self.partitions], axis=0)
        return self.layers * layer + best(len(self.options) - 1, rho)


def combined_tiers(table: CostTable, work: PhaseWorkload, budgets: np.ndarray, channel_capacity: float,
                   power: float) -> CombinedTiers | None:
    """The tiers' least energy + ``power`` × time per budget, every tuple of
    channel groups priced exactly; None where a tier has too many k-tuples."""
    top = int(budgets[-1]) if len(budgets) else 0
    choices = engine_choices(table, work, top, channel_capacity)
    index = {c.name: i for i, c in enumerate(choices)}
    step = budgets[1] - budgets[0] if len(budgets) > 1 else 1

    def tier_options(chain: tuple[str, ...]) -> tuple[tuple[float, np.ndarray], ...] | None:
        members = [index[n] for n in chain]
        out = []
        for mask in range(1 << len(members)):
            on_pim = [m for b, m in enumerate(members) if mask >> b & 1]
            on_host = [m for b, m in enumerate(members) if not mask >> b & 1]
            host_t = sum(choices[m].host_time for m in on_host)
            host_e = sum(choices[m].host_energy for m in on_host)
            if not on_pim:
                out.append((0.0, np.full(len(budgets), host_e + power * host_t)))
                continue
            sizes = [len(choices[m].k) for m in on_pim]
            if 0 in sizes:
                continue
            if int(np.prod(sizes)) > _MAX_TUPLES:
                return None
            grids = np.meshgrid(*[np.arange(s) for s in sizes], indexing="ij")
            pick = [g.ravel() for g in grids]
            kappa = sum(choices[m].k[p] for m, p in zip(on_pim, pick, strict=True))
            longest = np.max([choices[m].time[p] for m, p in zip(on_pim, pick, strict=True)], axis=0)
            busy = sum(choices[m].host_busy[p] for m, p in zip(on_pim, pick, strict=True))
            energy = host_e + sum(choices[m].energy[p] for m, p in zip(on_pim, pick, strict=True))
            stream = sum(choices[m].host_stream for m in on_host) if table.contended and on_host else 0.0
            cost = energy + power * np.maximum(host_t + busy, longest + stream)
            # the cheapest tuple needing exactly κ channels, then the best within each budget
            slot = np.ceil(kappa / step).astype(int)
            by_slot = np.full(int(slot.max()) + 1, np.inf)
            np.minimum.at(by_slot, slot, cost)
            within = np.minimum.accumulate(by_slot)
            fit = np.full(len(budgets), within[-1])
            upto = min(len(within), len(budgets))
            fit[:upto] = within[:upto]
            out.append((float(sum(choices[m].bytes for m in on_pim)), fit))
        return tuple(out)

    graph = work.graph()
    options = []
    for chain in antichains(graph) + [(work.head.name,)]:
        o = tier_options(chain)
        if o is None:
            return None
        options.append(o)
    return CombinedTiers(work.layers, tuple(options), tier_partitions(graph))
