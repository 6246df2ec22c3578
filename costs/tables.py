"""Cost tables: every cost the formulation needs, computed once with numpy.

The formulation and the solvers only ever read a :class:`CostTable`; the
cost model that fills it is pluggable (specpim.costs.plugins).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from specpim.core.enums import Phase
from specpim.hardware.devices import PimOption, System
from specpim.problem.instance import Instance
from specpim.workload.operators import PhaseWorkload

from .protocol import CostModel


@dataclass(frozen=True)
class CostTable:
    """Every cost the MILP needs for one phase under one PIM option.

    Rows are ``names`` (the layer operators, then the LM head); PIM columns
    are ``channels``.  Times are seconds and energies joules, per device and
    per execution.  ``layer_const_*`` is what every layer pays whatever the
    mapping (the two tensor-parallel all-reduces), ``step_const_*`` what every
    step pays once (the LM head's all-gather).
    """

    phase: Phase
    names: tuple[str, ...]
    channels: np.ndarray
    host_time: np.ndarray
    host_energy: np.ndarray
    pim_time: np.ndarray
    pim_energy: np.ndarray
    layer_const_time: float
    layer_const_energy: float
    step_const_time: float
    step_const_energy: float

    def column(self, channels: int) -> int:
        hits = np.nonzero(self.channels == channels)[0]
        if not len(hits):
            raise KeyError(channels)
        return int(hits[0])


def cost_table(model: CostModel, work: PhaseWorkload, system: System,
               option: PimOption | None, channels: Sequence[int]) -> CostTable:
    """Evaluate ``model`` on every operator of ``work`` (and every channel
    count when a PIM option is given).  Models other than the roofline reach
    here wrapped by specpim.costmodels.CheckedCostModel, which rejects bad
    answers with a message naming the model."""
    ops = work.all_ops
    names = tuple(o.name for o in ops)
    chans = np.asarray(sorted(set(int(c) for c in channels)) if option else [], dtype=int)
    ht, he = (np.asarray(x, dtype=float) for x in model.host(ops, system))
    if option is not None and len(chans):
        pt, pe = (np.asarray(x, dtype=float) for x in model.pim(ops, system, option, chans))
    else:
        pt = pe = np.zeros((len(ops), 0))
    ar_t, ar_e, ag_t, ag_e = (float(x) for x in model.collective(work.allreduce_bytes, work.gather_bytes, system))
    return CostTable(
        phase=work.phase, names=names, channels=chans,
        host_time=ht, host_energy=he, pim_time=pt, pim_energy=pe,
        layer_const_time=2 * ar_t, layer_const_energy=2 * ar_e,
        step_const_time=ag_t, step_const_energy=ag_e,
    )


class InstanceTables:
    """Memoised cost tables.  The draft step does not depend on γ, so its
    table is shared by every γ."""

    def __init__(self, instance: Instance, cost_model: CostModel):
        self.instance = instance
        self.cost_model = cost_model
        self._cache: dict[tuple[object, ...], CostTable] = {}
        self._works: dict[tuple[Phase, int], PhaseWorkload] = {}

    def work(self, phase: Phase, draft_len: int) -> PhaseWorkload:
        key = (phase, 0 if phase == Phase.DRAFT else draft_len)
        if key not in self._works:
            self._works[key] = self.instance.phase(phase, draft_len)
        return self._works[key]

    def table(self, phase: Phase, option: PimOption | None, draft_len: int,
              channels: tuple[int, ...] | None = None) -> CostTable:
        chans = self.instance.design_space.channel_counts if channels is None else channels
        key = (phase, option.name if option else None, 0 if phase == Phase.DRAFT else draft_len, chans)
        if key not in self._cache:
            work = self.work(phase, draft_len)
            self._cache[key] = cost_table(self.cost_model, work, self.instance.system, option, chans)
        return self._cache[key]

    def phase_tables(self, option: PimOption | None, draft_len: int) -> dict[Phase, CostTable]:
        return {p: self.table(p, option, draft_len) for p in self.instance.phases(draft_len)}
