"""What the machine model must hold (issue: a machine model worth optimizing):
channel time is never over-committed, no channel overflows, the energy
objective trades time for power, and the calibrated host meets its targets
on the H100 measurements."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import yaml

import specpim
from helpers import INSTANCES
from specpim.core.enums import Engine, MemoryModel, Metric, Phase
from specpim.costs.calibration import calibrate, load_measurements, predict_ops, step_errors, summary
from specpim.costs.roofline import RooflineCostModel
from specpim.costs.tables import InstanceTables
from specpim.hardware import catalog
from specpim.problem.instance import Objective

SHIPPED = sorted(INSTANCES.glob("*.yaml"))


@pytest.fixture(scope="module")
def optima():
    return {p.stem: specpim.solve(p, baselines=False) for p in SHIPPED}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_no_tier_over_commits_channel_time(path, optima):
    """host bytes ÷ per-channel bandwidth + Σ_PIM channels × time ≤ N × tier time,
    recomputed here from the operators' bytes, in every tier of the optimum."""
    sol = optima[path.stem]
    inst, m = sol.instance, sol.metrics
    mem = inst.system.memory
    per_channel = mem.channel_bandwidth * 1e9 * mem.bandwidth_efficiency
    for phase, pm in m.phases.items():
        work = inst.phase(phase, m.draft_len)
        for t, tier_time in enumerate(pm.tier_times):
            members = [o for o in pm.operators if o.tier == t]
            host_bytes = sum(o.memory_bytes + work.op(o.name).act_in_bytes + work.op(o.name).act_out_bytes
                             for o in members if o.engine == Engine.HOST)
            pim = sum(o.channels * o.time for o in members if o.engine == Engine.PIM)
            demand = host_bytes / per_channel + pim
            assert demand <= mem.channels * tier_time * (1 + 1e-9), (phase, t, demand / (mem.channels * tier_time))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_no_channel_overflows(path, optima):
    sol = optima[path.stem]
    assert sol.metrics.fullest_channel <= 1 + 1e-6
    inst = sol.instance
    for phase, pm in sol.metrics.phases.items():
        work = inst.phase(phase, sol.metrics.draft_len)
        for o in pm.operators:
            if o.engine == Engine.PIM:   # all layers of the operator fit in its own channels
                layers = 1 if o.tier is None else work.layers
                assert layers * work.op(o.name).resident_bytes <= o.channels * inst.system.memory.channel_capacity_bytes


def test_energy_objective_trades_time_for_power():
    inst = specpim.load_instance(INSTANCES / "llama2-70b-7b-a100x4-hbm3pim.yaml")
    fast = specpim.solve(inst, baselines=False)
    frugal = specpim.solve(replace(inst, objective=Objective(Metric.ENERGY)), baselines=False)
    assert frugal.metrics.energy_per_token <= fast.metrics.energy_per_token * (1 + 1e-9)
    # With static power charged over the iteration, a slow design costs energy: the
    # energy-optimal design is no longer several times slower (it was 11× with none).
    assert frugal.metrics.latency_per_token < 1.5 * fast.metrics.latency_per_token
    assert frugal.metrics.static_power > 0


def test_partitioned_memory_gives_the_host_only_the_channels_without_pim():
    data = yaml.safe_load((INSTANCES / "llama2-13b-68m-h100-hbm3pim-partitioned.yaml").read_text())
    inst = specpim.load_instance(data)
    assert inst.system.memory_model == MemoryModel.PARTITIONED
    assert inst.system.host_channels(32) == inst.system.memory.channels - 32
    assert 80 not in inst.design_space.allowed_counts(inst.system.pim_options[0], inst.system)


# -- the calibrated host --------------------------------------------------------------

@pytest.fixture(scope="module")
def fitted():
    return calibrate()


def test_catalog_h100_is_the_fit_of_the_shipped_measurements(fitted):
    h, m = catalog.HOSTS["h100-sxm"], catalog.MEMORIES["hbm3-h100-sxm"]
    assert h.fc_kernel_overhead == pytest.approx(fitted.host.fc_kernel_overhead, abs=0.005)
    assert h.attention_kernel_overhead == pytest.approx(fitted.host.attention_kernel_overhead, abs=0.005)
    assert h.elementwise_kernel_overhead == pytest.approx(fitted.host.elementwise_kernel_overhead, abs=0.005)
    assert h.elementwise_bandwidth_efficiency == pytest.approx(fitted.host.elementwise_bandwidth_efficiency, abs=5e-4)
    assert h.compute_efficiency == pytest.approx(fitted.host.compute_efficiency, abs=5e-4)
    assert h.compute_efficiency_bf16 == pytest.approx(fitted.host.compute_efficiency_bf16, abs=5e-4)
    assert m.bandwidth_efficiency == pytest.approx(fitted.memory.bandwidth_efficiency, abs=1e-3)


def test_calibrated_operators_meet_their_targets(fitted):
    assert fitted.median_error_above_10us <= 0.10
    assert fitted.median_error_below_10us <= 0.25


def test_calibrated_steps_meet_their_targets():
    errors = step_errors(catalog.HOSTS["h100-sxm"], catalog.MEMORIES["hbm3-h100-sxm"])
    median, worst = summary(errors, "full-sdpa")
    assert median <= 0.10 and worst <= 0.20, (median, worst)


def test_datasheet_model_misses_what_the_calibration_fixes():
    errors = step_errors(catalog.HOSTS["h100-sxm-datasheet"], catalog.MEMORIES["hbm3-h100-sxm-datasheet"])
    median, _ = summary(errors, "full-sdpa")
    assert median > 0.3   # 1.5–2.4× too fast: no kernel overheads, no element-wise work


def test_calibration_is_the_cost_model_itself():
    """The calibration prices measured shapes through RooflineCostModel: its
    prediction of an operator is the solver's own table entry."""
    meas = load_measurements()
    row = next(r for r in meas.ops if (r.case, r.batch, r.m, r.op) == ("llama2-7b", 1, 1, "ffn_up"))
    pred = predict_ops([row], catalog.HOSTS["h100-sxm"], catalog.MEMORIES["hbm3-h100-sxm"])[0]
    # context = prompt + gen/2 = 1152, as measured
    inst = specpim.load_instance({"target": "llama2-7b", "system": "h100-sxm-gpu",
                                  "workload": {"batch": 1, "prompt_len": 1151, "gen_len": 2}})
    table = InstanceTables(inst, RooflineCostModel()).table(Phase.VERIFY, None, 0, 0)
    assert math.isclose(pred, table.host_time[table.names.index("ffn_up")] * 1e6, rel_tol=1e-9)


def test_a_calibrated_host_file_is_an_instance_host(tmp_path, fitted):
    (tmp_path / "host.yaml").write_text(fitted.to_yaml())
    data = yaml.safe_load((INSTANCES / "llama2-13b-68m-a100-hbm3pim.yaml").read_text())
    data["system"] = {"preset": "h100-hbm3pim", "host": {"file": "host.yaml"}}
    (tmp_path / "instance.yaml").write_text(yaml.safe_dump(data))
    inst = specpim.load_instance(tmp_path / "instance.yaml")
    assert inst.system.host.fc_kernel_overhead == pytest.approx(fitted.host.fc_kernel_overhead, abs=1e-3)
    assert specpim.solve(inst, baselines=False).status == "optimal"
