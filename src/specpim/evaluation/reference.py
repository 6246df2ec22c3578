"""The independent reference: the built-in cost model, one operator at a time.

Written from docs/formulation.md §2, not from costs/roofline.py: plain
scalar Python, no numpy tables, nothing imported from specpim.costs,
specpim.formulation or specpim.solvers (an import contract checks it).  The
evaluator prices every placement with it, so a slip in the vectorised cost
tables the solvers read shows up as a disagreement between the solver's
objective and the evaluator's (``solve`` raises), and tests compare the two
operator by operator.
"""

from __future__ import annotations

from dataclasses import dataclass

from specpim.hardware.devices import ElementwiseKernels, PimOption, SoftmaxSite, System
from specpim.workload.elementwise import ElementwiseOp
from specpim.workload.operators import Operator, OpKind, PhaseWorkload

_BITS = 8.0
_PJ = 1e-12
_US = 1e-6
_GB = 1e9


@dataclass(frozen=True)
class Priced:
    """One operator on one engine: its time, its energy, the part of the time
    that occupies the host, and (on the host) how long its memory traffic
    keeps every host channel busy."""

    time: float
    energy: float
    host_busy: float
    stream: float = 0.0


@dataclass(frozen=True)
class PhaseConstants:
    """What every layer and every step of a phase pays whatever the mapping."""

    layer_elementwise_time: float
    layer_elementwise_energy: float
    step_elementwise_time: float
    step_elementwise_energy: float
    allreduce_time: float
    allreduce_energy: float
    gather_time: float
    gather_energy: float


class ReferencePricer:
    """The built-in cost model for one operator at a time (docs/formulation.md §2)."""

    def host(self, work: PhaseWorkload, op: Operator, system: System, host_channels: int) -> Priced:
        host, mem = system.host, system.memory
        moved = op.weight_bytes + op.kv_bytes + op.act_in_bytes + op.act_out_bytes
        bandwidth = host_channels * mem.channel_bandwidth * _GB * mem.bandwidth_efficiency
        efficiency = host.compute_efficiency
        if work.model.dtype in ("bf16", "bfloat16") and host.compute_efficiency_bf16 is not None:
            efficiency = host.compute_efficiency_bf16
        flops = 2.0 * op.batch * op.m * op.k * op.n
        overhead = host.attention_kernel_overhead if op.kind == OpKind.ATTENTION else host.fc_kernel_overhead
        stream = moved / bandwidth
        time = overhead * _US + max(flops / (host.peak_flops * 1e12 * efficiency), stream)
        energy = (flops * host.energy_per_flop + moved * _BITS * mem.energy_per_bit) * _PJ
        return Priced(time, energy, time, stream)

    def pim(self, work: PhaseWorkload, op: Operator, system: System, option: PimOption, k: int,
            host_channels: int) -> Priced:
        mem, host = system.memory, system.host
        flops = 2.0 * op.batch * op.m * op.k * op.n
        in_memory = op.weight_bytes + op.kv_bytes
        compute = flops / (k * option.peak_flops * 1e9)
        stream = in_memory / (k * option.internal_bandwidth * _GB)
        # The host broadcasts an FC layer's whole input to each channel; attention's splits by KV head.
        sent_in = op.act_in_bytes if op.broadcast_input else op.act_in_bytes / k
        external = mem.channel_bandwidth * _GB * mem.bandwidth_efficiency
        transfer = (sent_in + op.act_out_bytes / k) / external
        issue = 0.0   # the host kernels that issue the offload and merge its result
        if host.elementwise_kernels != ElementwiseKernels.NONE:
            issue = 2 * host.elementwise_kernel_overhead * _US
        time = option.offload_overhead * _US + issue + max(compute, stream) + transfer
        crossing = op.act_in_bytes * (k if op.broadcast_input else 1) + op.act_out_bytes
        energy = (flops * option.energy_per_flop + in_memory * _BITS * option.energy_per_bit
                  + crossing * _BITS * mem.energy_per_bit) * _PJ
        host_busy = issue
        if op.softmax_first:
            if option.softmax == SoftmaxSite.PIM:   # the softmax unit reads and writes the scores
                time += 2 * op.act_in_bytes / (k * option.internal_bandwidth * _GB)
                energy += 2 * op.act_in_bytes * _BITS * option.energy_per_bit * _PJ
            elif work.softmax is not None:          # the host runs it before the offload
                t, e = self.elementwise([work.softmax], system, host_channels)
                time, energy, host_busy = time + t, energy + e, host_busy + t
        return Priced(time, energy, host_busy)

    def elementwise(self, ops: tuple[ElementwiseOp, ...] | list[ElementwiseOp], system: System,
                    host_channels: int) -> tuple[float, float]:
        host, mem = system.host, system.memory
        if host.elementwise_kernels == ElementwiseKernels.NONE:
            return 0.0, 0.0
        bandwidth = host_channels * mem.channel_bandwidth * _GB * host.elementwise_bandwidth_efficiency
        time = energy = 0.0
        for op in ops:
            kernels = op.kernels if host.elementwise_kernels == ElementwiseKernels.EAGER else 1
            time += kernels * host.elementwise_kernel_overhead * _US + op.bytes / bandwidth
            energy += op.bytes * _BITS * mem.energy_per_bit * _PJ
        return time, energy

    def constants(self, work: PhaseWorkload, system: System, host_channels: int) -> PhaseConstants:
        lt, le = self.elementwise(work.layer_elementwise, system, host_channels)
        st, se = self.elementwise(work.step_elementwise, system, host_channels)
        d = system.devices
        if d == 1:
            return PhaseConstants(lt, le, st, se, 0.0, 0.0, 0.0, 0.0)
        link = system.link_bandwidth * _GB
        step_latency = system.link_latency * _US
        per_bit = system.link_energy_per_bit * _BITS * _PJ
        # Ring all-reduce: 2(D−1) steps, each device sends 2(D−1)/D of the data;
        # ring all-gather: D−1 steps, (D−1)/D of the data.
        ar_bytes = 2.0 * (d - 1) / d * work.allreduce_bytes
        ag_bytes = (d - 1) / d * work.gather_bytes
        return PhaseConstants(lt, le, st, se,
                              ar_bytes / link + 2 * (d - 1) * step_latency, ar_bytes * per_bit,
                              ag_bytes / link + (d - 1) * step_latency, ag_bytes * per_bit)
