"""Random small instances around instances/tiny.yaml, and the instances on
which CBC and the exhaustive solver once disagreed (kept as regressions)."""

from __future__ import annotations

import numpy as np
import yaml

import specpim
from specpim.core.enums import Phase
from specpim.costs.roofline import RooflineCostModel
from specpim.costs.tables import InstanceTables

from . import INSTANCES

TINY = yaml.safe_load((INSTANCES / "tiny.yaml").read_text())
CHANNEL_MENUS = [(2, [2, 4, 6, 8]), (4, [4, 8]), (1, [1, 2, 3, 4])]   # (step, PIM channel counts)


# CBC stopped here, reporting "optimal", at a mapping 0.17% worse than the
# optimum: its default increment (1e-4, absolute) was larger than the gap
# while the MILP worked in mJ (the optimum is about 0.022 mJ per token).
# solvers/cbc.py passes increment 0 (and the MILP now works in µJ).
CBC_INCREMENT_CASE = {
    "name": "cbc-increment",
    "target": {"name": "target", "layers": 2, "hidden": 256, "heads": 8, "kv_heads": 8, "ffn": 512,
               "gated_ffn": False, "vocab": 8000},
    "draft": None,
    "workload": {"batch": 26, "prompt_len": 99, "gen_len": 201},
    "system": {
        "devices": 2, "link_bandwidth": 84.5721, "link_latency": 0.9237, "link_energy_per_bit": 1.9386,
        "host": {"peak_flops": 41.0637, "compute_efficiency": 0.8, "energy_per_flop": 0.4807},
        "memory": {"stacks": 1, "channels_per_stack": 8, "channel_bandwidth": 30.2368,
                   # 0.0021339136 GB when found; ×1.2 since channels also hold their share of host data
                   "channel_capacity": 0.0025606963, "bandwidth_efficiency": 0.85, "energy_per_bit": 3.59},
        "pim_options": [{"name": "bank", "granularity": "bank", "internal_bandwidth": 536.3611,
                         "peak_flops": 536.3611, "area": 4.2343, "energy_per_bit": 3.2163,
                         "energy_per_flop": 0.1176}],
    },
    "design_space": {"pim_options": ["bank"], "pim_channels": [4], "channel_step": 4, "allocation": "shared"},
    "objective": {"metric": "energy", "latency_bound": 0.0511},
}


# CBC once returned, as optimal, a mapping whose PIM operators kept 821 bytes
# more than the 3 shared channels hold: the capacity row was in GB, so the
# excess was inside CBC's absolute feasibility tolerance.  The row is now in
# channels and every memory rule holds to CAPACITY_RTOL (1e-6 relative).
CBC_CAPACITY_CASE = {
    "name": "cbc-capacity",
    "target": {"name": "target", "layers": 1, "hidden": 256, "heads": 4, "kv_heads": 4, "ffn": 512,
               "gated_ffn": False, "vocab": 8000},
    "draft": {"name": "draft", "layers": 1, "hidden": 128, "heads": 4, "kv_heads": 1, "ffn": 1024,
              "gated_ffn": True, "vocab": 8000},
    "workload": {"batch": 17, "prompt_len": 1910, "gen_len": 459},
    "speculation": {"draft_len": [3], "acceptance": 0.5895},
    "system": {
        "devices": 1,
        "host": {"peak_flops": 33.6068, "compute_efficiency": 0.8, "energy_per_flop": 0.8058},
        "memory": {"stacks": 1, "channels_per_stack": 8, "channel_bandwidth": 41.0623,
                   "channel_capacity": 0.0098474064, "bandwidth_efficiency": 0.85, "energy_per_bit": 3.59},
        "pim_options": [{"name": "bank", "granularity": "bank", "internal_bandwidth": 521.3018,
                         "peak_flops": 2085.2072, "area": 5.7828, "energy_per_bit": 0.7124,
                         "energy_per_flop": 0.405}],
    },
    "design_space": {"pim_options": ["bank"], "pim_channels": [2, 3], "channel_step": 1, "allocation": "shared",
                     "include_no_pim": False},
    "objective": "energy",
}


# With the MILP's energies in mJ (objective about 0.086), single-threaded CBC
# pruned the optimum of this monolithic MILP and stopped 3.4e-5 above it,
# reporting "optimal": its tolerances are absolute.  The MILP now works in µJ.
CBC_SCALE_CASE = {
    "name": "cbc-scale",
    "target": {"name": "target", "layers": 1, "hidden": 256, "heads": 4, "kv_heads": 1, "ffn": 2816,
               "gated_ffn": True, "vocab": 32000},
    "draft": {"name": "draft", "layers": 1, "hidden": 64, "heads": 2, "kv_heads": 2, "ffn": 256,
              "gated_ffn": True, "vocab": 32000},
    "workload": {"batch": 10, "prompt_len": 988, "gen_len": 490},
    "speculation": {"draft_len": [1], "acceptance": 0.7943},
    "system": {
        "devices": 2, "link_bandwidth": 287.1955, "link_latency": 4.5951, "link_energy_per_bit": 8.7141,
        "host": {"peak_flops": 42.9873, "compute_efficiency": 0.8, "energy_per_flop": 0.8551},
        "memory": {"stacks": 1, "channels_per_stack": 8, "channel_bandwidth": 51.4218,
                   "channel_capacity": 0.013327872, "bandwidth_efficiency": 0.85, "energy_per_bit": 3.59},
        "pim_options": [
            {"name": "bankgroup", "granularity": "bank_group", "internal_bandwidth": 242.3745,
             "peak_flops": 969.498, "area": 1.2922, "energy_per_bit": 3.3791, "energy_per_flop": 0.385},
            {"name": "bufferdie", "granularity": "buffer_die", "internal_bandwidth": 39.5728,
             "peak_flops": 9.8932, "area": 0.3561, "energy_per_bit": 1.6722, "energy_per_flop": 0.3151}],
    },
    "design_space": {"pim_channels": [1], "channel_step": 1, "allocation": "shared", "include_no_pim": False},
    "objective": {"metric": "energy", "latency_bound": 0.05746644642779302},
}


def _real(rng: np.random.Generator, lo: float, hi: float) -> float:
    return round(float(rng.uniform(lo, hi)), 4)


def _model(rng: np.random.Generator, name: str, big: bool) -> dict:
    heads = int(rng.choice([4, 8] if big else [2, 4]))
    return {
        "name": name,
        "layers": int(rng.integers(1, 5 if big else 3)),
        "hidden": heads * int(rng.choice([32, 64, 128] if big else [32, 64])),
        "heads": heads,
        "kv_heads": int(rng.choice([1, 2, heads])),          # GQA (1, 2) or plain (heads)
        "ffn": int(rng.choice([512, 1024, 2816] if big else [256, 512, 1024])),
        "gated_ffn": bool(rng.integers(2)),
        "vocab": int(rng.choice([1000, 8000, 32000])),
    }


def _pim(rng: np.random.Generator, name: str, granularity: str, bandwidth: tuple, area: tuple) -> dict:
    bw = _real(rng, *bandwidth)
    return {"name": name, "granularity": granularity, "internal_bandwidth": bw,
            "peak_flops": bw * float(rng.choice([0.25, 1.0, 4.0])), "area": _real(rng, *area),
            "energy_per_bit": _real(rng, 0.3, 3.5), "energy_per_flop": _real(rng, 0.05, 0.5),
            "offload_overhead": float(rng.choice([0.0, 0.05, 0.4, 2.0])),
            "softmax": str(rng.choice(["host", "pim"])),
            "static_power": float(rng.choice([0.0, 0.0, 0.2]))}


def memory_need(data: dict) -> float:
    """Bytes per device the weights and KV caches of ``data``'s models need."""
    probe = yaml.safe_load(yaml.safe_dump(data))
    probe["system"]["memory"]["channel_capacity"] = 1e4   # plenty; the schema's maximum
    inst = specpim.load_instance(probe)
    g = max(inst.draft_lens)
    return inst.memory_need(g)


def host_latency(inst) -> float:
    """Latency per token of everything on the host, one operator per tier, at
    the smallest γ: a yardstick for latency bounds."""
    tables = InstanceTables(inst, RooflineCostModel())
    g = min(inst.draft_lens)
    it = 0.0
    for p in inst.phases(g):
        t, w = tables.table(p, None, g, 0), tables.work(p, g)
        step = w.layers * (t.host_time[:-1].sum() + t.layer_const_time) + t.host_time[-1] + t.step_const_time
        it += step * (g if p == Phase.DRAFT else 1)
    return it / inst.expected_tokens(g)


def random_instance(seed: int) -> dict:
    """An instance file (as a dict) around tiny.yaml; see the module docstring."""
    rng = np.random.default_rng(seed)
    data = yaml.safe_load(yaml.safe_dump(TINY))
    data["target"] = _model(rng, "target", big=True)
    data["draft"] = _model(rng, "draft", big=False) if rng.random() < 0.75 else None
    data["workload"] = {"batch": int(rng.integers(1, 33)), "prompt_len": int(rng.integers(0, 2049)),
                        "gen_len": int(rng.integers(1, 513))}
    lens = sorted(int(x) for x in rng.choice([1, 2, 3, 4], size=int(rng.integers(1, 3)), replace=False))
    acceptance = _real(rng, 0, 1) if rng.random() < 0.5 else [_real(rng, 0, 1) for _ in range(max(lens))]
    data["speculation"] = {"draft_len": lens, "acceptance": acceptance}
    system = data["system"]
    system["devices"] = int(rng.integers(1, 3))
    if system["devices"] > 1:
        system.update(link_bandwidth=_real(rng, 10, 300), link_latency=_real(rng, 0, 5),
                      link_energy_per_bit=_real(rng, 0, 10))
    system["host"].update(peak_flops=_real(rng, 2, 50), energy_per_flop=_real(rng, 0.1, 1.0),
                          static_power=float(rng.choice([0.0, 5.0, 50.0])),
                          fc_kernel_overhead=float(rng.choice([0.0, 1.0, 5.0])),
                          attention_kernel_overhead=float(rng.choice([0.0, 3.0])),
                          elementwise_kernel_overhead=float(rng.choice([0.0, 2.0])),
                          elementwise_bandwidth_efficiency=_real(rng, 0.3, 1.0),
                          elementwise_kernels=str(rng.choice(["eager", "fused", "none"])))
    system["memory"]["channel_bandwidth"] = _real(rng, 20, 60)
    system["memory"]["static_power"] = float(rng.choice([0.0, 0.05]))
    system["memory_model"] = str(rng.choice(["striped", "striped", "partitioned"]))
    system["pim_options"] = [_pim(rng, "bank", "bank", (300, 700), (1, 6)),
                             _pim(rng, "bankgroup", "bank_group", (100, 300), (0.5, 2)),
                             _pim(rng, "bufferdie", "buffer_die", (30, 60), (0.1, 0.5))]
    step, counts = CHANNEL_MENUS[int(rng.integers(len(CHANNEL_MENUS)))]
    menu = ["bank", "bankgroup", "bufferdie"]
    space = {
        "pim_options": [str(x) for x in rng.choice(menu, size=int(rng.integers(1, 3)), replace=False)],
        "pim_channels": sorted(int(x) for x in rng.choice(counts, size=int(rng.integers(1, 3)), replace=False)),
        "channel_step": step,
        "allocation": str(rng.choice(["partition", "shared"])),
        "include_no_pim": bool(rng.random() < 0.8),
    }
    if rng.random() < 0.3:
        space["area_budget"] = _real(rng, 0, 30)
    data["design_space"] = space
    # From just enough memory for the models (PIM capacity binds) to plenty;
    # a device has 8 channels.
    slack = float(rng.choice([1.02, 1.3, 2.0, 4.0, 50.0]))
    system["memory"]["channel_capacity"] = memory_need(data) * slack / 8 / 1e9
    metric = str(rng.choice(["latency", "throughput", "energy", "energy-bounded"]))
    if metric == "energy-bounded":
        bound_ms = host_latency(specpim.load_instance(data)) * _real(rng, 0.5, 1.3) * 1e3
        data["objective"] = {"metric": "energy", "latency_bound": bound_ms}
    else:
        data["objective"] = metric
    return data
