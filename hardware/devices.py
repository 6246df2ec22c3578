"""Frozen descriptions of the hardware: host processor, memory, PIM options
and the whole (possibly multi-device) system.

Units follow the instance file: TFLOP/s for hosts, GB/s (10⁹ B/s) for
bandwidths, GFLOP/s per channel for PIM units, GB (10⁹ B) for capacities,
pJ for energies, W for static power, mm² for area, µs for fixed times.
What each field means in the cost model is in docs/formulation.md §2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from specpim.core.enums import MemoryModel
from specpim.core.tolerances import GB, GFLOP, TFLOP, US


class ElementwiseKernels(StrEnum):
    """How the host's software runs element-wise work (norms, RoPE, SwiGLU, …)."""

    EAGER = "eager"    # one kernel per PyTorch primitive (an RMSNorm is 8 kernels), as measured
    FUSED = "fused"    # one kernel per element-wise operation (fused runtimes)
    NONE = "none"      # not charged, nor the host's offload kernels: the pure roofline of datasheet presets


class SoftmaxSite(StrEnum):
    """Where the softmax between QKᵀ and score·V runs when score·V is on PIM."""

    HOST = "host"      # scores go to the host, the host runs the softmax kernels
    PIM = "pim"        # a softmax unit next to the memory (AttAcc's buffer die)


@dataclass(frozen=True)
class Host:
    """The xPU next to the memory: a GPU or NPU.

    A host operator takes ``kernel overhead + max(FLOPs / achievable FLOP/s,
    bytes / achievable bandwidth)``; the overheads are per kernel, as
    measured inside a CUDA graph (docs/formulation.md §2.1).
    """

    name: str
    peak_flops: float                               # TFLOP/s dense FP16/BF16
    compute_efficiency: float = 1.0                 # achievable fraction for fp16 GEMMs
    compute_efficiency_bf16: float | None = None    # for bf16 models; None: as fp16
    fc_kernel_overhead: float = 0.0                 # µs per weight GEMM/GEMV kernel
    attention_kernel_overhead: float = 0.0          # µs per batched attention GEMM kernel
    elementwise_kernel_overhead: float = 0.0        # µs per element-wise kernel
    elementwise_bandwidth_efficiency: float = 1.0   # fraction of peak bandwidth element-wise kernels reach
    elementwise_kernels: ElementwiseKernels = ElementwiseKernels.EAGER
    energy_per_flop: float = 0.0                    # pJ per FLOP
    static_power: float = 0.0                       # W per device, charged for the whole iteration
    source: str = field(default="", compare=False)

    def flops(self, dtype: str = "fp16") -> float:
        """Achievable FLOP/s for GEMMs in ``dtype``."""
        eff = self.compute_efficiency
        if dtype in ("bf16", "bfloat16") and self.compute_efficiency_bf16 is not None:
            eff = self.compute_efficiency_bf16
        return self.peak_flops * TFLOP * eff

    @property
    def fc_overhead_s(self) -> float:
        return self.fc_kernel_overhead * US

    @property
    def attention_overhead_s(self) -> float:
        return self.attention_kernel_overhead * US

    @property
    def elementwise_overhead_s(self) -> float:
        return self.elementwise_kernel_overhead * US


@dataclass(frozen=True)
class Memory:
    """Memory of one device: stacks × channels_per_stack channels of one
    ``technology`` (HBM3, GDDR6, LPDDR5, ...; None when not said)."""

    name: str
    stacks: int
    channels_per_stack: int
    channel_bandwidth: float            # GB/s external, per channel
    channel_capacity: float             # GB per channel
    bandwidth_efficiency: float = 1.0   # achievable fraction of the external bandwidth (host reads)
    energy_per_bit: float = 0.0         # pJ/b for a host access (cell → host)
    static_power: float = 0.0           # W per channel: background (standby + refresh)
    technology: str | None = None       # memory technology ("hbm3", "gddr6", ...); None: not said
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
    """One entry of the PIM menu: a PIM unit design and where it sits.

    ``technology`` is the memory technology the units are built into; an
    option fits only a memory of the same technology.  ``area`` 0 means the
    area is not known (not published), so no area budget can apply to it.
    """

    name: str
    granularity: str
    internal_bandwidth: float           # GB/s per channel, banks → PIM units
    peak_flops: float                   # GFLOP/s per channel
    area: float = 0.0                   # mm² per channel
    energy_per_bit: float = 0.0         # pJ/b for an in-memory access
    energy_per_flop: float = 0.0        # pJ per FLOP on the PIM units
    offload_overhead: float = 0.0       # µs per offload on the memory side: mode switches, command issue
    softmax: SoftmaxSite = SoftmaxSite.HOST
    static_power: float = 0.0           # W per PIM channel: the PIM logic's leakage
    technology: str | None = None       # the memory technology it is built into; None: not said
    source: str = field(default="", compare=False)

    @property
    def channel_bytes_per_s(self) -> float:
        return self.internal_bandwidth * GB

    @property
    def channel_flops(self) -> float:
        return self.peak_flops * GFLOP

    @property
    def offload_overhead_s(self) -> float:
        return self.offload_overhead * US


@dataclass(frozen=True)
class System:
    """``devices`` identical devices running tensor-parallel.

    ``memory_model`` says where host-side data lives: striped over every
    channel (AttAcc), so host reads compete with PIM work on the PIM
    channels, or only in the channels without PIM (the H²-LLM artifact's
    SpecPIM mode), so the host streams from N − n channels.
    """

    name: str
    devices: int
    host: Host
    memory: Memory
    pim_options: tuple[PimOption, ...]
    link_bandwidth: float = 0.0         # GB/s per device
    link_latency: float = 0.0           # µs per collective step
    link_energy_per_bit: float = 0.0    # pJ/b
    memory_model: MemoryModel = MemoryModel.STRIPED
    source: str = field(default="", compare=False)

    def pim_option(self, name: str) -> PimOption:
        for o in self.pim_options:
            if o.name == name:
                return o
        raise KeyError(name)

    def host_channels(self, pim_channels: int) -> int:
        """Channels the host streams its data from when ``pim_channels`` carry PIM."""
        if self.memory_model == MemoryModel.PARTITIONED:
            return self.memory.channels - pim_channels
        return self.memory.channels

    def static_power(self, pim_option: PimOption | None, pim_channels: int) -> float:
        """W per device while the system runs: host, memory background, PIM logic."""
        pim = pim_option.static_power * pim_channels if pim_option is not None else 0.0
        return self.host.static_power + self.memory.static_power * self.memory.channels + pim
