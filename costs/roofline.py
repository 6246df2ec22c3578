"""The built-in cost model: a roofline with measured fixed costs.

docs/formulation.md §2 states every formula; the names below follow it.
Per device, for one execution of operator j with F_j FLOPs, M_j bytes of
weights or KV cache and A_in/A_out bytes of activations:

* host:   t = t0_kind + max(F_j / P_dtype, (M_j + A_in + A_out) / (N_h·b·η_b)),
  t0_kind the host's per-kernel overhead of weight GEMMs or attention GEMMs;
* PIM on k channels:  t = t_off + 2·t0_ew + max(F_j / (k·f), M_j / (k·b_int))
  + (β_j·A_in + A_out/k) / (b·η_b) [+ the softmax before score·V], where
  t_off is the PIM option's per-offload overhead and 2·t0_ew the host
  kernels that issue the offload and merge its result;
* element-wise work: each operation's kernels × t0_ew + bytes / (N_h·b·η_ew);
* collectives: ring all-reduce and all-gather over the device links.

A custom model implements :class:`~specpim.costs.protocol.CostModel` (or
subclasses this class and overrides what it changes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from specpim.core.tolerances import BITS_PER_BYTE as BITS
from specpim.core.tolerances import GB, PJ, US
from specpim.hardware.devices import ElementwiseKernels, Host, PimOption, SoftmaxSite, System
from specpim.workload.elementwise import ElementwiseOp
from specpim.workload.operators import Operator, OpKind, PhaseWorkload

from .protocol import FixedCosts, HostCosts, PimCosts


class _OpArrays:
    """Column view of a list of operators, for vectorised formulas."""

    def __init__(self, ops: Sequence[Operator]):
        self.flops = np.array([o.flops for o in ops], dtype=float)
        self.mem = np.array([o.memory_bytes for o in ops], dtype=float)
        self.act_in = np.array([o.act_in_bytes for o in ops], dtype=float)
        self.act_out = np.array([o.act_out_bytes for o in ops], dtype=float)
        self.broadcast = np.array([o.broadcast_input for o in ops], dtype=bool)
        self.attention = np.array([o.kind == OpKind.ATTENTION for o in ops], dtype=bool)
        self.softmax_first = np.array([o.softmax_first for o in ops], dtype=bool)


def host_bandwidth(system: System, host_channels: int) -> float:
    """Achievable bandwidth of the host's channels for GEMM-like kernels, B/s."""
    return host_channels * system.memory.channel_bytes_per_s


def elementwise_bandwidth(system: System, host_channels: int) -> float:
    """Bandwidth element-wise kernels reach on the host's channels, B/s."""
    return host_channels * system.memory.channel_bandwidth * GB * system.host.elementwise_bandwidth_efficiency


def elementwise_cost(ops: Sequence[ElementwiseOp], system: System, host_channels: int) -> tuple[float, float]:
    """(time, energy) of element-wise operations run one after another on the host."""
    host = system.host
    if host.elementwise_kernels == ElementwiseKernels.NONE or not ops:
        return 0.0, 0.0
    bw = elementwise_bandwidth(system, host_channels)
    kernels = sum(op.kernels if host.elementwise_kernels == ElementwiseKernels.EAGER else 1 for op in ops)
    moved = sum(op.bytes for op in ops)
    return kernels * host.elementwise_overhead_s + moved / bw, moved * BITS * system.memory.energy_per_bit * PJ


def _dispatch_time(host: Host) -> float:
    """Host time to issue one offload and to merge its result: two kernels."""
    if host.elementwise_kernels == ElementwiseKernels.NONE:
        return 0.0
    return 2 * host.elementwise_overhead_s


class RooflineCostModel:
    """The roofline with fixed costs described in docs/formulation.md §2."""

    def host(self, work: PhaseWorkload, system: System, host_channels: int) -> HostCosts:
        a = _OpArrays(work.all_ops)
        host, mem = system.host, system.memory
        moved = a.mem + a.act_in + a.act_out
        stream = moved / host_bandwidth(system, host_channels)
        overhead = np.where(a.attention, host.attention_overhead_s, host.fc_overhead_s)
        time = overhead + np.maximum(a.flops / host.flops(work.model.dtype), stream)
        energy = (a.flops * host.energy_per_flop + moved * BITS * mem.energy_per_bit) * PJ
        return HostCosts(time, energy, stream)

    def pim(self, work: PhaseWorkload, system: System, option: PimOption, channels: np.ndarray,
            host_channels: int) -> PimCosts:
        a = _OpArrays(work.all_ops)
        k = np.asarray(channels, dtype=float)[None, :]
        col = lambda x: x[:, None]   # operators down, channel counts across
        compute = col(a.flops) / (k * option.channel_flops)
        stream = col(a.mem) / (k * option.channel_bytes_per_s)
        in_share = np.where(col(a.broadcast), 1.0, 1.0 / k)
        transfer = (col(a.act_in) * in_share + col(a.act_out) / k) / system.memory.channel_bytes_per_s
        dispatch = _dispatch_time(system.host)
        time = option.offload_overhead_s + dispatch + np.maximum(compute, stream) + transfer
        host = np.full(time.shape, dispatch)
        # Bytes crossing the external bus: a broadcast input goes to all k channels.
        crossing = col(a.act_in) * np.where(col(a.broadcast), k, 1.0) + col(a.act_out)
        energy = (col(a.flops) * option.energy_per_flop
                  + col(a.mem) * BITS * option.energy_per_bit
                  + crossing * BITS * system.memory.energy_per_bit) * PJ
        # The softmax between QKᵀ and score·V, before score·V runs on PIM.
        if option.softmax == SoftmaxSite.PIM:
            scores = col(np.where(a.softmax_first, a.act_in, 0.0))
            time = time + 2 * scores / (k * option.channel_bytes_per_s)
            energy = energy + 2 * scores * BITS * option.energy_per_bit * PJ
        elif work.softmax is not None and a.softmax_first.any():
            t_sm, e_sm = elementwise_cost([work.softmax], system, host_channels)
            on = col(a.softmax_first.astype(float))
            time, host, energy = time + on * t_sm, host + on * t_sm, energy + on * e_sm
        return PimCosts(time, energy, host)

    def fixed(self, work: PhaseWorkload, system: System, host_channels: int) -> FixedCosts:
        lt, le = elementwise_cost(work.layer_elementwise, system, host_channels)
        st, se = elementwise_cost(work.step_elementwise, system, host_channels)
        ar_t, ar_e, ag_t, ag_e = self.collective(work.allreduce_bytes, work.gather_bytes, system)
        return FixedCosts(lt, le, st, se, ar_t, ar_e, ag_t, ag_e)

    def collective(self, allreduce_bytes: float, gather_bytes: float,
                   system: System) -> tuple[float, float, float, float]:
        """(time, energy) of one ring all-reduce and of one ring all-gather."""
        n = system.devices
        if n == 1:
            return 0.0, 0.0, 0.0, 0.0
        link = system.link_bandwidth * GB
        lat = system.link_latency * US
        # Ring algorithms: an all-reduce sends 2(n−1)/n of the data in 2(n−1)
        # steps, an all-gather (n−1)/n in n−1 steps.
        ar_sent = 2.0 * (n - 1) / n * allreduce_bytes
        ag_sent = (n - 1) / n * gather_bytes
        e = system.link_energy_per_bit * BITS * PJ
        return (ar_sent / link + 2 * (n - 1) * lat, ar_sent * e,
                ag_sent / link + (n - 1) * lat, ag_sent * e)
