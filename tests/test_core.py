"""The core contract: solve → mapping → independent evaluation agree."""

from __future__ import annotations

import math

import pytest

import specpim
from helpers import INSTANCES
from specpim.problem.mapping import Mapping
from specpim.workload.speculation import expected_tokens

SHIPPED = sorted(p for p in INSTANCES.glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_instance_solves_and_evaluator_agrees(path):
    sol = specpim.solve(path, baselines=False)
    assert sol.status == "optimal"
    assert sol.gap == 0.0
    again = specpim.evaluate(sol.instance, sol.mapping)
    assert math.isclose(again.objective, sol.objective, rel_tol=1e-6)


def test_mapping_round_trips_through_dict(tiny):
    sol = specpim.solve(tiny, baselines=False)
    data = sol.mapping.to_dict()
    assert Mapping.from_dict(data) == sol.mapping
    assert Mapping.from_dict(data).to_dict() == data


def test_monolithic_milp_matches_block_decomposition(tiny):
    blocks = specpim.solve(tiny, baselines=False)
    mono = specpim.solve(tiny, baselines=False, monolithic=True)
    assert mono.status == "optimal"
    assert math.isclose(mono.objective, blocks.objective, rel_tol=1e-6)


def test_bounds_do_not_change_the_optimum(tiny):
    pruned = specpim.solve(tiny, baselines=False)
    full = specpim.solve(tiny, baselines=False, use_bounds=False)
    assert full.stats["pruned"] == 0
    assert math.isclose(pruned.objective, full.objective, rel_tol=1e-6)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.8, 1.0])
@pytest.mark.parametrize("gamma", [0, 1, 4, 8])
def test_expected_tokens_closed_form(alpha, gamma):
    direct = sum(alpha ** i for i in range(gamma + 1))   # 1 + α + … + α^γ
    assert math.isclose(expected_tokens(gamma, alpha), direct, rel_tol=1e-12)
    assert math.isclose(expected_tokens(gamma, tuple([alpha] * max(gamma, 1))), direct, rel_tol=1e-12)


def test_baselines_are_reported_with_speedups(tiny):
    sol = specpim.solve(tiny)
    assert set(sol.baselines) == {"host_ar", "host_sd", "attacc_ar", "attacc_sd"}
    for name, ratio in sol.speedups().items():
        # the optimum is at least as good as every baseline in the same design space
        assert ratio["speedup"] >= 1 - 1e-9, name
