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

import numpy as np

from specpim.costs.tables import CostTable
from specpim.workload.operators import PhaseWorkload

from .patterns import EngineChoices, antichains, engine_choices, tier_partitions


def _prefix_min(choices: EngineChoices, budgets: np.ndarray, values: np.ndarray) -> np.ndarray:
    """f(c) = min over the operator's groups with k ≤ c of ``values`` (inf if none)."""
    if not len(choices.k):
        return np.full(len(budgets), np.inf)
    return np.where(budgets[None, :] >= choices.k[:, None], values[:, None], np.inf).min(axis=0)


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

    dag = work.dag
    chains = antichains(dag)
    tiers = np.array([best_tier(a) for a in chains])
    layer = np.min([tiers[list(p)].sum(axis=0) for p in tier_partitions(dag)], axis=0)
    head = best_tier((work.head.name,))
    # Energy: every operator on its most frugal engine within the budget.
    cheapest = [np.minimum(c.host_energy, _prefix_min(c, budgets, c.energy)) for c in choices]
    layer_e = np.sum(cheapest[:-1], axis=0)
    return PhaseBound(budgets, work.layers * layer + head, work.layers * layer_e + cheapest[-1])


@dataclass(frozen=True)
class TierOption:
    """One choice of a tier's PIM members (the rest on the host).

    Row l of ``energy`` is, per channel count κ of the grid (exactly κ, not
    at most), the least energy of the tier when every PIM member runs within
    the l-th time level; ``time`` is the tier time charged at that level, no
    more than that of any member tuple the row covers."""

    bytes: float            # bytes the PIM members keep (all layers)
    energy: np.ndarray      # (levels, grid points), J
    time: np.ndarray        # (levels,), s
    members: int            # PIM members


# Stands for "no tier fits this budget" where sums must stay finite.
_HUGE = 1e250


class CombinedTiers:
    """Per antichain (and the LM head last), every choice of PIM members,
    priced for any static power: lower bounds on energy + power × time per
    channel budget (capacity aside), and the same with capacity priced in
    (``step_cost``'s ``per_byte`` and ``per_load``).  Exact when an
    offload's host side does not depend on k, as in the built-in model.

    The options' rows are stacked so that one power's price of every option
    is a handful of numpy calls; prices are remembered per power, as a
    block's Lagrangian bound asks for one power with many capacity prices."""

    def __init__(self, layers: int, options: tuple[tuple[TierOption, ...], ...],
                 partitions: tuple[tuple[int, ...], ...], step: int, on_grid: bool):
        self.layers = layers
        flat = [o for tier in options for o in tier]
        self.energy = np.concatenate([o.energy for o in flat])
        self.time = np.concatenate([o.time for o in flat])
        self.row_start = np.cumsum([0] + [len(o.time) for o in flat[:-1]])
        self.option_start = np.cumsum([0] + [len(t) for t in options[:-1]])
        # A price on the bytes of a layer tier counts L times in the step: 1/L per tier.
        per_tier = np.full(len(flat), 1.0 / layers)
        per_tier[self.option_start[-1]:] = 1.0
        self.bytes = per_tier * np.array([o.bytes for o in flat])
        # The most channels a tuple in grid slot s can have: s·step on the grid,
        # and up to step − 1 more per member off it (k was rounded down).
        slots = self.energy.shape[1]
        members = np.array([o.members for o in flat])
        most = np.arange(slots)[None, :] * step + (0 if on_grid else (step - 1)) * members[:, None]
        # The bytes in a tier's heaviest channel are at least bytes / κ (Σa/Σb ≤ max a/b).
        self.load = np.where(members[:, None] > 0, self.bytes[:, None] / np.maximum(most, 1), 0.0)
        use = np.zeros((len(partitions), len(options) - 1))
        for r, part in enumerate(partitions):
            use[r, list(part)] = 1.0
        self.use = use
        self._priced: dict[float, np.ndarray] = {}

    def _option_costs(self, power: float) -> np.ndarray:
        """(options, grid points): each option's least energy + power × time
        on exactly that many channels."""
        if power not in self._priced:
            if len(self._priced) > 8:
                self._priced.clear()
            self._priced[power] = np.minimum.reduceat(self.energy + power * self.time[:, None],
                                                      self.row_start, axis=0)
        return self._priced[power]

    def step_cost(self, power: float, per_byte: float = 0.0, per_load: float = 0.0) -> np.ndarray:
        """Per budget, the least Σ over one step of (energy + ``power`` × time
        + ``per_byte`` × bytes in PIM + ``per_load`` × Σ over tiers of the
        bytes in the tier's heaviest channel), constants aside."""
        costs = self._option_costs(power)
        if per_byte:
            costs = costs + per_byte * self.bytes[:, None]
        if per_load:
            costs = costs + per_load * self.load
        within = np.minimum.accumulate(costs, axis=1)                      # at most κ channels
        best = np.minimum.reduceat(within, self.option_start, axis=0)      # per tier
        tiers = np.minimum(best[:-1], _HUGE)
        layer = (self.use @ tiers).min(axis=0)
        layer = np.where(layer >= _HUGE, np.inf, layer)
        return self.layers * layer + best[-1]


def _minplus_conv(f: np.ndarray, g: np.ndarray) -> np.ndarray:
    """h[l, i] = min over a ≤ i of f[l, a] + g[l, i − a], row by row."""
    n = f.shape[1]
    h = f[:, :1] + g
    for a in range(1, n):
        np.minimum(h[:, a:], f[:, a:a + 1] + g[:, :n - a], out=h[:, a:])
    return h


def _energy_by_level(choice: EngineChoices, levels: np.ndarray, slots: int, step: int) -> np.ndarray:
    """f[l, s]: the operator's least PIM energy on s grid steps of channels
    (k rounded down to the grid) with its time within levels[l]; inf where none."""
    order = np.argsort(choice.time, kind="stable")
    k = choice.k[order] // step
    e = choice.energy[order]
    on = np.arange(slots)[None, :] == k[:, None]
    running = np.minimum.accumulate(np.where(on, e[:, None], np.inf), axis=0)   # options by time
    last = np.searchsorted(choice.time[order], levels, side="right") - 1
    out = running[np.maximum(last, 0)]
    out[last < 0] = np.inf
    return out


def combined_tiers(table: CostTable, work: PhaseWorkload, budgets: np.ndarray,
                   channel_capacity: float) -> CombinedTiers:
    """The tiers' least energy + power × time per budget, for any power.

    With the PIM members' slowest time τ as the level, a tier's time is
    max(host part, τ + stream): fixed per level, so the least energy per
    level and channel count is a min-plus convolution of the members'
    energies over the budget grid, each restricted to its options within τ.
    The minimum over levels is then exact for every power (the host side of
    an offload is taken at its smallest, as in ``phase_bound``)."""
    top = int(budgets[-1]) if len(budgets) else 0
    choices = engine_choices(table, work, top, channel_capacity)
    index = {c.name: i for i, c in enumerate(choices)}
    step = int(budgets[1] - budgets[0]) if len(budgets) > 1 else 1
    slots = len(budgets)
    on_grid = all(not np.any(c.k % step) for c in choices)

    def tier_options(chain: tuple[str, ...]) -> tuple[TierOption, ...]:
        members = [index[n] for n in chain]
        out = []
        for mask in range(1 << len(members)):
            on_pim = [choices[m] for b, m in enumerate(members) if mask >> b & 1]
            on_host = [choices[m] for b, m in enumerate(members) if not mask >> b & 1]
            host_t = sum(c.host_time for c in on_host)
            host_e = sum(c.host_energy for c in on_host)
            if not on_pim:
                energy = np.full((1, slots), np.inf)
                energy[0, 0] = host_e
                out.append(TierOption(0.0, energy, np.array([host_t]), 0))
                continue
            if any(len(c.k) == 0 for c in on_pim):
                continue
            levels = np.unique(np.concatenate([c.time for c in on_pim]))
            energy = _energy_by_level(on_pim[0], levels, slots, step)
            for c in on_pim[1:]:
                energy = _minplus_conv(energy, _energy_by_level(c, levels, slots, step))
            stream = sum(c.host_stream for c in on_host) if table.contended and on_host else 0.0
            busy = sum(float(c.host_busy.min()) for c in on_pim)
            time = np.maximum(host_t + busy, levels + stream)
            # a level is worth keeping only if it saves energy somewhere
            keep = np.isfinite(energy).any(axis=1)
            keep[1:] &= (energy[1:] < energy[:-1]).any(axis=1)
            if not keep.any():
                continue
            out.append(TierOption(sum(c.bytes for c in on_pim), host_e + energy[keep], time[keep], len(on_pim)))
        return tuple(out)

    dag = work.dag
    options = tuple(tier_options(chain) for chain in antichains(dag) + [(work.head.name,)])
    return CombinedTiers(work.layers, options, tier_partitions(dag), step, on_grid)
