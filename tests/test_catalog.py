"""The preset catalog: published figures, derivations, sources, the listing
and the Hugging Face importer on real config.json files."""

from __future__ import annotations

import json
import math
import re
from dataclasses import fields
from pathlib import Path

import pytest

import specpim
from helpers import INSTANCES, ROOT
from specpim.cli import main
from specpim.core.errors import InstanceError
from specpim.hardware import catalog
from specpim.presets import catalog_entries, describe, listing, preset
from specpim.workload.models import ModelConfig, model_from_hf_config, model_presets

HF = INSTANCES / "hf"
REL = 1e-9  # derived figures are exact arithmetic on the published ones

# Each shipped config.json and the preset it must reproduce.
HF_FILES = {
    "opt-125m": "opt-125m", "opt-1.3b": "opt-1.3b", "llama-2-7b-hf": "llama2-7b",
    "llama-2-70b-hf": "llama2-70b", "meta-llama-3-8b": "llama3-8b", "tinyllama-1.1b": "tinyllama-1.1b",
    "llama-68m": "llama-68m", "mistral-7b-v0.1": "mistral-7b", "qwen2-7b": "qwen2-7b",
}
SHAPE = ("layers", "hidden", "heads", "kv_heads", "ffn", "gated_ffn", "vocab", "tied_embeddings")


def _hf(name: str) -> ModelConfig:
    return model_from_hf_config(HF / name / "config.json", field_path="target.hf_config", file=None)


# -- sources ---------------------------------------------------------------

def test_every_preset_cites_a_source():
    for kind, items in catalog_entries().items():
        for name, p in items.items():
            assert len(p.source) > 20, f"{kind} {name} has no source"


def test_docs_catalog_tables_are_generated_from_the_catalog():
    from specpim.presets import catalog_markdown

    doc = (ROOT / "docs" / "catalog.md").read_text(encoding="utf-8")
    block = doc.split("tests/test_catalog.py keeps it current -->\n", 1)[1]
    assert block == catalog_markdown(), "regenerate the block with: python -m specpim.presets"


def test_every_preset_is_in_docs_catalog():
    doc = (ROOT / "docs" / "catalog.md").read_text()
    for kind, items in catalog_entries().items():
        for name in items:
            assert f"`{name}`" in doc, f"{kind} {name} missing from docs/catalog.md"


# -- published figures (hardware-figures.md) -------------------------------

@pytest.mark.parametrize("name, tflops", [("a100-80gb", 312), ("a100-40gb", 312), ("h100-sxm", 989),
                                          ("h100-pcie", 756)])
def test_host_peak_compute_is_the_datasheet_figure(name, tflops):
    assert catalog.HOSTS[name].peak_flops == tflops


@pytest.mark.parametrize("name, gbs, gb", [
    ("hbm2e-a100-80gb", 2039, 80), ("hbm2-a100-40gb", 1555, 40), ("hbm3-h100-sxm", 3350, 80),
    ("hbm2e-h100-pcie", 2000, 80), ("hbm3-5stack", 5 * 670.4, 80), ("lpddr5-orin-64gb", 204.8, 64)])
def test_memory_per_channel_figures_add_up_to_the_published_device(name, gbs, gb):
    m = catalog.MEMORIES[name]
    assert math.isclose(m.channels * m.channel_bandwidth, gbs, rel_tol=REL)
    assert math.isclose(m.capacity_bytes / 1e9, gb, rel_tol=REL)


def test_hbm_channel_counts():
    for name, m in catalog.MEMORIES.items():
        tech = catalog.MEMORY_TECH[name]
        if tech == "hbm3":
            assert m.channels_per_stack == 16, name
        elif tech.startswith("hbm2"):
            assert m.channels_per_stack == 8, name


@pytest.mark.parametrize("name, multiplier", [
    ("hbm3-pim-bank", 16), ("hbm3-pim-bank-pl", 9), ("hbm3-pim-bankgroup", 8), ("hbm3-pim-bankgroup-pl", 3),
    ("hbm3-pim-bufferdie", 1), ("hbm3-pim-bufferdie-pl", 1)])
def test_attacc_internal_bandwidth_multipliers(name, multiplier):
    p = catalog.PIM_OPTIONS[name]
    assert math.isclose(p.internal_bandwidth, multiplier * 670.4 / 16, rel_tol=REL)
    assert p.peak_flops == p.internal_bandwidth  # 1 FLOP per byte
    assert p.energy_per_flop == 0.16              # 0.32 pJ/MAC


def test_attacc_energy_per_bit_by_level():
    pj = {"bank": 0.55, "bank_group": 1.56, "buffer_die": 3.29}
    for name in ("hbm3-pim-bank", "hbm3-pim-bankgroup", "hbm3-pim-bufferdie"):
        p = catalog.PIM_OPTIONS[name]
        assert p.energy_per_bit == pj[p.granularity]
    assert catalog.MEMORIES["hbm3-5stack"].energy_per_bit == 3.59


def test_bank_level_area_reproduces_saddle_overhead():
    # 16 channels per stack = 8 dies of 121 mm²; SADDLE states 13.4% overhead per die.
    per_stack = catalog.PIM_OPTIONS["hbm3-pim-bank"].area * 16
    assert math.isclose(per_stack / (8 * 121.0), 0.134, abs_tol=0.0005)


def test_device_pim_figures():
    hbm = catalog.PIM_OPTIONS["samsung-hbm-pim"]
    assert math.isclose(hbm.peak_flops * 8, 1228.8, rel_tol=REL)         # 1.2 TFLOP/s per cube
    assert math.isclose(hbm.internal_bandwidth / catalog.MEMORIES["hbm2-pim-5cube"].channel_bandwidth, 4,
                        rel_tol=REL)                                      # 4× external
    aim = catalog.PIM_OPTIONS["gddr6-aim"]
    assert (aim.internal_bandwidth, aim.peak_flops) == (512.0, 512.0)
    assert aim.internal_bandwidth / catalog.MEMORIES["gddr6-aim-384bit"].channel_bandwidth == 16
    lp = catalog.PIM_OPTIONS["lpddr5-pim"]
    assert (lp.internal_bandwidth, lp.peak_flops) == (102.4, 102.4)
    assert lp.internal_bandwidth / catalog.MEMORIES["lpddr5-orin-64gb"].channel_bandwidth == 8
    x = catalog.PIM_OPTIONS["lpddr5x-aim"]
    assert (x.internal_bandwidth, x.peak_flops) == (153.6, 307.2)


def test_disagreeing_sources_are_kept_apart():
    # achievable fractions: AttAcc 80%/85% against LLM-Analysis/H²-LLM 70%
    assert catalog.HOSTS["a100-80gb"].compute_efficiency == 0.80
    assert catalog.HOSTS["a100-80gb-h2llm"].compute_efficiency == 0.70
    assert catalog.MEMORIES["hbm2e-a100-80gb"].bandwidth_efficiency == 0.85
    assert catalog.MEMORIES["hbm2e-a100-80gb-h2llm"].bandwidth_efficiency == 0.70
    # PIM MAC energy: AttAcc 0.32 pJ/MAC against the 1.012 pJ/MAC PE SpecPIM quotes
    assert catalog.PIM_OPTIONS["hbm3-pim-bank"].energy_per_flop * 2 == 0.32
    assert catalog.PIM_OPTIONS["hbm3-pim-bank-pe1012"].energy_per_flop * 2 == 1.012


def test_links():
    assert catalog.LINKS["a100-80gb"] == 600 and catalog.LINKS["h100-sxm"] == 900
    for s in catalog.SYSTEMS.values():
        assert s.link_bandwidth == catalog.LINKS[s.host.name]
        assert s.devices == 1 or s.link_bandwidth > 0, s.name


# -- pairing and fit ---------------------------------------------------------

def test_systems_pair_pim_with_its_own_memory_technology():
    for s in catalog.SYSTEMS.values():
        for p in s.pim_options:
            assert catalog.PIM_TECH[p.name] == catalog.MEMORY_TECH[s.memory.name], (s.name, p.name)


def test_catalog_refuses_a_mismatched_pairing():
    with pytest.raises(ValueError, match="gddr6"):
        catalog._system("bad", "a100-80gb", "hbm3-5stack", 1, ("gddr6-aim",))


def test_every_pim_option_and_memory_is_labelled_with_a_technology():
    assert set(catalog.PIM_TECH) == set(catalog.PIM_OPTIONS)
    assert set(catalog.MEMORY_TECH) == set(catalog.MEMORIES)


def test_a100_with_five_hbm3_pim_stacks_as_attacc_evaluates():
    s = catalog.SYSTEMS["a100-hbm3pim"]
    assert s.host.name == "a100-80gb" and s.memory.stacks == 5 and s.memory.channels == 80
    assert "hbm3-pim-bank" in [p.name for p in s.pim_options]
    assert catalog.SYSTEMS["a100-hbm3pim-x4"].devices == 4


# -- models ----------------------------------------------------------------

@pytest.mark.parametrize("name, billions", [
    ("opt-125m", 0.125), ("opt-1.3b", 1.3), ("opt-13b", 13), ("opt-66b", 66), ("llama2-7b", 6.74),
    ("llama2-13b", 13.0), ("llama2-70b", 69.0), ("llama3-8b", 8.03), ("llama3-70b", 70.6),
    ("tinyllama-1.1b", 1.1), ("llama-68m", 0.068), ("mistral-7b", 7.24), ("qwen2-7b", 7.6)])
def test_model_sizes_match_their_names(name, billions):
    # Norms and biases are left out: within 3% of the published count.
    assert math.isclose(model_presets()[name].params / 1e9, billions, rel_tol=0.03)


@pytest.mark.parametrize("folder, preset_name", sorted(HF_FILES.items()))
def test_hf_config_reproduces_the_preset(folder, preset_name):
    got, want = _hf(folder), model_presets()[preset_name]
    assert {f: getattr(got, f) for f in SHAPE} == {f: getattr(want, f) for f in SHAPE}


def test_hf_families_are_all_shipped():
    types = {json.loads((HF / d / "config.json").read_text())["model_type"] for d in HF_FILES}
    assert {"opt", "llama", "mistral", "qwen2"} <= types


def test_hf_importer_reads_dtype_and_name():
    assert _hf("meta-llama-3-8b").dtype == "bfloat16"
    assert _hf("opt-1.3b").dtype == "float16" and _hf("opt-1.3b").name == "facebook/opt-1.3b"
    assert _hf("mistral-7b-v0.1").name == "mistral-7b-v0.1"  # no _name_or_path: the folder


def _write(tmp_path: Path, cfg: dict) -> Path:
    p = tmp_path / "m" / "config.json"
    p.parent.mkdir()
    p.write_text(json.dumps(cfg))
    return p


def test_hf_tie_defaults_to_true_as_in_transformers(tmp_path):
    cfg = json.loads((HF / "llama-2-7b-hf" / "config.json").read_text())
    del cfg["tie_word_embeddings"]
    m = model_from_hf_config(_write(tmp_path, cfg), field_path="x", file=None)
    assert m.tied_embeddings


def test_hf_newer_dtype_key(tmp_path):
    cfg = json.loads((HF / "qwen2-7b" / "config.json").read_text())
    cfg["dtype"] = cfg.pop("torch_dtype")
    assert model_from_hf_config(_write(tmp_path, cfg), field_path="x", file=None).dtype == "bfloat16"


def test_hf_refuses_mixture_of_experts(tmp_path):
    cfg = json.loads((HF / "mistral-7b-v0.1" / "config.json").read_text())
    cfg.update(model_type="mixtral", num_local_experts=8, num_experts_per_tok=2)
    with pytest.raises(InstanceError, match="mixture of experts"):
        model_from_hf_config(_write(tmp_path, cfg), field_path="x", file=None)


def test_hf_refuses_a_head_size_it_cannot_model(tmp_path):
    cfg = json.loads((HF / "mistral-7b-v0.1" / "config.json").read_text())
    cfg.update(hidden_size=5120, head_dim=128)   # Mistral-NeMo-like: 32 × 128 ≠ 5120
    with pytest.raises(InstanceError, match="head_dim"):
        model_from_hf_config(_write(tmp_path, cfg), field_path="x", file=None)


def test_instance_can_use_a_shipped_hf_config():
    inst = specpim.load_instance(INSTANCES / "llama2-13b-tinyllama-h100-hbm3pim.yaml")
    assert inst.draft.layers == 22 and inst.draft.kv_heads == 4


# -- literature pairs ----------------------------------------------------------

PAIRS = {
    "llama2-70b-7b-a100x4-hbm3pim": ("llama2-70b", "llama2-7b"),
    "llama2-13b-68m-a100-hbm3pim": ("llama2-13b", "llama-68m"),
    "llama2-13b-tinyllama-h100-hbm3pim": ("llama2-13b", "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T"),
    "opt-66b-1.3b-a100x4-hbm3pim": ("opt-66b", "opt-1.3b"),
    "opt-13b-125m-a100x4-gddr6aim": ("opt-13b", "opt-125m"),
    "llama3-70b-8b-h100x4-hbm3pim": ("llama3-70b", "llama3-8b"),
    "vicuna-33b-7b-a100-40gb-x4-hbmpim": ("vicuna-33b", "vicuna-7b"),
}


@pytest.mark.parametrize("stem, pair", sorted(PAIRS.items()))
def test_literature_pair_instances_exist_and_fit(stem, pair):
    inst = specpim.load_instance(INSTANCES / f"{stem}.yaml")
    assert (inst.target.name, inst.draft.name) == pair
    from specpim.solvers.diagnose import precheck
    assert precheck(inst) is None


# -- listing -----------------------------------------------------------------

def test_listing_groups_by_kind_with_figures_and_sources():
    text = listing()
    heads = [line for line in text.splitlines() if not line.startswith(" ")]
    assert heads == ["models:", "hosts:", "memories:", "pim options:", "systems:"]
    for items in catalog_entries().values():
        for name in items:
            assert re.search(rf"^  {re.escape(name)} ", text, re.M), name
    assert text.count("source: ") == sum(len(v) for v in catalog_entries().values())


def test_describe_shows_every_field():
    text = describe("hbm3-pim-bank")
    for f in fields(catalog.PIM_OPTIONS["hbm3-pim-bank"]):
        assert f"  {f.name}: " in text
    assert "memory_technology: hbm3" in text
    assert json.loads(describe("a100-80gb", as_json=True))["link_bandwidth"] == 600.0


def test_cli_presets(capsys):
    assert main(["presets", "opt-66b", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["layers"] == 64
    assert main(["presets", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == set(catalog_entries())
    assert main(["presets", "no-such-thing"]) == 2


def test_python_api_lookup():
    assert preset("gddr6-aim") == ("pim_options", catalog.PIM_OPTIONS["gddr6-aim"])
    with pytest.raises(InstanceError, match="unknown preset"):
        preset("a100")
