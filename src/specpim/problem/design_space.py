"""The design space and every rule that decides which designs it holds.

This module is the one owner of those rules: which PIM channel counts an
option may have (the area budget), the sizes an operator's channel group
may take, the draft/target splits, what fits in a channel and what a device
must hold.  Solvers, bounds, baselines, the evaluator and the checks before
solving all call these functions; the exhaustive solver and the tests that
enumerate random mappings keep their own enumeration on purpose, as
independent checks (each says so where it does).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, overload

from specpim.core.enums import Allocation, MemoryModel
from specpim.core.tolerances import AREA_RTOL, CAPACITY_RTOL
from specpim.hardware.devices import Memory, PimOption, System

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class DesignSpace:
    """What the solver may choose.

    ``pim_channels`` lists the candidate counts of PIM-carrying channels per
    device; ``channel_step`` is the granularity of an operator's channel group
    and of the draft/target split (every count is a multiple of it).
    """

    pim_options: tuple[str, ...]
    pim_channels: tuple[int, ...]
    channel_step: int
    allocation: Allocation = Allocation.PARTITION
    area_budget: float | None = None    # mm² per device
    include_no_pim: bool = True

    @cached_property
    def channel_counts(self) -> tuple[int, ...]:
        """Sizes a PIM operator's channel group may take: step, 2·step, … up
        to the largest PIM channel count."""
        top = max(self.pim_channels, default=0)
        return tuple(range(self.channel_step, top + 1, self.channel_step)) if top else ()

    @property
    def partitioned(self) -> bool:
        return self.allocation == Allocation.PARTITION

    # -- area ---------------------------------------------------------------
    def within_area(self, option: PimOption, channels: int) -> bool:
        """Whether ``channels`` PIM channels of ``option`` fit the area budget."""
        return self.area_budget is None or channels * option.area <= self.area_budget * (1 + AREA_RTOL)

    def allowed_counts(self, option: PimOption | None, system: System | None = None) -> tuple[int, ...]:
        """PIM channel counts the space allows for ``option`` (``(0,)`` without PIM).

        When host data lives only in the channels without PIM, a design
        with every channel in PIM leaves the host no memory, so it is not one.
        """
        if option is None:
            return (0,)
        top = system.memory.channels if system is not None else None
        partitioned = system is not None and system.memory_model == MemoryModel.PARTITIONED
        return tuple(n for n in self.pim_channels
                     if self.within_area(option, n) and not (partitioned and n >= (top or 0)))

    # -- allocation ---------------------------------------------------------
    def shares(self, channels: int) -> tuple[int, ...]:
        """Channel counts one model may get out of ``channels``: 0, step, …, channels."""
        return tuple(range(0, channels + 1, self.channel_step))

    def splits(self, channels: int, speculative: bool) -> tuple[tuple[int, int], ...]:
        """Every (draft, target) allocation of ``channels`` PIM channels.

        A static partition gives each model a multiple of the step, the two
        adding up to ``channels`` (either may get none); shared channels give
        both models all of them; without a draft model the target has all.
        """
        if not self.partitioned:
            return ((channels, channels),)
        if not speculative:
            return ((0, channels),)
        return tuple((d, channels - d) for d in self.shares(channels))


# -- where PIM groups sit ----------------------------------------------------------

def canonical_layout(members: list[tuple[str, int, float]], start: int) -> dict[str, int]:
    """The solver's placement of one tier's PIM groups: consecutive channels
    from ``start`` (the first channel of the model's range), the group with
    the most bytes per channel first (ties in member order).

    ``members`` holds (operator, channels, bytes per channel); the result is
    each operator's first channel.  Laid out this way in every tier, no
    channel of a model's range holds more than its first channel, which holds
    Σ over tiers of the tier's heaviest bytes per channel: the MILP's
    capacity row (docs/formulation.md §3).  A balanced layout could fit
    more; the evaluator accepts any layout a mapping gives.
    """
    first, at = {}, start
    for name, k, _ in sorted(members, key=lambda m: -m[2]):
        first[name] = at
        at += k
    return first


# -- memory --------------------------------------------------------------------

def channel_bytes(memory: Memory) -> float:
    """What one channel holds, in bytes."""
    return memory.channel_capacity_bytes


@overload
def fits(need: float, room: float) -> bool: ...
@overload
def fits(need: float, room: np.ndarray) -> np.ndarray: ...
def fits(need, room):
    """The memory rule: ``need`` bytes fit in ``room`` bytes (to CAPACITY_RTOL);
    elementwise when ``room`` is an array."""
    return need <= room * (1 + CAPACITY_RTOL)


def fits_channels(resident: float, channels: int, memory: Memory) -> bool:
    """Whether ``resident`` bytes fit in ``channels`` channels of ``memory``."""
    return fits(resident, channels * memory.channel_capacity_bytes)


__all__ = ["DesignSpace", "canonical_layout", "channel_bytes", "fits", "fits_channels"]
