"""The blocks' lower bounds (formulation/blocks.py, formulation/bounds.py)
against each block's own MILP optimum.

Pruning is only as exact as these bounds: a bound above its block's optimum
could skip the optimal design.  Every refinement stage is checked, block by
block, on random small instances with the energy objective (capacity binding
in some, plenty in others), and the tier-by-tier bound is checked to be
exact where nothing it drops can bind.
"""

from __future__ import annotations

import pytest

import specpim
from helpers.random_instances import random_instance
from specpim.core.enums import Metric, Phase
from specpim.costs.roofline import RooflineCostModel
from specpim.costs.tables import InstanceTables
from specpim.formulation.blocks import block_bound, capacity_bound, capacity_can_bind, joint_bound, make_blocks
from specpim.formulation.milp import ENERGY_SCALE, TIME_SCALE, CoDesignMILP
from specpim.solvers.cbc import BlockStatus, solve_milp

RTOL = 1e-9
SEEDS = range(60)


def _energy_instance(seed: int):
    data = random_instance(seed)
    bounded = isinstance(data["objective"], dict)
    data["objective"] = data["objective"] if bounded else "energy"
    return specpim.load_instance(data)


def _block_optimum(inst, spec) -> tuple[float, float] | None:
    """(objective, latency) of the block's MILP optimum, or None if it has none."""
    milp = CoDesignMILP(inst, [spec])
    status, obj, _ = solve_milp(milp, time_limit=None)
    if status != BlockStatus.OPTIMAL:
        return None
    block = milp.blocks[0]
    return obj / ENERGY_SCALE, block.latency.value() / TIME_SCALE


@pytest.mark.parametrize("seed", SEEDS)
def test_every_bound_stage_stays_below_its_blocks_optimum(seed):
    inst = _energy_instance(seed)
    assert inst.objective.metric == Metric.ENERGY
    tables = InstanceTables(inst, RooflineCostModel())
    for spec in make_blocks(inst, tables):
        found = _block_optimum(inst, spec)
        if found is None:
            continue
        optimum, latency = found
        cheap = block_bound(inst, spec)
        joint = joint_bound(inst, spec, cheap.objective)
        with_capacity = capacity_bound(inst, spec, joint)
        where = f"block {spec.option_name} n={spec.pim_channels} γ={spec.draft_len}"
        assert cheap.latency <= latency * (1 + RTOL), where
        assert cheap.objective <= joint <= with_capacity, where
        assert with_capacity <= optimum * (1 + RTOL), where
        if inst.objective.latency_bound is None and not capacity_can_bind(spec) and _host_fits(inst, spec):
            # nothing the tier-by-tier bound drops can bind: it is the block's optimum
            assert joint == pytest.approx(optimum, rel=1e-7), where


def _host_fits(inst, spec) -> bool:
    """Host data fits the host's channels even with nothing in PIM."""
    system = inst.system
    cap = system.memory.channel_capacity_bytes
    return spec.resident_total <= system.host_channels(spec.pim_channels) * cap


def test_the_capacity_stage_prunes_where_the_others_cannot():
    """On some random instance, capacity lifts a block's bound (a check that
    the stage is not idle, so the test above exercises it)."""
    lifted = 0
    for seed in SEEDS:
        inst = _energy_instance(seed)
        tables = InstanceTables(inst, RooflineCostModel())
        for spec in make_blocks(inst, tables):
            if Phase.DRAFT not in spec.tables and spec.option is None:
                continue
            joint = joint_bound(inst, spec, block_bound(inst, spec).objective)
            lifted += capacity_bound(inst, spec, joint) > joint * (1 + 1e-6)
    assert lifted > 0
