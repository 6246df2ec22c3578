"""Closed-form roofline costs, precomputed as numpy tables.

The formulation and the evaluator only ever see a :class:`CostTable`; the
cost model that fills it is pluggable.  A custom model implements the three
methods of :class:`CostModel` (or subclasses :class:`RooflineCostModel`).

Default formulas, per device, for one execution of operator j:

* host:  t = max(F_j / P_host, B_j / BW_ext) with B_j = weights + KV +
  activations in + out and BW_ext the external bandwidth of all channels;
* PIM on k channels:  t = max(F_j / (k·f_pim), (W_j + KV_j) / (k·bw_int))
  + (A_in·β_j + A_out/k) / bw_ch, where β_j = 1 when every channel needs the
  whole input (an FC layer split by output columns) and 1/k otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from specpim.workload.operators import Operator, PhaseWorkload

from .devices import PimOption, System

BITS = 8.0
PJ = 1e-12


@runtime_checkable
class CostModel(Protocol):
    """Latency (s) and energy (J) of operators and collectives, per device."""

    def host(self, ops: Sequence[Operator], system: System) -> tuple[np.ndarray, np.ndarray]:
        """Arrays (time, energy) of shape (len(ops),) for running on the host."""

    def pim(self, ops: Sequence[Operator], system: System, option: PimOption,
            channels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Arrays (time, energy) of shape (len(ops), len(channels)) for running
        on ``channels[i]`` PIM channels of ``option``."""

    def collective(self, allreduce_bytes: float, gather_bytes: float,
                   system: System) -> tuple[float, float, float, float]:
        """(time, energy) of one all-reduce and of one all-gather."""


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
        col = lambda x: x[:, None]  # noqa: E731  (operators down, channel counts across)
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


@dataclass(frozen=True)
class CostTable:
    """Every cost the MILP needs for one phase under one PIM option.

    Rows are ``names`` (the layer operators, then the LM head); PIM columns
    are ``channels``.  Times are seconds and energies joules, per device and
    per execution.  ``layer_const_*`` is what every layer pays whatever the
    mapping (the two tensor-parallel all-reduces), ``step_const_*`` what every
    step pays once (the LM head's all-gather).
    """

    phase: str
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

    def index(self, name: str) -> int:
        return self.names.index(name)

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

