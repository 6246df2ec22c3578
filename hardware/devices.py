"""Frozen descriptions of the hardware: host processor, memory, PIM options
and the whole (possibly multi-device) system.

Units follow the instance file: TFLOP/s for hosts, GB/s (10⁹ B/s) for
bandwidths, GFLOP/s per channel for PIM units, GB (10⁹ B) for capacities,
pJ for energies, mm² for area, µs for link latency.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from specpim.core.tolerances import GB, GFLOP, TFLOP


@dataclass(frozen=True)
class Host:
    """The xPU next to the memory: a GPU or NPU."""

    name: str
    peak_flops: float                   # TFLOP/s dense FP16
    compute_efficiency: float = 1.0
    energy_per_flop: float = 0.0        # pJ per FLOP
    static_power: float = 0.0           # W, charged for the whole iteration
    source: str = field(default="", compare=False)

    @property
    def flops(self) -> float:
        """Achievable FLOP/s."""
        return self.peak_flops * TFLOP * self.compute_efficiency


@dataclass(frozen=True)
class Memory:
    """Memory of one device: stacks × channels_per_stack channels."""

    name: str
    stacks: int
    channels_per_stack: int
    channel_bandwidth: float            # GB/s external, per channel
    channel_capacity: float             # GB per channel
    bandwidth_efficiency: float = 1.0
    energy_per_bit: float = 0.0         # pJ/b for a host access (cell → host)
    source: str = field(default="", compare=False)

    @property
    def channels(self) -> int:
        return self.stacks * self.channels_per_stack

    @property
    def channel_bytes_per_s(self) -> float:
        """Achievable external bandwidth of one channel, B/s."""
        return self.channel_bandwidth * GB * self.bandwidth_efficiency

    @property
    def channel_capacity_bytes(self) -> float:
        return self.channel_capacity * GB

    @property
    def capacity_bytes(self) -> float:
        return self.channels * self.channel_capacity_bytes


@dataclass(frozen=True)
class PimOption:
    """One entry of the PIM menu: a PIM unit design and where it sits."""

    name: str
    granularity: str
    internal_bandwidth: float           # GB/s per channel, banks → PIM units
    peak_flops: float                   # GFLOP/s per channel
    area: float = 0.0                   # mm² per channel
    energy_per_bit: float = 0.0         # pJ/b for an in-memory access
    energy_per_flop: float = 0.0        # pJ per FLOP on the PIM units
    source: str = field(default="", compare=False)

    @property
    def channel_bytes_per_s(self) -> float:
        return self.internal_bandwidth * GB

    @property
    def channel_flops(self) -> float:
        return self.peak_flops * GFLOP


@dataclass(frozen=True)
class System:
    """``devices`` identical devices running tensor-parallel."""

    name: str
    devices: int
    host: Host
    memory: Memory
    pim_options: tuple[PimOption, ...]
    link_bandwidth: float = 0.0         # GB/s per device
    link_latency: float = 0.0           # µs per collective step
    link_energy_per_bit: float = 0.0    # pJ/b
    source: str = field(default="", compare=False)

    def pim_option(self, name: str) -> PimOption:
        for o in self.pim_options:
            if o.name == name:
                return o
        raise KeyError(name)
