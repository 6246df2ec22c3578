"""Objectives, allocation modes, autoregressive decoding and pluggable cost
models, each solved and re-checked by the evaluator."""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest
import yaml

import specpim
from helpers import INSTANCES
from specpim.costs.roofline import RooflineCostModel


@pytest.fixture(scope="module")
def tiny_dict():
    return yaml.safe_load((INSTANCES / "tiny.yaml").read_text())


def _variant(base, **changes):
    d = copy.deepcopy(base)
    for dotted, value in changes.items():
        node = d
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return specpim.load_instance(d)


@pytest.mark.parametrize("objective", ["latency", "energy", "throughput",
                                       {"metric": "energy", "latency_bound": 0.7}])
@pytest.mark.parametrize("allocation", ["partition", "shared"])
def test_objectives_and_allocations_agree_with_evaluator(tiny_dict, objective, allocation):
    inst = _variant(tiny_dict, objective=objective, design_space__allocation=allocation)
    sol = specpim.solve(inst, baselines=False)
    assert sol.status == "optimal"
    m = specpim.evaluate(inst, sol.mapping)
    assert math.isclose(m.objective, sol.objective, rel_tol=1e-6)
    a = sol.design
    if allocation == "shared":
        assert a.draft_channels == a.target_channels == a.pim_channels
    else:
        assert a.draft_channels + a.target_channels == a.pim_channels
    if isinstance(objective, dict):
        assert m.latency_per_token <= 0.7e-3 * (1 + 1e-9)


def test_latency_bound_trades_energy_for_latency(tiny_dict):
    free = specpim.solve(_variant(tiny_dict, objective="energy"), baselines=False)
    fastest = specpim.solve(_variant(tiny_dict, objective="latency"), baselines=False)
    bound = fastest.metrics.latency_per_token * 1e3 * 1.0001   # ms
    tight = specpim.solve(_variant(tiny_dict, objective={"metric": "energy", "latency_bound": bound}),
                          baselines=False)
    assert tight.metrics.latency_per_token <= bound * 1e-3 * (1 + 1e-9)
    assert tight.objective >= free.objective * (1 - 1e-9)   # the bound can only cost energy


def test_throughput_is_batch_times_tokens_over_iteration(tiny_dict):
    sol = specpim.solve(_variant(tiny_dict, objective="throughput"), baselines=False)
    m = sol.metrics
    assert math.isclose(m.throughput, tiny_dict["workload"]["batch"] * m.expected_tokens / m.iteration_time)
    assert math.isclose(sol.objective, m.throughput)


def test_no_draft_means_autoregressive(tiny_dict):
    inst = _variant(tiny_dict, draft=None, speculation=None)
    assert not inst.speculative and inst.draft_lens == (0,)
    sol = specpim.solve(inst)
    assert list(sol.mapping.phases) == ["verify"]
    assert sol.design.draft_len == 0 and sol.metrics.expected_tokens == 1.0
    assert set(sol.baselines) == {"host_ar", "attacc_ar"}
    # host-only AR lies in this design space, so the optimum is at least as fast
    assert sol.metrics.latency_per_token <= sol.baselines["host_ar"].metrics.latency_per_token * (1 + 1e-9)


def test_area_budget_limits_the_channels(tiny_dict):
    # 5.12 mm² per bank-PIM channel: a 25 mm² budget allows 4 bank channels, not 8
    inst = _variant(tiny_dict, design_space__area_budget=25.0)
    sol = specpim.solve(inst, baselines=False)
    assert sol.metrics.area <= 25.0
    opt = inst.system.pim_option(sol.design.pim_option) if sol.design.pim_option else None
    assert opt is None or sol.design.pim_channels * opt.area <= 25.0


class _SlowPim(RooflineCostModel):
    """PIM a thousand times slower: the optimum must stop using it."""

    def pim(self, work, system, option, channels, host_channels):
        c = super().pim(work, system, option, channels, host_channels)
        return dataclasses.replace(c, time=c.time * 1000.0)


class _FreeHostEnergy(RooflineCostModel):
    def host(self, work, system, host_channels):
        c = super().host(work, system, host_channels)
        return dataclasses.replace(c, energy=np.zeros_like(c.energy))


def test_custom_cost_model_object_drives_the_optimum(tiny):
    default = specpim.solve(tiny, baselines=False)
    assert any(pl.engine == "pim" for ops in default.mapping.phases.values() for pl in ops.values())
    slow = specpim.solve(tiny, baselines=False, cost_model=_SlowPim())
    assert all(pl.engine == "host" for ops in slow.mapping.phases.values() for pl in ops.values())
    # the evaluator, given the same model, agrees; the default model scores it differently
    again = specpim.evaluate(tiny, slow.mapping, cost_model=_SlowPim())
    assert math.isclose(again.objective, slow.objective, rel_tol=1e-6)


def test_custom_cost_model_changes_energy_not_latency(tiny):
    a = specpim.solve(tiny, baselines=False)
    b = specpim.solve(tiny, baselines=False, cost_model=_FreeHostEnergy())
    assert math.isclose(a.objective, b.objective, rel_tol=1e-9)
    assert b.metrics.energy_per_token < a.metrics.energy_per_token
