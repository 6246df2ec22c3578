"""Cost tables: every cost the formulation needs, computed once with numpy.

The formulation and the solvers read only :class:`CostTable`; the cost
model that fills it is pluggable (specpim.costs.plugins).  A table belongs
to one phase, one PIM option (or none), one γ (the draft step does not
depend on it) and one number of host channels (which only varies when host
data lives in the channels without PIM).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from specpim.core.enums import MemoryModel, Phase
from specpim.hardware.devices import PimOption
from specpim.problem.instance import Instance
from specpim.workload.operators import PhaseWorkload

from .protocol import CostModel, FixedCosts


@dataclass(frozen=True)
class CostTable:
    """Every cost of one phase's operators under one PIM option.

    Rows are ``names`` (the layer operators, then the LM head); PIM columns
    are ``channels``.  Times are seconds and energies joules, per device and
    per execution.  ``layer_const_*`` is what every layer pays whatever the
    mapping (element-wise kernels, two all-reduces), ``step_const_*`` what
    every step pays once (element-wise kernels, the LM head's all-gather).
    ``contended`` says whether host reads compete with PIM work for the PIM
    channels (host data striped over every channel).
    """

    phase: Phase
    names: tuple[str, ...]
    channels: np.ndarray
    host_channels: int
    contended: bool
    host_time: np.ndarray
    host_energy: np.ndarray
    host_stream: np.ndarray
    pim_time: np.ndarray
    pim_energy: np.ndarray
    pim_host: np.ndarray
    fixed: FixedCosts

    @property
    def layer_const_time(self) -> float:
        return self.fixed.layer_elementwise_time + 2 * self.fixed.allreduce_time

    @property
    def layer_const_energy(self) -> float:
        return self.fixed.layer_elementwise_energy + 2 * self.fixed.allreduce_energy

    @property
    def step_const_time(self) -> float:
        return self.fixed.step_elementwise_time + self.fixed.gather_time

    @property
    def step_const_energy(self) -> float:
        return self.fixed.step_elementwise_energy + self.fixed.gather_energy

    def column(self, channels: int) -> int:
        hits = np.nonzero(self.channels == channels)[0]
        if not len(hits):
            raise KeyError(channels)
        return int(hits[0])


def cost_table(model: CostModel, work: PhaseWorkload, instance: Instance, option: PimOption | None,
               channels: Sequence[int], host_channels: int) -> CostTable:
    """Evaluate ``model`` on every operator of ``work`` (and every channel
    count when a PIM option is given).  Models other than the built-in one
    reach here wrapped by specpim.costs.plugins.CheckedCostModel, which
    rejects bad answers with a message naming the model."""
    system = instance.system
    ops = work.all_ops
    chans = np.asarray(sorted({int(c) for c in channels}) if option else [], dtype=int)
    host = model.host(work, system, host_channels)
    if option is not None and len(chans):
        pim = model.pim(work, system, option, chans, host_channels)
        pt, pe, ph = (np.asarray(x, dtype=float) for x in (pim.time, pim.energy, pim.host))
    else:
        pt = pe = ph = np.zeros((len(ops), 0))
    return CostTable(
        phase=work.phase, names=tuple(o.name for o in ops), channels=chans, host_channels=host_channels,
        contended=system.memory_model == MemoryModel.STRIPED,
        host_time=np.asarray(host.time, dtype=float), host_energy=np.asarray(host.energy, dtype=float),
        host_stream=np.asarray(host.stream, dtype=float),
        pim_time=pt, pim_energy=pe, pim_host=ph, fixed=model.fixed(work, system, host_channels),
    )


class InstanceTables:
    """Memoised workloads and cost tables of an instance."""

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

    def table(self, phase: Phase, option: PimOption | None, draft_len: int, pim_channels: int,
              channels: tuple[int, ...] | None = None) -> CostTable:
        """The table of ``phase`` when ``pim_channels`` channels carry ``option``."""
        chans = self.instance.design_space.channel_counts if channels is None else channels
        host_channels = self.instance.system.host_channels(pim_channels if option is not None else 0)
        key = (phase, option.name if option else None, 0 if phase == Phase.DRAFT else draft_len, chans,
               host_channels)
        if key not in self._cache:
            work = self.work(phase, draft_len)
            self._cache[key] = cost_table(self.cost_model, work, self.instance, option, chans, host_channels)
        return self._cache[key]

    def phase_tables(self, option: PimOption | None, draft_len: int, pim_channels: int) -> dict[Phase, CostTable]:
        return {p: self.table(p, option, draft_len, pim_channels) for p in self.instance.phases(draft_len)}
