"""The built-in closed-form roofline cost model.

A custom model implements the three methods of
:class:`~specpim.costs.protocol.CostModel` (or subclasses this one).

Formulas, per device, for one execution of operator j:

* host:  t = max(F_j / P_host, B_j / BW_ext) with B_j = weights + KV +
  activations in + out and BW_ext the external bandwidth of all channels;
* PIM on k channels:  t = max(F_j / (k·f_pim), (W_j + KV_j) / (k·bw_int))
  + (A_in·β_j + A_out/k) / bw_ch, where β_j = 1 when every channel needs the
  whole input (an FC layer split by output columns) and 1/k otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from specpim.core.tolerances import BITS_PER_BYTE as BITS
from specpim.core.tolerances import PJ
from specpim.workload.operators import Operator


class _OpArrays:
    """Column view of a list of operators, for vectorised formulas."""

    def __init__(self, ops: Sequence[Operator]):
        self.flops = np.array([o.flops for o in ops], dtype=float)
        self.mem = np.array([o.memory_bytes for o in ops], dtype=float)
        self.act_in = np.array([o.act_in_bytes for o in ops], dtype=float)
        self.act_out = np.array([o.act_out_bytes for o in ops], dtype=float)
        self.broadcast = np.array([o.broadcast_input for o in ops], dtype=bool)


class RooflineCostModel:
    """The closed-form roofline model described in docs/formulation.md."""

    def host(self, ops, system):
        a = _OpArrays(ops)
        mem = system.memory
        bw = mem.channels * mem.channel_bytes_per_s
        moved = a.mem + a.act_in + a.act_out
        time = np.maximum(a.flops / system.host.flops, moved / bw)
        energy = (a.flops * system.host.energy_per_flop + moved * BITS * mem.energy_per_bit) * PJ
        return time, energy

    def pim(self, ops, system, option, channels):
        a = _OpArrays(ops)
        k = np.asarray(channels, dtype=float)[None, :]
        col = lambda x: x[:, None]
        compute = col(a.flops) / (k * option.channel_flops)
        stream = col(a.mem) / (k * option.channel_bytes_per_s)
        in_share = np.where(col(a.broadcast), 1.0, 1.0 / k)
        transfer = (col(a.act_in) * in_share + col(a.act_out) / k) / system.memory.channel_bytes_per_s
        time = np.maximum(compute, stream) + transfer
        # Bytes crossing the external bus: a broadcast input goes to all k channels.
        crossing = col(a.act_in) * np.where(col(a.broadcast), k, 1.0) + col(a.act_out)
        energy = (col(a.flops) * option.energy_per_flop
                  + col(a.mem) * BITS * option.energy_per_bit
                  + crossing * BITS * system.memory.energy_per_bit) * PJ
        return time, energy

    def collective(self, allreduce_bytes, gather_bytes, system):
        n = system.devices
        if n == 1:
            return 0.0, 0.0, 0.0, 0.0
        link = system.link_bandwidth * 1e9
        lat = system.link_latency * 1e-6
        # Ring algorithms: an all-reduce sends 2(n−1)/n of the data in 2(n−1)
        # steps, an all-gather (n−1)/n in n−1 steps.
        ar_sent = 2.0 * (n - 1) / n * allreduce_bytes
        ag_sent = (n - 1) / n * gather_bytes
        e = system.link_energy_per_bit * BITS * PJ
        return (ar_sent / link + 2 * (n - 1) * lat, ar_sent * e,
                ag_sent / link + (n - 1) * lat, ag_sent * e)
