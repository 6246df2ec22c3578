"""The interface every cost model implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from specpim.hardware.devices import PimOption, System
from specpim.workload.operators import Operator


@runtime_checkable
class CostModel(Protocol):
    """Latency (s) and energy (J) of operators and collectives, per device."""

    def host(self, ops: Sequence[Operator], system: System) -> tuple[np.ndarray, np.ndarray]:
        """Arrays (time, energy) of shape (len(ops),) for running on the host."""
        ...

    def pim(self, ops: Sequence[Operator], system: System, option: PimOption,
            channels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Arrays (time, energy) of shape (len(ops), len(channels)) for running
        on ``channels[i]`` PIM channels of ``option``."""
        ...

    def collective(self, allreduce_bytes: float, gather_bytes: float,
                   system: System) -> tuple[float, float, float, float]:
        """(time, energy) of one all-reduce and of one all-gather."""
        ...
