"""Cost tables of an instance: every (phase, PIM option, γ) the solvers and
the evaluator need, computed once with the instance's cost model."""

from __future__ import annotations

from specpim.hardware.costs import CostModel, CostTable, cost_table
from specpim.hardware.devices import PimOption
from specpim.workload.operators import PhaseWorkload

from .instance import DRAFT, Instance


class InstanceTables:
    """Memoised cost tables.  The draft step does not depend on γ, so its
    table is shared by every γ."""

    def __init__(self, instance: Instance, cost_model: CostModel):
        self.instance = instance
        self.cost_model = cost_model
        self._cache: dict[tuple, CostTable] = {}
        self._works: dict[tuple, PhaseWorkload] = {}

    def work(self, phase: str, draft_len: int) -> PhaseWorkload:
        key = (phase, 0 if phase == DRAFT else draft_len)
        if key not in self._works:
            self._works[key] = self.instance.phase(phase, draft_len)
        return self._works[key]

    def table(self, phase: str, option: PimOption | None, draft_len: int,
              channels: tuple[int, ...] | None = None) -> CostTable:
        chans = self.instance.design_space.channel_counts if channels is None else channels
        key = (phase, option.name if option else None, 0 if phase == DRAFT else draft_len, chans)
        if key not in self._cache:
            work = self.work(phase, draft_len)
            self._cache[key] = cost_table(self.cost_model, work, self.instance.system, option, chans)
        return self._cache[key]

    def phase_tables(self, option: PimOption | None, draft_len: int) -> dict[str, CostTable]:
        return {p: self.table(p, option, draft_len) for p in self.instance.phases(draft_len)}
