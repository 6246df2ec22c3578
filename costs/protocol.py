"""The interface every cost model implements.

All quantities are per device and per execution: seconds and joules.
``host_channels`` is how many memory channels the host streams its data
from: every channel when host data is striped over all of them, the N − n
channels without PIM when it lives only there (``System.host_channels``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from specpim.hardware.devices import PimOption, System
from specpim.workload.operators import PhaseWorkload


@dataclass(frozen=True)
class HostCosts:
    """Arrays over ``work.all_ops`` (the layer operators, then the LM head).

    ``stream`` is the time the operator's memory traffic keeps every host
    channel busy (bytes ÷ the host channels' achievable bandwidth): within a
    tier, channels in PIM mode serve no host reads, so this is what host
    operators add to a PIM channel's busy time when host data is striped.
    """

    time: np.ndarray
    energy: np.ndarray
    stream: np.ndarray


@dataclass(frozen=True)
class PimCosts:
    """Arrays of shape (len(work.all_ops), len(channels)).

    ``time`` is the whole offload as the tier sees it; ``host`` is the part
    of it that occupies the host (issuing the offload, merging, a host-side
    softmax), which host operators of the same tier cannot overlap.
    """

    time: np.ndarray
    energy: np.ndarray
    host: np.ndarray


@dataclass(frozen=True)
class FixedCosts:
    """What every layer and every step pays whatever the mapping: element-wise
    kernels on the host and tensor-parallel collectives."""

    layer_elementwise_time: float
    layer_elementwise_energy: float
    step_elementwise_time: float
    step_elementwise_energy: float
    allreduce_time: float          # one all-reduce (two per layer)
    allreduce_energy: float
    gather_time: float             # the LM head's all-gather (one per step)
    gather_energy: float


@runtime_checkable
class CostModel(Protocol):
    """Latency (s) and energy (J) of one phase's operators, per device."""

    def host(self, work: PhaseWorkload, system: System, host_channels: int) -> HostCosts:
        """Every operator of ``work`` on the host."""
        ...

    def pim(self, work: PhaseWorkload, system: System, option: PimOption, channels: np.ndarray,
            host_channels: int) -> PimCosts:
        """Every operator of ``work`` on ``channels[i]`` PIM channels of ``option``."""
        ...

    def fixed(self, work: PhaseWorkload, system: System, host_channels: int) -> FixedCosts:
        """Element-wise work and collectives of one layer and one step."""
        ...
