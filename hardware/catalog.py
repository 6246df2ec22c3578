"""Hardware presets with the published figures they come from.

Every preset names its source; the figures are collected in
docs/catalog.md.  Derived numbers say how they were derived.
"""

from __future__ import annotations

from dataclasses import replace

from .devices import Host, Memory, PimOption, System

_A100_DS = "NVIDIA A100 datasheet"
_H100_DS = "NVIDIA H100 datasheet"
_ATTACC = "AttAcc (Park et al., ASPLOS 2024)"
# Achievable fractions used by AttAcc: 80% of peak compute, 85% of off-chip bandwidth.
_ATTACC_COMPUTE_EFF, _ATTACC_BW_EFF = 0.80, 0.85
# Host MAC energy at 10 nm from the H²-LLM artifact: 0.682 pJ/MAC = 0.341 pJ/FLOP.
_HOST_PJ_PER_FLOP = 0.682 / 2
_HOST_ENERGY_SRC = "0.682 pJ/MAC at 10 nm (H²-LLM, ISCA 2025)"

HOSTS: dict[str, Host] = {h.name: h for h in [
    Host("a100-80gb", 312.0, _ATTACC_COMPUTE_EFF, _HOST_PJ_PER_FLOP,
         source=f"312 TFLOP/s dense FP16: {_A100_DS}; efficiency {_ATTACC}; energy {_HOST_ENERGY_SRC}"),
    Host("a100-40gb", 312.0, _ATTACC_COMPUTE_EFF, _HOST_PJ_PER_FLOP,
         source=f"312 TFLOP/s dense FP16: {_A100_DS}; efficiency {_ATTACC}; energy {_HOST_ENERGY_SRC}"),
    Host("h100-sxm", 989.0, _ATTACC_COMPUTE_EFF, _HOST_PJ_PER_FLOP,
         source=f"989 TFLOP/s dense FP16: {_H100_DS}; efficiency {_ATTACC}; energy {_HOST_ENERGY_SRC}"),
    Host("h100-pcie", 756.0, _ATTACC_COMPUTE_EFF, _HOST_PJ_PER_FLOP,
         source=f"756 TFLOP/s dense FP16: {_H100_DS}; efficiency {_ATTACC}; energy {_HOST_ENERGY_SRC}"),
]}

# Device links, GB/s per GPU (NVIDIA).
LINKS = {"a100-80gb": 600.0, "a100-40gb": 600.0, "h100-sxm": 900.0, "h100-pcie": 600.0}

MEMORIES: dict[str, Memory] = {m.name: m for m in [
    # HBM3 at 5.2 Gb/s/pin: 670.4 GB/s and 16 GB per stack, 16 channels.
    Memory("hbm3-5stack", stacks=5, channels_per_stack=16, channel_bandwidth=670.4 / 16,
           channel_capacity=16.0 / 16, bandwidth_efficiency=_ATTACC_BW_EFF, energy_per_bit=3.59,
           source=f"{_ATTACC}: 670.4 GB/s and 16 GB per HBM3 stack, 16 channels; host access 3.59 pJ/b"),
    # A100-80GB: 2,039 GB/s over 5 HBM2e stacks of 16 GB, 8 channels per stack.
    Memory("hbm2e-a100-80gb", stacks=5, channels_per_stack=8, channel_bandwidth=2039.0 / 40,
           channel_capacity=16.0 / 8, bandwidth_efficiency=_ATTACC_BW_EFF, energy_per_bit=5.47,
           source=f"{_A100_DS}: 2,039 GB/s, 80 GB, 5 stacks; HBM2 5.47 pJ/b (TPU-v4i, quoted in SpecPIM)"),
]}

_HBM3_CH = 670.4 / 16  # GB/s external per HBM3 channel
_PIM_ALU_PJ_PER_FLOP = 0.32 / 2  # 0.32 pJ/MAC
# PE area (SADDLE, HPCA 2026): 16 FP16 MACs 0.116 mm² + accumulator 0.044 mm²,
# sized for one bank; an HBM3 channel has 2 pseudo-channels × 16 banks.
_PE_MM2, _BANKS_PER_CH = 0.116 + 0.044, 32


def _attacc_pim(name: str, granularity: str, multiplier: float, pj_per_bit: float,
                design_multiplier: float, note: str) -> PimOption:
    bw = multiplier * _HBM3_CH
    # PE area scales with the compute built (1 FLOP per byte of the unthrottled
    # internal bandwidth); a bank PE serves 1/16 of a 16x channel.
    area = _PE_MM2 * _BANKS_PER_CH * design_multiplier / 16
    return PimOption(
        name=name, granularity=granularity, internal_bandwidth=bw, peak_flops=bw,
        area=round(area, 4), energy_per_bit=pj_per_bit, energy_per_flop=_PIM_ALU_PJ_PER_FLOP,
        source=(f"{_ATTACC}: internal bandwidth {multiplier:g}× external ({note}), 1 FLOP per byte, "
                f"{pj_per_bit} pJ/b, 0.32 pJ/MAC; area derived from SADDLE's 0.16 mm² bank PE"),
    )


PIM_OPTIONS: dict[str, PimOption] = {p.name: p for p in [
    _attacc_pim("hbm3-pim-bank", "bank", 16, 0.55, 16, "bank-level"),
    _attacc_pim("hbm3-pim-bank-pl", "bank", 9, 0.55, 16, "bank-level, stack power limit"),
    _attacc_pim("hbm3-pim-bankgroup", "bank_group", 8, 1.56, 8, "bank-group-level"),
    _attacc_pim("hbm3-pim-bankgroup-pl", "bank_group", 3, 1.56, 8,
                "bank-group-level, stack power limit"),
    _attacc_pim("hbm3-pim-bufferdie", "buffer_die", 1, 3.29, 1, "buffer die"),
]}


def _system(name: str, host: str, memory: str, devices: int, pims: tuple[str, ...]) -> System:
    return System(
        name=name, devices=devices, host=HOSTS[host], memory=MEMORIES[memory],
        pim_options=tuple(PIM_OPTIONS[p] for p in pims),
        link_bandwidth=LINKS[host], link_latency=2.0, link_energy_per_bit=1.3,
        source=f"{host} with {memory}; link {LINKS[host]:g} GB/s (NVIDIA), 1.3 pJ/b ({_ATTACC}); "
               "2 µs per collective step (assumed)",
    )


_ALL_HBM3_PIM = tuple(PIM_OPTIONS)
SYSTEMS: dict[str, System] = {s.name: s for s in [
    _system("a100-hbm3pim", "a100-80gb", "hbm3-5stack", 1, _ALL_HBM3_PIM),
    _system("a100-hbm3pim-x4", "a100-80gb", "hbm3-5stack", 4, _ALL_HBM3_PIM),
    _system("a100-hbm3pim-x8", "a100-80gb", "hbm3-5stack", 8, _ALL_HBM3_PIM),
]}


def with_devices(system: System, devices: int) -> System:
    return replace(system, devices=devices)
