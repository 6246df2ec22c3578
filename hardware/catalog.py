"""Hardware presets with the published figures they come from.

Every preset names its source in ``source``; docs/catalog.md lists them all
with the derivations.  Per-channel figures are derived from the published
per-device or per-stack figures, and each source string says how.  Where
two sources disagree both are kept, as separate presets.

A PIM option only makes sense with the memory it was published for: each
memory and PIM option carries its memory technology in ``technology``
(``MEMORY_TECH`` and ``PIM_TECH`` list them by name), every system pairs an
option only with memory of its technology, and the loader refuses an
instance that pairs them otherwise.  Options whose area is not published
have area 0 (unknown): an instance may not put them under an area budget
without giving their area.
"""

from __future__ import annotations

from .devices import ElementwiseKernels, Host, Memory, PimOption, SoftmaxSite, System

_A100_DS = "NVIDIA A100 datasheet"
_H100_DS = "NVIDIA H100 datasheet"
_ORIN_TB = "NVIDIA Jetson AGX Orin Series technical brief"
_ATTACC = "AttAcc (Park et al., ASPLOS 2024)"
_SPECPIM = "SpecPIM (Li et al., ASPLOS 2024)"
_FGDRAM = "FGDRAM (O'Connor et al., MICRO 2017)"
# The measurements in hardware/measurements/h100-sxm-2026-11-26/ (docs/calibration.md).
H100_MEASURED = ("measured on one H100 80GB HBM3 SXM, PyTorch 2.11 / CUDA 13.0, driver 580.159, 2026-11-26 "
                 "(hardware/measurements/h100-sxm-2026-11-26)")
_DRAMSIM3 = "DRAMsim3 configs/HBM2_8Gb_x128.ini (IDD2N 40 mA, IDD5AB 250 mA, IDD3N 55 mA, 1.2 V, tRFC/tREFI 260/3900)"

# Achievable fractions of peak.  AttAcc: 80% compute, 85% off-chip bandwidth;
# LLM-Analysis and the H²-LLM artifact: 70% of both.  They disagree, so both exist.
_ATTACC_COMPUTE_EFF, _ATTACC_BW_EFF = 0.80, 0.85
_H2LLM_EFF = 0.70
# Host MAC energy at 10 nm from the H²-LLM artifact: 0.682 pJ/MAC = 0.341 pJ/FLOP.
_HOST_PJ_PER_FLOP = 0.682 / 2
_HOST_ENERGY_SRC = "0.682 pJ/MAC at 10 nm (H²-LLM, ISCA 2025)"

# The fixed costs fitted to the H100 measurements (costs/calibration.py; docs/calibration.md):
# per-kernel times inside a CUDA graph and the bandwidth element-wise kernels reach.
H100_FIT = {"fc_kernel_overhead": 5.13, "attention_kernel_overhead": 3.09, "elementwise_kernel_overhead": 2.10,
            "elementwise_bandwidth_efficiency": 0.595}
_FIT_SRC = ("kernel overheads 5.13 µs (weight GEMMs), 3.09 µs (attention GEMMs), 2.10 µs (element-wise), "
            "element-wise kernels at 0.595 of peak bandwidth: fitted to 270 operator timings " + H100_MEASURED)
_FIT_ASSUMED = ("kernel overheads and element-wise bandwidth ASSUMED equal to the H100's measured ones (no "
                "measurements of this host here; AttAcc's A100 profile reports 6.9–8.3 µs for its smallest kernels)")

# DRAM background per channel: DRAMsim3's HBM2 channel (standby 48.0 mW + refresh 15.6 mW = 63.6 mW, a
# stack of 8 channels 0.51 W); an HBM3 stack of 16 channels ASSUMED to draw the same per stack.
_HBM2_CH_W = 0.0636
_HBM3_CH_W = 8 * _HBM2_CH_W / 16
_HBM2_W_SRC = f"background 63.6 mW per channel: {_DRAMSIM3}, derived"
_HBM3_W_SRC = f"background 31.8 mW per channel: the HBM2 stack's 0.51 W ({_DRAMSIM3}) ASSUMED per HBM3 stack"


def _host(name: str, tflops: float, where: str, *, eff: float = _ATTACC_COMPUTE_EFF, eff_src: str = _ATTACC,
          idle_w: float = 0.0, memory_w: float = 0.0, idle_src: str = "", fixed: bool = True,
          fixed_src: str = _FIT_ASSUMED, bf16_eff: float | None = None) -> Host:
    """A host preset.  ``idle_w`` is the board's idle power, which includes its own DRAM's
    background ``memory_w``; the memory preset charges that part, so the host keeps the rest."""
    costs = dict(H100_FIT) if fixed else {"elementwise_kernels": ElementwiseKernels.NONE}
    static = idle_w - memory_w
    src = f"{tflops:g} TFLOP/s dense FP16: {where}; efficiency {eff:g} ({eff_src}); energy {_HOST_ENERGY_SRC}"
    if fixed:
        src += f"; {fixed_src}"
    else:
        src += "; no fixed costs, no element-wise work (the datasheet roofline)"
    if idle_w:
        src += (f"; static {static:.4g} W = board idle {idle_w:g} W ({idle_src}) − its memory's background "
                f"{memory_w:.3g} W (charged by the memory preset)")
    else:
        src += "; static power 0 (datasheet figures only)"
    return Host(name, tflops, eff, compute_efficiency_bf16=bf16_eff, energy_per_flop=_HOST_PJ_PER_FLOP,
                static_power=round(static, 4), source=src, **costs)


_H100_IDLE = ("H100 SXM board idle 73 W, nvidia-smi, no CUDA context, " + H100_MEASURED
              + "; 71.8 W in Vadari, arXiv:2605.23918, 2026")
_A100_IDLE = ("A100-SXM4-80GB board idle 63.4–64.6 W, nvidia-smi, no CUDA context: raw log in the public repository "
              "8bitai/gpu-parking-tax (data/experiments/perf_boost_20260422_172813.jsonl)")
_A100_40_IDLE = "A100-SXM4-40GB board idle ASSUMED 52 W (public nvidia-smi snapshots show 47–57 W)"
_H100_PCIE_IDLE = "H100 PCIe board idle ASSUMED 48 W (public nvidia-smi snapshots show 46–49 W)"
_ORIN_IDLE = "Jetson AGX Orin module idle 7.6 W (NVIDIA PVA Solutions 0.6.0 documentation, Radar Transpose page)"

HOSTS: dict[str, Host] = {h.name: h for h in [
    _host("a100-80gb", 312.0, _A100_DS, idle_w=64.0, memory_w=40 * _HBM2_CH_W, idle_src=_A100_IDLE),
    _host("a100-80gb-datasheet", 312.0, _A100_DS, fixed=False),
    _host("a100-80gb-h2llm", 312.0, _A100_DS, eff=_H2LLM_EFF, eff_src="LLM-Analysis and H²-LLM artifact",
          fixed=False),
    _host("a100-40gb", 312.0, _A100_DS, idle_w=52.0, memory_w=40 * _HBM2_CH_W, idle_src=_A100_40_IDLE),
    _host("h100-sxm", 989.0, _H100_DS, eff=0.665, bf16_eff=0.798, idle_w=73.0, memory_w=80 * _HBM3_CH_W,
          idle_src=_H100_IDLE, fixed_src=_FIT_SRC,
          eff_src="fp16 8192³ GEMM at 658 TFLOP/s, bf16 0.798 at 790 TFLOP/s, " + H100_MEASURED),
    _host("h100-sxm-datasheet", 989.0, _H100_DS, fixed=False),
    _host("h100-pcie", 756.0, _H100_DS, idle_w=48.0, memory_w=40 * _HBM2_CH_W, idle_src=_H100_PCIE_IDLE),
    # Dense FP16 derived: 170 sparse INT8 TOPS ÷ 2 (2:4 sparsity) ÷ 2 (FP16 runs at half the INT8 rate on Ampere).
    _host("jetson-agx-orin", 42.5, f"derived from {_ORIN_TB} (170 sparse INT8 TOPS ÷ 2 sparsity ÷ 2 INT8→FP16)",
          idle_w=7.6, memory_w=0.0, idle_src=_ORIN_IDLE + "; its LPDDR5 background is inside the module figure"),
]}

# Device-to-device link per device, GB/s: NVLink 3 on A100, NVLink 4 on H100 SXM,
# the NVLink bridge on H100 PCIe; the Jetson module has none (single device only).
LINKS: dict[str, float] = {"a100-80gb": 600.0, "a100-80gb-datasheet": 600.0, "a100-80gb-h2llm": 600.0,
                           "a100-40gb": 600.0, "h100-sxm": 900.0, "h100-sxm-datasheet": 900.0, "h100-pcie": 600.0,
                           "jetson-agx-orin": 0.0}
LINK_SOURCES: dict[str, str] = {
    "a100-80gb": "NVLink 3, 600 GB/s per GPU (NVIDIA)",
    "a100-80gb-datasheet": "NVLink 3, 600 GB/s per GPU (NVIDIA)",
    "a100-80gb-h2llm": "NVLink 3, 600 GB/s per GPU (NVIDIA)",
    "a100-40gb": "NVLink 3, 600 GB/s per GPU (NVIDIA)",
    "h100-sxm": "NVLink 4, 900 GB/s per GPU (NVIDIA)",
    "h100-sxm-datasheet": "NVLink 4, 900 GB/s per GPU (NVIDIA)",
    "h100-pcie": f"NVLink bridge, 600 GB/s per GPU ({_H100_DS})",
    "jetson-agx-orin": "no device link: single-device systems only",
}

# Host-access energy per bit.  HBM3 (cell → host, 3.59 pJ/b) is AttAcc's sum of
# the FGDRAM breakdown; HBM2 and GDDR6 are the TPU-v4i figures quoted in SpecPIM.
_HBM3_PJ, _HBM2_PJ, _GDDR6_PJ = 3.59, 5.47, 6.48
_HBM3_PJ_SRC = f"host access 3.59 pJ/b ({_ATTACC}, from {_FGDRAM})"
_HBM2_PJ_SRC = f"HBM2 5.47 pJ/b (TPU-v4i, quoted in {_SPECPIM})"


# Memory technology of each memory preset; each preset carries it in its ``technology`` field.
MEMORY_TECH: dict[str, str] = {
    "hbm3-5stack": "hbm3", "hbm3-h100-sxm": "hbm3", "hbm3-h100-sxm-datasheet": "hbm3", "hbm2e-a100-80gb": "hbm2e",
    "hbm2e-a100-80gb-h2llm": "hbm2e",
    "hbm2-a100-40gb": "hbm2", "hbm2e-h100-pcie": "hbm2e", "hbm2-pim-5cube": "hbm2",
    "gddr6-aim-384bit": "gddr6", "lpddr5-orin-64gb": "lpddr5",
}


def _mem(name: str, stacks: int, channels_per_stack: int, stack_gbs: float, stack_gb: float, pj: float,
         source: str, *, eff: float = _ATTACC_BW_EFF, static_w: float = 0.0, static_src: str = "") -> Memory:
    src = source + (f"; {static_src}" if static_src else "; static power 0 (not charged)")
    return Memory(name, stacks=stacks, channels_per_stack=channels_per_stack,
                  channel_bandwidth=stack_gbs / channels_per_stack, channel_capacity=stack_gb / channels_per_stack,
                  bandwidth_efficiency=eff, energy_per_bit=pj, static_power=static_w, technology=MEMORY_TECH[name],
                  source=src)


MEMORIES: dict[str, Memory] = {m.name: m for m in [
    _mem("hbm3-5stack", 5, 16, 670.4, 16.0, _HBM3_PJ,
         f"{_ATTACC}: HBM3 at 5.2 Gb/s/pin, 670.4 GB/s and 16 GB per stack, 16 channels per stack "
         f"→ 41.9 GB/s and 1 GB per channel; {_HBM3_PJ_SRC}; efficiency 0.85 ({_ATTACC})",
         static_w=_HBM3_CH_W, static_src=_HBM3_W_SRC),
    _mem("hbm3-h100-sxm", 5, 16, 3350.0 / 5, 80.0 / 5, _HBM3_PJ,
         f"{_H100_DS}: 3,350 GB/s and 80 GB over 5 HBM3 stacks, 16 channels per stack "
         f"→ 41.875 GB/s and 1 GB per channel; {_HBM3_PJ_SRC}; efficiency 0.90: reads of 1 GiB at 3,017 GB/s, "
         + H100_MEASURED, eff=0.90, static_w=_HBM3_CH_W, static_src=_HBM3_W_SRC),
    _mem("hbm3-h100-sxm-datasheet", 5, 16, 3350.0 / 5, 80.0 / 5, _HBM3_PJ,
         f"{_H100_DS}: 3,350 GB/s and 80 GB over 5 HBM3 stacks, 16 channels per stack "
         f"→ 41.875 GB/s and 1 GB per channel; {_HBM3_PJ_SRC}; efficiency 0.85 ({_ATTACC})",
         static_w=_HBM3_CH_W, static_src=_HBM3_W_SRC),
    _mem("hbm2e-a100-80gb", 5, 8, 2039.0 / 5, 80.0 / 5, _HBM2_PJ,
         f"{_A100_DS}: 2,039 GB/s and 80 GB over 5 HBM2e stacks, 8 channels per stack "
         f"→ 50.975 GB/s and 2 GB per channel; {_HBM2_PJ_SRC}; efficiency 0.85 ({_ATTACC})",
         static_w=_HBM2_CH_W, static_src=_HBM2_W_SRC + " (ASSUMED for HBM2e)"),
    _mem("hbm2e-a100-80gb-h2llm", 5, 8, 2039.0 / 5, 80.0 / 5, _HBM2_PJ,
         f"{_A100_DS}: 2,039 GB/s and 80 GB over 5 HBM2e stacks, 8 channels per stack; {_HBM2_PJ_SRC}; "
         "efficiency 0.70 (LLM-Analysis and H²-LLM artifact)", eff=_H2LLM_EFF),
    _mem("hbm2-a100-40gb", 5, 8, 1555.0 / 5, 40.0 / 5, _HBM2_PJ,
         f"{_A100_DS}: 1,555 GB/s and 40 GB over 5 HBM2 stacks, 8 channels per stack "
         f"→ 38.875 GB/s and 1 GB per channel; {_HBM2_PJ_SRC}; efficiency 0.85 ({_ATTACC})",
         static_w=_HBM2_CH_W, static_src=_HBM2_W_SRC),
    _mem("hbm2e-h100-pcie", 5, 8, 2000.0 / 5, 80.0 / 5, _HBM2_PJ,
         f"{_H100_DS}: 2,000 GB/s and 80 GB of HBM2e over 5 stacks (assumed, like the A100), 8 channels "
         f"per stack → 50 GB/s and 2 GB per channel; {_HBM2_PJ_SRC}; efficiency 0.85 ({_ATTACC})",
         static_w=_HBM2_CH_W, static_src=_HBM2_W_SRC + " (ASSUMED for HBM2e)"),
    # Aquabolt-XL: 4× the off-chip bandwidth internally, ~1.23 TB/s per 6 GB cube → 307.2 GB/s
    # external per cube (2.4 Gb/s/pin × 1,024 pins); HBM2 has 8 channels per cube.
    _mem("hbm2-pim-5cube", 5, 8, 1228.8 / 4, 6.0, _HBM2_PJ,
         "Samsung HBM-PIM (Aquabolt-XL, ISSCC/ISCA 2021): 6 GB per cube, internal ~1.23 TB/s = 4× external "
         f"→ 307.2 GB/s per cube, 8 HBM2 channels → 38.4 GB/s and 0.75 GB per channel; 5 cubes in the "
         f"A100-40GB's 5 HBM2 sites (assumed); {_HBM2_PJ_SRC}; efficiency 0.85 ({_ATTACC})",
         static_w=_HBM2_CH_W, static_src=_HBM2_W_SRC),
    # GDDR6-AiM: 512 GB/s internal per channel is 16× external → 32 GB/s (16 Gb/s/pin × 16 pins).
    _mem("gddr6-aim-384bit", 12, 2, 2 * 512.0 / 16, 1.0, _GDDR6_PJ,
         "SK hynix GDDR6-AiM: 512 GB/s internal per channel = 16× external → 32 GB/s per x16 channel "
         "(16 Gb/s/pin), 2 channels and 8 Gb (1 GB) per chip; 12 chips on a 384-bit bus (assumed, the widest "
         f"GDDR6 bus on NVIDIA boards) → 24 channels, 768 GB/s, 12 GB; GDDR6 6.48 pJ/b (TPU-v4i, quoted in "
         f"{_SPECPIM}); efficiency 0.85 ({_ATTACC}, assumed for GDDR6)", static_w=0.1832,
         static_src="background 183.2 mW per AiM channel precharged (CENT, ASPLOS 2025, public simulator "
                    "cent_power_calculator.py)"),
    # Jetson AGX Orin 64GB: 256-bit LPDDR5 at 6,400 MT/s = 16 x16 channels of 12.8 GB/s.
    _mem("lpddr5-orin-64gb", 1, 16, 204.8, 64.0, _HBM2_PJ,
         f"{_ORIN_TB}: 64 GB LPDDR5, 256-bit, 204.8 GB/s → 16 x16 channels of 12.8 GB/s and 4 GB; "
         "host-access energy ASSUMED equal to HBM2's 5.47 pJ/b (no LPDDR5 figure in the reference "
         f"material); efficiency 0.85 ({_ATTACC}, assumed for LPDDR5)",
         static_src="static power 0: the LPDDR5 background is inside the module's idle figure (host preset)"),
]}


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


# Fixed cost of one offload on the memory side.  HBM-PIM: entering and leaving all-bank PIM mode
# and opening and closing the operand rows take about 8 row cycles at HBM's ~48 ns (Samsung's
# public PIMSimulator issues 4 activates to a reserved row to enter, 2 activate/precharge pairs to
# leave); AttAcc models none, but its banks switch modes the same way.  GDDR6-AiM: a mode change
# blocks commands for 32 clocks and an all-bank activate precedes the first MAC by 56 (CENT's
# public AiM simulator, 2 GHz).  The host's side (issuing the offload, merging the result) is
# charged as two host kernels by the cost model.
_HBM_OFFLOAD_US = 0.4
_HBM_OFFLOAD_SRC = ("offload 0.4 µs ASSUMED: ~8 row cycles of ~48 ns to enter and leave all-bank PIM mode "
                    "(command sequence of Samsung's PIMSimulator)")
_AIM_OFFLOAD_US = (32 + 56) / 2e9 * 1e6
_AIM_OFFLOAD_SRC = ("offload 0.044 µs: mode change 32 tCK + all-bank activate to MAC 56 tCK at 2 GHz "
                    "(GDDR6-AiM in CENT's public simulator, ASPLOS 2025)")
# PIM logic leakage: no measurement is published; CENT charges ~0.4% of the DRAM standby.
_PIM_STATIC_SRC = "PIM logic static power 0 (none published; CENT's model puts it at ~0.4% of DRAM standby)"


# Memory technology each PIM option is built into; each option carries it in its ``technology`` field.
PIM_TECH: dict[str, str] = {
    "hbm3-pim-bank": "hbm3", "hbm3-pim-bank-pl": "hbm3", "hbm3-pim-bankgroup": "hbm3",
    "hbm3-pim-bankgroup-pl": "hbm3", "hbm3-pim-bufferdie": "hbm3", "hbm3-pim-bufferdie-pl": "hbm3",
    "hbm3-pim-bank-pe1012": "hbm3", "samsung-hbm-pim": "hbm2", "gddr6-aim": "gddr6",
    "lpddr5-pim": "lpddr5", "lpddr5x-aim": "lpddr5x",
}


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
        offload_overhead=_HBM_OFFLOAD_US, softmax=SoftmaxSite.PIM, technology=PIM_TECH[name],
        source=(f"{_ATTACC}: internal bandwidth {multiplier:g}× the 41.9 GB/s external per channel ({note}), "
                f"1 FLOP per byte, {pj_per_bit} pJ/b, {pe_src}; area {area:.3f} mm² per channel derived from "
                f"SADDLE (HPCA 2026): 64 × 0.116 mm² bank PEs + 16 × 0.044 mm² accumulators = 8.128 mm² at 16×, "
                f"scaled by built compute ({design_multiplier:g}×); softmax on the buffer die ({_ATTACC}); "
                f"{_HBM_OFFLOAD_SRC}; {_PIM_STATIC_SRC}"),
    )


def _device_pim(name: str, bw: float, gflops: float, source: str, *, offload: float = _HBM_OFFLOAD_US,
                offload_src: str = _HBM_OFFLOAD_SRC) -> PimOption:
    return PimOption(name=name, granularity="bank", internal_bandwidth=bw, peak_flops=gflops, area=0.0,
                     energy_per_bit=_BANK_PJ, energy_per_flop=_PIM_PE_PJ_PER_FLOP, offload_overhead=offload,
                     softmax=SoftmaxSite.HOST, technology=PIM_TECH[name],
                     source=f"{source}; {_BANK_PJ_SRC}; {_PE_SRC}; area not published (0: unknown, so an instance "
                            "with an area budget must give it); "
                            f"softmax on the host (MAC-only PIM units); {offload_src}; {_PIM_STATIC_SRC}")


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
                "16 banks → 512 GB/s and 512 GFLOP/s per channel, 16× external",
                offload=_AIM_OFFLOAD_US, offload_src=_AIM_OFFLOAD_SRC),
    _device_pim("lpddr5-pim", 102.4, 102.4,
                "Samsung LPDDR5-PIM: 102.4 GB/s and 102.4 GFLOP/s per channel (8× external), "
                "16 MACs at 200 MHz per PE"),
    # Pairs with LPDDR5X, which has no memory preset here: its external rate per channel
    # is not in the reference material, so no system uses this option yet.
    _device_pim("lpddr5x-aim", 153.6, 307.2,
                "SK hynix LPDDR5X-AiM: 153.6 GB/s and 307.2 GOPS per channel; needs LPDDR5X memory",
                offload=_AIM_OFFLOAD_US, offload_src=_AIM_OFFLOAD_SRC),
]}


_NVLINK_PJ = 1.3  # pJ/b (AttAcc)


def _system(name: str, host: str, memory: str, devices: int, pims: tuple[str, ...], note: str = "") -> System:
    link = LINKS[host]
    for p in pims:
        if PIM_OPTIONS[p].technology != MEMORIES[memory].technology:
            raise ValueError(f"{name}: PIM option {p} is {PIM_OPTIONS[p].technology}, memory {memory} is "
                             f"{MEMORIES[memory].technology}")
    return System(
        name=name, devices=devices, host=HOSTS[host], memory=MEMORIES[memory],
        pim_options=tuple(PIM_OPTIONS[p] for p in pims),
        link_bandwidth=link, link_latency=2.0 if link else 0.0, link_energy_per_bit=_NVLINK_PJ if link else 0.0,
        source=f"{devices} × {host} with {memory}{note}; link: {LINK_SOURCES[host]}"
               + (f", {_NVLINK_PJ} pJ/b ({_ATTACC}); 2 µs per collective step (assumed)" if link else "")
               + ("; host data striped over every channel, PIM channels included (AttAcc)" if pims else ""),
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
    _system("h100-sxm-gpu", "h100-sxm", "hbm3-h100-sxm", 1, (), " (calibrated: docs/calibration.md)"),
    _system("h100-sxm-gpu-datasheet", "h100-sxm-datasheet", "hbm3-h100-sxm-datasheet", 1, (),
            " (datasheet figures, the roofline without fixed costs)"),
    _system("a100-80gb-gpu-datasheet", "a100-80gb-datasheet", "hbm2e-a100-80gb", 1, (),
            " (datasheet figures, the roofline without fixed costs)"),
    _system("h100-pcie-gpu", "h100-pcie", "hbm2e-h100-pcie", 1, ()),
    _system("a100-40gb-hbmpim-x4", "a100-40gb", "hbm2-pim-5cube", 4, ("samsung-hbm-pim",),
            " (A100-40GB with its HBM2 stacks replaced by Aquabolt-XL cubes)"),
    _system("a100-gddr6aim-x4", "a100-80gb", "gddr6-aim-384bit", 4, ("gddr6-aim",),
            " (A100-class compute on GDDR6-AiM, as SpecPIM's GDDR6 comparison)"),
    _system("orin-lpddr5pim", "jetson-agx-orin", "lpddr5-orin-64gb", 1, ("lpddr5-pim",),
            " (edge SoC with LPDDR5-PIM, in the spirit of LP-Spec)"),
]}
