"""The cost model against the physics, with stated tolerances.

The numbers come from benchmarks/validation.py, the same functions that
generate docs/validation.md; the slow sweeps stay in that script.
"""

from __future__ import annotations

import math

import pytest

import validation as V  # benchmarks/validation.py, on the path through pytest's pythonpath
from helpers import ROOT
from specpim.hardware import catalog
from specpim.workload.models import model_presets
from specpim.workload.operators import OpKind, phase_workload
from specpim.workload.speculation import expected_tokens

MODELS = model_presets()


# -- 1. host-only decoding ---------------------------------------------------------

@pytest.mark.parametrize("system", ["a100-80gb-gpu", "h100-sxm-gpu", "a100-40gb-gpu", "h100-pcie-gpu"])
def test_host_decoding_sits_at_weights_over_achievable_bandwidth(system):
    r = V.host_decode(system)
    assert r.model_ms > r.bound_ms                      # never beats weights ÷ peak bandwidth
    # Tolerance 3%: the step reads the weights less the embedding table (−2%),
    # plus the KV cache and activations (+0.5%).
    eff = catalog.SYSTEMS[system].memory.bandwidth_efficiency
    assert r.model_ms / r.bound_ms == pytest.approx(1 / eff, rel=0.03)


def test_other_sources_fraction_moves_the_model_accordingly():
    a = V.host_decode("a100-80gb-gpu").model_ms
    alt = V._solve_quiet({"target": "llama2-7b", "workload": {"batch": 1, "prompt_len": 128, "gen_len": 20},
                          "system": {"preset": "a100-80gb-gpu", "host": "a100-80gb-h2llm",
                                     "memory": "hbm2e-a100-80gb-h2llm"}}, baselines=False)
    assert alt.metrics.latency_per_token * 1e3 / a == pytest.approx(0.85 / 0.70, rel=0.01)


@pytest.mark.parametrize("system", ["a100-80gb-gpu", "h100-sxm-gpu"])
def test_measured_decoding_is_slower_than_the_model_by_a_bounded_factor(system):
    # NeMo's measurement implies ~55% of peak bandwidth, below both sources'
    # 70–85%: the model is optimistic (no per-step fixed overheads).  Stated
    # tolerance: the measurement lies within 1.0–1.8× the model.
    r = V.host_decode(system)
    low, high = r.measured_ms
    assert r.model_ms < low and high / r.model_ms < 1.8
    assert 0.45 < r.implied_fraction[0] < r.implied_fraction[1] < 0.70


# -- 2. arithmetic intensity ---------------------------------------------------------

@pytest.mark.parametrize("model", ["llama2-7b", "llama2-70b", "opt-13b"])
@pytest.mark.parametrize("batch, gamma", [(1, 0), (4, 3), (16, 4), (64, 8)])
def test_fc_intensity_is_batch_times_gamma_plus_one(model, batch, gamma):
    w = phase_workload("verify", MODELS[model], batch=batch, tokens=gamma + 1, context=1024, max_context=1024,
                       devices=1)
    for o in w.all_ops:
        if o.kind == OpKind.FC:   # FP16: 2 FLOP per weight element of 2 bytes, once per row
            assert o.intensity == pytest.approx(batch * (gamma + 1), rel=1e-12), o.name


@pytest.mark.parametrize("model", ["llama2-7b", "llama2-70b"])
def test_attention_intensity_does_not_grow_with_batch(model):
    m = MODELS[model]
    for gamma in (0, 4):
        got = {b: V.op_intensities(model, b, gamma)["score"] for b in (1, 16, 64)}
        assert got[1] == got[16] == got[64] == pytest.approx((gamma + 1) * m.heads / m.kv_heads)


@pytest.mark.parametrize("system", ["a100-80gb-gpu", "a100-40gb-gpu", "h100-sxm-gpu", "h100-pcie-gpu", "a100-hbm3pim"])
def test_fc_crossover_sits_just_above_the_ridge(system):
    # Activations in and out add to the weight bytes, so the crossover lies
    # slightly above the ridge point: tolerance 15%.
    c, r = V.fc_crossover(system), V.ridge(system)
    assert r <= c <= 1.15 * r
    below = phase_workload("verify", MODELS["llama2-7b"], batch=c - 1, tokens=1, context=1, max_context=1,
                           devices=1).op("ffn_up")
    s = catalog.SYSTEMS[system]
    bw = s.memory.channels * s.memory.channel_bytes_per_s
    assert below.flops / s.host.flops < (below.memory_bytes + below.act_in_bytes + below.act_out_bytes) / bw


def test_faster_memory_moves_the_crossover_down():
    assert V.fc_crossover("a100-hbm3pim") < V.fc_crossover("a100-80gb-gpu") < V.fc_crossover("a100-40gb-gpu")


# -- 3. expected tokens ------------------------------------------------------------

@pytest.mark.parametrize("alpha", [0.5, 0.8, 0.95])
@pytest.mark.parametrize("gamma", [1, 3, 6])
def test_expected_tokens_matches_a_simulation_of_iid_acceptance(alpha, gamma):
    mean, se = V.simulate_tokens(gamma, alpha, 100_000, seed=7)
    assert abs(mean - expected_tokens(gamma, alpha)) < 4 * se   # 4 standard errors


@pytest.mark.parametrize("alpha", [0.5, 0.8])
def test_marginal_form_over_predicts(alpha):
    for gamma in range(2, 9):
        assert 1 + alpha * gamma > expected_tokens(gamma, alpha)


# -- 4. AttAcc-style offload --------------------------------------------------------

@pytest.mark.parametrize("option, multiplier", [("hbm3-pim-bank", 16), ("hbm3-pim-bank-pl", 9),
                                                ("hbm3-pim-bankgroup", 8)])
def test_attention_offload_speeds_up_by_the_internal_bandwidth_multiplier(option, multiplier):
    s = V.attention_speedup(option, "llama2-7b", 16, 0, 32768)
    # Upper end: the host only reaches 85% of its bandwidth, PIM all of its own.
    # Lower end: the score matrix crosses the external bus to the host's softmax
    # and back, 2/head_dim of the KV bytes at 1/16 the rate: at most 15% lost.
    assert multiplier <= s <= multiplier / 0.85
    assert s >= 0.85 * multiplier / 0.85


def test_attention_offload_gains_grow_with_context():
    short = V.attention_speedup("hbm3-pim-bank", "llama2-7b", 16, 0, 256)
    long = V.attention_speedup("hbm3-pim-bank", "llama2-7b", 16, 0, 32768)
    assert short < long


def test_grouped_query_verification_attention_is_compute_bound_on_pim():
    # GQA 8:1 with γ = 4 reads 40 FLOP per byte; AttAcc sized PIM at 1 FLOP/B.
    assert V.attention_speedup("hbm3-pim-bank", "llama2-70b", 16, 4, 4096) < 1.0


# -- 6. the two phases want different resources ------------------------------------

def test_draft_runs_fc_on_pim_verify_runs_fc_on_host_at_large_batch():
    small = V.placement(1, 1)
    assert {"ffn_up", "ffn_down"} <= set(small["draft_pim"])
    big = V.placement(64, 4)
    fc = {o.name for o in phase_workload("verify", MODELS["llama2-70b"], batch=1, tokens=1, context=1,
                                         max_context=1, devices=1).all_ops if o.kind == OpKind.FC}
    assert not fc & set(big["verify_pim"])
    assert big["draft_ch"] >= big["target_ch"]


# -- the document holds the script's output -------------------------------------------

def test_docs_validation_holds_the_generated_tables():
    doc = (ROOT / "docs" / "validation.md").read_text()
    assert V.BEGIN in doc and V.END in doc
    assert "python benchmarks/validation.py --write" in doc
    for section in V.generate(quick=True).split("\n\n"):
        assert section.strip() in doc, section[:80]


def test_paper_figures_are_quoted_unchanged():
    assert V.PAPER == {"speedup_gpu": 1.52, "speedup_pim": 2.02, "energy_gpu": 6.67, "energy_pim": 2.68}
    assert math.isclose(V.ALPHA, 0.8)
