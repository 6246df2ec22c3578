"""Hardware presets with the published figures they come from.

Every preset names its source in ``source``; docs/catalog.md lists them all
with the derivations.  Per-channel figures are derived from the published
per-device or per-stack figures, and each source string says how.  Where
two sources disagree both are kept, as separate presets.

A PIM option only makes sense with the memory it was published for:
``MEMORY_TECH`` and ``PIM_TECH`` name the memory technology of each, and
every system pairs an option only with memory of its technology.
"""

from __future__ import annotations

from .devices import Host, Memory, PimOption, System

_A100_DS = "NVIDIA A100 datasheet"
_H100_DS = "NVIDIA H100 datasheet"
_ORIN_TB = "NVIDIA Jetson AGX Orin Series technical brief"
_ATTACC = "AttAcc (Park et al., ASPLOS 2024)"
_SPECPIM = "SpecPIM (Li et al., ASPLOS 2024)"
_FGDRAM = "FGDRAM (O'Connor et al., MICRO 2017)"

# Achievable fractions of peak.  AttAcc: 80% compute, 85% off-chip bandwidth;
# LLM-Analysis and the H²-LLM artifact: 70% of both.  They disagree, so both exist.
_ATTACC_COMPUTE_EFF, _ATTACC_BW_EFF = 0.80, 0.85
_H2LLM_EFF = 0.70
# Host MAC energy at 10 nm from the H²-LLM artifact: 0.682 pJ/MAC = 0.341 pJ/FLOP.
_HOST_PJ_PER_FLOP = 0.682 / 2
_HOST_ENERGY_SRC = "0.682 pJ/MAC at 10 nm (H²-LLM, ISCA 2025)"


def _host(name: str, tflops: float, where: str, *, eff: float = _ATTACC_COMPUTE_EFF,
          eff_src: str = _ATTACC) -> Host:
    return Host(name, tflops, eff, _HOST_PJ_PER_FLOP,
                source=f"{tflops:g} TFLOP/s dense FP16: {where}; efficiency {eff:g} ({eff_src}); "
                       f"energy {_HOST_ENERGY_SRC}")


HOSTS: dict[str, Host] = {h.name: h for h in [
    _host("a100-80gb", 312.0, _A100_DS),
    _host("a100-80gb-h2llm", 312.0, _A100_DS, eff=_H2LLM_EFF, eff_src="LLM-Analysis and H²-LLM artifact"),
    _host("a100-40gb", 312.0, _A100_DS),
    _host("h100-sxm", 989.0, _H100_DS),
    _host("h100-pcie", 756.0, _H100_DS),
    # Dense FP16 derived: 170 sparse INT8 TOPS ÷ 2 (2:4 sparsity) ÷ 2 (FP16 runs at half the INT8 rate on Ampere).
    _host("jetson-agx-orin", 42.5, f"derived from {_ORIN_TB} (170 sparse INT8 TOPS ÷ 2 sparsity ÷ 2 INT8→FP16)"),
]}

# Device-to-device link per device, GB/s: NVLink 3 on A100, NVLink 4 on H100 SXM,
# the NVLink bridge on H100 PCIe; the Jetson module has none (single device only).
LINKS: dict[str, float] = {"a100-80gb": 600.0, "a100-80gb-h2llm": 600.0, "a100-40gb": 600.0,
                           "h100-sxm": 900.0, "h100-pcie": 600.0, "jetson-agx-orin": 0.0}
LINK_SOURCES: dict[str, str] = {
    "a100-80gb": "NVLink 3, 600 GB/s per GPU (NVIDIA)",
    "a100-80gb-h2llm": "NVLink 3, 600 GB/s per GPU (NVIDIA)",
    "a100-40gb": "NVLink 3, 600 GB/s per GPU (NVIDIA)",
    "h100-sxm": "NVLink 4, 900 GB/s per GPU (NVIDIA)",
    "h100-pcie": f"NVLink bridge, 600 GB/s per GPU ({_H100_DS})",
    "jetson-agx-orin": "no device link: single-device systems only",
}

# Host-access energy per bit.  HBM3 (cell → host, 3.59 pJ/b) is AttAcc's sum of
# the FGDRAM breakdown; HBM2 and GDDR6 are the TPU-v4i figures quoted in SpecPIM.
_HBM3_PJ, _HBM2_PJ, _GDDR6_PJ = 3.59, 5.47, 6.48
_HBM3_PJ_SRC = f"host access 3.59 pJ/b ({_ATTACC}, from {_FGDRAM})"
_HBM2_PJ_SRC = f"HBM2 5.47 pJ/b (TPU-v4i, quoted in {_SPECPIM})"


def _mem(name: str, stacks: int, channels_per_stack: int, stack_gbs: float, stack_gb: float, pj: float,
         source: str, *, eff: float = _ATTACC_BW_EFF) -> Memory:
    return Memory(name, stacks=stacks, channels_per_stack=channels_per_stack,
                  channel_bandwidth=stack_gbs / channels_per_stack, channel_capacity=stack_gb / channels_per_stack,
                  bandwidth_efficiency=eff, energy_per_bit=pj, source=source)


MEMORIES: dict[str, Memory] = {m.name: m for m in [
    _mem("hbm3-5stack", 5, 16, 670.4, 16.0, _HBM3_PJ,
         f"{_ATTACC}: HBM3 at 5.2 Gb/s/pin, 670.4 GB/s and 16 GB per stack, 16 channels per stack "
         f"→ 41.9 GB/s and 1 GB per channel; {_HBM3_PJ_SRC}; efficiency 0.85 ({_ATTACC})"),
    _mem("hbm3-h100-sxm", 5, 16, 3350.0 / 5, 80.0 / 5, _HBM3_PJ,
         f"{_H100_DS}: 3,350 GB/s and 80 GB over 5 HBM3 stacks, 16 channels per stack "
         f"→ 41.875 GB/s and 1 GB per channel; {_HBM3_PJ_SRC}; efficiency 0.85 ({_ATTACC})"),
    _mem("hbm2e-a100-80gb", 5, 8, 2039.0 / 5, 80.0 / 5, _HBM2_PJ,
         f"{_A100_DS}: 2,039 GB/s and 80 GB over 5 HBM2e stacks, 8 channels per stack "
         f"→ 50.975 GB/s and 2 GB per channel; {_HBM2_PJ_SRC}; efficiency 0.85 ({_ATTACC})"),
    _mem("hbm2e-a100-80gb-h2llm", 5, 8, 2039.0 / 5, 80.0 / 5, _HBM2_PJ,
         f"{_A100_DS}: 2,039 GB/s and 80 GB over 5 HBM2e stacks, 8 channels per stack; {_HBM2_PJ_SRC}; "
         "efficiency 0.70 (LLM-Analysis and H²-LLM artifact)", eff=_H2LLM_EFF),
    _mem("hbm2-a100-40gb", 5, 8, 1555.0 / 5, 40.0 / 5, _HBM2_PJ,
         f"{_A100_DS}: 1,555 GB/s and 40 GB over 5 HBM2 stacks, 8 channels per stack "
         f"→ 38.875 GB/s and 1 GB per channel; {_HBM2_PJ_SRC}; efficiency 0.85 ({_ATTACC})"),
    _mem("hbm2e-h100-pcie", 5, 8, 2000.0 / 5, 80.0 / 5, _HBM2_PJ,
         f"{_H100_DS}: 2,000 GB/s and 80 GB of HBM2e over 5 stacks (assumed, like the A100), 8 channels "
         f"per stack → 50 GB/s and 2 GB per channel; {_HBM2_PJ_SRC}; efficiency 0.85 ({_ATTACC})"),
    # Aquabolt-XL: 4× the off-chip bandwidth internally, ~1.23 TB/s per 6 GB cube → 307.2 GB/s
    # external per cube (2.4 Gb/s/pin × 1,024 pins); HBM2 has 8 channels per cube.
    _mem("hbm2-pim-5cube", 5, 8, 1228.8 / 4, 6.0, _HBM2_PJ,
         "Samsung HBM-PIM (Aquabolt-XL, ISSCC/ISCA 2021): 6 GB per cube, internal ~1.23 TB/s = 4× external "
         f"→ 307.2 GB/s per cube, 8 HBM2 channels → 38.4 GB/s and 0.75 GB per channel; 5 cubes in the "
         f"A100-40GB's 5 HBM2 sites (assumed); {_HBM2_PJ_SRC}; efficiency 0.85 ({_ATTACC})"),
    # GDDR6-AiM: 512 GB/s internal per channel is 16× external → 32 GB/s (16 Gb/s/pin × 16 pins).
    _mem("gddr6-aim-384bit", 12, 2, 2 * 512.0 / 16, 1.0, _GDDR6_PJ,
         "SK hynix GDDR6-AiM: 512 GB/s internal per channel = 16× external → 32 GB/s per x16 channel "
         "(16 Gb/s/pin), 2 channels and 8 Gb (1 GB) per chip; 12 chips on a 384-bit bus (assumed, the widest "
         f"GDDR6 bus on NVIDIA boards) → 24 channels, 768 GB/s, 12 GB; GDDR6 6.48 pJ/b (TPU-v4i, quoted in "
         f"{_SPECPIM}); efficiency 0.85 ({_ATTACC}, assumed for GDDR6)"),
    # Jetson AGX Orin 64GB: 256-bit LPDDR5 at 6,400 MT/s = 16 x16 channels of 12.8 GB/s.
    _mem("lpddr5-orin-64gb", 1, 16, 204.8, 64.0, _HBM2_PJ,
         f"{_ORIN_TB}: 64 GB LPDDR5, 256-bit, 204.8 GB/s → 16 x16 channels of 12.8 GB/s and 4 GB; "
         "host-access energy ASSUMED equal to HBM2's 5.47 pJ/b (no LPDDR5 figure in the reference "
         f"material); efficiency 0.85 ({_ATTACC}, assumed for LPDDR5)"),
]}

# Memory technology of each memory preset and of each PIM option.
MEMORY_TECH: dict[str, str] = {
    "hbm3-5stack": "hbm3", "hbm3-h100-sxm": "hbm3", "hbm2e-a100-80gb": "hbm2e", "hbm2e-a100-80gb-h2llm": "hbm2e",
    "hbm2-a100-40gb": "hbm2", "hbm2e-h100-pcie": "hbm2e", "hbm2-pim-5cube": "hbm2",
    "gddr6-aim-384bit": "gddr6", "lpddr5-orin-64gb": "lpddr5",
}

_HBM3_CH = 670.4 / 16  # GB/s external per HBM3 channel (AttAcc)
_PIM_ALU_PJ_PER_FLOP = 0.32 / 2  # AttAcc: 0.32 pJ/MAC
# FP16 PIM processing element, 1.012 pJ/MAC (quoted in SpecPIM); AttAcc's 0.32 disagrees.
_PIM_PE_PJ_PER_FLOP = 1.012 / 2
_PE_SRC = f"PE 1.012 pJ/MAC (FP16 PIM processing element, quoted in {_SPECPIM})"
# Bank-level in-memory access: cell activate/precharge 0.11 + cell read 0.44 pJ/b ({_FGDRAM});
# used for every bank-level PIM device whose own figure is not in the reference material.
_BANK_PJ = 0.55
_BANK_PJ_SRC = f"in-memory access 0.55 pJ/b ASSUMED from the bank-level {_FGDRAM} breakdown (as in {_ATTACC})"

# SADDLE (HPCA 2026) HBM3-PIM: one PE (16 FP16 multipliers and adders, 0.116 mm²) per bank
# and, to match its stated 13.4% overhead on a 121 mm² die, one 0.044 mm² accumulator per
# bank group.  A stack has 8 dies × 8 pseudo-channels × 4 bank groups × 4 banks = 1,024 banks,
# so each of its 16 channels has 64 banks and 16 bank groups.
_SADDLE_CH_MM2 = 64 * 0.116 + 16 * 0.044


def _attacc_pim(name: str, granularity: str, multiplier: float, pj_per_bit: float,
                design_multiplier: float, note: str, *, pe_pj_per_flop: float = _PIM_ALU_PJ_PER_FLOP,
                pe_src: str = "0.32 pJ/MAC") -> PimOption:
    bw = multiplier * _HBM3_CH
    # PIM compute is sized at 1 FLOP per byte of the unthrottled internal bandwidth, and
    # its area scales with the compute built: SADDLE's bank-level channel serves 16×.
    area = _SADDLE_CH_MM2 * design_multiplier / 16
    return PimOption(
        name=name, granularity=granularity, internal_bandwidth=bw, peak_flops=bw,
        area=round(area, 4), energy_per_bit=pj_per_bit, energy_per_flop=pe_pj_per_flop,
        source=(f"{_ATTACC}: internal bandwidth {multiplier:g}× the 41.9 GB/s external per channel ({note}), "
                f"1 FLOP per byte, {pj_per_bit} pJ/b, {pe_src}; area {area:.3f} mm² per channel derived from "
                f"SADDLE (HPCA 2026): 64 × 0.116 mm² bank PEs + 16 × 0.044 mm² accumulators = 8.128 mm² at 16×, "
                f"scaled by built compute ({design_multiplier:g}×)"),
    )


def _device_pim(name: str, bw: float, gflops: float, source: str) -> PimOption:
    return PimOption(name=name, granularity="bank", internal_bandwidth=bw, peak_flops=gflops, area=0.0,
                     energy_per_bit=_BANK_PJ, energy_per_flop=_PIM_PE_PJ_PER_FLOP,
                     source=f"{source}; {_BANK_PJ_SRC}; {_PE_SRC}; area not published (0: no area budget applies)")


PIM_OPTIONS: dict[str, PimOption] = {p.name: p for p in [
    _attacc_pim("hbm3-pim-bank", "bank", 16, 0.55, 16, "bank-level"),
    _attacc_pim("hbm3-pim-bank-pl", "bank", 9, 0.55, 16, "bank-level, stack power limit"),
    _attacc_pim("hbm3-pim-bankgroup", "bank_group", 8, 1.56, 8, "bank-group-level"),
    _attacc_pim("hbm3-pim-bankgroup-pl", "bank_group", 3, 1.56, 8, "bank-group-level, stack power limit"),
    _attacc_pim("hbm3-pim-bufferdie", "buffer_die", 1, 3.29, 1, "buffer die"),
    # The buffer die reads at the external rate the stack is already powered for, so
    # the power limit leaves it unchanged; kept so every AttAcc level has both variants.
    _attacc_pim("hbm3-pim-bufferdie-pl", "buffer_die", 1, 3.29, 1,
                "buffer die, stack power limit: unchanged, it reads at the external rate"),
    # Same bank-level design priced with the PE energy SpecPIM quotes instead of AttAcc's.
    _attacc_pim("hbm3-pim-bank-pe1012", "bank", 16, 0.55, 16, "bank-level",
                pe_pj_per_flop=_PIM_PE_PJ_PER_FLOP, pe_src=_PE_SRC),
    # Aquabolt-XL: one 16-lane FP16 unit at 300 MHz (9.6 GFLOP/s) per two banks, 128 units per
    # 6 GB cube (1.2 TFLOP/s); per HBM2 channel (8 per cube): 16 units, 153.6 GFLOP/s, 153.6 GB/s.
    _device_pim("samsung-hbm-pim", 1228.8 / 8, 16 * 9.6,
                "Samsung HBM-PIM (Aquabolt-XL, ISSCC/ISCA 2021): ~1.23 TB/s internal (4× external) and "
                "1.2 TFLOP/s (128 units × 9.6 GFLOP/s) per cube, ÷ 8 HBM2 channels"),
    _device_pim("gddr6-aim", 512.0, 512.0,
                "SK hynix GDDR6-AiM (ISSCC 2022): one PE per bank, 16 MACs at 1 GHz (32 GFLOP/s), "
                "16 banks → 512 GB/s and 512 GFLOP/s per channel, 16× external"),
    _device_pim("lpddr5-pim", 102.4, 102.4,
                "Samsung LPDDR5-PIM: 102.4 GB/s and 102.4 GFLOP/s per channel (8× external), "
                "16 MACs at 200 MHz per PE"),
    # Pairs with LPDDR5X, which has no memory preset here: its external rate per channel
    # is not in the reference material, so no system uses this option yet.
    _device_pim("lpddr5x-aim", 153.6, 307.2,
                "SK hynix LPDDR5X-AiM: 153.6 GB/s and 307.2 GOPS per channel; needs LPDDR5X memory"),
]}

PIM_TECH: dict[str, str] = {
    "hbm3-pim-bank": "hbm3", "hbm3-pim-bank-pl": "hbm3", "hbm3-pim-bankgroup": "hbm3",
    "hbm3-pim-bankgroup-pl": "hbm3", "hbm3-pim-bufferdie": "hbm3", "hbm3-pim-bufferdie-pl": "hbm3",
    "hbm3-pim-bank-pe1012": "hbm3", "samsung-hbm-pim": "hbm2", "gddr6-aim": "gddr6",
    "lpddr5-pim": "lpddr5", "lpddr5x-aim": "lpddr5x",
}

_NVLINK_PJ = 1.3  # pJ/b (AttAcc)


def _system(name: str, host: str, memory: str, devices: int, pims: tuple[str, ...], note: str = "") -> System:
    link = LINKS[host]
    for p in pims:
        if PIM_TECH[p] != MEMORY_TECH[memory]:
            raise ValueError(f"{name}: PIM option {p} is {PIM_TECH[p]}, memory {memory} is {MEMORY_TECH[memory]}")
    return System(
        name=name, devices=devices, host=HOSTS[host], memory=MEMORIES[memory],
        pim_options=tuple(PIM_OPTIONS[p] for p in pims),
        link_bandwidth=link, link_latency=2.0 if link else 0.0, link_energy_per_bit=_NVLINK_PJ if link else 0.0,
        source=f"{devices} × {host} with {memory}{note}; link: {LINK_SOURCES[host]}"
               + (f", {_NVLINK_PJ} pJ/b ({_ATTACC}); 2 µs per collective step (assumed)" if link else ""),
    )


_ATTACC_MENU = ("hbm3-pim-bank", "hbm3-pim-bank-pl", "hbm3-pim-bankgroup", "hbm3-pim-bankgroup-pl",
                "hbm3-pim-bufferdie")
_AS_ATTACC = " (A100 with 5 HBM3-PIM stacks, as AttAcc and SpecPIM evaluate)"
SYSTEMS: dict[str, System] = {s.name: s for s in [
    _system("a100-hbm3pim", "a100-80gb", "hbm3-5stack", 1, _ATTACC_MENU, _AS_ATTACC),
    _system("a100-hbm3pim-x4", "a100-80gb", "hbm3-5stack", 4, _ATTACC_MENU, _AS_ATTACC),
    _system("a100-hbm3pim-x8", "a100-80gb", "hbm3-5stack", 8, _ATTACC_MENU, _AS_ATTACC),
    _system("h100-hbm3pim", "h100-sxm", "hbm3-h100-sxm", 1, _ATTACC_MENU, " (H100's own HBM3 with AttAcc PIM)"),
    _system("h100-hbm3pim-x4", "h100-sxm", "hbm3-h100-sxm", 4, _ATTACC_MENU, " (H100's own HBM3 with AttAcc PIM)"),
    # GPUs as shipped, no PIM: the reference points for host-only decoding.
    _system("a100-80gb-gpu", "a100-80gb", "hbm2e-a100-80gb", 1, ()),
    _system("a100-80gb-gpu-x4", "a100-80gb", "hbm2e-a100-80gb", 4, ()),
    _system("a100-80gb-gpu-x8", "a100-80gb", "hbm2e-a100-80gb", 8, ()),
    _system("a100-40gb-gpu", "a100-40gb", "hbm2-a100-40gb", 1, ()),
    _system("h100-sxm-gpu", "h100-sxm", "hbm3-h100-sxm", 1, ()),
    _system("h100-pcie-gpu", "h100-pcie", "hbm2e-h100-pcie", 1, ()),
    _system("a100-40gb-hbmpim-x4", "a100-40gb", "hbm2-pim-5cube", 4, ("samsung-hbm-pim",),
            " (A100-40GB with its HBM2 stacks replaced by Aquabolt-XL cubes)"),
    _system("a100-gddr6aim-x4", "a100-80gb", "gddr6-aim-384bit", 4, ("gddr6-aim",),
            " (A100-class compute on GDDR6-AiM, as SpecPIM's GDDR6 comparison)"),
    _system("orin-lpddr5pim", "jetson-agx-orin", "lpddr5-orin-64gb", 1, ("lpddr5-pim",),
            " (edge SoC with LPDDR5-PIM, in the spirit of LP-Spec)"),
]}
